/**
 * Training rounds end to end with real daemons on 127.0.0.1: a maintainer's coordinator and four volunteers
 * training mnist-2nn in their worker threads on their own parts of MNIST. A volunteer that vanishes
 * mid-round does not block the round (it closes at its deadline); the second round starts from the first
 * release and raises test accuracy; every peer fetches the releases; the ledgers verify; `release verify`
 * recomputes the release to identical shard ids on the maintainer and on a volunteer; a round below its
 * quorum closes with no release (and a volunteer's second contribution is a duplicate); the CLI reads it all through the control API.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReleaseView, RoundDetail, RoundView, VerifyReport } from '@swarmtune/rounds'
import { createModelSpec, encodeDelta } from '@swarmtune/fedavg'
import { getTask } from '@swarmtune/model'
import { parseCid } from '@swarmtune/wire'
import { eventOf, startMaintainer, startVolunteers, UNTIL_DEADLINE, type RoundsNode } from '@swarmtune/test-support/rounds'
import { cliOutput } from '@swarmtune/test-support/cli'
import { destroyAll } from '@swarmtune/test-support/daemons'
import { tempDir } from '@swarmtune/test-support'

const VOLUNTEERS = 4
/** Short rounds: 25 optimizer steps of 50 examples at η = 0.1 move mnist-2nn well past chance. */
const TRAIN = { steps: 25, batchSize: 50, learningRate: 0.1 }

