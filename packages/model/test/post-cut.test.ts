/**
 * The network after a model task's feature cut with convolutions in it: inverted-residual blocks (1×1 expand,
 * depthwise 3×3, 1×1 project, batch norms, a residual add), padding, strided depthwise, pooling — trained fully,
 * or adapted with LoRA on 1×1 convolutions; on a small model built here, then on MobileNetV2's last blocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync, tempDir, type TempDir } from '@swarmtune/test-support'
import {
  buildLayersModel, chooseBackend, createModelTask, createRng, layersModelCids, mergedLayersModel, mobilenetV2Base, readModelWeights,
  registerTask, setModelWeights, tf, trainLocal, type Dataset, type LayersModelSource, type ModelSpec, type ModelTask, type Weights
} from '../src/index.js'
import { kernelsOf } from './helpers.js'

const LABELS = ['a', 'b', 'c']

/** image [8, 8, 3] → stem conv, BN, ReLU6 (the cut) → an inverted-residual block → pad, strided depthwise → 1×1 conv → pool → dense → head. */
function blocksModel (): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: 'image' })
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => layer.apply(x) as tf.SymbolicTensor
  let x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'stem' }), input)
  x = apply(tf.layers.batchNormalization({ name: 'stem_bn' }), x)
  const cut = apply(tf.layers.reLU({ maxValue: 6, name: 'stem_relu' }), x)
  let h = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, name: 'expand' }), cut)
  h = apply(tf.layers.batchNormalization({ name: 'expand_bn' }), h)
  h = apply(tf.layers.reLU({ maxValue: 6, name: 'expand_relu' }), h)
  h = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'depthwise' }), h)
  h = apply(tf.layers.batchNormalization({ name: 'depthwise_bn' }), h)
  h = apply(tf.layers.activation({ activation: 'relu6', name: 'depthwise_relu' }), h)
  h = apply(tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false, name: 'project' }), h)
  h = apply(tf.layers.batchNormalization({ name: 'project_bn' }), h)
  h = apply(tf.layers.add({ name: 'add' }), [cut, h])
  h = apply(tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'pad' }), h)
  h = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', name: 'down' }), h)
  h = apply(tf.layers.conv2d({ filters: 12, kernelSize: 1, activation: 'relu', name: 'wide' }), h)
  h = apply(tf.layers.averagePooling2d({ poolSize: 2, name: 'pool' }), h)
  h = apply(tf.layers.flatten({ name: 'flat' }), h)
  h = apply(tf.layers.dense({ units: 16, activation: 'relu', name: 'fc' }), h)
  h = apply(tf.layers.dropout({ rate: 0.2, name: 'drop' }), h)
  const out = apply(tf.layers.dense({ units: 5, activation: 'softmax', name: 'logits' }), h)
  return tf.model({ inputs: input, outputs: out, name: 'blocks' })
}

/** Every weight drawn from the seeded stream: kernels around 0, BN γ in [0.5, 1.5], β and μ around 0, σ² in [0.5, 2]. */
function randomWeights (specs: Weights['specs'], seed: number): Weights {
  const rng = createRng(seed)
  const values = specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1)
    const draw = s.name.endsWith('/gamma') ? () => 0.5 + rng.float() : s.name.endsWith('/moving_variance') ? () => 0.5 + 1.5 * rng.float() : () => (rng.float() - 0.5) * 0.8
    return Float32Array.from({ length: n }, draw)
  })
  return { specs: specs.map((s) => ({ ...s, shape: [...s.shape] })), values }
}

/** `n` seeded images [8, 8, 3] in [0, 1], labelled by which third of the image is brightest. */
function images (n: number, seed: number): Dataset {
  const rng = createRng(seed)
  const images = new Float32Array(n * 192)
  const labels = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const label = i % 3
    labels[i] = label
    for (let p = 0; p < 192; p++) {
      const row = Math.floor(p / 24)
      images[i * 192 + p] = 0.6 * rng.float() + (Math.floor(row / 3) === label ? 0.4 : 0)
    }
  }
  return { images, labels, count: n, exampleShape: [8, 8, 3], classes: 3 }
}

