import { beforeAll, describe, expect, it } from 'vitest'
import { kernelsOf } from './helpers.js'
import {
  createOptimizer, disposeOptimizer, evaluate, getTask, head, loadMnist, mnist2nn, mnistCnn, OPTIMIZER_NAMES, partitionDataset, tf, trainLocal, weightsBitEqual,
  type Dataset, type TrainProgress
} from '../src/index.js'

let train: Dataset
let test: Dataset
beforeAll(async () => { ({ train, test } = await loadMnist({ train: 6000, test: 2000 })) })

describe('local training', () => {
  it('mnist-2nn trained on one client\'s partition improves test accuracy', async () => {
    const mine = partitionDataset(train, { scheme: 'iid', clients: 10, client: 0, seed: 11 })
    const base = mnist2nn.initWeights(42)
    const before = await evaluate({ task: 'mnist-2nn', weights: base, data: test })
    const progress: TrainProgress[] = []
    const r = await trainLocal({ task: 'mnist-2nn', weights: base, data: mine, epochs: 2, batchSize: 10, learningRate: 0.05, seed: 3 },
      { onProgress: (evt) => { expect(evt.type).toBe('train:progress'); progress.push(evt.detail) } })
    const after = await evaluate({ task: 'mnist-2nn', weights: r.weights, data: test })
    console.log(`mnist-2nn on ${r.backend}, 600 examples × 2 epochs: test accuracy ${before.accuracy} → ${after.accuracy}, local loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)}`)
    expect(r.samples).toBe(600)
    expect(r.steps).toBe(120)
    expect(r.samplesProcessed).toBe(1200)
    expect(after.accuracy).toBeGreaterThan(before.accuracy! + 0.5)
    expect(after.accuracy).toBeGreaterThan(0.7)
    expect(r.lossAfter).toBeLessThan(r.lossBefore / 3)
    expect(progress.at(-1)).toMatchObject({ step: 120, steps: 120, epoch: 2 })
    expect(progress.every((p) => Number.isFinite(p.loss) && p.samplesPerSecond > 0)).toBe(true)
    // The base is untouched; the result has the task's specs.
    expect(weightsBitEqual(base, mnist2nn.initWeights(42))).toBe(true)
    expect(r.weights.specs).toEqual(mnist2nn.weightSpecs)
  })

  it('momentum and Adam train too; the same seed on the same backend gives the same weights', async () => {
    const data = head(train, 200)
    for (const optimizer of [{ name: 'momentum', momentum: 0.9 }, { name: 'adam' }] as const) {
      const opts = { task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data, epochs: 1, optimizer, learningRate: optimizer.name === 'adam' ? 0.001 : 0.01, seed: 5, backend: 'wasm' }
      const a = await trainLocal(opts)
      const b = await trainLocal(opts)
      expect(a.lossAfter).toBeLessThan(a.lossBefore)
      expect(weightsBitEqual(a.weights, b.weights)).toBe(true)
      const c = await trainLocal({ ...opts, seed: 6 })
      expect(weightsBitEqual(a.weights, c.weights)).toBe(false)
    }
  })

  it('the CNN trains on the cpu backend (a few steps on a small batch), dispatching only declared kernels', async () => {
    const data = head(train, 4)
    let r: Awaited<ReturnType<typeof trainLocal>> | undefined
    const profile = await tf.profile(async () => {
      r = await trainLocal({ task: 'mnist-cnn', weights: mnistCnn.initWeights(2), data, steps: 3, batchSize: 2, learningRate: 0.05, optimizer: { name: 'adam' } })
    })
    expect(r!.backend).toBe('cpu')
    expect(r!.backendReason).toMatch(/Conv2DBackpropFilter/)
    expect(r!.lossAfter).toBeLessThan(r!.lossBefore)
    expect(r!.weights.specs).toEqual(mnistCnn.weightSpecs)
    const used = kernelsOf(profile)
    expect(used.filter((k) => !mnistCnn.kernels.train.includes(k))).toEqual([])
    expect(used).toContain('Conv2DBackpropFilter')
  })

  it('refuses bad options, weights and data with typed errors', async () => {
    const w = mnist2nn.initWeights(1)
    const data = head(train, 10)
    const base = { task: 'mnist-2nn', weights: w, data }
    for (const bad of [{ learningRate: 0 }, { learningRate: Number.NaN }, { batchSize: 0 }, { batchSize: 1.5 }, { epochs: 1, steps: 2 }, { steps: -1 }, { optimizer: { name: 'rmsprop' } as never }, { optimizer: { name: 'momentum', momentum: 1.5 } as const }]) {
      await expect(trainLocal({ ...base, ...bad })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
    }
    await expect(trainLocal({ ...base, task: 'nope' })).rejects.toMatchObject({ code: 'ERR_MODEL_UNKNOWN_TASK' })
    await expect(trainLocal({ ...base, weights: mnistCnn.initWeights(1) })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_WEIGHTS' })
    const short = { specs: w.specs, values: [...w.values.slice(0, 5), new Float32Array(3)] }
    await expect(trainLocal({ ...base, weights: short })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_WEIGHTS' })
    const wrongShape: Dataset = { ...data, images: new Float32Array(10 * 100), exampleShape: [10, 10] }
    await expect(trainLocal({ ...base, data: wrongShape })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
    await expect(trainLocal({ ...base, data: head(train, 0) })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
    const badLabel: Dataset = { ...data, labels: data.labels.map((y, i) => (i === 3 ? 10 : y)) }
    await expect(trainLocal({ ...base, data: badLabel })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
    const shortImages: Dataset = { ...data, images: data.images.subarray(1) }
    await expect(evaluate({ task: 'mnist-2nn', weights: w, data: shortImages })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
    await expect(evaluate({ task: 'mnist-2nn', weights: w, data: test, batchSize: 0 })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
  })

  it('a diverging run is reported, not returned', async () => {
    await expect(trainLocal({ task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: head(train, 50), epochs: 1, learningRate: 1e30 }))
      .rejects.toMatchObject({ name: 'TrainingDivergedError', code: 'ERR_MODEL_TRAINING_DIVERGED' })
  })

  it('stops when aborted, between steps', async () => {
    const ac = new AbortController()
    let seen = 0
    const run = trainLocal({ task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: head(train, 1000), epochs: 50, backend: 'cpu' },
      { signal: ac.signal, onProgress: () => { seen++; ac.abort(new Error('round cancelled')) } })
    await expect(run).rejects.toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' })
    expect(seen).toBe(1)
  })

  it('leaks no tensors: numTensors after 10 runs equals numTensors after 1, for every optimizer, on wasm and cpu', async () => {
    const data = head(train, 20)
    const weights = mnist2nn.initWeights(1)
    for (const backend of ['wasm', 'cpu']) {
      for (const name of OPTIMIZER_NAMES) {
        const opts = { task: 'mnist-2nn', weights, data, steps: 1, batchSize: 10, optimizer: { name }, backend }
        await trainLocal(opts)
        await evaluate({ task: 'mnist-2nn', weights, data, backend })
        const afterOne = tf.memory().numTensors
        const counts: number[] = []
        for (let i = 0; i < 10; i++) {
          await trainLocal(opts)
          await evaluate({ task: 'mnist-2nn', weights, data, backend })
          counts.push(tf.memory().numTensors)
        }
        expect({ backend, name, counts }).toEqual({ backend, name, counts: counts.map(() => afterOne) })
      }
    }
    expect(getTask('mnist-2nn')).toBe(mnist2nn)
  })

  it('leaks no tensors when more runs overlap than the variable pool keeps', async () => {
    const data = head(train, 20)
    const opts = { task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data, steps: 1, backend: 'wasm' }
    const overlapping = async (): Promise<void> => { await Promise.all([1, 2, 3, 4].map(async () => await trainLocal(opts))) }
    await overlapping()
    const afterOne = tf.memory().numTensors
    const counts: number[] = []
    for (let i = 0; i < 5; i++) {
      await overlapping()
      counts.push(tf.memory().numTensors)
    }
    expect(counts).toEqual(counts.map(() => afterOne))
  })

  it('disposeOptimizer frees everything each optimizer allocated, after it has stepped', () => {
    for (const name of OPTIMIZER_NAMES) {
      const x = tf.variable(tf.zeros([3]))
      const start = tf.memory().numTensors
      const optimizer = createOptimizer({ name }, 0.1)
      tf.tidy(() => { optimizer.minimize(() => tf.sum(tf.square(tf.sub(x, 1))) as tf.Scalar) })
      disposeOptimizer(optimizer)
      expect({ name, numTensors: tf.memory().numTensors }).toEqual({ name, numTensors: start })
      disposeOptimizer(optimizer) // idempotent
      x.dispose()
    }
  })
})
