/**
 * A task made from a pretrained tfjs LayersModel and a model spec (see `ModelSpec`): the layers up to
 * `spec.features` are the frozen backbone — run forward once per example, its output cached — and the layers after
 * it (post-cut.ts: dense, convolutions, batch normalisation, residual adds, pooling, activations…) are computed as
 * functions of tensors, so that exactly the trained weights get gradients. Trainable: the new head
 * (`spec.head.replace` with `classes` outputs), LoRA factors B of `spec.adapters.targets` (Hu et al. 2021; A frozen
 * at a seeded value — FFA-LoRA, Sun et al. 2024 — so FedAvg of B is exact), and the layers of `spec.train`.
 * Everything else keeps the base's values. Head and adapters on dense layers train on any backend, wasm included;
 * training convolutions needs a backend with their gradient kernels (cpu, node, node-gpu: `kernels.train` says).
 */
import type { LongOperationOptions } from '@swarmtune/wire'
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
import type { Weights } from '../weights.js'
import { assertSameSpecs, paramCount, sizeOf, validateWeights } from '../weights.js'
import { modelSpecCid, validateModelSpec, type ModelSpec } from './model-task-spec.js'
import { buildPostCutModel, forwardPostCut, mergePostCut, planPostCut, type PostCutPlan, type TfLayer } from './post-cut.js'
import type { Task } from './task.js'

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
   * Every weight of the post-cut network's layers as `buildModel()` names them (`<layer>/<weight>`, in layer
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

/**
 * Makes a task from a pretrained model and a model spec, and checks that they fit: the base's CIDs equal the
 * spec's, the weights fit the topology by name, the cut, head, adapter targets and trained layers are layers of the
 * post-cut chain. Builds the base once (to check it and read shapes) and frees it.
 *
 * Trainable weights (`weightSpecs`), in the order of their layers after the cut, within a layer the base's order,
 * then the adapter: the new head's `<layer>/kernel` `[in, classes]` and `<layer>/bias` `[classes]`; every
 * `spec.train` layer's weights as the base names them (Dense and Conv2D `kernel`, `bias`; DepthwiseConv2D
 * `depthwise_kernel`, `bias`; BatchNormalization `gamma`, `beta` — its moving statistics stay the base's);
 * `<layer>/lora_b` `[rank, out]` of every adapter target. `forward(params, features)` gives logits
 * `[batch, classes]` from features `[batch, ...featureShape]`; `initWeights(seed)` gives the head Glorot-uniform
 * (seeded), the adapters B = 0 and the trained layers the base's values. `buildModel()` builds the post-cut network
 * alone (input: features; softmax output) with every weight of its layers, named as `mergedWeights` names them:
 * with adapters or frozen layers its weights are not `weightSpecs`.
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
  let plan: PostCutPlan
  let backboneInputShape: number[]
  let backboneKernels: string[]
  let baseParamCount: number
  try {
    backboneInputShape = (model.inputs[0].shape).slice(1) as number[]
    const byName = new Map(base.weights.specs.map((s, i) => [s.name, i]))
    plan = planPostCut(model.layers as unknown as TfLayer[], spec, new Map(base.weights.specs.map((s) => [s.name, s.shape])), (n) => base.weights.values[byName.get(n)!])
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
  const featureShape = [...plan.featureShape]
  const specs = plan.specs
  const id = `layers-model/${modelSpecCid(spec)}`
  const trainKernels = unionKernels(DENSE_LOSS_TRAIN, plan.kernels.forward, plan.kernels.backward)
  let extractor: Promise<FeatureExtractor> | undefined
  let cache: Promise<FeatureCache> | undefined

  const forward = (params: readonly tf.Tensor[], x: tf.Tensor): tf.Tensor2D => forwardPostCut(plan, x,
    (s) => 'param' in s ? params[s.param] : frozenTensor(s.frozen, () => tf.tensor(frozenValues(s.frozen), plan.frozenShapes.get(s.frozen), 'float32')),
    (layer, lora, inDim) => frozenTensor(`${layer}/lora_a`, () => tf.tensor(lora.a, [inDim, lora.rank], 'float32')) as tf.Tensor2D)

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
      inference: Object.freeze(unionKernels(backboneKernels, PREDICT_KERNELS, DENSE_LOSS_INFERENCE, plan.kernels.forward))
    }),
    flopsPerExample: Object.freeze({ forward: plan.flops, train: 3 * plan.flops }),
    spec,
    cids,
    backboneInputShape: Object.freeze([...backboneInputShape]),
    baseParamCount,
    buildModel () {
      return buildPostCutModel(plan, spec.head.classes, id.replace(/[^A-Za-z0-9_]/g, '_'))
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
      return mergePostCut(plan, weights.values, frozenValues)
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
