/**
 * Shared pieces of the built-in image classifiers: a sequential tfjs model whose last layer is a softmax
 * activation (so logits are the output of the layer before it), and the dataset check.
 */
import { exampleSize, type Dataset } from '../data/dataset.js'
import type { DataSpec } from '../data/source.js'
import { loadData } from '../data/source.js'
import { InvalidDataError } from '../errors.js'
import { glorotUniformInit } from '../init.js'
import { tf } from '../tf.js'
import { paramCount as countParams } from '../weights.js'
import type { WeightSpec } from '../weights.js'
import type { Task } from './task.js'

/** Name of the final softmax layer of the built-in classifiers. */
export const PROBS_LAYER = 'probs'

/** The task fields every built-in classifier derives the same way. */
export interface ClassifierDefinition {
  id: string
  title: string
  source: string
  exampleShape: number[]
  inputShape: number[]
  classes: number
  weightSpecs: WeightSpec[]
  kernels: { train: string[], inference: string[] }
  forwardFlopsPerExample: number
  /** Adds the hidden layers and the `logits` dense layer (linear) to `model`. */
  layers(model: tf.Sequential): void
  /** The same layers as a function of the weights (see `Task.forward`). */
  forward(params: readonly tf.Tensor[], x: tf.Tensor): tf.Tensor2D
}

/** Builds a `Task` from a definition: softmax head, Glorot-uniform init, dataset shape check. */
export function defineClassifier (def: ClassifierDefinition): Task {
  const task: Task = {
    id: def.id,
    title: def.title,
    source: def.source,
    exampleShape: Object.freeze([...def.exampleShape]),
    inputShape: Object.freeze([...def.inputShape]),
    classes: def.classes,
    weightSpecs: Object.freeze(def.weightSpecs.map((s) => Object.freeze({ ...s, shape: Object.freeze([...s.shape]) as number[] }))),
    paramCount: countParams(def.weightSpecs),
    loss: 'softmax-cross-entropy',
    metrics: ['loss', 'accuracy'],
    kernels: Object.freeze({ train: Object.freeze([...def.kernels.train]), inference: Object.freeze([...def.kernels.inference]) }),
    // Backward ≈ 2 × forward (one product for the input gradient, one for the weight gradient).
    flopsPerExample: Object.freeze({ forward: def.forwardFlopsPerExample, train: 3 * def.forwardFlopsPerExample }),
    buildModel () {
      const model = tf.sequential({ name: def.id })
      def.layers(model)
      model.add(tf.layers.activation({ activation: 'softmax', name: PROBS_LAYER }))
      return model
    },
    forward: def.forward,
    initWeights: (seed) => glorotUniformInit(def.weightSpecs, seed),
    async loadData (spec: DataSpec): Promise<Dataset> {
      const ds = await loadData(spec)
      const size = exampleSize(ds)
      const want = def.exampleShape.reduce((a, b) => a * b, 1)
      if (size !== want || ds.classes !== def.classes) {
        throw new InvalidDataError(`task ${def.id} needs examples of shape [${def.exampleShape.join(', ')}] in ${def.classes} classes; the data has [${ds.exampleShape.join(', ')}] in ${ds.classes}`)
      }
      return ds
    }
  }
  return Object.freeze(task)
}
