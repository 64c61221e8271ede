/**
 * A volunteer joining mid-run, with every peer a `swarmtune daemon` process on 127.0.0.1: two volunteers
 * train two rounds; a third data folder joins the community (`swarmtune community join`) and its daemon
 * starts. It catches up — its ledger syncs every entry of the rounds it missed and verifies, it lists the
 * same releases, and it fetches the newest release — and it contributes to the next round, trained from that
 * release, and is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReleaseView, RoundView } from '@swarmtune/rounds'
import { createCluster, TRAIN, verifyLedger, verifyRelease, type FaultCluster } from './helpers.js'

const VOLUNTEERS = 3

describe('a volunteer joining mid-run', () => {
  let f: FaultCluster

  beforeAll(async () => {
    f = await createCluster({ volunteers: VOLUNTEERS })
    await f.cluster.start(f.cluster.volunteers.slice(0, -1))
  })

  afterAll(async () => {
    await f?.teardown()
  })

  it('syncs the ledger, fetches the latest release and contributes to the next round', async () => {
    const { cluster, supervisor } = f
    const late = cluster.volunteers[VOLUNTEERS - 1]
    expect(late.running).toBe(false)
    for (let i = 0; i < 2; i++) {
      const r = await cluster.runRound({ ...TRAIN, durationMs: 60_000, quorum: 2, maxContributions: 2 })
      expect(r.outcome).toBe('released')
    }
    const releases = await cluster.maintainer.api().request<ReleaseView[]>('GET', '/v1/rounds/releases')
    const latest = releases.at(-1) as ReleaseView
    expect(latest.round).toBe(2)

    await cluster.start([late])
    const api = late.api()
    // ledger sync: every entry the maintainer holds, verified
    const held = (await verifyLedger(supervisor, cluster.maintainer)).entries
    let synced = 0
    await cluster.until(async () => (synced = (await verifyLedger(supervisor, late)).entries) === held, 60_000, `the late volunteer's ledger to hold all ${held} entries`)
      .catch((err: Error) => { throw new Error(`${err.message}; it holds ${synced}`) })
    expect((await api.request<ReleaseView[]>('GET', '/v1/rounds/releases')).map((r) => r.manifest)).toEqual(releases.map((r) => r.manifest))
    expect((await api.request<RoundView[]>('GET', '/v1/rounds')).map((r) => [r.round, r.outcome])).toEqual([[1, 'released'], [2, 'released']])
    // the newest release, fetched and verified shard by shard into its store
    await cluster.until(async () => ((await api.status()).services.rounds as { volunteer?: { release?: string } }).volunteer?.release === latest.manifest, 60_000, 'the late volunteer to fetch the latest release')
    expect((await api.listBlobs()).map((b) => b.cid)).toContain(latest.manifest)
    expect((await verifyRelease(supervisor, late)).ok).toBe(true)

    const next = await cluster.runRound({ ...TRAIN, durationMs: 60_000, quorum: VOLUNTEERS, maxContributions: VOLUNTEERS })
    expect(next.outcome).toBe('released')
    expect(next.base).toBe(latest.manifest)
    expect(next.counts.accepted).toBe(VOLUNTEERS)
    const mine = next.contributions.find((c) => c.peer === late.peerId)
    expect(mine?.verdict?.accepted).toBe(true)
    expect((await verifyRelease(supervisor, late)).ok).toBe(true)
  })
})
