import { describe, expect, it } from 'vitest'
import {
  assembleRelease, buildRelease, decodeSafetensors, encodeSafetensors, listTasks, modelWithWeights, readModelWeights,
  setModelWeights, tf, weightsBitEqual, type Weights
} from '../src/index.js'

/** conv → batch norm → batch norm → conv: tfjs lists the BN layers' moving statistics after every trainable weight. */
function convBnBnConv (): tf.Sequential {
  const m = tf.sequential({ name: 'conv-bn-bn-conv' })
  m.add(tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 3, kernelSize: 1, name: 'conv1' }))
  m.add(tf.layers.batchNormalization({ name: 'bn1' }))
  m.add(tf.layers.batchNormalization({ name: 'bn2' }))
  m.add(tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'conv2' }))
  return m
}

/** The model's weights in layer order (each layer's weights together), every tensor filled with its own marker values. */
function layerOrderWeights (m: tf.LayersModel): Weights {
  const specs = m.layers.flatMap((l) => l.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[], dtype: 'float32' as const })))
  return { specs, values: specs.map((s, t) => Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, (_, j) => 100 * (t + 1) + j)) }
}

/** Runs `fn` on a fresh conv → BN → BN → conv model and disposes it. */
async function withModel (fn: (m: tf.Sequential) => Promise<void>): Promise<void> {
  const m = convBnBnConv()
  try {
    await fn(m)
  } finally {
    m.dispose()
  }
}

async function byName (m: tf.LayersModel): Promise<Map<string, number[]>> {
  const w = await readModelWeights(m)
  return new Map(w.specs.map((s, i) => [s.name, [...w.values[i]]]))
}

function expectEveryWeightByName (got: Map<string, number[]>, given: Weights): void {
  expect(got.size).toBe(given.specs.length)
  given.specs.forEach((s, i) => { expect({ name: s.name, values: got.get(s.name) }).toEqual({ name: s.name, values: [...given.values[i]] }) })
}

describe('setModelWeights matches weights by name', () => {
  it('conv → BN → BN → conv: weights in layer order land on the weights of their names', async () => {
    await withModel(async (m) => {
      const weights = layerOrderWeights(m)
      // the order tfjs keeps differs from layer order: trainable weights first, the moving statistics last
      expect(m.weights.map((w) => w.originalName)).not.toEqual(weights.specs.map((s) => s.name))
      setModelWeights(m, weights)
      expectEveryWeightByName(await byName(m), weights)
    })
  })

  it('a list whose shapes fit position by position still goes by name (bn1\'s moving statistics never become bn2\'s gamma and beta)', async () => {
    await withModel(async (m) => {
      const inLayerOrder = layerOrderWeights(m)
      const at = (name: string): number => inLayerOrder.specs.findIndex((s) => s.name === name)
      // model.weights order, with bn2/gamma, bn2/beta swapped for bn1/moving_mean, bn1/moving_variance: every shape
      // is [3] there, so a positional copy would write one layer's statistics into the other's parameters
      const order = m.weights.map((w) => at(w.originalName))
      const swap = (a: string, b: string): void => {
        const i = order.indexOf(at(a))
        const j = order.indexOf(at(b))
        ;[order[i], order[j]] = [order[j], order[i]]
      }
      swap('bn2/gamma', 'bn1/moving_mean')
      swap('bn2/beta', 'bn1/moving_variance')
      const shuffled: Weights = { specs: order.map((i) => inLayerOrder.specs[i]), values: order.map((i) => inLayerOrder.values[i]) }
      expect(shuffled.specs.map((s) => s.shape)).toEqual(m.weights.map((w) => w.shape))
      setModelWeights(m, shuffled)
      const got = await byName(m)
      expectEveryWeightByName(got, inLayerOrder)
      expect(got.get('bn2/gamma')).not.toEqual(got.get('bn1/moving_mean'))
    })
  })

  it('refuses missing, unexpected and mismatched weights with ERR_MODEL_WEIGHTS_MISMATCH, naming each with both shapes, and writes nothing', async () => {
    await withModel(async (m) => {
      const good = layerOrderWeights(m)
      setModelWeights(m, good)
      const before = await byName(m)
      const specs = good.specs.map((s) => ({ ...s, shape: [...s.shape] }))
      const values = [...good.values]
      const k = specs.findIndex((s) => s.name === 'conv2/kernel')
      specs[k] = { ...specs[k], shape: [1, 1, 3, 1] }
      values[k] = new Float32Array(3)
      const drop = specs.findIndex((s) => s.name === 'bn2/moving_variance')
      specs.splice(drop, 1)
      values.splice(drop, 1)
      specs.push({ name: 'bn3/gamma', shape: [3], dtype: 'float32' })
      values.push(new Float32Array(3))
      let err: unknown
      try {
        setModelWeights(m, { specs, values })
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({
        name: 'WeightsMismatchError',
        code: 'ERR_MODEL_WEIGHTS_MISMATCH',
        missing: [{ name: 'bn2/moving_variance', shape: [3], dtype: 'float32' }],
        unexpected: [{ name: 'bn3/gamma', shape: [3], dtype: 'float32' }],
        mismatched: [{ name: 'conv2/kernel', expected: { shape: [1, 1, 3, 3], dtype: 'float32' }, got: { shape: [1, 1, 3, 1], dtype: 'float32' } }],
        duplicated: []
    })
    expect(String((err as Error).message)).toContain('conv2/kernel')
    // the conv2/kernel and bn1 values that did fit were not written either
    expect(await byName(m)).toEqual(before)
    // weights inconsistent with their own specs are InvalidWeightsError, before any matching
    expect(() => setModelWeights(m, { specs: good.specs, values: good.values.slice(1) })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_WEIGHTS' }))
    })
  })

  it('keeps releases and safetensors files already written readable: every task names its weights as tfjs does', async () => {
    for (const task of listTasks()) {
      const model = task.buildModel()
      try {
        // a release stores the task's spec names; they are the names tfjs gives the task's layers' weights
        expect(model.weights.map((w) => w.originalName).sort()).toEqual(task.weightSpecs.map((s) => s.name).sort())
      } finally {
        model.dispose()
      }
      const w = task.initWeights(9)
      const release = buildRelease(w, { round: 0, task: task.id, parent: null })
      const shards = new Map(release.shards.map((s) => [s.cid.toString(), s.bytes]))
      const fromRelease = (await assembleRelease(release.manifestBytes, (cid) => shards.get(cid.toString())!)).weights
      const fromSafetensors = decodeSafetensors(encodeSafetensors(w)).weights
      for (const read of [fromRelease, fromSafetensors]) {
        // a second model of the task in this process: tfjs suffixes its variables' names, not their original names
        const m = modelWithWeights(task, read)
        try {
          expect(weightsBitEqual(await readModelWeights(m), w)).toBe(true)
        } finally {
          m.dispose()
        }
      }
    }
  })
})
