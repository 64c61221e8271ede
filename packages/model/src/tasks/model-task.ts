/**
 * A task made from a pretrained tfjs LayersModel and a model spec (see `ModelSpec`): the layers up to
 * `spec.features` are the frozen backbone — run forward once per example, its output cached — and the layers after
 * it are computed as functions of tensors (dense, dropout = identity, activations, flatten, global average
 * pooling), so they train on any backend, wasm included. Trainable: the new head (`spec.head.replace` with
 * `classes` outputs), LoRA factors B of `spec.adapters.targets` (Hu et al. 2021; A frozen at a seeded value —
 * FFA-LoRA, Sun et al. 2024 — so FedAvg of B is exact), and the dense layers of `spec.train`. Everything else keeps
 * the base's values.
 */
import type { LongOperationOptions } from '@swarmtune/wire'
import { loraDense, loraFactorA, loraScale, mergeLora } from '../adapters/lora.js'
import type { Dataset } from '../data/dataset.js'
import { exampleSize } from '../data/dataset.js'
import type { DataSpec } from '../data/source.js'
import { loadData } from '../data/source.js'
import { InvalidDataError, ModelSpecError } from '../errors.js'
import { FeatureCache } from '../features/cache.js'
import { createFeatureExtractor, extractFeatures, type ExtractFeaturesResult, type FeatureExtractor, type FeatureProgressEvents } from '../features/extract.js'
import { glorotUniformInit } from '../init.js'
import { DENSE_LOSS_INFERENCE, DENSE_LOSS_TRAIN, LAYER_KERNELS, PREDICT_KERNELS, unionKernels } from '../layers/kernels.js'
import type { LayersModelCids, LayersModelSource } from '../layers/source.js'
import { buildLayersModel, layersModelCids } from '../layers/source.js'
import { tf } from '../tf.js'
import type { WeightSpec, Weights } from '../weights.js'
import { assertSameSpecs, paramCount, sizeOf, validateWeights } from '../weights.js'
import { PROBS_LAYER } from './classifier.js'
import { modelSpecCid, validateModelSpec, type ModelSpec } from './model-task-spec.js'
import { dense } from './ops.js'
import type { Task } from './task.js'

/** Activations a dense or activation layer after the cut may use. */
const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'elu'] as const
type Act = typeof ACTIVATIONS[number]

/** Where a dense layer's kernel or bias comes from: a trainable parameter (index in weightSpecs) or the base. */
type Slot = { param: number } | { frozen: string }

type Step =
  | { kind: 'dense', layer: string, inDim: number, outDim: number, activation: Act, kernel: Slot, bias: Slot | null, lora?: { a: Float32Array, b: number, rank: number, scale: number } }
  | { kind: 'activation', activation: Act, max?: number }
  | { kind: 'flatten' }
  | { kind: 'global-average-pooling' }

/** A `Task` made from a model, with its spec, its base's CIDs and its backbone. */
export interface ModelTask extends Task {
  /** The validated spec (a copy). */
  readonly spec: ModelSpec
  /** The base's topology and weights CIDs. */
  readonly cids: LayersModelCids
  /** Shape of one backbone input, e.g. `[224, 224, 3]`; `exampleShape` and `inputShape` are the feature shape. */
  readonly backboneInputShape: readonly number[]
  /** Parameters of the base model (backbone and original head). */
  readonly baseParamCount: number
  /**
   * Features of raw examples (of `backboneInputShape`, scaled as the base expects), through the feature cache of
   * `cacheDir` when the task has one. `loadData` goes through it for examples of `backboneInputShape`; an image
   * folder (`source: 'images'`) is read at the backbone's input size and channels, with the head's labels, by default. The backbone is built on first use and kept; free it with `dispose`.
   * @throws InvalidDataError, FeatureCacheError, AbortedError (see `extractFeatures`).
   */
  features (ds: Dataset, options?: LongOperationOptions<FeatureProgressEvents>): Promise<ExtractFeaturesResult>
  /**
   * The post-cut network's dense weights as `buildModel()` names them (`<layer>/kernel`, `<layer>/bias`, in layer
   * order): frozen ones from the base, trained ones from `weights`, adapted kernels merged (W + α/r·A·B, see
   * `mergeLora`). Load them with `setModelWeights(task.buildModel(), …)`.
   * @throws InvalidWeightsError when `weights` do not match `weightSpecs`.
   */
  mergedWeights (weights: Weights): Weights
  /** Frees the backbone (if built) and the frozen tensors. */
  dispose (): void
}

