/**
 * What a task is: everything needed to train and evaluate one shared model — its architecture, loss, metrics,
 * the tfjs kernels training needs (for backend choice), initialisation and dataset reader.
 */
import type { Dataset } from '../data/dataset.js'
import type { DataSpec } from '../data/source.js'
import type { tf } from '../tf.js'
import type { WeightSpec, Weights } from '../weights.js'

/** A classification task trained with softmax cross-entropy. */
export interface Task {
  /** Stable id, recorded in community genesis entries and release manifests, e.g. `mnist-2nn`. */
  readonly id: string
  /** One-line description. */
  readonly title: string
  /** Where the architecture comes from (paper or file). */
  readonly source: string
  /** Shape of one dataset example, e.g. `[28, 28]`. */
  readonly exampleShape: readonly number[]
  /** Shape of one model input (the example reshaped), e.g. `[784]` or `[28, 28, 1]`. */
  readonly inputShape: readonly number[]
  /** Number of classes (model output width). */
  readonly classes: number
  /** The weights, in the fixed order used by the trainer, fedavg and releases. */
  readonly weightSpecs: readonly WeightSpec[]
  /** Total parameters (sum of the specs' element counts). */
  readonly paramCount: number
  /** Loss minimised in training: mean softmax cross-entropy over the batch, from logits, in nats. */
  readonly loss: 'softmax-cross-entropy'
  /** Metrics `evaluate` reports. */
  readonly metrics: readonly ['loss', 'accuracy']
  /**
   * tfjs kernel names (tfjs-core `kernel_names.ts`) this task's forward and backward passes dispatch. A backend
   * that lacks one of `train` cannot train the task; one that lacks one of `inference` cannot evaluate it.
   */
  readonly kernels: { readonly train: readonly string[], readonly inference: readonly string[] }
  /** Floating-point operations per example: forward pass, and forward + backward (≈ 3 × forward). */
  readonly flopsPerExample: { readonly forward: number, readonly train: number }
  /**
   * Builds the architecture as a tfjs layers model with freshly initialised weights: named layers so that
   * `model.weights` lists `weightSpecs` in order, output = class probabilities (softmax) of shape
   * `[batch, classes]`. The caller owns the model and must `dispose()` it.
   */
  buildModel(): tf.LayersModel
  /**
   * The same network as `buildModel` as a function of its weights: logits `[batch, classes]` (before softmax)
   * for `x` of shape `[batch, ...inputShape]`, with `params` the weight tensors in `weightSpecs` order. The
   * training loop and `evaluate` use it (softmax cross-entropy on the logits); gradients flow to `params`.
   */
  forward(params: readonly tf.Tensor[], x: tf.Tensor): tf.Tensor2D
  /** Seeded initial weights, identical on every machine (see `glorotUniformInit`). */
  initWeights(seed: number): Weights
  /**
   * Reads the examples a data spec names and checks that they fit the task (example shape, classes).
   * @throws InvalidDataError, IdxFormatError, InvalidPartitionError
   */
  loadData(spec: DataSpec): Promise<Dataset>
}