describe('training rounds over the network', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let m: RoundsNode
  let volunteers: RoundsNode[] = []
  const accuracy: number[] = []

  beforeAll(async () => {
    // the tests act on rounds while they are open: no early close once the volunteers that answered contributed
    maintainer = await startMaintainer({ config: UNTIL_DEADLINE })
    m = maintainer.node
    volunteers = await startVolunteers(maintainer, VOLUNTEERS, { lossExamples: 500, warm: true })
  })

  afterAll(async () => {
    await destroyAll(volunteers)
    await maintainer?.cleanup()
  })

  it('closes a round at its deadline without the volunteer that vanished mid-round', async () => {
    const ghost = volunteers[VOLUNTEERS - 1]
    const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 20_000, quorum: 2, maxContributions: VOLUNTEERS })
    expect(opened.round).toBe(1)
    expect(opened.base).toBe(maintainer.community.release.toString())
    await eventOf(ghost, 'rounds:train:start', (e) => e.round === 1)
    await ghost.destroy()
    const r = await m.rounds.waitClosed(1, { timeoutMs: 60_000 })
    expect(r.state).toBe('closed')
    expect(r.outcome).toBe('released')
    expect(r.counts).toEqual({ contributions: VOLUNTEERS - 1, accepted: VOLUNTEERS - 1, rejected: 0, pending: 0 })
    // nothing but the deadline could have closed it: the maximum (4 volunteers) was never reached
    expect(r.closedAt).toBeGreaterThanOrEqual(r.deadline)
    expect(r.contributions.every((c) => c.verdict?.code === 'OK')).toBe(true)
    expect(r.release?.contributions).toBe(VOLUNTEERS - 1)
    accuracy.push(r.release?.metrics.accuracy as number)
    expect(accuracy[0]).toBeGreaterThan(0.5) // from chance (0.1) after one round
  })

  it('starts the next round from the new release and raises test accuracy', async () => {
    const live = volunteers.slice(0, VOLUNTEERS - 1)
    const first = await m.rounds.round(1)
    const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 60_000, quorum: 2, maxContributions: live.length, codec: { codec: 'fp16' } })
    expect(opened.base).toBe(first.release?.manifest)
    const r = await m.rounds.waitClosed(opened.round, { timeoutMs: 60_000 })
    expect(r.outcome).toBe('released')
    // closed as soon as every live volunteer contributed, long before the deadline
    expect(r.closedAt).toBeLessThan(r.deadline)
    expect(r.counts.accepted).toBe(live.length)
    expect(r.contributions.every((c) => c.blobBytes !== undefined && c.blobBytes < 199_210 * 2 + 1_000)).toBe(true) // fp16: 2 bytes per parameter
    accuracy.push(r.release?.metrics.accuracy as number)
    expect(accuracy[1]).toBeGreaterThan(accuracy[0])
  })

  it('gives every peer the releases and a ledger that verifies', async () => {
    const live = volunteers.slice(0, VOLUNTEERS - 1)
    const latest = await m.rounds.release('latest')
    for (const v of live) {
      await eventOf(v, 'rounds:release:fetched', (e) => e.manifest === latest.manifest)
      expect(await v.daemon.blobs.has(parseCid(latest.manifest))).toBe(true)
      const report = await v.ledger.ledger.verify()
      expect(report.entries).toBeGreaterThan(0)
    }
    await m.ledger.ledger.verify()
    // releases, verdicts and round entries are the maintainer's; each volunteer signed its own contributions
    const mKey = Buffer.from(m.daemon.privateKey.publicKey.raw).toString('hex')
    for await (const e of m.ledger.ledger.entries()) {
      const author = Buffer.from(e.entry.author).toString('hex')
      if (e.entry.kind === 'contribution') expect(author).not.toBe(mKey)
      else expect(author).toBe(mKey)
    }
  })

  it('recomputes the release from the ledger\'s deltas to identical shard ids, on the maintainer and on a volunteer', async () => {
    const report = JSON.parse(await cliOutput(['release', 'verify', 'latest', '--json', '-d', m.dir])) as VerifyReport
    expect(report.ok).toBe(true)
    expect(report.problems).toEqual([])
    expect(report.shards.recomputed).toEqual(report.shards.listed)
    expect(report.recomputedManifest).toBe(report.manifest)
    const onVolunteer = await volunteers[0].rounds.verifyRelease('latest')
    expect(onVolunteer.ok).toBe(true)
    expect(onVolunteer.shards.recomputed).toEqual(onVolunteer.shards.listed)
  })

  it('closes a round that gets fewer contributions than its quorum with no release; a second contribution of a volunteer is a duplicate', async () => {
    const before = await m.rounds.release('latest')
    const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 8_000, quorum: VOLUNTEERS, maxContributions: VOLUNTEERS })
    // once its trained contribution is in, the first volunteer signs a second, valid one
    const v = volunteers[0]
    await eventOf(m, 'rounds:contribution', (e) => e.round === opened.round && e.peer === v.daemon.peerId.toString())
    const spec = createModelSpec(getTask('mnist-2nn').weightSpecs.map((w) => w.shape))
    const blob = await v.daemon.exchange.put(encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(1e-4)), spec, { codec: 'fp32' }))
    const second = await v.ledger.sign({
      kind: 'contribution',
      body: {
        round: opened.round, roundOpen: parseCid(opened.roundOpen).bytes, base: parseCid(opened.base).bytes, blob: blob.bytes,
        codec: { name: 'fp32', params: {} }, samples: 10, metrics: { lossBefore: 1, lossAfter: 1 }, norm: 0.04
      }
    })
    const r = await m.rounds.waitClosed(opened.round, { timeoutMs: 60_000 })
    expect(r.outcome).toBe('no-release')
    expect(r.release).toBeUndefined()
    expect(r.counts.contributions).toBe(VOLUNTEERS)
    const codes = r.contributions.map((c) => [c.id === second.id.toString() ? 'second' : 'trained', c.verdict?.code])
    expect(codes.filter(([what]) => what === 'second')).toEqual([['second', 'ERR_ROUNDS_DUPLICATE']])
    expect(codes.filter(([what]) => what === 'trained').map(([, code]) => code)).toEqual(Array(VOLUNTEERS - 1).fill('ERR_ROUNDS_NO_QUORUM'))
    expect((await m.rounds.release('latest')).manifest).toBe(before.manifest)
  })

  it('serves rounds, releases and exports to the CLI', async () => {
    const rounds = JSON.parse(await cliOutput(['round', 'list', '--json', '-d', m.dir])) as RoundView[]
    expect(rounds.map((r) => [r.round, r.outcome])).toEqual([[1, 'released'], [2, 'released'], [3, 'no-release']])
    const status = JSON.parse(await cliOutput(['round', 'status', '2', '--json', '-d', m.dir])) as RoundDetail
    expect(status.phase).toBe('closed')
    expect(status.timing.wallMs).toBeGreaterThan(0)
    expect(await cliOutput(['round', 'status', '1', '-d', m.dir])).toContain('released')
    const releases = JSON.parse(await cliOutput(['release', 'list', '--json', '-d', volunteers[0].dir])) as ReleaseView[]
    expect(releases.map((r) => r.round)).toEqual([0, 1, 2])
    expect(releases[2].parent).toBe(releases[1].manifest)
    const community = JSON.parse(await cliOutput(['community', 'show', '--json', '-d', volunteers[0].dir])) as { id: string, maintainers: string[] }
    expect(community.id).toBe(maintainer.community.id.toString())
    expect(community.maintainers).toEqual([m.daemon.peerId.toString()])
    const { path: out, cleanup } = await tempDir('swarmtune-export-')
    try {
      await cliOutput(['release', 'export', 'latest', '--out', join(out, 'model'), '-d', volunteers[1].dir])
      expect((await readdir(join(out, 'model'))).sort()).toContain('model.json')
    } finally {
      await cleanup()
    }
  })
})
