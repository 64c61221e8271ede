/**
 * Inputs of local training and evaluation, as plain data (they cross the worker-thread boundary), with defaults
 * and validation.
 */
import { DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_EVAL_BATCH_SIZE, DEFAULT_LEARNING_RATE } from '../constants.js'
import type { Dataset } from '../data/dataset.js'
import type { DataSpec } from '../data/source.js'
import { InvalidTrainOptionsError } from '../errors.js'
import type { Weights } from '../weights.js'

/**
 * Client optimizer. `sgd`: w ← w − η g. `momentum`: v ← m v + g, w ← w − η v (tfjs `train.momentum`; Nesterov
 * optional). `adam`: Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1.
 */
export type OptimizerConfig =
  | { name: 'sgd' }
  | { name: 'momentum', momentum?: number, nesterov?: boolean }
  | { name: 'adam', beta1?: number, beta2?: number, epsilon?: number }

/** The optimizers the trainer offers (`OptimizerConfig['name']`), as errors list them. */
export const OPTIMIZER_NAMES: ReadonlyArray<OptimizerConfig['name']> = Object.freeze(['sgd', 'momentum', 'adam'])

/** Progress of a training run, reported at most every `PROGRESS_INTERVAL_MS` and once at the end. */
export interface TrainProgress {
  /** Optimizer steps done so far, of `steps` in total. */
  step: number
  steps: number
  /** Current epoch (1-based, fractional epochs count as started). */
  epoch: number
  /** Mean softmax cross-entropy of the most recent batch, in nats. */
  loss: number
  /** Examples processed per second since the start of training. */
  samplesPerSecond: number
}

/** What to train: the same for `trainLocal` (in-process) and `TrainingWorker` / `trainInWorker` (worker thread). */
export interface TrainOptions {
  /** Task id (`mnist-2nn`, `mnist-cnn`, …). */
  task: string
  /** Base weights (the round's release), in the task's spec order. Not modified. */
  weights: Weights
  /** The local examples, or where the trainer loads them from itself (a worker then never receives arrays). */
  data: Dataset | DataSpec
  optimizer?: OptimizerConfig
  /** Learning rate η (default `DEFAULT_LEARNING_RATE`). */
  learningRate?: number
  /** Examples per optimizer step (default `DEFAULT_BATCH_SIZE` = 10, McMahan et al. 2017's B). */
  batchSize?: number
  /** Passes over the local data (McMahan et al. 2017's E). Exclusive with `steps`; default `DEFAULT_EPOCHS`. */
  epochs?: number
  /** Exact number of optimizer steps, cycling over reshuffled epochs. Exclusive with `epochs`. */
  steps?: number
  /** Seed of the batch order (default 0). Weight updates are not bit-reproducible across backends. */
  seed?: number
  /** Backend id to use (`node-gpu`, `node`, `wasm`, `cpu`); chosen automatically when absent. */
  backend?: string
  /** Examples used to measure `lossBefore` / `lossAfter` (the first n of the local data; default all). */
  lossExamples?: number
}

/** Result of local training. */
export interface TrainResult {
  /** Trained weights, same specs and order as the base. */
  weights: Weights
  /** Local examples (n_k, FedAvg's aggregation weight; McMahan et al. 2017, Algorithm 1). */
  samples: number
  /** Optimizer steps taken and examples processed (steps × batch, last batch of an epoch may be short). */
  steps: number
  samplesProcessed: number
  /** Mean loss over the local data (or its first `lossExamples`), nats, before and after (the task's `loss`). */
  lossBefore: number
  lossAfter: number
  /** The backend that ran it, and why it was chosen. */
  backend: string
  backendReason: string
  /** Wall time of the optimizer steps, in milliseconds (excludes setup and loss measurement). */
  trainMs: number
}

