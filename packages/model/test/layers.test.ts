import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import {
  buildLayersModel, canonicalJson, createRng, encodeTopology, layersModelCids, loadLayersModelFolder, readModelWeights, tf,
  type LayersModelSource, type Weights
} from '../src/index.js'

/** conv → batch norm → batch norm → conv, functional (as Keras saves a Model). */
function convBnBnConv (): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2], name: 'image' })
  let h = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'conv1' }).apply(input) as tf.SymbolicTensor
  h = tf.layers.batchNormalization({ name: 'bn1' }).apply(h) as tf.SymbolicTensor
  h = tf.layers.batchNormalization({ name: 'bn2' }).apply(h) as tf.SymbolicTensor
  h = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'conv2' }).apply(h) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: h, name: 'conv_bn_bn_conv' })
}

/** Every weight filled with its own values (moving variances positive), so that a swap shows in the output. */
function distinctWeights (m: tf.LayersModel, seed: number): Weights {
  const rng = createRng(seed)
  const specs = m.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[], dtype: 'float32' as const }))
  return { specs, values: specs.map((s) => Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 0.2 + rng.float())) }
}

/** Writes a tfjs layers-model folder whose manifest lists the weights in the given order (bytes in the same order). */
async function writeFolder (dir: string, topology: object, weights: Weights, order: number[]): Promise<void> {
  await mkdir(dir, { recursive: true })
  const bytes = Buffer.concat(order.map((i) => Buffer.from(weights.values[i].buffer, weights.values[i].byteOffset, weights.values[i].byteLength)))
  await writeFile(join(dir, 'group1-shard1of1.bin'), bytes)
  await writeFile(join(dir, 'model.json'), JSON.stringify({
    format: 'layers-model',
    modelTopology: topology,
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: order.map((i) => weights.specs[i]) }]
  }))
}

let tmp: TempDir
let topology: object
let weights: Weights
let expected: Float32Array
const x = tf.tensor4d(Float32Array.from({ length: 2 * 4 * 4 * 2 }, (_, i) => (i % 7) / 7), [2, 4, 4, 2])

beforeAll(async () => {
  tmp = await tempDir('swarmtune-layers-')
  const m = convBnBnConv()
  weights = distinctWeights(m, testSeed('layers'))
  m.setWeights(weights.values.map((v, i) => tf.tensor(v, weights.specs[i].shape)))
  topology = m.toJSON(null, false) as object
  expected = (m.predict(x) as tf.Tensor).dataSync() as Float32Array
  m.dispose()
})
afterAll(async () => { await tmp.cleanup() })

