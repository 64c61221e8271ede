/**
 * Opening a round on a real maintainer daemon (127.0.0.1, real LevelDB, real ledger) that also volunteers: the
 * steps `openRound` reports, a signal that aborts it before anything is signed, and the round-open handed to
 * the daemon's own volunteer by `openRound` (not by the ledger's announcement of it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync } from '@swarmtune/test-support'
import { eventOf, startMaintainer, volunteerData, type Maintainer } from '@swarmtune/test-support/rounds'
import type { OpenRoundProgressEvents } from '../src/coordinator.js'
import { roundOpens } from '../src/views.js'

const TRAIN = { steps: 5, batchSize: 50, learningRate: 0.1, durationMs: 60_000, quorum: 1 }

describe('opening a round', () => {
  let maintainer: Maintainer

  beforeAll(async () => {
    maintainer = await startMaintainer({ config: { volunteer: { data: volunteerData(0, 10) }, coordinator: { closeWhenAnswered: false } } })
  })

  afterAll(async () => {
    await maintainer?.cleanup()
  })

  it('opens nothing when its signal is aborted before the round-open is signed', async () => {
    const { node } = maintainer
    const before = await roundOpens(node.ledger.ledger)
    const controller = new AbortController()
    controller.abort(new Error('changed my mind'))
    expect(await codeOfAsync(node.rounds.startRound(TRAIN, { signal: controller.signal }))).toBe('ERR_ABORTED')
    // aborted while the base release is read: still nothing signed
    const late = new AbortController()
    const seen: string[] = []
    const opening = node.rounds.coordinator?.openRound(TRAIN, { signal: late.signal, onProgress: (e) => { seen.push(e.type); late.abort() } })
    expect(await codeOfAsync(opening as Promise<unknown>)).toBe('ERR_ABORTED')
    expect(seen).toEqual(['rounds:open:base'])
    expect(await roundOpens(node.ledger.ledger)).toHaveLength(before.length)
    expect(node.events.some((e) => e.type === 'rounds:open')).toBe(false)
  })

  it('reports its steps, then hands the signed round-open to the daemon\'s own volunteer', async () => {
    const { node, community } = maintainer
    const events: OpenRoundProgressEvents[] = []
    const view = await node.rounds.startRound(TRAIN, { onProgress: (e) => { events.push(e) } })
    expect(events.map((e) => e.type)).toEqual(['rounds:open:base', 'rounds:open:signed'])
    expect(events[0].detail).toEqual({ base: community.release.toString() })
    expect(events[1].detail).toMatchObject({ round: view.round, roundOpen: view.roundOpen })
    expect(view).toMatchObject({ state: 'open', localVolunteer: true })
    // the local volunteer trains for the round its own coordinator opened
    const started = await eventOf(node, 'rounds:train:start', (e) => e.roundOpen === view.roundOpen, 60_000)
    expect(started.round).toBe(view.round)
    await node.rounds.cancelRound(view.round, 'test over')
  })
})