/** What to evaluate. */
export interface EvaluateOptions {
  task: string
  weights: Weights
  data: Dataset | DataSpec
  /** Examples per forward pass (default `DEFAULT_EVAL_BATCH_SIZE`). */
  batchSize?: number
  backend?: string
}

/** Evaluation metrics on a labelled set (a classifier) or on text (a sequence task). */
export interface EvaluateResult {
  /** Mean softmax cross-entropy, in nats; for a sequence task, mean next-token cross-entropy per predicted token. */
  loss: number
  /** A classifier's: fraction of examples whose arg-max prediction equals the label, in [0, 1]. */
  accuracy?: number
  /** A sequence task's: e^loss. */
  perplexity?: number
  /** Examples evaluated (a sequence task's: windows). */
  count: number
  backend: string
}

/** Training options with defaults applied. */
export interface ResolvedTrainOptions {
  optimizer: OptimizerConfig
  learningRate: number
  batchSize: number
  epochs?: number
  steps?: number
  seed: number
}

function positiveInt (v: unknown, what: string): void {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new InvalidTrainOptionsError(`${what} is ${String(v)}: expected an integer ≥ 1`)
}

function inRange (v: unknown, lo: number, hi: number, what: string): void {
  if (typeof v !== 'number' || !(v >= lo && v < hi)) throw new InvalidTrainOptionsError(`${what} is ${String(v)}: expected a number in [${lo}, ${hi})`)
}

/**
 * Applies defaults and checks ranges.
 * @throws InvalidTrainOptionsError naming the bad option.
 */
export function resolveTrainOptions (o: Omit<TrainOptions, 'task' | 'weights' | 'data'>): ResolvedTrainOptions {
  const optimizer = o.optimizer ?? { name: 'sgd' }
  const learningRate = o.learningRate ?? DEFAULT_LEARNING_RATE
  const batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE
  if (!(typeof learningRate === 'number' && learningRate > 0 && Number.isFinite(learningRate))) {
    throw new InvalidTrainOptionsError(`learning rate is ${String(learningRate)}: expected a finite number > 0`)
  }
  positiveInt(batchSize, 'batch size')
  if (o.epochs !== undefined && o.steps !== undefined) throw new InvalidTrainOptionsError('both epochs and steps are set: give one of them')
  if (o.steps !== undefined) positiveInt(o.steps, 'steps')
  const epochs = o.steps === undefined ? (o.epochs ?? DEFAULT_EPOCHS) : undefined
  if (epochs !== undefined) positiveInt(epochs, 'epochs')
  const seed = o.seed ?? 0
  if (!Number.isSafeInteger(seed)) throw new InvalidTrainOptionsError(`seed is ${String(seed)}: expected an integer`)
  if (o.lossExamples !== undefined) positiveInt(o.lossExamples, 'lossExamples')
  switch (optimizer?.name) {
    case 'sgd': break
    case 'momentum': if (optimizer.momentum !== undefined) inRange(optimizer.momentum, 0, 1, 'momentum'); break
    case 'adam':
      if (optimizer.beta1 !== undefined) inRange(optimizer.beta1, 0, 1, 'Adam β1')
      if (optimizer.beta2 !== undefined) inRange(optimizer.beta2, 0, 1, 'Adam β2')
      if (optimizer.epsilon !== undefined) inRange(optimizer.epsilon, Number.MIN_VALUE, 1, 'Adam ε')
      break
    default: throw new InvalidTrainOptionsError(`optimizer ${JSON.stringify((optimizer as { name?: unknown })?.name)} is unknown: expected one of ${OPTIMIZER_NAMES.join(', ')}`)
  }
  return { optimizer, learningRate, batchSize, epochs, steps: o.steps, seed }
}

/** Evaluation batch size with its default, checked. */
export function resolveEvalBatchSize (batchSize: number | undefined): number {
  const b = batchSize ?? DEFAULT_EVAL_BATCH_SIZE
  positiveInt(b, 'evaluation batch size')
  return b
}
