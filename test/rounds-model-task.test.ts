/**
 * A community of a pretrained model, end to end with real daemons on 127.0.0.1, the real MobileNetV2 of nsfwjs and
 * real image folders (MNIST digits 0, 1, 2 written as PNG folders, read at 224 × 224 RGB):
 *
 * - the maintainer creates it with `community create --from-tfjs mobilenet-v2 --head 0,1,2` (the base's topology
 *   and weights blobs go into its blob store, the genesis release is the head and LoRA B only);
 * - a volunteer on a fresh folder joins with `community join --data <its image folder>`, fetches the base from the
 *   maintainer through the blob exchange (its store did not have it), computes its features once and trains;
 * - one round releases; the contribution blob is at most 1 % of the model's bytes; `release verify` recomputes the
 *   release bit for bit; the coordinator evaluates each release on an image-folder evalData.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCid } from '@swarmtune/wire'
import { Cleanups } from '@swarmtune/test-support'
import { startImageCommunity, type ImageCommunity } from '@swarmtune/test-support/communities'
import { connectedTo, eventOf, ready, startRoundsNode } from '@swarmtune/test-support/rounds'
import { runCli } from '@swarmtune/test-support/cli'

const LABELS = ['0', '1', '2']

describe('a community of a pretrained model (MobileNetV2, head + LoRA) over the network', () => {
  const cleanups = new Cleanups()
  let c: ImageCommunity

  beforeAll(async () => {
    c = await startImageCommunity({ prefix: 'swarmtune-model-community-', labels: LABELS, perClass: { volunteer: 12, evaluation: 6 }, from: 'mobilenet-v2', cleanups })
  }, 120_000)

  afterAll(async () => { await cleanups.run() })

  it('create: the genesis names the model task and its spec; the base blobs are in the maintainer\'s store', async () => {
    const { maintainer: m, created } = c
    const model = created.model as { spec: { topology: string, base: string, head: { labels: string[] }, adapters: { rank: number, alpha: number, targets: string[] } }, contributionBytes: number, modelBytes: number, weightsBytes: number }
    expect(String(created.task)).toMatch(/^layers-model\/bafkrei/)
    expect(model.spec.head.labels).toEqual(LABELS)
    expect(model.spec.adapters).toMatchObject({ rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'] })
    // the genesis release holds the trainable weights only: head 128 × 3 + 3, LoRA B 4 × 256 and 4 × 128
    expect(created.bytes).toBe(4 * (128 * 3 + 3 + 4 * 256 + 4 * 128))
    expect(model.contributionBytes / model.modelBytes).toBeLessThan(0.01)
    expect(await m.daemon.blobs.has(parseCid(model.spec.topology))).toBe(true)
    expect(await m.daemon.blobs.has(parseCid(model.spec.base))).toBe(true)
    expect(m.rounds.community?.modelSpec?.base).toBe(model.spec.base)
  })

  it('a volunteer joins with --data <image folder>, fetches the base from the maintainer, trains; the round releases and verifies', async () => {
    const { maintainer: m, maintainerDir: mdir, created } = c
    const spec = (created.model as { spec: { topology: string, base: string } }).spec
    const { node: v, joined, startedAt: started } = await c.joinVolunteer()
    expect(joined.volunteer).toMatchObject({ data: { source: 'images', path: c.volunteerImages, labels: LABELS } })
    const task = await eventOf(v, 'rounds:task', () => true, 120_000)
    // fetched over the blob exchange (the fresh store did not have it), not copied: then stored, so served from here too
    expect(task).toMatchObject({ task: created.task, weights: { cid: spec.base, fetched: true }, topology: { cid: spec.topology, fetched: true } })
    const fetched = await eventOf(v, 'blob:fetch:done', (e) => e.cid === spec.base)
    expect(fetched).toMatchObject({ size: (created.model as { weightsBytes: number }).weightsBytes, fetchedBytes: (created.model as { weightsBytes: number }).weightsBytes })
    expect(await v.daemon.blobs.has(parseCid(spec.base))).toBe(true)
    const mTask = await eventOf(m, 'rounds:task')
    expect(mTask).toMatchObject({ weights: { fetched: false } })

    await connectedTo(m, [v])
    await ready([m, v])
    const warm = await eventOf(v, 'rounds:ready')
    expect(warm.examples).toBe(36)
    const mWarm = await eventOf(m, 'rounds:ready')
    expect(mWarm.examples).toBe(18)
    console.log(`base fetch ${String(task.fetchMs)} ms (${String((task.weights as { bytes: number }).bytes)} bytes), task built in ${String(task.buildMs)} ms; ` +
      `volunteer warm-up (features of 36 images) ${String(warm.ms)} ms, ${(36 / (Number(warm.ms) / 1000)).toFixed(1)} images/s; ready ${Math.round(performance.now() - started)} ms after start`)

    const roundStarted = performance.now()
    const opened = await m.rounds.startRound({ steps: 8, batchSize: 12, learningRate: 0.05, durationMs: 120_000 })
    const closed = await m.rounds.waitClosed(opened.round, { timeoutMs: 150_000 })
    const roundMs = Math.round(performance.now() - roundStarted)
    expect(closed.outcome).toBe('released')
    const contributed = await eventOf(v, 'rounds:contributed')
    const blobBytes = Number(contributed.blobBytes)
    const modelBytes = Number(contributed.modelBytes)
    expect(modelBytes).toBe(4 * 2_619_461)
    expect(blobBytes).toBeLessThanOrEqual(0.01 * modelBytes)
    const release = await eventOf(m, 'rounds:release')
    expect(typeof release.accuracy).toBe('number')
    console.log(`round ${opened.round}: ${roundMs} ms (training ${String(contributed.trainMs)} ms on ${String(contributed.backend)}); contribution ${blobBytes} bytes = ${(100 * blobBytes / modelBytes).toFixed(3)} % of the model's ${modelBytes} bytes; eval accuracy ${Number(release.accuracy).toFixed(3)}`)

    // the round's record and `round status` give the delta bytes beside the whole model's
    expect(closed.modelBytes).toBe(modelBytes)
    expect(closed.timing.bytes).toBe(blobBytes)
    const status = await runCli(['round', 'status', String(opened.round), '-d', mdir], { reject: 'failure' })
    expect(status.stdout).toContain(`${blobBytes} delta bytes (the whole model: ${modelBytes} bytes)`)

    const report = await m.rounds.verifyRelease('latest')
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.recomputedManifest).toBe(report.manifest)
  }, 400_000)

  it('a volunteer that reaches no peer reports unableToTrain with ERR_ROUNDS_MODEL_BASE_UNAVAILABLE, and fetches the base once one connects', async () => {
    const { maintainer: m, created } = c
    const spec = (created.model as { spec: { topology: string, base: string } }).spec
    const alone = await startRoundsNode({ genesis: c.genesis, config: { volunteer: { data: { source: 'images', path: c.volunteerImages } } } })
    cleanups.push(async () => { await alone.destroy() })
    const unable = await eventOf(alone, 'rounds:unable', () => true, 60_000)
    expect(unable.code).toBe('ERR_ROUNDS_MODEL_BASE_UNAVAILABLE')
    expect(String(unable.reason)).toContain(spec.topology)
    expect((alone.rounds.status?.() as { volunteer: { unableToTrain: { code: string } } }).volunteer.unableToTrain.code).toBe('ERR_ROUNDS_MODEL_BASE_UNAVAILABLE')
    await alone.daemon.libp2p.dial(m.daemon.libp2p.getMultiaddrs())
    const task = await eventOf(alone, 'rounds:task', () => true, 60_000)
    expect(task).toMatchObject({ weights: { cid: spec.base, fetched: true } })
    await ready([alone])
    expect((alone.rounds.status?.() as { volunteer: { unableToTrain: unknown } }).volunteer.unableToTrain).toBeNull()
  }, 120_000)
})
