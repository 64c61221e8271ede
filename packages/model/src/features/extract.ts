/**
 * The frozen backbone of a model task: the base model up to its cut layer, run forward only (inference kernels:
 * it runs on wasm, which cannot backpropagate through convolutions), in batches, with results cached per example
 * (see `FeatureCache`).
 */
import type { LongOperationOptions } from '@swarmtune/wire'
import { CustomProgressEvent } from 'progress-events'
import type { Dataset } from '../data/dataset.js'
import { exampleSize, validateDataset } from '../data/dataset.js'
import { AbortedError, InvalidDataError, ModelSpecError } from '../errors.js'
import type { LayersModelCids, LayersModelSource } from '../layers/source.js'
import { buildLayersModel, layersModelCids } from '../layers/source.js'
import { tf } from '../tf.js'
import { sizeOf } from '../weights.js'
import { exampleHash, type FeatureCache, type FeatureKey } from './cache.js'

/** Examples per backbone forward pass. */
export const FEATURE_BATCH_SIZE = 8

/** A backbone cut at one layer: images in, that layer's output out. */
export interface FeatureExtractor {
  /** What its features depend on (CIDs as strings, and the cut layer). */
  readonly key: Readonly<FeatureKey>
  /** Shape of one input example, e.g. `[224, 224, 3]`. */
  readonly inputShape: readonly number[]
  /** Shape of one example's features, e.g. `[1280]`. */
  readonly featureShape: readonly number[]
  /**
   * Features of `count` examples laid end to end in `images` (float32, `count × size(inputShape)` values, scaled as
   * the model expects — MobileNetV2: RGB in [0, 1]): `count × size(featureShape)` float32 values.
   */
  extract (images: Float32Array, count: number): Promise<Float32Array>
  /** Frees the model's tensors. */
  dispose (): void
}

/**
 * Builds the backbone of `source` up to and including the layer `layer` (weights by name).
 * @param cids the source's CIDs when already computed (else hashed here)
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID when the model has no layer `layer` (the message lists some names);
 *   ModelFormatError, WeightsMismatchError as `buildLayersModel`.
 */
export async function createFeatureExtractor (source: LayersModelSource, layer: string, cids: LayersModelCids = layersModelCids(source)): Promise<FeatureExtractor> {
  const full = await buildLayersModel(source)
  const names = full.layers.map((l) => l.name)
  if (!names.includes(layer)) {
    full.dispose()
    throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model ${source.origin} has no layer ${JSON.stringify(layer)} to take features from; its last layers are ${names.slice(-8).join(', ')}`)
  }
  const cut = tf.model({ inputs: full.inputs, outputs: full.getLayer(layer).output as tf.SymbolicTensor })
  const inputShape = (full.inputs[0].shape).slice(1) as number[]
  const featureShape = (cut.outputs[0].shape).slice(1) as number[]
  if (![...inputShape, ...featureShape].every((d) => Number.isSafeInteger(d) && d > 0)) {
    full.dispose()
    throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model ${source.origin} has input [${inputShape.join(', ')}] and features at ${layer} [${featureShape.join(', ')}]: both must be fixed shapes`)
  }
  const inSize = sizeOf(inputShape)
  return {
    key: Object.freeze({ topology: cids.topology.toString(), base: cids.base.toString(), layer }),
    inputShape: Object.freeze(inputShape),
    featureShape: Object.freeze(featureShape),
    async extract (images, count) {
      if (images.length !== count * inSize) throw new InvalidDataError(`${images.length} input values for ${count} examples of shape [${inputShape.join(', ')}]: expected ${count * inSize}`)
      const y = tf.tidy(() => cut.predict(tf.tensor(images, [count, ...inputShape], 'float32')) as tf.Tensor)
      try {
        return Float32Array.from(await y.data() as Float32Array)
      } finally {
        y.dispose()
      }
    },
    dispose () {
      full.dispose()
    }
  }
}