/** Options of `createModelTask`. */
export interface ModelTaskOptions {
  /** Feature cache folder (see `FeatureCache`); without it, features are computed every time. */
  cacheDir?: string
}

interface TfLayer {
  name: string
  getClassName: () => string
  getConfig: () => Record<string, unknown>
  inboundNodes: Array<{ inboundLayers: Array<{ name: string }> }>
}

const unsupported = (layer: string, why: string): ModelSpecError =>
  new ModelSpecError('ERR_MODEL_UNSUPPORTED_LAYER', `layer ${layer} after the feature cut ${why}; move the cut (spec.features) past it, so that it belongs to the frozen backbone`)

function activationOf (layer: string, value: unknown): Act {
  const a = typeof value === 'string' ? value : 'linear'
  if (!(ACTIVATIONS as readonly string[]).includes(a)) throw unsupported(layer, `uses activation ${a}; supported after the cut: ${ACTIVATIONS.join(', ')}`)
  return a as Act
}

function applyActivation (h: tf.Tensor, activation: Act, max?: number): tf.Tensor {
  switch (activation) {
    case 'linear': return h
    case 'relu': return max === undefined ? tf.relu(h) : tf.clipByValue(h, 0, max)
    case 'relu6': return tf.relu6(h)
    case 'sigmoid': return tf.sigmoid(h)
    case 'tanh': return tf.tanh(h)
    case 'elu': return tf.elu(h)
  }
}

/**
 * An image folder read for the backbone: resized to its input (`[h, w, c]`, c = 1 or 3) and named by the head's
 * labels, unless the data spec says otherwise.
 */
function imageDefaults (d: Extract<DataSpec, { source: 'images' }>, input: readonly number[], labels: readonly string[]): DataSpec {
  const fits = input.length === 3 && (input[2] === 1 || input[2] === 3)
  return {
    ...d,
    size: d.size ?? (fits ? [input[0], input[1]] : undefined),
    channels: d.channels ?? (fits ? input[2] as 1 | 3 : undefined),
    labels: d.labels ?? labels
  }
}

/** The layers after the cut, each taking the previous one's output (a chain), up to and including the head. */
function postCutChain (model: tf.LayersModel, spec: ModelSpec): TfLayer[] {
  const layers = model.layers as unknown as TfLayer[]
  const names = layers.map((l) => l.name)
  const cut = names.indexOf(spec.features)
  if (cut < 0) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec features layer ${spec.features} is not in the model; its last layers are ${names.slice(-8).join(', ')}`)
  const head = names.indexOf(spec.head.replace)
  if (head <= cut) {
    throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec head.replace ${spec.head.replace} is ${head < 0 ? 'not in the model' : `not after the features layer ${spec.features}`}; the layers after the cut are ${names.slice(cut + 1).join(', ') || 'none'}`)
  }
  let prev = spec.features
  for (const l of layers.slice(cut + 1)) {
    const inbound = l.inboundNodes.flatMap((n) => n.inboundLayers.map((x) => x.name))
    if (inbound.length !== 1 || inbound[0] !== prev) throw unsupported(l.name, `takes ${inbound.join(', ') || 'no input'}, not only ${prev}: only a chain of single-input layers can follow the cut`)
    prev = l.name
  }
  for (const l of layers.slice(head + 1)) {
    const c = l.getClassName()
    const softmax = c === 'Softmax' || (c === 'Activation' && l.getConfig().activation === 'softmax')
    if (!softmax && c !== 'Dropout') throw unsupported(l.name, `(${c}) follows the head ${spec.head.replace}: only Dropout and a softmax may, and they are dropped`)
  }
  return layers.slice(cut + 1, head + 1)
}

