/**
 * The per-volunteer rows a round's status and `round start --wait` print: who contributed, who was rejected with
 * which code, who declined, who is still pending, and who was in the community's topic and never contributed
 * (`silent`, in the topic) — the coordinator itself never a row.
 */
import { describe, expect, it } from 'vitest'
import { volunteerSummaries } from '../src/service.js'
import type { RoundView } from '../src/index.js'
import type { VolunteerAnswer } from '../src/state.js'

const view = {
  coordinator: 'coordinator',
  contributions: [
    { id: 'c1', peer: 'accepted', verdict: { accepted: true, code: 'OK' } },
    { id: 'c2', peer: 'rejected', verdict: { accepted: false, code: 'ERR_ROUNDS_NORM_TOO_LARGE' } },
    { id: 'c3', peer: 'waiting' },
    { id: 'c4', peer: 'retried', verdict: { accepted: false, code: 'ERR_ROUNDS_LATE' } },
    { id: 'c5', peer: 'retried', verdict: { accepted: true, code: 'OK' } }
  ]
} as unknown as RoundView
const answer = (peer: string, status: 'training' | 'declined', code?: string): VolunteerAnswer => ({ peer, status, ts: 1, at: 2, ...(code === undefined ? {} : { code, reason: 'why' }) }) as VolunteerAnswer

describe('volunteerSummaries', () => {
  it('gives every peer one row with its outcome; a topic peer that never contributed is silent and in the topic', () => {
    const rows = volunteerSummaries(view, [answer('accepted', 'training'), answer('gpu', 'declined', 'ERR_MODEL_BACKEND_UNAVAILABLE'), answer('quiet', 'training')],
      ['accepted', 'lurker', 'coordinator', 'gpu'])
    const byPeer = Object.fromEntries(rows.map((r) => [r.peer, r]))
    expect(rows.map((r) => r.peer)).toEqual(['accepted', 'gpu', 'lurker', 'quiet', 'rejected', 'retried', 'waiting'])
    expect(byPeer.accepted).toMatchObject({ outcome: 'contributed', inTopic: true, contributions: [{ id: 'c1', verdict: 'OK' }] })
    expect(byPeer.rejected).toMatchObject({ outcome: 'rejected', inTopic: false, contributions: [{ id: 'c2', verdict: 'ERR_ROUNDS_NORM_TOO_LARGE' }] })
    expect(byPeer.waiting).toMatchObject({ outcome: 'pending', contributions: [{ id: 'c3', verdict: 'pending' }] })
    expect(byPeer.retried.outcome).toBe('contributed')
    expect(byPeer.gpu).toMatchObject({ outcome: 'declined', inTopic: true, answer: { status: 'declined', code: 'ERR_MODEL_BACKEND_UNAVAILABLE' } })
    // in the topic, no answer, nothing sent
    expect(byPeer.lurker).toEqual({ peer: 'lurker', contributions: [], inTopic: true, outcome: 'silent' })
    // answered that it trains, sent nothing, not in the topic when it opened
    expect(byPeer.quiet).toMatchObject({ outcome: 'silent', inTopic: false, answer: { status: 'training' } })
    expect(byPeer.coordinator).toBeUndefined()
  })
})