const TRAINED = ['expand', 'expand_bn', 'depthwise', 'depthwise_bn', 'project', 'project_bn', 'down', 'wide']

let base: LayersModelSource
let tmp: TempDir
let spec: ModelSpec

beforeAll(async () => {
  await tf.setBackend('cpu')
  tmp = await tempDir('swarmtune-post-cut-')
  const m = blocksModel()
  try {
    const w = randomWeights((await readModelWeights(m)).specs, 11)
    setModelWeights(m, w)
    base = { topology: m.toJSON(null, false) as Record<string, unknown>, weights: await readModelWeights(m), origin: 'blocks test model' }
  } finally {
    m.dispose()
  }
  const cids = layersModelCids(base)
  spec = { kind: 'layers-model', topology: cids.topology.toString(), base: cids.base.toString(), features: 'stem_relu', head: { replace: 'logits', classes: 3, labels: LABELS }, train: TRAINED, adapters: { kind: 'lora', rank: 2, alpha: 4, targets: ['fc'], seed: 5 } }
})
afterAll(async () => { await tmp.cleanup() })

/** The task's weights with every value moved off its initial one (seeded), so that a wrong slot shows. */
function moved (task: ModelTask, seed: number): Weights {
  const w = task.initWeights(seed)
  const rng = createRng(seed)
  return { specs: w.specs, values: w.values.map((v) => v.map((x) => x + (rng.float() - 0.5) * 0.2)) }
}

async function expectSameProbabilities (task: ModelTask, w: Weights, raw: Dataset): Promise<void> {
  const features = (await task.features(raw)).dataset
  const n = raw.count
  const x = tf.tensor(features.images, [n, ...features.exampleShape])
  const params = w.values.map((v, i) => tf.tensor(v, w.specs[i].shape))
  const want = tf.tidy(() => tf.softmax(task.forward(params, x)).dataSync())
  // the post-cut network rebuilt from its layers' configs, with every weight merged
  const post = task.buildModel()
  setModelWeights(post, task.mergedWeights(w))
  const got = (post.predict(x) as tf.Tensor).dataSync()
  // the whole base with the release merged in (what the exports write), on the raw images
  const whole = await buildLayersModel(mergedLayersModel(task, base, w))
  const img = tf.tensor(raw.images, [n, ...raw.exampleShape])
  const all = (whole.predict(img) as tf.Tensor).dataSync()
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5)
    expect(Math.abs(all[i] - want[i])).toBeLessThan(1e-5)
  }
  tf.dispose([x, img, ...params])
  post.dispose()
  whole.dispose()
}