interface Plan {
  steps: Step[]
  specs: WeightSpec[]
  /** Base values of trained layers' weights, by spec index. */
  initial: Map<number, Float32Array>
  headSpecs: number[]
  flops: number
  /** Post-cut dense layers: name, shape, bias? (for `buildModel`, `mergedWeights`). */
  denses: Array<{ layer: string, inDim: number, outDim: number, activation: Act, bias: boolean }>
}

function planPostCut (chain: TfLayer[], spec: ModelSpec, featureShape: number[], baseValues: Map<string, { shape: number[], values: Float32Array }>): Plan {
  const targets = new Set(spec.adapters?.targets ?? [])
  const trained = new Set(spec.train ?? [])
  const chainNames = new Set(chain.map((l) => l.name))
  for (const n of [...targets, ...trained]) {
    if (!chainNames.has(n)) {
      throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec names layer ${n} to adapt or train, but it is not a layer between the cut ${spec.features} and the head ${spec.head.replace} (${[...chainNames].join(', ')}); layers before the cut are frozen with the backbone`)
    }
  }
  const plan: Plan = { steps: [], specs: [], initial: new Map(), headSpecs: [], flops: 0, denses: [] }
  let width: number[] = [...featureShape]
  const addSpec = (s: WeightSpec): number => plan.specs.push(s) - 1
  for (const l of chain) {
    const c = l.getClassName()
    const cfg = l.getConfig()
    if (c === 'Dropout' || c === 'SpatialDropout1D' || c === 'GaussianNoise' || c === 'GaussianDropout' || c === 'AlphaDropout') continue
    if (c === 'Flatten') {
      plan.steps.push({ kind: 'flatten' })
      width = [sizeOf(width)]
      continue
    }
    if (c === 'GlobalAveragePooling2D') {
      if (width.length !== 3) throw unsupported(l.name, `(GlobalAveragePooling2D) gets shape [${width.join(', ')}]; expected [height, width, channels]`)
      plan.steps.push({ kind: 'global-average-pooling' })
      width = [width[2]]
      continue
    }
    if (c === 'Activation' || c === 'ReLU') {
      if (l.name === spec.head.replace) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec head.replace ${l.name} is a ${c} layer: the head must be a Dense layer`)
      const max = c === 'ReLU' && typeof cfg.maxValue === 'number' ? cfg.maxValue : undefined
      plan.steps.push({ kind: 'activation', activation: c === 'ReLU' ? 'relu' : activationOf(l.name, cfg.activation), max })
      continue
    }
    if (c !== 'Dense') throw unsupported(l.name, `is a ${c} layer; after the cut only Dense, Dropout, Activation, ReLU, Flatten and GlobalAveragePooling2D are computed`)
    if (width.length !== 1) throw unsupported(l.name, `(Dense) gets shape [${width.join(', ')}]; cut at a flat layer (e.g. a Flatten) or add one`)
    const inDim = width[0]
    const isHead = l.name === spec.head.replace
    const outDim = isHead ? spec.head.classes : (cfg.units as number)
    const useBias = isHead || cfg.useBias !== false
    const activation: Act = isHead ? 'linear' : activationOf(l.name, cfg.activation)
    const kName = `${l.name}/kernel`
    const bName = `${l.name}/bias`
    let kernel: Slot = { frozen: kName }
    let bias: Slot | null = useBias ? { frozen: bName } : null
    let lora: Extract<Step, { kind: 'dense' }>['lora']
    if (isHead || trained.has(l.name)) {
      kernel = { param: addSpec({ name: kName, shape: [inDim, outDim], dtype: 'float32' }) }
      bias = useBias ? { param: addSpec({ name: bName, shape: [outDim], dtype: 'float32' }) } : null
      if (isHead) plan.headSpecs.push(kernel.param, ...(bias === null ? [] : [(bias as { param: number }).param]))
      else {
        plan.initial.set(kernel.param, baseValues.get(kName)!.values)
        if (bias !== null) plan.initial.set((bias as { param: number }).param, baseValues.get(bName)!.values)
      }
    } else if (targets.has(l.name)) {
      const { rank, alpha, seed } = spec.adapters!
      const b = addSpec({ name: `${l.name}/lora_b`, shape: [rank, outDim], dtype: 'float32' })
      lora = { a: loraFactorA(seed, l.name, inDim, rank), b, rank, scale: loraScale(alpha, rank) }
      plan.flops += 2 * (inDim * rank + rank * outDim)
    }
    plan.steps.push({ kind: 'dense', layer: l.name, inDim, outDim, activation, kernel, bias, lora })
    plan.denses.push({ layer: l.name, inDim, outDim, activation, bias: useBias })
    plan.flops += 2 * inDim * outDim
    width = [outDim]
  }
  return plan
}

