/**
 * A community that trains convolutional blocks after the cut, end to end with real daemons on 127.0.0.1 and real
 * image folders (MNIST digits 0, 1, 2 as PNG folders, read at the model's 16 × 16 × 3 input): a small CNN saved as a
 * tfjs folder — stem conv → max pool (the cut) → conv → batch norm → ReLU → global average pool → dense head — is
 * the base; the community trains the conv and batch-norm layers after the cut and a new head
 * (`community create --from-tfjs <folder> --features pool --train block_conv,block_bn --head 0,1,2`). Training
 * convolutions needs Conv2DBackpropFilter, which wasm lacks, so the volunteer's daemon chooses cpu by itself; the
 * round releases, its contribution carries the trained tensors only, `release verify` recomputes the release bit for
 * bit, and the released conv kernel is no longer the base's.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tf, tfjsFolderHandler, type Weights } from '@swarmtune/model'
import { parseCid } from '@swarmtune/wire'
import { loadRelease } from '@swarmtune/rounds'
import { Cleanups } from '@swarmtune/test-support'
import { startImageCommunity, type ImageCommunity } from '@swarmtune/test-support/communities'
import { connectedTo, eventOf, ready } from '@swarmtune/test-support/rounds'

const LABELS = ['0', '1', '2']

/**
 * The base, written as the tfjs folder `<parent>/small-cnn` (resolves with its path): a functional CNN with named
 * layers, 16 × 16 × 3 → 5 classes (its own head, replaced by the community's).
 */
async function saveSmallCnn (parent: string): Promise<string> {
  const dir = join(parent, 'small-cnn')
  const input = tf.input({ shape: [16, 16, 3], name: 'image' })
  const stem = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor
  const pool = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(stem) as tf.SymbolicTensor
  const conv = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'block_conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(pool) as tf.SymbolicTensor
  const bn = tf.layers.batchNormalization({ name: 'block_bn' }).apply(conv) as tf.SymbolicTensor
  const relu = tf.layers.reLU({ name: 'block_relu' }).apply(bn) as tf.SymbolicTensor
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(relu) as tf.SymbolicTensor
  const out = tf.layers.dense({ units: 5, activation: 'softmax', name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(gap) as tf.SymbolicTensor
  const model = tf.model({ inputs: input, outputs: out, name: 'small_cnn' })
  try {
    await model.save(tfjsFolderHandler(dir))
  } finally {
    model.dispose()
  }
  return dir
}

describe('a community training conv blocks after the cut, over the network', () => {
  const cleanups = new Cleanups()
  let c: ImageCommunity

  beforeAll(async () => {
    c = await startImageCommunity({ prefix: 'swarmtune-conv-community-', labels: LABELS, perClass: { volunteer: 20, evaluation: 10 }, from: saveSmallCnn, createOptions: ['--features', 'pool', '--train', 'block_*', '--seed', '1'], cleanups })
  }, 120_000)

  afterAll(async () => { await cleanups.run() })

  it('the volunteer trains the conv block on cpu (wasm lacks its gradient kernels); the round releases and verifies', async () => {
    const { maintainer: m, created } = c
    const spec = (created.model as { spec: { train?: string[], features: string, base: string } }).spec
    expect(spec.features).toBe('pool')
    expect(spec.train).toEqual(['block_conv', 'block_bn'])

    const { node: v } = await c.joinVolunteer()
    const task = await eventOf(v, 'rounds:task', () => true, 120_000)
    expect(task).toMatchObject({ task: created.task, weights: { cid: spec.base, fetched: true } })
    await connectedTo(m, [v])
    await ready([m, v])
    expect((await eventOf(v, 'rounds:ready')).examples).toBe(60)

    const opened = await m.rounds.startRound({ steps: 60, batchSize: 12, learningRate: 0.01, optimizer: 'adam', durationMs: 120_000 })
    const closed = await m.rounds.waitClosed(opened.round, { timeoutMs: 150_000 })
    expect(closed.outcome).toBe('released')
    const contributed = await eventOf(v, 'rounds:contributed')
    expect(contributed.backend).toBe('cpu')
    expect(Number(contributed.lossAfter)).toBeLessThan(0.9 * Number(contributed.lossBefore))
    const release = await eventOf(m, 'rounds:release')
    expect(typeof release.accuracy).toBe('number')
    console.log(`conv-block round ${opened.round}: loss ${Number(contributed.lossBefore).toFixed(3)} → ${Number(contributed.lossAfter).toFixed(3)}, training ${String(contributed.trainMs)} ms on ${String(contributed.backend)}, contribution ${String(contributed.blobBytes)} of ${String(contributed.modelBytes)} model bytes, eval accuracy ${Number(release.accuracy).toFixed(3)}`)

    // the release holds the trained tensors only (conv kernel and bias, BN γ and β, the new head), and the conv kernel moved
    const weightsOf = async (manifest: string): Promise<Weights> => (await loadRelease(m.daemon, parseCid(manifest))).weights
    const genesisBlob = await weightsOf((await m.rounds.releases())[0].manifest)
    const latest = await weightsOf((await m.rounds.release('latest')).manifest)
    const names = latest.specs.map((s) => s.name)
    expect(names).toEqual(expect.arrayContaining(['block_conv/kernel', 'block_conv/bias', 'block_bn/gamma', 'block_bn/beta']))
    expect(names.some((n) => n.includes('moving_') || n.startsWith('stem/'))).toBe(false)
    const k = names.indexOf('block_conv/kernel')
    expect(latest.values[k].some((x, i) => x !== genesisBlob.values[k][i])).toBe(true)
    expect(await m.daemon.blobs.has(parseCid(spec.base))).toBe(true)

    const report = await m.rounds.verifyRelease('latest')
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
  }, 400_000)
})
