import { describe, expect, it } from 'vitest'
import { evaluate, fans, getTask, listTasks, loadMnist, mnist2nn, mnistCnn, paramCount, tf, trainLocal } from '../src/index.js'
import { kernelsOf } from './helpers.js'

describe('tasks', () => {
  it('mnist-2nn and mnist-cnn have the parameter counts of McMahan et al. 2017', () => {
    expect(getTask('mnist-2nn').paramCount).toBe(199_210)
    expect(getTask('mnist-cnn').paramCount).toBe(1_663_370)
    expect(listTasks().map((t) => t.id)).toEqual(['mnist-2nn', 'mnist-cnn'])
    expect(() => getTask('mnist-rnn')).toThrow(expect.objectContaining({ name: 'UnknownTaskError', code: 'ERR_MODEL_UNKNOWN_TASK' }))
  })

  it('forward(params) is the layers model\'s network: softmax of its logits equals model.predict', () => {
    for (const task of [mnist2nn, mnistCnn]) {
      const w = task.initWeights(4)
      const model = task.buildModel()
      try {
        tf.tidy(() => {
          model.setWeights(w.values.map((v, i) => tf.tensor(v, w.specs[i].shape)))
          const x = tf.randomUniform([5, ...task.inputShape], 0, 1, 'float32', 1)
          const viaLayers = (model.predict(x) as tf.Tensor).dataSync()
          const viaForward = tf.softmax(task.forward(w.values.map((v, i) => tf.tensor(v, w.specs[i].shape)), x)).dataSync()
          viaForward.forEach((p, i) => expect(p).toBeCloseTo(viaLayers[i], 6))
        })
      } finally {
        model.dispose()
      }
    }
  })

  it('the built tfjs model lists exactly the task\'s weight specs, in order, and outputs probabilities', () => {
    for (const task of [mnist2nn, mnistCnn]) {
      const model = task.buildModel()
      try {
        expect(model.countParams()).toBe(task.paramCount)
        expect(model.weights.map((w) => ({ name: w.originalName, shape: w.shape, dtype: w.dtype }))).toEqual(task.weightSpecs)
        const p = tf.tidy(() => (model.predict(tf.ones([3, ...task.inputShape])) as tf.Tensor).sum(1).arraySync() as number[])
        p.forEach((s) => expect(s).toBeCloseTo(1, 5))
      } finally {
        model.dispose()
      }
    }
    expect(paramCount(mnistCnn.weightSpecs)).toBe(1_663_370)
  })

  it('seeded initialisation is deterministic, Glorot-uniform bounded, zero biases', () => {
    const a = mnistCnn.initWeights(9)
    const b = mnistCnn.initWeights(9)
    expect(a.values.every((v, i) => Buffer.from(v.buffer).equals(Buffer.from(b.values[i].buffer)))).toBe(true)
    expect(mnistCnn.initWeights(10).values[0]).not.toEqual(a.values[0])
    a.specs.forEach((s, i) => {
      const v = a.values[i]
      if (s.shape.length === 1) {
        expect(v.every((x) => x === 0)).toBe(true)
        return
      }
      const { fanIn, fanOut } = fans(s.shape)
      const limit = Math.sqrt(6 / (fanIn + fanOut))
      let max = 0
      let sum = 0
      for (const x of v) { max = Math.max(max, Math.abs(x)); sum += x }
      expect(max).toBeLessThanOrEqual(limit)
      expect(max).toBeGreaterThan(0.95 * limit)
      expect(Math.abs(sum / v.length)).toBeLessThan(0.05 * limit)
    })
    expect(fans([5, 5, 32, 64])).toEqual({ fanIn: 800, fanOut: 1600 })
  })

  it('the declared kernels cover every kernel training (SGD, momentum, Adam) and evaluation dispatch on cpu', async () => {
    const { train } = await loadMnist({ train: 20, test: 0 })
    const used = new Set<string>()
    for (const backend of ['cpu', 'wasm']) {
      for (const optimizer of [{ name: 'sgd' }, { name: 'momentum' }, { name: 'adam' }] as const) {
        const p = await tf.profile(async () => {
          await trainLocal({ task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: train, steps: 2, batchSize: 4, optimizer, backend })
        })
        kernelsOf(p).forEach((k) => used.add(k))
      }
    }
    const inference = await tf.profile(async () => { await evaluate({ task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: train }) })
    expect(kernelsOf(inference).filter((k) => !mnist2nn.kernels.inference.includes(k))).toEqual([])
    expect([...used].filter((k) => !mnist2nn.kernels.train.includes(k))).toEqual([])
    expect(used.has('Sqrt')).toBe(true) // Adam's update ran
    expect(used.has('Transpose')).toBe(true) // the wasm dense gradient ran
    // CNN kernels beyond the dense ones are covered in train.test.ts (the cpu CNN run is profiled there).
    expect(mnistCnn.kernels.train).toEqual(expect.arrayContaining([...mnist2nn.kernels.train, 'Conv2DBackpropFilter', 'MaxPoolGrad']))
  })
})
