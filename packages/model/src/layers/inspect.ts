/**
 * What a layers model is made of and where it can run: its layers (class, output shape, parameters, what a
 * model spec does with each), parameter totals, and per backend the tfjs kernels it lacks for inference and for
 * training (the data behind `swarmtune model inspect`).
 */
import { FLOAT32_BYTES } from '../constants.js'
import { BACKEND_ORDER, probeBackendStatus, type BackendId } from '../backends/backends.js'
import { createModelTask } from '../tasks/model-task.js'
import type { ModelSpec } from '../tasks/model-task-spec.js'
import { tf } from '../tf.js'
import { DENSE_LOSS_TRAIN, LAYER_KERNELS, PREDICT_KERNELS, unionKernels } from './kernels.js'
import type { LayersModelSource } from './source.js'
import { buildLayersModel, layersModelCids } from './source.js'
import { sizeOf } from '../weights.js'

/**
 * What training does with a layer: `frozen` (kept, forward only), `backbone` (frozen and before the feature cut,
 * its output cached), `trainable` (trained fully), `adapter` (frozen kernel with a trained LoRA factor B),
 * `head` (replaced by the community's head, trained fully).
 */
export type LayerRole = 'frozen' | 'backbone' | 'trainable' | 'adapter' | 'head'

/** One layer of the model. */
export interface LayerInfo {
  name: string
  /** Keras class name, e.g. `Conv2D`. */
  className: string
  /** Output shape without the batch dimension. */
  outputShape: number[]
  /** Parameters of the base layer (elements of its weights). */
  params: number
  role: LayerRole
}

/** Kernels one backend lacks for the model. */
export interface BackendKernelReport {
  backend: BackendId
  /** False when the backend's package cannot load here (then the lists are empty and `reason` says why). */
  available: boolean
  reason: string
  /** Kernels missing for a forward pass of the whole model (backbone and head). */
  missingForInference: string[]
  /** Kernels missing for training as described (with a spec: the trainable part on cached features). */
  missingForTraining: string[]
}

/** What `inspectModel` reports. */
export interface ModelInspection {
  origin: string
  /** Topology and base weights CIDs (strings). */
  topology: string
  base: string
  layers: LayerInfo[]
  /** Parameters of the base model. */
  params: number
  /** Parameters trained: with a spec, the task's `paramCount` (head, adapters, trained layers); without, the weights the topology marks trainable. */
  trainableParams: number
  /** Base parameters kept as they are. */
  frozenParams: number
  /** Bytes of one contribution (trainable parameters as float32) and of the full model's weights. */
  contributionBytes: number
  modelBytes: number
  /** Layer classes whose kernels this package does not know (their kernels are not in the backend lists). */
  unknownClasses: string[]
  backends: BackendKernelReport[]
}

/**
 * Inspects a model, optionally as a model spec would train it.
 * @param spec a model spec for this base: layers get their roles, training kernels are those of the spec's task
 *   (backbone forward only); without it, training means backpropagating through every layer.
 * @throws ModelFormatError, WeightsMismatchError (see `buildLayersModel`); ModelSpecError (see `createModelTask`).
 */
export async function inspectModel (source: LayersModelSource, spec?: ModelSpec): Promise<ModelInspection> {
  const cids = layersModelCids(source)
  const model = await buildLayersModel(source)
  let layers: LayerInfo[]
  let classes: string[]
  let trainableByTopology: number
  try {
    const shapeOf = (l: tf.layers.Layer): number[] => {
      const s = l.outputShape
      return ((Array.isArray(s[0]) ? s[0] : s) as Array<number | null>).slice(1).map((d) => d ?? -1)
    }
    layers = model.layers.map((l) => ({ name: l.name, className: l.getClassName(), outputShape: shapeOf(l), params: l.countParams(), role: l.trainable && l.countParams() > 0 ? 'trainable' as const : 'frozen' as const }))
    classes = [...new Set(layers.map((l) => l.className))]
    trainableByTopology = model.trainableWeights.reduce((n, w) => n + sizeOf(w.shape as number[]), 0)
  } finally {
    model.dispose()
  }
  const params = layers.reduce((n, l) => n + l.params, 0)
  const forward = unionKernels(PREDICT_KERNELS, ...classes.map((c) => LAYER_KERNELS[c]?.forward ?? []), ['Softmax'])
  let training: string[]
  let trainableParams: number
  let frozenParams: number
  if (spec === undefined) {
    training = unionKernels(forward, DENSE_LOSS_TRAIN, ...classes.map((c) => LAYER_KERNELS[c]?.backward ?? []))
    trainableParams = trainableByTopology
    frozenParams = params - trainableParams
  } else {
    const task = await createModelTask(spec, source)
    try {
      const cut = layers.findIndex((l) => l.name === spec.features)
      const targets = new Set(spec.adapters?.targets ?? [])
      const trained = new Set(spec.train ?? [])
      layers = layers.map((l, i) => ({
        ...l,
        role: i <= cut ? 'backbone' : l.name === spec.head.replace ? 'head' : trained.has(l.name) ? 'trainable' : targets.has(l.name) ? 'adapter' : 'frozen'
      }))
      training = unionKernels(task.kernels.train)
      trainableParams = task.paramCount
      frozenParams = layers.filter((l) => l.role !== 'head' && l.role !== 'trainable').reduce((n, l) => n + l.params, 0)
    } finally {
      task.dispose()
    }
  }
  const statuses = await probeBackendStatus()
  const backends = BACKEND_ORDER.map((id) => {
    const s = statuses.find((x) => x.id === id)!
    const missing = (ks: string[]): string[] => (s.available ? ks.filter((k) => tf.getKernel(k, s.tfjsName) === undefined) : [])
    return { backend: id, available: s.available, reason: s.reason, missingForInference: missing(forward), missingForTraining: missing(training) }
  })
  return {
    origin: source.origin,
    topology: cids.topology.toString(),
    base: cids.base.toString(),
    layers,
    params,
    trainableParams,
    frozenParams,
    contributionBytes: trainableParams * FLOAT32_BYTES,
    modelBytes: params * FLOAT32_BYTES,
    unknownClasses: classes.filter((c) => LAYER_KERNELS[c] === undefined),
    backends
  }
}