/**
 * Makes a task from a pretrained model and a model spec, and checks that they fit: the base's CIDs equal the
 * spec's, the weights fit the topology by name, the cut, head, adapter targets and trained layers are layers of the
 * post-cut chain. Builds the base once (to check it and read shapes) and frees it.
 *
 * Trainable weights (`weightSpecs`), in the order of their layers after the cut, within a layer kernel, bias,
 * then the adapter: `<layer>/kernel` `[in, out]` and `<layer>/bias` `[out]` of every `spec.train` layer and of the
 * new head (`[in, classes]`, `[classes]`), `<layer>/lora_b` `[rank, out]` of every adapter target. `forward(params,
 * features)` gives logits `[batch, classes]` from features `[batch, ...featureShape]`; `initWeights(seed)` gives
 * the head Glorot-uniform (seeded), the adapters B = 0 and the trained layers the base's values.
 * `buildModel()` builds the post-cut network alone (input: features; every dense layer's kernel and bias, as
 * `mergedWeights` names them; softmax output): with adapters or frozen layers its weights are not `weightSpecs`.
 *
 * The task is not registered: pass it to `registerTask` for `trainLocal` and `evaluate` to find it by id.
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID (malformed spec, layers it names that do not fit),
 *   ERR_MODEL_BASE_MISMATCH (the base's CIDs are not the spec's), ERR_MODEL_UNSUPPORTED_LAYER (a layer after the
 *   cut that cannot be computed functionally); ModelFormatError, WeightsMismatchError as `buildLayersModel`.
 */
