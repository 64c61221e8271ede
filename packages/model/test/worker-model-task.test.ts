/**
 * A model task (MobileNetV2 of nsfwjs, new head + LoRA) trained and evaluated in the worker thread: the job
 * describes the task (spec + where its base is), the worker rebuilds and registers it, reads the volunteer's
 * image folder through the feature cache the main thread filled, and gets the main thread's weights bit for bit.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { mobilenetLora, saveSmallModel } from '@swarmtune/test-support/models'
import {
  TrainingWorker, createModelTask, createRng, evaluate, layersModelCids, loadLayersModelFolder, loadMnist, modelBaseBlob, registerTask, trainInWorker,
  trainLocal, weightsBitEqual, writeImageFolder, type DataSpec, type LayersModelSource, type ModelSpec, type ModelTask, type ModelTaskRef
} from '../src/index.js'

const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']

let tmp: TempDir
let base: LayersModelSource
let spec: ModelSpec
let task: ModelTask
let data: DataSpec

beforeAll(async () => {
  ({ base, spec } = await mobilenetLora(LABELS, 11))
  tmp = await tempDir('swarmtune-worker-model-')
  task = await createModelTask(spec, base, { cacheDir: join(tmp.path, 'features') })
  registerTask(task)
  const digits = (await loadMnist({ train: 12, test: 0 })).train
  const folder = join(tmp.path, 'photos')
  await writeImageFolder(digits, folder, { labels: LABELS })
  data = { source: 'images', path: folder }
  // the main thread computes the features once: the worker's reads of the same folder are cache hits
  await task.loadData(data)
}, 120_000)
afterAll(async () => {
  task?.dispose()
  await tmp.cleanup()
})

describe('a model task in the training worker', () => {
  it('trains head + LoRA from an image folder through the cached features, bit-identical to trainLocal', async () => {
    const ref: ModelTaskRef = { spec, base: { kind: 'mobilenet-v2' }, cacheDir: join(tmp.path, 'features') }
    const opts = { task: task.id, weights: task.initWeights(3), data, steps: 4, batchSize: 4, learningRate: 0.02, optimizer: { name: 'adam' as const }, seed: 5, backend: 'wasm' }
    const inWorker = await trainInWorker({ ...opts, model: ref })
    const inProcess = await trainLocal(opts)
    expect(inWorker).toMatchObject({ samples: 12, steps: 4, backend: 'wasm' })
    expect(inWorker.weights.specs.map((s) => s.name)).toEqual(['dense_1/lora_b', 'dense_2/lora_b', 'dense_3/kernel', 'dense_3/bias'])
    expect(inWorker.weights.values[0].some((v) => v !== 0)).toBe(true)
    expect(weightsBitEqual(inWorker.weights, inProcess.weights)).toBe(true)
    expect(inWorker.lossAfter).toBe(inProcess.lossAfter)
  }, 120_000)

  it('builds the task once per worker from a base sent as bytes, evaluates as the main thread, and refuses a ref of another task', async () => {
    const w = new TrainingWorker()
    try {
      const ref: ModelTaskRef = { spec, base: modelBaseBlob(base), cacheDir: join(tmp.path, 'features') }
      const weights = task.initWeights(4)
      const ev = await w.evaluate({ task: task.id, weights, data, backend: 'wasm', model: ref })
      const want = await evaluate({ task: task.id, weights, data, backend: 'wasm' })
      expect(ev.count).toBe(12)
      expect(ev.accuracy).toBe(want.accuracy)
      expect(ev.loss).toBeCloseTo(want.loss, 5)
      // the second job names the task only (the bytes went once) and the worker still knows it
      const r = await w.train({ task: task.id, weights, data, steps: 1, batchSize: 4, backend: 'wasm', model: ref })
      expect(r.steps).toBe(1)
      const other: ModelTaskRef = { ...ref, spec: { ...spec, adapters: { ...spec.adapters!, seed: 12 } } }
      await expect(w.train({ task: task.id, weights, data, steps: 1, model: other })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
      // without a ref, a model task this thread never built is unknown there
      const w2 = new TrainingWorker()
      try {
        await expect(w2.train({ task: task.id, weights, data, steps: 1 })).rejects.toMatchObject({ code: 'ERR_MODEL_UNKNOWN_TASK' })
      } finally {
        await w2.close()
      }
    } finally {
      await w.close()
    }
  }, 120_000)

  it('rebuilds a task whose base is a tfjs folder on disk', async () => {
    const dir = join(tmp.path, 'small-model')
    await saveSmallModel(dir)
    const small = await loadLayersModelFolder(dir)
    const cids = layersModelCids(small)
    const smallSpec: ModelSpec = {
      kind: 'layers-model', topology: cids.topology.toString(), base: cids.base.toString(), features: 'hidden', head: { replace: 'out', classes: 2, labels: ['a', 'b'] }
    }
    const smallTask = await createModelTask(smallSpec, small)
    registerTask(smallTask)
    const rng = createRng(8)
    const features = { images: Float32Array.from({ length: 40 * 5 }, () => rng.float()), labels: Uint8Array.from({ length: 40 }, (_, i) => i % 2), count: 40, exampleShape: [5], classes: 2 }
    const opts = { task: smallTask.id, weights: smallTask.initWeights(1), data: features, epochs: 2, batchSize: 8, seed: 3, backend: 'cpu' }
    const inWorker = await trainInWorker({ ...opts, model: { spec: smallSpec, base: { kind: 'folder', path: dir } } })
    expect(weightsBitEqual(inWorker.weights, (await trainLocal(opts)).weights)).toBe(true)
    smallTask.dispose()
  }, 60_000)
})
