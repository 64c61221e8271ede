import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import {
  createFeatureExtractor, createModelTask, createRng, exampleHash, extractFeatures, FeatureCache, featureNamespace, layersModelCids,
  readModelWeights, tf, type Dataset, type LayersModelSource, type ModelSpec
} from '../src/index.js'

/** A small image model: conv → BN → flatten (the cut) → dense 8 relu → dense 3 softmax. */
async function smallModel (seed: number): Promise<LayersModelSource> {
  const input = tf.input({ shape: [6, 6, 3], name: 'pixels' })
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv', kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor
  h = tf.layers.batchNormalization({ name: 'bn' }).apply(h) as tf.SymbolicTensor
  h = tf.layers.flatten({ name: 'feat' }).apply(h) as tf.SymbolicTensor
  h = tf.layers.dense({ units: 8, activation: 'relu', name: 'd1', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(h) as tf.SymbolicTensor
  h = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(h) as tf.SymbolicTensor
  const m = tf.model({ inputs: input, outputs: h, name: 'small' })
  try {
    return { topology: m.toJSON(null, false) as Record<string, unknown>, weights: await readModelWeights(m), origin: 'small test model' }
  } finally {
    m.dispose()
  }
}

function images (n: number, seed: number): Dataset {
  const rng = createRng(seed)
  return { images: Float32Array.from({ length: n * 108 }, () => rng.float()), labels: Uint8Array.from({ length: n }, (_, i) => i % 3), count: n, exampleShape: [6, 6, 3], classes: 3 }
}

let tmp: TempDir
let base: LayersModelSource
const seed = testSeed('features')

beforeAll(async () => {
  await tf.setBackend('cpu')
  tmp = await tempDir('swarmtune-features-')
  base = await smallModel(seed % 1000)
})
afterAll(async () => { await tmp.cleanup() })

describe('the feature cache', () => {
  it('computes each example once, then serves it from disk, bit for bit', async () => {
    const ex = await createFeatureExtractor(base, 'feat')
    try {
      expect(ex.featureShape).toEqual([64])
      const cache = await FeatureCache.open(join(tmp.path, 'once'), ex.key, ex.featureShape)
      const ds = images(11, seed)
      const first = await extractFeatures(ex, ds, { cache })
      expect(first).toMatchObject({ cached: 0, computed: 11 })
      expect(cache.stats).toMatchObject({ writes: 11 })
      // a fresh handle on the same folder (another process, a restart) serves the same bytes
      const reopened = await FeatureCache.open(join(tmp.path, 'once'), ex.key, ex.featureShape)
      const again = await extractFeatures(ex, ds, { cache: reopened })
      expect(again).toMatchObject({ cached: 11, computed: 0 })
      expect(Buffer.from(again.dataset.images.buffer).equals(Buffer.from(first.dataset.images.buffer))).toBe(true)
      // the features are the cut model's output
      const full = await extractFeatures(ex, ds)
      expect(Array.from(full.dataset.images)).toEqual(Array.from(first.dataset.images))
      // one changed example is the only one computed again
      const changed = { ...ds, images: ds.images.slice() }
      changed.images[5 * 108] += 0.5
      expect(await extractFeatures(ex, changed, { cache: reopened })).toMatchObject({ cached: 10, computed: 1 })
    } finally {
      ex.dispose()
    }
  })

  it('a changed base is another namespace: no stale features are served', async () => {
    const root = join(tmp.path, 'bases')
    const ds = images(4, seed + 1)
    const cids = layersModelCids(base)
    const spec: ModelSpec = { kind: 'layers-model', topology: cids.topology.toString(), base: cids.base.toString(), features: 'feat', head: { replace: 'out', classes: 3, labels: ['a', 'b', 'c'] } }
    const task = await createModelTask(spec, base, { cacheDir: root })
    const first = await task.features(ds)
    expect((await task.features(ds)).cached).toBe(4)
    task.dispose()
    // the same topology with one weight changed (a new base release): same cut layer, other features
    const k = base.weights.specs.findIndex((s) => s.name === 'bn/gamma')
    const changed: LayersModelSource = { ...base, weights: { specs: base.weights.specs, values: base.weights.values.map((v, i) => (i === k ? v.map((x) => x * 2) : v)) } }
    const cids2 = layersModelCids(changed)
    expect(cids2.base.equals(cids.base)).toBe(false)
    const task2 = await createModelTask({ ...spec, base: cids2.base.toString() }, changed, { cacheDir: root })
    const second = await task2.features(ds)
    task2.dispose()
    expect(second).toMatchObject({ cached: 0, computed: 4 })
    expect(Array.from(second.dataset.images)).not.toEqual(Array.from(first.dataset.images))
    expect((await readdir(root)).sort()).toEqual([
      featureNamespace({ topology: cids.topology.toString(), base: cids.base.toString(), layer: 'feat' }),
      featureNamespace({ topology: cids2.topology.toString(), base: cids2.base.toString(), layer: 'feat' })
    ].sort())
  })

  it('a torn entry is a miss and is written again; foreign or unwritable folders give ERR_MODEL_FEATURE_CACHE_UNUSABLE', async () => {
    const ex = await createFeatureExtractor(base, 'feat')
    try {
      const root = join(tmp.path, 'torn')
      const cache = await FeatureCache.open(root, ex.key, ex.featureShape)
      const ds = images(2, seed + 2)
      await extractFeatures(ex, ds, { cache })
      const hash = exampleHash(ds.images.subarray(0, 108), [6, 6, 3])
      const entry = join(root, featureNamespace(ex.key), hash.slice(0, 2), `${hash}.f32`)
      await writeFile(entry, Buffer.alloc(10))
      expect(await extractFeatures(ex, ds, { cache })).toMatchObject({ cached: 1, computed: 1 })
      expect((await readFile(entry)).length).toBe(64 * 4)
      // meta.json naming another shape: foreign data
      await expect(FeatureCache.open(root, ex.key, [65])).rejects.toMatchObject({ code: 'ERR_MODEL_FEATURE_CACHE_UNUSABLE' })
      // a file where the folder should be
      await writeFile(join(tmp.path, 'a-file'), 'x')
      expect(await codeOfAsync(FeatureCache.open(join(tmp.path, 'a-file'), ex.key, ex.featureShape))).toBe('ERR_MODEL_FEATURE_CACHE_UNUSABLE')
      // inputs of another shape, and an abort between batches
      expect(await codeOfAsync(extractFeatures(ex, { ...ds, images: new Float32Array(2 * 48), exampleShape: [4, 4, 3] }))).toBe('ERR_MODEL_INVALID_DATA')
      const ac = new AbortController()
      ac.abort()
      expect(await codeOfAsync(extractFeatures(ex, images(9, 1), { signal: ac.signal }))).toBe('ERR_ABORTED')
    } finally {
      ex.dispose()
    }
  })
})
