import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync, tempDir, type TempDir } from '@swarmtune/test-support'
import {
  buildLayersModel, createModelTask, evaluate, inspectModel, layersModelCids, loadMnist, mnist2nn, mobilenetV2Base, registerTask,
  selectBackend, setModelWeights, tf, trainLocal, writeImageFolder, type Dataset, type LayersModelSource, type ModelSpec, type ModelTask
} from '../src/index.js'
import { kernelsOf } from './helpers.js'

/** MNIST digits upscaled to MobileNetV2's input: [n, 224, 224, 3], grey in every channel, in [0, 1]. */
function upscale (ds: Dataset): Dataset {
  const images = tf.tidy(() => {
    const x = tf.tensor4d(ds.images, [ds.count, 28, 28, 1])
    return tf.tile(tf.image.resizeBilinear(x, [224, 224]), [1, 1, 1, 3]).dataSync() as Float32Array
  })
  return { ...ds, images: Float32Array.from(images), exampleShape: [224, 224, 3] }
}

let base: LayersModelSource
let spec: ModelSpec
let tmp: TempDir
let train: Dataset
let test: Dataset
const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']

beforeAll(async () => {
  await selectBackend(mnist2nn, { backend: 'wasm', purpose: 'inference' })
  tmp = await tempDir('swarmtune-model-task-')
  base = await mobilenetV2Base()
  const cids = layersModelCids(base)
  spec = {
    kind: 'layers-model',
    topology: cids.topology.toString(),
    base: cids.base.toString(),
    features: 'flatten_1',
    head: { replace: 'dense_3', classes: 10, labels: LABELS },
    adapters: { kind: 'lora', rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'], seed: 7 }
  }
  const mnist = await loadMnist({ train: 40, test: 16 })
  train = upscale(mnist.train)
  test = upscale(mnist.test)
})
afterAll(async () => { await tmp.cleanup() })

describe('MobileNetV2 of nsfwjs as a base', () => {
  it('loads by name (162 layers, 2,619,461 parameters) and predicts as tfjs\' own loader does', async () => {
    expect(base.weights.specs).toHaveLength(266)
    const ours = await buildLayersModel(base)
    const mod = await import('nsfwjs/models/mobilenet_v2')
    const json = (await mod.MobileNetV2Model.modelJson()).default
    const b64 = (await mod.MobileNetV2Model.weightBundles[0]()).default as string
    const bytes = Buffer.from(b64, 'base64')
    const theirs = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    }))
    try {
      expect(ours.layers).toHaveLength(162)
      expect(ours.countParams()).toBe(2_619_461)
      const x = tf.tensor4d(train.images.subarray(0, 2 * 224 * 224 * 3), [2, 224, 224, 3])
      const p = (ours.predict(x) as tf.Tensor).dataSync()
      const q = (theirs.predict(x) as tf.Tensor).dataSync()
      expect(Array.from(p)).toEqual(Array.from(q))
      expect(p[0] + p[1] + p[2] + p[3] + p[4]).toBeCloseTo(1, 5)
      x.dispose()
    } finally {
      ours.dispose()
      theirs.dispose()
    }
  })

  it('inspect: wasm runs it but cannot train its convolutions; with a spec, wasm trains head and adapters', async () => {
    const plain = await inspectModel(base)
    expect(plain).toMatchObject({ params: 2_619_461, unknownClasses: [], modelBytes: 4 * 2_619_461 })
    expect(plain.layers).toHaveLength(162)
    expect(plain.layers.find((l) => l.name === 'Conv_1')).toMatchObject({ className: 'Conv2D', outputShape: [7, 7, 1280], params: 320 * 1280 })
    const wasm = plain.backends.find((b) => b.backend === 'wasm')!
    expect(wasm).toMatchObject({ available: true, missingForInference: [] })
    expect(wasm.missingForTraining).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter']))
    expect(plain.backends.find((b) => b.backend === 'cpu')).toMatchObject({ available: true, missingForInference: [], missingForTraining: [] })
    const tuned = await inspectModel(base, spec)
    expect(tuned.backends.find((b) => b.backend === 'wasm')).toMatchObject({ missingForInference: [], missingForTraining: [] })
    expect(tuned.layers.find((l) => l.name === 'Conv_1')?.role).toBe('backbone')
    expect(tuned.layers.filter((l) => l.role !== 'backbone').map((l) => [l.name, l.role])).toEqual([
      ['dense_1', 'adapter'], ['dropout_2', 'frozen'], ['dense_2', 'adapter'], ['dropout_3', 'frozen'], ['dense_3', 'head']
    ])
    expect(tuned.trainableParams).toBe(4 * 256 + 4 * 128 + 128 * 10 + 10)
    expect(tuned.contributionBytes / tuned.modelBytes).toBeLessThan(0.01)
  })
})