describe('a tfjs layers-model folder as a model source', () => {
  it('weights listed in a shuffled order load by name: the model predicts as the original', async () => {
    const order = weights.specs.map((_, i) => i).reverse()
    // bn1's moving statistics and bn2's gamma/beta all have shape [3]: a positional load would mix them up
    expect(order.map((i) => weights.specs[i].name)).not.toEqual(weights.specs.map((s) => s.name))
    const dir = join(tmp.path, 'shuffled')
    await writeFolder(dir, topology, weights, order)
    const source = await loadLayersModelFolder(dir)
    expect(source.weights.specs.map((s) => s.name)).toEqual(order.map((i) => weights.specs[i].name))
    const m = await buildLayersModel(source)
    try {
      expect(Array.from((m.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(expected))
      const back = await readModelWeights(m)
      const byName = new Map(back.specs.map((s, i) => [s.name, Array.from(back.values[i])]))
      weights.specs.forEach((s, i) => { expect(byName.get(s.name)).toEqual(Array.from(weights.values[i])) })
    } finally {
      m.dispose()
    }
  })

  it('refuses a weight renamed, dropped or reshaped with ERR_MODEL_WEIGHTS_MISMATCH naming it', async () => {
    const renamed: LayersModelSource = { topology: topology as Record<string, unknown>, origin: 'test', weights: { specs: weights.specs.map((s) => s.name === 'bn2/moving_mean' ? { ...s, name: 'bn3/moving_mean' } : s), values: weights.values } }
    await expect(buildLayersModel(renamed)).rejects.toMatchObject({
      code: 'ERR_MODEL_WEIGHTS_MISMATCH',
      missing: [{ name: 'bn2/moving_mean' }],
      unexpected: [{ name: 'bn3/moving_mean' }]
    })
    const reshaped = weights.specs.findIndex((s) => s.name === 'conv2/kernel')
    const wrong: LayersModelSource = { ...renamed, weights: { specs: weights.specs.map((s, i) => i === reshaped ? { ...s, shape: [1, 3, 1, 3] } : s), values: weights.values } }
    await expect(buildLayersModel(wrong)).rejects.toMatchObject({ code: 'ERR_MODEL_WEIGHTS_MISMATCH', mismatched: [{ name: 'conv2/kernel' }] })
  })

  it('bad folders give ERR_MODEL_TFJS_FOLDER_MALFORMED naming the file', async () => {
    const order = weights.specs.map((_, i) => i)
    const good = join(tmp.path, 'good')
    await writeFolder(good, topology, weights, order)
    const variant = async (name: string, change: (dir: string) => Promise<void>): Promise<string> => {
      const dir = join(tmp.path, name)
      await writeFolder(dir, topology, weights, order)
      await change(dir)
      return dir
    }
    const json = JSON.parse(await readFile(join(good, 'model.json'), 'utf8'))
    const cases: Array<[string, string, (dir: string) => Promise<void>]> = [
      ['no-json', 'model.json', async (d) => { await rm(join(d, 'model.json')) }],
      ['not-json', 'not JSON', async (d) => { await writeFile(join(d, 'model.json'), '{ "modelTopology": ') }],
      ['graph', 'layers-model', async (d) => { await writeFile(join(d, 'model.json'), JSON.stringify({ ...json, format: 'graph-model' })) }],
      ['truncated', 'bytes', async (d) => { await writeFile(join(d, 'group1-shard1of1.bin'), Buffer.alloc(12)) }],
      ['missing-bin', 'group1-shard1of1.bin', async (d) => { await rm(join(d, 'group1-shard1of1.bin')) }],
      ['escape', 'leaves the folder', async (d) => { await writeFile(join(d, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: ['../good/group1-shard1of1.bin'] }] })) }],
      ['twice', 'twice', async (d) => {
        const ws = json.weightsManifest[0].weights
        await writeFile(join(d, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], weights: ws.map((w: { name: string }, i: number) => (i === 1 ? { ...w, name: ws[0].name } : w)) }] }))
      }]
    ]
    for (const [name, says, change] of cases) {
      const dir = await variant(name, change)
      const err = await loadLayersModelFolder(dir).then(() => undefined, (e: Error) => e)
      expect({ name, code: (err as { code?: string })?.code }).toEqual({ name, code: 'ERR_MODEL_TFJS_FOLDER_MALFORMED' })
      expect(err?.message).toContain(says)
      expect(err?.message).toContain(dir)
    }
    expect(await codeOfAsync(loadLayersModelFolder(good))).toBeUndefined()
  })
})

describe('content ids of a base model', () => {
  it('the topology CID hashes canonical JSON: key order does not matter, any change does', () => {
    const a = { b: [1, { y: 2, x: 'é' }], a: null }
    expect(canonicalJson(a)).toBe('{"a":null,"b":[1,{"x":"é","y":2}]}')
    const reordered = JSON.parse(JSON.stringify(topology, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v)))
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(topology))
    expect(layersModelCids({ topology: reordered, weights }).topology.equals(layersModelCids({ topology: topology as Record<string, unknown>, weights }).topology)).toBe(true)
    expect(new TextDecoder().decode(encodeTopology(reordered))).toBe(canonicalJson(topology))
    const renamed = JSON.parse(JSON.stringify(topology).replace('"conv2"', '"conv9"'))
    expect(layersModelCids({ topology: renamed, weights }).topology.equals(layersModelCids({ topology: reordered, weights }).topology)).toBe(false)
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_SPEC_INVALID' }))
  })

  it('the base CID does not depend on the weights\' order, only on names, shapes and values', () => {
    const t = topology as Record<string, unknown>
    const reversed: Weights = { specs: [...weights.specs].reverse(), values: [...weights.values].reverse() }
    expect(layersModelCids({ topology: t, weights: reversed }).base.equals(layersModelCids({ topology: t, weights }).base)).toBe(true)
    const changed: Weights = { specs: weights.specs, values: weights.values.map((v, i) => (i === 0 ? Float32Array.from(v, (e, j) => (j === 0 ? e + 1 : e)) : v)) }
    expect(layersModelCids({ topology: t, weights: changed }).base.equals(layersModelCids({ topology: t, weights }).base)).toBe(false)
  })
})
