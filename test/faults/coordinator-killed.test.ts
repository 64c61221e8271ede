/**
 * The coordinator SIGKILLed mid-aggregation and started again, with every peer a `swarmtune daemon` process
 * on 127.0.0.1. Twice: once the moment the round freezes (`rounds:closing`: arrivals frozen, nothing judged
 * on record), once at its first verdict (some verdicts signed, no release). Each time, what the killed
 * daemon left on disk is read back (its rounds state store and its ledger, opened directly): the round in
 * phase `closing`, no release, no round-close. After the restart the round finishes exactly once — one
 * release, one round-close, one verdict per contribution, the verdicts signed before the kill unchanged —
 * every contribution that arrived is accepted and merged, the ledgers verify, and the release recomputes on a
 * volunteer.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoundsState } from '@swarmtune/rounds'
import { createCluster, ledgerEntries, TRAIN, verifyLedger, verifyRelease, type FaultCluster } from './helpers.js'

const VOLUNTEERS = 3

describe('the coordinator SIGKILLed mid-aggregation', () => {
  let f: FaultCluster

  beforeAll(async () => {
    // the default held-out set (10,000 test examples): evaluating it keeps the coordinator busy for a while
    // after the freeze, so the kill lands before the release
    f = await createCluster({ volunteers: VOLUNTEERS, evalExamples: undefined })
    await f.cluster.start()
  })

  afterAll(async () => {
    await f?.teardown()
  })

  for (const killAt of ['rounds:closing', 'rounds:verdict'] as const) {
    it(`finishes the round exactly once after a kill at ${killAt}, losing no accepted contribution`, async () => {
      const { cluster, supervisor } = f
      const m = cluster.maintainer
      const events = cluster.events(m, ['rounds:'])
      const opened = await cluster.openRound({ ...TRAIN, durationMs: 60_000, quorum: VOLUNTEERS, maxContributions: VOLUNTEERS })
      await events.waitFor(killAt, (e) => e.round === opened.round)
      await cluster.kill(m)
      events.close()
      const arrived = events.events.filter((e) => e.type === 'rounds:contribution' && e.round === opened.round).map((e) => String(e.contribution))
      expect(new Set(arrived).size).toBe(VOLUNTEERS)

      // what the killed coordinator left: the round frozen with every arrival, mid-way through closing
      const state = await RoundsState.open(join(m.dir, 'rounds', 'state'))
      const record = await state.getRound(opened.round).finally(async () => { await state.close() })
      expect(record?.phase).toBe('closing')
      expect(record?.frozen).toBe(VOLUNTEERS)
      const before = await ledgerEntries(supervisor, m, opened.round)
      expect(before.filter((e) => e.kind === 'release' || e.kind === 'round-close')).toEqual([])
      const verdictsBefore = before.filter((e) => e.kind === 'verdict').map((e) => e.id)
      if (killAt === 'rounds:verdict') expect(verdictsBefore.length).toBeGreaterThan(0)
      console.log(`killed at ${killAt}: ${arrived.length} arrivals frozen, ${verdictsBefore.length} verdict(s) signed, no release`)

      await cluster.restart(m)
      const r = await cluster.waitClosed(opened.round, Date.now() + 120_000)
      expect(r.outcome).toBe('released')
      expect(r.counts).toEqual({ contributions: VOLUNTEERS, accepted: VOLUNTEERS, rejected: 0, pending: 0 })
      expect(r.contributions.map((c) => c.id).sort()).toEqual([...arrived].sort())

      const after = await ledgerEntries(supervisor, m, opened.round)
      const kinds = (k: string): typeof after => after.filter((e) => e.kind === k)
      expect(kinds('release')).toHaveLength(1)
      expect(kinds('round-close')).toHaveLength(1)
      expect(kinds('round-open')).toHaveLength(1)
      const judged = kinds('verdict').map((e) => String(e.body.contribution))
      expect(judged.sort()).toEqual([...arrived].sort())
      expect(kinds('verdict').every((e) => e.body.accepted === true)).toBe(true)
      for (const id of verdictsBefore) expect(kinds('verdict').map((e) => e.id)).toContain(id)
      // the release merges every contribution that arrived before the kill
      expect((kinds('release')[0].body.contributions as string[]).sort()).toEqual([...arrived].sort())
      expect(r.release?.entry).toBe(kinds('release')[0].id)

      for (const member of cluster.members) expect((await verifyLedger(supervisor, member)).entries).toBeGreaterThan(0)
      const report = await verifyRelease(supervisor, cluster.volunteers[0], r.release?.entry)
      expect(report.ok).toBe(true)
      expect(report.shards.recomputed).toEqual(report.shards.listed)
      // the volunteers get the new release from the restarted coordinator
      await cluster.until(async () => {
        const statuses = await Promise.all(cluster.volunteers.map(async (v) => await v.api().status()))
        return statuses.every((s) => (s.services.rounds as { volunteer?: { release?: string } }).volunteer?.release === r.release?.manifest)
      }, 60_000, 'every volunteer to fetch the release')
    })
  }
})