describe('convolutional layers after the cut', () => {
  let task: ModelTask
  beforeAll(async () => {
    task = await createModelTask(spec, base, { cacheDir: tmp.path })
    registerTask(task)
  })
  afterAll(() => { task.dispose() })

  it('trains conv, depthwise and batch-norm γ/β (not the moving statistics), adapter B and the head, in layer order', () => {
    expect(task.exampleShape).toEqual([8, 8, 8])
    expect(task.weightSpecs.map((s) => s.name)).toEqual([
      'expand/kernel', 'expand_bn/gamma', 'expand_bn/beta', 'depthwise/depthwise_kernel', 'depthwise_bn/gamma', 'depthwise_bn/beta',
      'project/kernel', 'project_bn/gamma', 'project_bn/beta', 'down/depthwise_kernel', 'down/bias', 'wide/kernel', 'wide/bias',
      'fc/lora_b', 'logits/kernel', 'logits/bias'
    ])
    const byName = new Map(base.weights.specs.map((s, i) => [s.name, base.weights.values[i]]))
    const w = task.initWeights(1)
    w.specs.slice(0, 13).forEach((s, i) => { expect(Buffer.from(w.values[i].buffer).equals(Buffer.from(byName.get(s.name)!.buffer))).toBe(true) })
    expect(w.values[13].every((v) => v === 0)).toBe(true)
    // convolutions trained: their filter gradients, which wasm lacks
    expect(task.kernels.train).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'Slice']))
  })

  it('computes what the whole merged model predicts, and what its post-cut network rebuilt from configs predicts', async () => {
    await expectSameProbabilities(task, moved(task, 3), images(6, 7))
  })

  it('trains on cpu with loss falling, dispatching only declared kernels; wasm is refused with a coded error naming the missing kernels', async () => {
    const raw = images(48, 21)
    const features = (await task.features(raw)).dataset
    const r = await trainLocal({ task: task.id, weights: task.initWeights(2), data: features, epochs: 8, batchSize: 8, learningRate: 0.01, optimizer: { name: 'adam' }, backend: 'cpu', seed: 1 })
    console.log(`blocks after the cut on cpu: loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)} in ${r.steps} steps`)
    expect(r.lossAfter).toBeLessThan(r.lossBefore * 0.8)
    const merged = task.mergedWeights(r.weights)
    const value = (ws: Weights, n: string): Float32Array => ws.values[ws.specs.findIndex((s) => s.name === n)]
    const baseW = base.weights
    for (const n of ['expand/kernel', 'depthwise_bn/gamma', 'project_bn/beta', 'down/depthwise_kernel']) expect(value(merged, n)).not.toEqual(value(baseW, n))
    for (const n of ['expand_bn/moving_mean', 'project_bn/moving_variance']) expect(value(merged, n)).toEqual(value(baseW, n))
    const params = r.weights.values.map((v, i) => tf.variable(tf.tensor(v, r.weights.specs[i].shape)))
    const x = tf.tensor(features.images.subarray(0, 4 * 512), [4, 8, 8, 8])
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3)
    const p = await tf.profile(() => tf.train.adam(0.01).minimize(() => tf.losses.softmaxCrossEntropy(y, task.forward(params, x)) as tf.Scalar, true, params)!)
    expect(kernelsOf(p).filter((k) => !task.kernels.train.includes(k))).toEqual([])
    tf.dispose([...params, x, y])
    const err = await chooseBackend(task, { backend: 'wasm' }).then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err?.code).toBe('ERR_MODEL_BACKEND_MISSING_KERNELS')
    expect(err?.message).toMatch(/Conv2DBackpropFilter/)
    // chosen automatically: wasm is skipped for the kernels it lacks (no native backend installs here)
    const auto = await chooseBackend(task)
    expect(auto.skipped.find((k) => k.backend === 'wasm')?.reason).toMatch(/lacks kernels .*Conv2DBackpropFilter/)
    expect(['cpu', 'node', 'node-gpu']).toContain(auto.backend)
  })
})

describe('LoRA on 1×1 convolutions', () => {
  let task: ModelTask
  beforeAll(async () => {
    task = await createModelTask({ ...spec, train: undefined, adapters: { kind: 'lora', rank: 3, alpha: 6, targets: ['expand', 'wide', 'fc'], seed: 9 } }, base)
    registerTask(task)
  })
  afterAll(() => { task.dispose() })

  it('ships only the factors B and the head; the merged kernels W + α/r·A·B predict as the adapted network', async () => {
    expect(task.weightSpecs.map((s) => [s.name, s.shape])).toEqual([['expand/lora_b', [3, 16]], ['wide/lora_b', [3, 12]], ['fc/lora_b', [3, 16]], ['logits/kernel', [16, 3]], ['logits/bias', [3]]])
    await expectSameProbabilities(task, moved(task, 4), images(6, 8))
  })

  it('declares the input gradients of the frozen convolutions it backpropagates through, not their filter gradients', async () => {
    expect(task.kernels.train).toEqual(expect.arrayContaining(['Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput']))
    expect(task.kernels.train).not.toContain('Conv2DBackpropFilter')
    expect(task.kernels.train).not.toContain('DepthwiseConv2dNativeBackpropFilter')
    const w = moved(task, 5)
    const params = w.values.map((v, i) => tf.variable(tf.tensor(v, w.specs[i].shape)))
    const x = tf.randomUniform([4, 8, 8, 8], 0, 6, 'float32', 2)
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3)
    const p = await tf.profile(() => tf.train.adam(0.01).minimize(() => tf.losses.softmaxCrossEntropy(y, task.forward(params, x)) as tf.Scalar, true, params)!)
    expect(kernelsOf(p).filter((k) => !task.kernels.train.includes(k))).toEqual([])
    tf.dispose([...params, x, y])
  })
})