describe('a task from a model', () => {
  let task: ModelTask
  let features: Dataset
  beforeAll(async () => {
    task = await createModelTask(spec, base, { cacheDir: tmp.path })
    registerTask(task)
  })
  afterAll(() => { task.dispose() })

  it('has only the trainable weights, in layer order, and declares the kernels it dispatches', async () => {
    expect(task.id).toMatch(/^layers-model\/b[a-z2-7]+$/)
    expect(task.weightSpecs.map((s) => [s.name, s.shape])).toEqual([
      ['dense_1/lora_b', [4, 256]], ['dense_2/lora_b', [4, 128]], ['dense_3/kernel', [128, 10]], ['dense_3/bias', [10]]
    ])
    expect(task).toMatchObject({ exampleShape: [1280], inputShape: [1280], classes: 10, backboneInputShape: [224, 224, 3], baseParamCount: 2_619_461 })
    const w = task.initWeights(3)
    expect(w.values[0].every((v) => v === 0) && w.values[1].every((v) => v === 0)).toBe(true)
    expect(w.values[2].some((v) => v !== 0)).toBe(true)
    expect(task.initWeights(3).values[2]).toEqual(w.values[2])
    // the backbone's forward pass on wasm dispatches only declared inference kernels
    const ex = await import('../src/features/extract.js').then(async (m) => await m.createFeatureExtractor(base, 'flatten_1'))
    try {
      const x = train.images.subarray(0, 224 * 224 * 3)
      const p = await tf.profile(async () => { await ex.extract(x, 1) })
      expect(kernelsOf(p).filter((k) => !task.kernels.inference.includes(k))).toEqual([])
    } finally {
      ex.dispose()
    }
    const params = w.values.map((v, i) => tf.variable(tf.tensor(v, w.specs[i].shape)))
    const feats = tf.randomUniform([4, 1280], 0, 1, 'float32', 1)
    const y = tf.tensor2d(Array.from({ length: 40 }, (_, i) => (i % 11 === 0 ? 1 : 0)), [4, 10])
    const p = await tf.profile(() => tf.train.adam(0.01).minimize(() => tf.losses.softmaxCrossEntropy(y, task.forward(params, feats)) as tf.Scalar, true, params)!)
    expect(kernelsOf(p).filter((k) => !task.kernels.train.includes(k))).toEqual([])
    tf.dispose([...params, feats, y])
  })

  it('computes features once (batch 8, progress reported) and serves them from the cache after', async () => {
    const events: Array<{ done: number, total: number }> = []
    const first = await task.features(train, { onProgress: (e) => { expect(e.type).toBe('model:features'); events.push(e.detail) } })
    expect(first).toMatchObject({ cached: 0, computed: 40 })
    expect(events.at(-1)).toMatchObject({ done: 40, total: 40 })
    const t = performance.now()
    const again = await task.features(train)
    const hitMs = performance.now() - t
    expect(again).toMatchObject({ cached: 40, computed: 0 })
    expect(Buffer.from(again.dataset.images.buffer).equals(Buffer.from(first.dataset.images.buffer))).toBe(true)
    console.log(`MobileNetV2 features on ${tf.getBackend()}: ${(40 / (first.forwardMs / 1000)).toFixed(1)} examples/s forward (batch 8, ${(first.forwardMs / 40).toFixed(1)} ms each); ` +
      `cache hit ${(hitMs / 40).toFixed(3)} ms per example`)
    features = first.dataset
    expect(features.exampleShape).toEqual([1280])
  })

  it('trains head and adapters on cached features on wasm, loss falling; merged weights predict as the task', async () => {
    const r = await trainLocal({ task: task.id, weights: task.initWeights(5), data: features, epochs: 10, batchSize: 8, learningRate: 0.03, optimizer: { name: 'adam' }, backend: 'wasm', seed: 2 })
    console.log(`model task on ${r.backend}: loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)} in ${r.steps} steps, ${(r.samplesProcessed / (r.trainMs / 1000)).toFixed(0)} samples/s`)
    expect(r.backend).toBe('wasm')
    expect(r.lossAfter).toBeLessThan(r.lossBefore * 0.7)
    expect(r.weights.values[0].some((v) => v !== 0)).toBe(true)
    const testFeatures = (await task.features(test)).dataset
    const e = await evaluate({ task: task.id, weights: r.weights, data: testFeatures })
    expect(e.count).toBe(16)
    // the post-cut network as a layers model with the adapters merged into the kernels predicts as forward()
    const m = task.buildModel()
    try {
      setModelWeights(m, task.mergedWeights(r.weights))
      const x = tf.tensor2d(testFeatures.images.subarray(0, 4 * 1280), [4, 1280])
      const params = r.weights.values.map((v, i) => tf.tensor(v, r.weights.specs[i].shape))
      const want = tf.softmax(task.forward(params, x)).dataSync()
      const got = (m.predict(x) as tf.Tensor).dataSync()
      got.forEach((v, i) => { expect(v).toBeCloseTo(want[i], 4) })
      tf.dispose([x, ...params])
    } finally {
      m.dispose()
    }
  })

  it('reads a volunteer\'s image folder at the backbone\'s input size, through the feature cache', async () => {
    const digits = (await loadMnist({ train: 8, test: 0 })).train
    const dir = join(tmp.path, 'photos')
    await writeImageFolder(digits, dir, { labels: LABELS })
    const first = await task.loadData({ source: 'images', path: dir })
    expect(first).toMatchObject({ count: 8, classes: 10, exampleShape: [1280] })
    expect(Array.from(first.labels)).toEqual([...digits.labels].sort((a, b) => a - b))
    const entries = async (): Promise<number> => (await readdir(tmp.path, { recursive: true })).filter((f) => f.endsWith('.f32')).length
    const stored = await entries()
    const t = performance.now()
    const again = await task.loadData({ source: 'images', path: dir })
    console.log(`image folder of 8 through the warm feature cache: ${(performance.now() - t).toFixed(0)} ms`)
    expect(Buffer.from(again.images.buffer).equals(Buffer.from(first.images.buffer))).toBe(true)
    expect(await entries()).toBe(stored)
  })

  it('refuses a spec that does not fit the base with a coded error', async () => {
    const bad = async (s: Partial<ModelSpec>): Promise<string | undefined> => await codeOfAsync(createModelTask({ ...spec, ...s }, base))
    expect(await bad({ base: spec.topology })).toBe('ERR_MODEL_BASE_MISMATCH')
    expect(await bad({ head: { replace: 'dense_9', classes: 10, labels: LABELS } })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ head: { replace: 'dense_3', classes: 10, labels: LABELS.slice(1) } })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ adapters: { kind: 'lora', rank: 4, alpha: 8, targets: ['Conv_1'], seed: 1 } })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ adapters: { kind: 'lora', rank: 0, alpha: 8, targets: ['dense_1'], seed: 1 } })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ train: ['dense_1'] })).toBe('ERR_MODEL_SPEC_INVALID')
    // block_11_add reads block_10_project_BN, before this cut
    expect(await bad({ features: 'block_11_project_BN', adapters: undefined })).toBe('ERR_MODEL_UNSUPPORTED_LAYER')
    expect(await bad({ features: 'out_relu', adapters: undefined, train: ['Conv_1_bn'] })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ features: 'out_relu', adapters: undefined })).toBeUndefined()
    expect(await bad({ adapters: undefined, train: ['dense_1', 'dense_2'] })).toBeUndefined()
  })
})
