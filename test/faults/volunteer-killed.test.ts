/**
 * A volunteer SIGKILLed mid-training, with every peer a `swarmtune daemon` process on 127.0.0.1: the round
 * still closes (at its deadline, since the dead volunteer never contributes) and releases the merge of the
 * other volunteers' deltas; the ledgers verify and the release recomputes. The killed volunteer, started
 * again on its data folder, finds its ledger intact, and contributes to the next round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RoundDetail } from '@swarmtune/rounds'
import { createCluster, TRAIN, verifyLedger, verifyRelease, type FaultCluster } from './helpers.js'

const VOLUNTEERS = 3

describe('a volunteer SIGKILLed mid-training', () => {
  let f: FaultCluster
  let killedRound: RoundDetail

  beforeAll(async () => {
    f = await createCluster({ volunteers: VOLUNTEERS })
    await f.cluster.start()
  })

  afterAll(async () => {
    await f?.teardown()
  })

  it('closes the round without it and releases the merge of the others\' deltas', async () => {
    const { cluster, supervisor } = f
    const victim = cluster.volunteers[VOLUNTEERS - 1]
    const training = cluster.events(victim, ['rounds:train'])
    // 100 steps: seconds of training, while the kill follows the first progress event within milliseconds
    const opened = await cluster.openRound({ ...TRAIN, steps: 100, durationMs: 40_000, quorum: 2, maxContributions: VOLUNTEERS })
    const progress = await training.waitFor('rounds:train:progress', (e) => e.round === opened.round)
    expect(progress.step).toBeLessThan(progress.steps as number)
    await cluster.kill(victim)
    training.close()
    expect((await victim.child?.exited)?.signal).toBe('SIGKILL')

    killedRound = await cluster.waitClosed(opened.round, opened.deadline + 60_000)
    expect(killedRound.outcome).toBe('released')
    expect(killedRound.counts).toEqual({ contributions: VOLUNTEERS - 1, accepted: VOLUNTEERS - 1, rejected: 0, pending: 0 })
    expect(killedRound.contributions.map((c) => c.peer)).not.toContain(victim.peerId)
    // only the deadline could close it: the maximum (every volunteer) was never reached
    expect(killedRound.closedAt).toBeGreaterThanOrEqual(killedRound.deadline)
    expect(killedRound.release?.contributions).toBe(VOLUNTEERS - 1)

    const report = await verifyRelease(supervisor, cluster.volunteers[0])
    expect(report.ok).toBe(true)
    expect(report.manifest).toBe(killedRound.release?.manifest)
    expect(report.shards.recomputed).toEqual(report.shards.listed)
    for (const m of [cluster.maintainer, ...cluster.volunteers.slice(0, -1)]) expect((await verifyLedger(supervisor, m)).entries).toBeGreaterThan(0)
  })

  it('lets the killed volunteer start again with an intact ledger and contribute to the next round', async () => {
    const { cluster, supervisor } = f
    const victim = cluster.volunteers[VOLUNTEERS - 1]
    await cluster.start([victim])
    expect(victim.starts).toBe(2)
    // its ledger store survived the SIGKILL: every chain, signature and index verifies
    expect((await verifyLedger(supervisor, victim)).entries).toBeGreaterThan(0)
    const r = await cluster.runRound({ ...TRAIN, durationMs: 60_000, quorum: VOLUNTEERS, maxContributions: VOLUNTEERS })
    expect(r.outcome).toBe('released')
    expect(r.base).toBe(killedRound.release?.manifest)
    expect(r.counts.accepted).toBe(VOLUNTEERS)
    expect(r.contributions.map((c) => c.peer)).toContain(victim.peerId)
    expect((await verifyRelease(supervisor, victim)).ok).toBe(true)
  })
})
