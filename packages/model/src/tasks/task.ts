/**
 * What a task is: everything needed to train and evaluate one shared model — its architecture, loss, metrics,
 * the tfjs kernels training needs (for backend choice), initialisation and dataset reader.
 */
import type { Dataset } from '../data/dataset.js'
import type { DataSpec } from '../data/source.js'
import type { tf } from '../tf.js'
import type { WeightSpec, Weights } from '../weights.js'

/**
 * A task: a classifier trained with softmax cross-entropy, or a sequence task (a causal LM, `sequence` set) trained
 * with next-token cross-entropy.
 */
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
  /**
   * Loss minimised in training, in nats: mean softmax cross-entropy over the batch, from logits; or, for a sequence
   * task, mean next-token cross-entropy per predicted token.
   */
  readonly loss: 'softmax-cross-entropy' | 'next-token-cross-entropy'
  /** Metrics `evaluate` reports (a sequence task's: loss and perplexity = e^loss). */
  readonly metrics: readonly ['loss', 'accuracy'] | readonly ['loss', 'perplexity']
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
  /** Parameters of the whole pretrained model a task fine-tunes (tfjs model, causal LM); undefined for a built-in task. */
  readonly baseParamCount?: number
  /** Set for a sequence task (a causal LM): training and evaluation go through it instead of `forward` and labels. */
  readonly sequence?: SequenceObjective
}

/** Training and evaluation of a sequence task (instead of `forward` on one-hot labels), on the active backend. */
export interface SequenceObjective {
  /**
   * Mean next-token cross-entropy (nats per predicted token) of windows `ids` [n, t] (int32) with the trained weights
   * `params` (in `weightSpecs` order), and its gradient with respect to each (same order and shapes; the caller
   * owns them).
   */
  gradients (params: readonly tf.Tensor[], ids: tf.Tensor2D): { loss: number, grads: tf.Tensor[] }
  /** Mean next-token cross-entropy of windows `ids` [n, t] (int32), nats per predicted token. */
  loss (params: readonly tf.Tensor[], ids: tf.Tensor2D): number
  /** Windows per evaluation batch. */
  readonly evalBatch: number
}

/** True when a task is a sequence task (trains through `sequence`, e.g. a causal LM). */
export function isSequenceTask (task: Task): task is Task & { sequence: SequenceObjective } {
  return (task as { sequence?: unknown }).sequence !== undefined
}

