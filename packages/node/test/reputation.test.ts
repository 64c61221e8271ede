/**
 * PeerReputation's memory bound: penalties of at most REPUTATION_MAX_PEERS peers are remembered, the least
 * recently penalised forgotten first.
 */
import { describe, expect, it } from 'vitest'
import { REPUTATION_MAX_PEERS } from '../src/constants.js'
import { PeerReputation } from '../src/reputation.js'

describe('PeerReputation', () => {
  it('remembers penalties of at most REPUTATION_MAX_PEERS peers, forgetting the least recently penalised', () => {
    let now = 0
    const reputation = new PeerReputation({ now: () => now })
    const extra = 10
    const penalise = (i: number): void => { now += 1; reputation.penalise(`peer-${i}`, 50) }
    for (let i = 0; i < REPUTATION_MAX_PEERS; i++) penalise(i)
    // peer-0 is penalised again, so the oldest is now peer-1
    penalise(0)
    for (let i = REPUTATION_MAX_PEERS; i < REPUTATION_MAX_PEERS + extra; i++) penalise(i)
    expect(reputation.list()).toHaveLength(REPUTATION_MAX_PEERS)
    expect(reputation.penalty('peer-0')).toBeGreaterThan(50)
    for (let i = 1; i <= extra; i++) expect(reputation.penalty(`peer-${i}`)).toBe(0)
    expect(reputation.penalty(`peer-${extra + 1}`)).toBeGreaterThan(0)
    expect(reputation.penalty(`peer-${REPUTATION_MAX_PEERS + extra - 1}`)).toBeGreaterThan(0)
  })
})