describe('specs that do not fit the layers after the cut', () => {
  it('each get a coded error', async () => {
    const bad = async (s: Partial<ModelSpec>): Promise<string | undefined> => await codeOfAsync(createModelTask({ ...spec, ...s }, base))
    expect(await bad({ train: ['pad'] })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ train: undefined, adapters: { kind: 'lora', rank: 2, alpha: 4, targets: ['depthwise'], seed: 1 } })).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await bad({ train: undefined, adapters: { kind: 'lora', rank: 2, alpha: 4, targets: ['down'], seed: 1 } })).toBe('ERR_MODEL_SPEC_INVALID')
    // the residual add reads stem_relu, a layer before this cut
    expect(await bad({ features: 'expand_relu', train: ['project'], adapters: undefined })).toBe('ERR_MODEL_UNSUPPORTED_LAYER')
    // layers after the head other than dropout and a softmax
    expect(await bad({ head: { replace: 'fc', classes: 3, labels: LABELS }, adapters: undefined })).toBe('ERR_MODEL_UNSUPPORTED_LAYER')
  })
})

describe('MobileNetV2: the last blocks, which its saved config marks trainable', () => {
  it('trains block_11 … Conv_1_bn after a cut at block_10_project_BN on cpu, with the same contribution format', async () => {
    const mobilenet = await mobilenetV2Base()
    const cids = layersModelCids(mobilenet)
    const m = await buildLayersModel(mobilenet)
    const layers = m.layers.map((l) => ({ name: l.name, trainable: l.trainable, weights: l.weights.length }))
    m.dispose()
    const from = layers.findIndex((l) => l.name === 'block_11_expand')
    const trained = layers.slice(from).filter((l) => l.weights > 0 && (l.name.startsWith('block_') || l.name.startsWith('Conv_1'))).map((l) => l.name)
    expect(layers.slice(from).every((l) => l.trainable)).toBe(true)
    expect(trained).toHaveLength(6 * 6 + 2)
    const task = await createModelTask({
      kind: 'layers-model', topology: cids.topology.toString(), base: cids.base.toString(), features: 'block_10_project_BN',
      head: { replace: 'dense_3', classes: 3, labels: LABELS }, train: trained, adapters: { kind: 'lora', rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'], seed: 1 }
    }, mobilenet)
    registerTask(task)
    try {
      expect(task.exampleShape).toEqual([14, 14, 96])
      // the contribution is the trained weights' delta: far more than head and adapters, but the same tensors-by-name format
      const trainedParams = task.weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0)
      console.log(`MobileNetV2 block_11 onward trained: ${task.weightSpecs.length} tensors, ${trainedParams} parameters of ${task.baseParamCount}`)
      expect(trainedParams).toBeGreaterThan(1_000_000)
      const rng = createRng(3)
      const n = 4
      const data: Dataset = { images: Float32Array.from({ length: n * 14 * 14 * 96 }, () => 3 * rng.float()), labels: Uint8Array.from([0, 1, 2, 0]), count: n, exampleShape: [14, 14, 96], classes: 3 }
      const r = await trainLocal({ task: task.id, weights: task.initWeights(1), data, steps: 2, batchSize: 2, learningRate: 1e-3, optimizer: { name: 'adam' }, backend: 'cpu', seed: 1 })
      console.log(`MobileNetV2 last blocks on cpu: ${r.steps} steps of 2 in ${r.trainMs.toFixed(0)} ms (${(r.samplesProcessed / (r.trainMs / 1000)).toFixed(2)} samples/s); loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)}`)
      expect(r.steps).toBe(2)
      const changed = r.weights.values.filter((v, i) => !Buffer.from(v.buffer).equals(Buffer.from(task.initWeights(1).values[i].buffer))).length
      expect(changed).toBe(task.weightSpecs.length)
    } finally {
      task.dispose()
    }
  }, 300_000)
})
