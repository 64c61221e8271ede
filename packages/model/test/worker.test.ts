import { describe, expect, it } from 'vitest'
import { OPTIMIZER_NAMES, TrainingWorker, evaluate, mnist2nn, trainInWorker, trainLocal, weightsBitEqual, type DataSpec, type TrainProgress } from '../src/index.js'

const spec: DataSpec = { source: 'mnist', split: 'train', limit: 3000, partition: { scheme: 'iid', clients: 5, client: 2, seed: 4 } }

describe('training in a worker thread', () => {
  it('trains from a data spec the worker loads itself, reports progress, and matches the in-process trainer bit for bit', async () => {
    const base = mnist2nn.initWeights(8)
    const progress: TrainProgress[] = []
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 5)
    const opts = { task: 'mnist-2nn', weights: base, data: spec, epochs: 1, batchSize: 10, learningRate: 0.05, seed: 2, backend: 'wasm' }
    let inWorker
    try {
      inWorker = await trainInWorker(opts, { onProgress: (evt) => { expect(evt.type).toBe('train:progress'); progress.push(evt.detail) } })
    } finally {
      clearInterval(timer)
    }
    expect(inWorker.samples).toBe(600)
    expect(inWorker.backend).toBe('wasm')
    expect(inWorker.lossAfter).toBeLessThan(inWorker.lossBefore)
    expect(inWorker.weights.values.every((v) => v instanceof Float32Array)).toBe(true)
    expect(progress.at(-1)).toMatchObject({ step: 60, steps: 60 })
    // The event loop kept turning while the worker trained.
    expect(ticks).toBeGreaterThan(5)
    const inProcess = await trainLocal(opts)
    expect(weightsBitEqual(inWorker.weights, inProcess.weights)).toBe(true)
    expect(inWorker.lossAfter).toBe(inProcess.lossAfter)
  })

  it('revives typed errors, stops on abort, and runs the next job after an abort', async () => {
    const w = new TrainingWorker()
    try {
      await expect(w.train({ task: 'mnist-9nn', weights: mnist2nn.initWeights(1), data: spec })).rejects.toMatchObject({ name: 'UnknownTaskError', code: 'ERR_MODEL_UNKNOWN_TASK' })
      const ac = new AbortController()
      const long = w.train({ task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: spec, epochs: 100, backend: 'cpu' },
        { signal: ac.signal, onProgress: () => ac.abort() })
      await expect(long).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      const evalOpts = { task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: { source: 'mnist', split: 'test', limit: 500 }, backend: 'wasm' } as const
      const ev = await w.evaluate(evalOpts)
      expect(ev.count).toBe(500)
      // The worker's figures are the in-process evaluator's on the same backend.
      const ref = await evaluate(evalOpts)
      expect(ev.backend).toBe('wasm')
      expect(ev.accuracy).toBe(ref.accuracy)
      expect(ev.loss).toBeCloseTo(ref.loss, 5)
    } finally {
      await w.close()
    }
    await expect(w.train({ task: 'mnist-2nn', weights: mnist2nn.initWeights(1), data: spec })).rejects.toMatchObject({ code: 'ERR_MODEL_WORKER_FAILED' })
  })

  it('leaks no tensors in the worker: its numTensors after 6 jobs of each optimizer equals that after 1', async () => {
    const w = new TrainingWorker()
    try {
      const data: DataSpec = { source: 'mnist', split: 'train', limit: 20 }
      const weights = mnist2nn.initWeights(3)
      for (const name of OPTIMIZER_NAMES) {
        for (const backend of ['wasm', 'cpu']) {
          const opts = { task: 'mnist-2nn', weights, data, steps: 1, optimizer: { name }, backend }
          await w.train(opts)
          await w.evaluate({ task: 'mnist-2nn', weights, data, backend })
          const afterOne = (await w.memory()).numTensors
          const counts: number[] = []
          for (let i = 0; i < 5; i++) {
            await w.train(opts)
            await w.evaluate({ task: 'mnist-2nn', weights, data, backend })
            counts.push((await w.memory()).numTensors)
          }
          expect({ name, backend, counts }).toEqual({ name, backend, counts: counts.map(() => afterOne) })
        }
      }
    } finally {
      await w.close()
    }
  })
})