export async function createModelTask (specInput: ModelSpec, base: LayersModelSource, options: ModelTaskOptions = {}): Promise<ModelTask> {
  const spec = validateModelSpec(specInput)
  const cids = layersModelCids(base)
  for (const k of ['topology', 'base'] as const) {
    if (cids[k].toString() !== spec[k]) {
      throw new ModelSpecError('ERR_MODEL_BASE_MISMATCH', `the model spec pins ${k} ${spec[k]}, but ${base.origin} has ${k} ${cids[k].toString()}: use the community's base model (its genesis names both CIDs)`)
    }
  }
  const model = await buildLayersModel(base)
  let plan: Plan
  let featureShape: number[]
  let backboneInputShape: number[]
  let backboneKernels: string[]
  let baseParamCount: number
  try {
    const chain = postCutChain(model, spec)
    featureShape = (model.getLayer(spec.features).outputShape as number[]).slice(1)
    backboneInputShape = (model.inputs[0].shape).slice(1) as number[]
    const baseValues = new Map(base.weights.specs.map((s, i) => [s.name, { shape: s.shape, values: base.weights.values[i] }]))
    plan = planPostCut(chain, spec, featureShape, baseValues)
    const cut = model.layers.findIndex((l) => l.name === spec.features)
    backboneKernels = unionKernels(...model.layers.slice(0, cut + 1).map((l) => LAYER_KERNELS[l.getClassName()]?.forward ?? []))
    baseParamCount = model.countParams()
  } finally {
    model.dispose()
  }
  const baseByName = new Map(base.weights.specs.map((s, i) => [s.name, i]))
  const frozenValues = (name: string): Float32Array => base.weights.values[baseByName.get(name)!]
  const frozen = new Map<string, Map<string, tf.Tensor>>()
  const frozenTensor = (key: string, make: () => tf.Tensor): tf.Tensor => {
    const backend = tf.getBackend()
    let m = frozen.get(backend)
    if (m === undefined) frozen.set(backend, m = new Map())
    let t = m.get(key)
    if (t === undefined || t.isDisposed) m.set(key, t = tf.keep(make()))
    return t
  }
  const slot = (params: readonly tf.Tensor[], s: Slot, shape: number[]): tf.Tensor =>
    'param' in s ? params[s.param] : frozenTensor(s.frozen, () => tf.tensor(frozenValues(s.frozen), shape, 'float32'))
  const specs = plan.specs
  const id = `layers-model/${modelSpecCid(spec)}`
  const extraKernels = plan.steps.some((s) => s.kind === 'activation' || (s.kind === 'dense' && s.activation !== 'relu' && s.activation !== 'linear'))
    ? ['Relu6', 'Sigmoid', 'Tanh', 'Elu', 'EluGrad', 'ClipByValue', 'Mean']
    : []
  const trainKernels = unionKernels(DENSE_LOSS_TRAIN, extraKernels, plan.steps.some((s) => s.kind === 'dense' && s.lora !== undefined) ? ['BatchMatMul', 'Multiply', 'Add'] : [])
  let extractor: Promise<FeatureExtractor> | undefined
  let cache: Promise<FeatureCache> | undefined

  const forward = (params: readonly tf.Tensor[], x: tf.Tensor): tf.Tensor2D => {
    let h: tf.Tensor = x
    for (const s of plan.steps) {
      if (s.kind === 'flatten') h = tf.reshape(h, [h.shape[0], -1])
      else if (s.kind === 'global-average-pooling') h = tf.mean(h, [1, 2])
      else if (s.kind === 'activation') h = applyActivation(h, s.activation, s.max)
      else {
        const kernel = slot(params, s.kernel, [s.inDim, s.outDim]) as tf.Tensor2D
        const bias = s.bias === null ? null : slot(params, s.bias, [s.outDim]) as tf.Tensor1D
        if (s.lora !== undefined) {
          const lora = s.lora
          const a = frozenTensor(`${s.layer}/lora_a`, () => tf.tensor(lora.a, [s.inDim, lora.rank], 'float32')) as tf.Tensor2D
          h = applyActivation(loraDense(h as tf.Tensor2D, kernel, bias, a, params[lora.b] as tf.Tensor2D, lora.scale), s.activation)
        } else if (bias !== null && (s.activation === 'relu' || s.activation === 'linear')) {
          h = dense(h as tf.Tensor2D, kernel, bias, s.activation)
        } else {
          const z = tf.matMul(h as tf.Tensor2D, kernel)
          h = applyActivation(bias === null ? z : tf.add(z, bias), s.activation)
        }
      }
    }
    return h as tf.Tensor2D
  }

  const task: ModelTask = {
    id,
    title: `${spec.head.classes}-class head on ${spec.features} features of a pretrained layers model${spec.adapters === undefined ? '' : `, LoRA r=${spec.adapters.rank} on ${spec.adapters.targets.join(', ')}`}`,
    source: `${base.origin}; topology ${spec.topology}, base ${spec.base}${spec.adapters === undefined ? '' : '; LoRA: Hu et al. 2021, A frozen and seeded (FFA-LoRA, Sun et al. 2024)'}`,
    exampleShape: Object.freeze([...featureShape]),
    inputShape: Object.freeze([...featureShape]),
    classes: spec.head.classes,
    weightSpecs: Object.freeze(specs.map((s) => Object.freeze({ ...s, shape: Object.freeze([...s.shape]) as number[] }))),
    paramCount: paramCount(specs),
    loss: 'softmax-cross-entropy',
    metrics: ['loss', 'accuracy'],
    kernels: Object.freeze({
      train: Object.freeze(trainKernels),
      inference: Object.freeze(unionKernels(backboneKernels, PREDICT_KERNELS, DENSE_LOSS_INFERENCE, extraKernels))
    }),
    flopsPerExample: Object.freeze({ forward: plan.flops, train: 3 * plan.flops }),
    spec,
    cids,
    backboneInputShape: Object.freeze([...backboneInputShape]),
    baseParamCount,
    buildModel () {
      const m = tf.sequential({ name: id.replace(/[^A-Za-z0-9_]/g, '_') })
      let first = true
      for (const s of plan.steps) {
        const inputShape = first ? { inputShape: [...featureShape] } : {}
        first = false
        if (s.kind === 'flatten') m.add(tf.layers.flatten(inputShape))
        else if (s.kind === 'global-average-pooling') m.add(tf.layers.globalAveragePooling2d(inputShape))
        else if (s.kind === 'activation') m.add(s.max === undefined ? tf.layers.activation({ ...inputShape, activation: s.activation }) : tf.layers.reLU({ ...inputShape, maxValue: s.max }))
        else m.add(tf.layers.dense({ ...inputShape, units: s.outDim, activation: s.activation, useBias: s.bias !== null, name: s.layer }))
      }
      m.add(tf.layers.activation({ activation: 'softmax', name: PROBS_LAYER }))
      return m
    },
    forward,
    initWeights (seed) {
      const head = glorotUniformInit(plan.headSpecs.map((i) => specs[i]), seed)
      const values = specs.map((s, i) => {
        const h = plan.headSpecs.indexOf(i)
        if (h >= 0) return head.values[h]
        return plan.initial.get(i)?.slice() ?? new Float32Array(sizeOf(s.shape))
      })
      return { specs: specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })), values }
    },
    async loadData (dataSpec: DataSpec): Promise<Dataset> {
      const ds = await loadData(dataSpec.source === 'images' ? imageDefaults(dataSpec, backboneInputShape, spec.head.labels) : dataSpec)
      if (ds.classes !== spec.head.classes) {
        throw new InvalidDataError(`task ${id} has ${spec.head.classes} classes (${spec.head.labels.join(', ')}); the data has ${ds.classes}`)
      }
      const size = exampleSize(ds)
      if (size === sizeOf(featureShape)) return { ...ds, exampleShape: [...featureShape] }
      if (size === sizeOf(backboneInputShape)) return (await task.features(ds)).dataset
      throw new InvalidDataError(`task ${id} needs images of shape [${backboneInputShape.join(', ')}] (or their features, [${featureShape.join(', ')}]); the data has [${ds.exampleShape.join(', ')}]: resize the images to the model's input`)
    },
    async features (ds, run = {}) {
      extractor ??= createFeatureExtractor(base, spec.features, cids)
      const ex = await extractor
      if (options.cacheDir !== undefined) cache ??= FeatureCache.open(options.cacheDir, ex.key, ex.featureShape)
      return await extractFeatures(ex, ds, { ...run, cache: cache === undefined ? undefined : await cache })
    },
    mergedWeights (weights) {
      validateWeights(weights)
      assertSameSpecs(specs, weights.specs, `weights for task ${id}`)
      const byName = new Map(weights.specs.map((s, i) => [s.name, weights.values[i]]))
      const out: Weights = { specs: [], values: [] }
      for (const s of plan.steps) {
        if (s.kind !== 'dense') continue
        const kName = `${s.layer}/kernel`
        let kernel = 'param' in s.kernel ? byName.get(kName)! : frozenValues(kName)
        if (s.lora !== undefined) kernel = mergeLora(kernel, [s.inDim, s.outDim], s.lora.a, byName.get(`${s.layer}/lora_b`)!, s.lora.rank, s.lora.scale)
        out.specs.push({ name: kName, shape: [s.inDim, s.outDim], dtype: 'float32' })
        out.values.push(kernel.slice())
        if (s.bias !== null) {
          const bName = `${s.layer}/bias`
          out.specs.push({ name: bName, shape: [s.outDim], dtype: 'float32' })
          out.values.push(('param' in s.bias ? byName.get(bName)! : frozenValues(bName)).slice())
        }
      }
      return out
    },
    dispose () {
      for (const m of frozen.values()) for (const t of m.values()) t.dispose()
      frozen.clear()
      void extractor?.then((e) => { e.dispose() })
      extractor = undefined
    }
  }
  return Object.freeze(task)
}