/** Progress of a feature extraction: examples done (served from the cache or computed) of the total. */
export interface FeatureProgress {
  done: number
  total: number
  cached: number
  computed: number
}

/** The progress events of `extractFeatures`: `model:features` after every batch. */
export type FeatureProgressEvents = CustomProgressEvent<FeatureProgress, 'model:features'>

/** What `extractFeatures` returns: the dataset of features and how they were obtained. */
export interface ExtractFeaturesResult {
  /** Same labels and classes; `images` are the features, `exampleShape` the feature shape. */
  dataset: Dataset
  /** Examples served from the cache. */
  cached: number
  /** Examples run through the backbone. */
  computed: number
  /** Milliseconds spent in backbone forward passes, and in cache reads and writes. */
  forwardMs: number
  cacheMs: number
}

/**
 * Features of every example of `ds` (inputs of the extractor's input shape): served from `cache` where it holds
 * them, else computed in batches of `batchSize` (default 8) and stored there.
 * @param options `signal` aborts between batches; `onProgress` receives `model:features` after each batch.
 * @throws InvalidDataError when the examples do not have the extractor's input shape; FeatureCacheError; AbortedError.
 */
export async function extractFeatures (extractor: FeatureExtractor, ds: Dataset, options: LongOperationOptions<FeatureProgressEvents> & { cache?: FeatureCache, batchSize?: number } = {}): Promise<ExtractFeaturesResult> {
  validateDataset(ds)
  const inSize = sizeOf(extractor.inputShape)
  if (exampleSize(ds) !== inSize) {
    throw new InvalidDataError(`the backbone takes examples of shape [${extractor.inputShape.join(', ')}]; the data has [${ds.exampleShape.join(', ')}]: resize the images to the model's input`)
  }
  const batchSize = options.batchSize ?? FEATURE_BATCH_SIZE
  const outSize = sizeOf(extractor.featureShape)
  const out = new Float32Array(ds.count * outSize)
  const cache = options.cache
  let cached = 0
  let computed = 0
  let forwardMs = 0
  let cacheMs = 0
  const pending: Array<{ index: number, hash: string }> = []
  const check = (): void => {
    if (options.signal?.aborted === true) throw new AbortedError('feature extraction was aborted', { cause: options.signal.reason })
  }
  const report = (): void => {
    options.onProgress?.(new CustomProgressEvent('model:features', { done: cached + computed, total: ds.count, cached, computed }))
  }
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    check()
    const batch = new Float32Array(pending.length * inSize)
    pending.forEach((p, k) => batch.set(ds.images.subarray(p.index * inSize, (p.index + 1) * inSize), k * inSize))
    let t = performance.now()
    const features = await extractor.extract(batch, pending.length)
    forwardMs += performance.now() - t
    t = performance.now()
    for (let k = 0; k < pending.length; k++) {
      const f = features.subarray(k * outSize, (k + 1) * outSize)
      out.set(f, pending[k].index * outSize)
      if (cache !== undefined) await cache.put(pending[k].hash, f.slice())
    }
    cacheMs += performance.now() - t
    computed += pending.length
    pending.length = 0
    report()
  }
  for (let i = 0; i < ds.count; i++) {
    const example = ds.images.subarray(i * inSize, (i + 1) * inSize)
    const t = performance.now()
    const hash = exampleHash(example, extractor.inputShape)
    const hit = cache === undefined ? undefined : await cache.get(hash)
    cacheMs += performance.now() - t
    if (hit !== undefined) {
      out.set(hit, i * outSize)
      cached++
      if (cached % batchSize === 0) report()
    } else {
      pending.push({ index: i, hash })
      if (pending.length === batchSize) await flush()
    }
  }
  await flush()
  report()
  return {
    dataset: { images: out, labels: ds.labels, count: ds.count, exampleShape: [...extractor.featureShape], classes: ds.classes },
    cached,
    computed,
    forwardMs,
    cacheMs
  }
}
