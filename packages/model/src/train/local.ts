/**
 * The in-process local trainer: a custom training loop (no `model.fit`) over one client's data. Each step is one
 * `optimizer.minimize` inside `tf.tidy`, so every intermediate tensor is released; the loss is read back from the
 * backend only when progress is reported, so steps queue without synchronising.
 */
import type { LongOperationOptions } from '@swarmtune/wire'
import { CustomProgressEvent } from 'progress-events'
import { PROGRESS_INTERVAL_MS, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, DEFAULT_MOMENTUM } from '../constants.js'
import type { Dataset } from '../data/dataset.js'
import { createRng } from '../data/random.js'
import { AbortedError, TrainingDivergedError } from '../errors.js'
import type { BackendSelection } from '../backends/backends.js'
import { selectBackend } from '../backends/backends.js'
import { getTask } from '../tasks/registry.js'
import { isSequenceTask, type SequenceObjective, type Task } from '../tasks/task.js'
import { tf } from '../tf.js'
import { validateWeights } from '../weights.js'
import type { EvaluateOptions, EvaluateResult, OptimizerConfig, TrainOptions, TrainProgress, TrainResult } from './options.js'
import { resolveEvalBatchSize, resolveTrainOptions } from './options.js'
import { acquireParams, assertDataFitsTask, batchTensors, lossAndCorrect, readParams, releaseParams, windowTensor } from './model-state.js'

/** The progress events of a training run: `train:progress` at most every PROGRESS_INTERVAL_MS and after the last step. */
export type TrainProgressEvents = CustomProgressEvent<TrainProgress, 'train:progress'>

/** Long-operation options: cancellation and progress events. */
export type TrainRunOptions = LongOperationOptions<TrainProgressEvents>

/**
 * A tfjs optimizer for a config and learning rate. Free it with `disposeOptimizer`, not `optimizer.dispose()`
 * alone: tfjs-core 4.22's `MomentumOptimizer.dispose()` leaves the learning-rate scalar of its `SGDOptimizer`
 * base allocated (tensorflow/tfjs#4647), one tensor per optimizer.
 */
export function createOptimizer (config: OptimizerConfig, learningRate: number): tf.Optimizer {
  switch (config.name) {
    case 'sgd': return tf.train.sgd(learningRate)
    case 'momentum': return tf.train.momentum(learningRate, config.momentum ?? DEFAULT_MOMENTUM, config.nesterov ?? false)
    case 'adam': return tf.train.adam(learningRate, config.beta1 ?? ADAM_BETA1, config.beta2 ?? ADAM_BETA2, config.epsilon ?? ADAM_EPSILON)
  }
}

/**
 * Frees every tensor an optimizer holds: its own `dispose()` (slot variables, β accumulators), then any tensor
 * still referenced by one of its fields that `dispose()` missed (the learning-rate scalar `MomentumOptimizer`
 * inherits from `SGDOptimizer`, tensorflow/tfjs#4647). Idempotent.
 */
export function disposeOptimizer (optimizer: tf.Optimizer): void {
  optimizer.dispose()
  for (const value of Object.values(optimizer)) {
    if (value instanceof tf.Tensor && !value.isDisposed) value.dispose()
  }
}

/**
 * One step of a sequence task: the gradient of the mean next-token cross-entropy of windows `ids` with respect to
 * `params` (`task.sequence.gradients`), applied by `optimizer`. Frees `ids`.
 * @returns the step's loss as a scalar when `report`, else null (as `optimizer.minimize`)
 */
function sequenceStep (task: Task & { sequence: SequenceObjective }, params: readonly tf.Variable[], optimizer: tf.Optimizer, ids: tf.Tensor2D, report: boolean): tf.Scalar | null {
  try {
    const { loss, grads } = task.sequence.gradients(params, ids)
    optimizer.applyGradients(params.map((p, i) => ({ name: p.name, tensor: grads[i] })))
    tf.dispose(grads)
    return report ? tf.scalar(loss) : null
  } finally {
    ids.dispose()
  }
}

function checkAborted (signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw new AbortedError(`${what} was aborted`, { cause: signal.reason })
}

async function resolveData (task: Task, data: TrainOptions['data']): Promise<Dataset> {
  const ds = 'source' in data ? await task.loadData(data) : data
  assertDataFitsTask(task, ds)
  return ds
}

/**
 * Trains `options.weights` on the local data with a custom loop and returns the trained weights.
 *
 * Epoch mode: each epoch visits every local example once, in a seeded shuffled order, in batches of `batchSize`
 * (the last batch may be smaller) — ClientUpdate of McMahan et al. 2017, Algorithm 1. Step mode: exactly `steps`
 * batches, reshuffling at each pass. Loss: mean softmax cross-entropy from logits; for a sequence task (a causal
 * LM), examples are token windows and the loss is their mean next-token cross-entropy (`task.sequence`).
 *
 * @param options what to train (plain data; the same as for `trainInWorker`)
 * @param run `signal` aborts between steps; `onProgress` receives `TrainProgress` at most every
 *   `PROGRESS_INTERVAL_MS` ms and once at the end.
 * @returns trained weights (same specs), sample count n_k, loss before and after (nats), steps, backend.
 * @throws UnknownTaskError, InvalidWeightsError, InvalidDataError, InvalidTrainOptionsError, BackendError,
 *   AbortedError (ERR_ABORTED), TrainingDivergedError (non-finite loss or weights).
 */
export async function trainLocal (options: TrainOptions, run: TrainRunOptions = {}): Promise<TrainResult> {
  const task = getTask(options.task)
  const o = resolveTrainOptions(options)
  validateWeights(options.weights)
  checkAborted(run.signal, 'training')
  const selection = await selectBackend(task, { backend: options.backend, purpose: 'train' })
  const ds = await resolveData(task, options.data)
  const lossExamples = options.lossExamples ?? ds.count
  const params = acquireParams(task, options.weights)
  const optimizer = createOptimizer(o.optimizer, o.learningRate)
  try {
    const before = await lossAndCorrect(task, params, ds, resolveEvalBatchSize(undefined), lossExamples)
    const lossBefore = before.lossSum / before.count
    const batchesPerEpoch = Math.ceil(ds.count / o.batchSize)
    const steps = o.steps ?? (o.epochs as number) * batchesPerEpoch
    const rng = createRng(o.seed)
    const order = new Uint32Array(ds.count)
    const start = performance.now()
    let lastReport = start
    let samplesProcessed = 0
    let lastLoss = lossBefore
    for (let step = 0; step < steps; step++) {
      const b = step % batchesPerEpoch
      if (b === 0) {
        for (let i = 0; i < order.length; i++) order[i] = i
        rng.shuffle(order)
      }
      const from = b * o.batchSize
      const to = Math.min(ds.count, from + o.batchSize)
      const now = performance.now()
      const report = run.onProgress !== undefined && (now - lastReport >= PROGRESS_INTERVAL_MS || step === steps - 1)
      const cost: tf.Scalar | null = isSequenceTask(task)
        ? sequenceStep(task, params, optimizer, windowTensor(ds, order, from, to), report)
        : tf.tidy(() => {
          const { x, y } = batchTensors(task, ds, order, from, to)
          return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, task.forward(params, x)) as tf.Scalar, report, params) as tf.Scalar
        })
      samplesProcessed += to - from
      if (cost !== null) {
        lastLoss = (await cost.data())[0]
        cost.dispose()
        lastReport = performance.now()
        run.onProgress?.(new CustomProgressEvent('train:progress', {
          step: step + 1,
          steps,
          epoch: Math.floor(step / batchesPerEpoch) + 1,
          loss: lastLoss,
          samplesPerSecond: samplesProcessed / Math.max(1e-9, (lastReport - start) / 1000)
        }))
        await new Promise((resolve) => setImmediate(resolve))
      } else if (now - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = now
        await new Promise((resolve) => setImmediate(resolve))
      }
      checkAborted(run.signal, 'training')
    }
    const weights = await readParams(task, params)
    const trainMs = performance.now() - start
    const after = await lossAndCorrect(task, params, ds, resolveEvalBatchSize(undefined), lossExamples)
    const lossAfter = after.lossSum / after.count
    if (!Number.isFinite(lossAfter) || !Number.isFinite(lastLoss)) {
      throw new TrainingDivergedError(`local training of ${task.id} diverged: loss after ${steps} steps is ${lossAfter} (before: ${lossBefore}); lower the learning rate`)
    }
    try {
      validateWeights(weights, { finite: true })
    } catch (err) {
      throw new TrainingDivergedError(`local training of ${task.id} produced non-finite weights (${(err as Error).message}); lower the learning rate`)
    }
    return {
      weights,
      samples: ds.count,
      steps,
      samplesProcessed,
      lossBefore,
      lossAfter,
      backend: selection.backend,
      backendReason: selection.reason,
      trainMs
    }
  } finally {
    disposeOptimizer(optimizer)
    releaseParams(params)
  }
}

/**
 * Mean loss and accuracy of `options.weights` on a labelled set (forward passes only); for a sequence task, mean
 * next-token cross-entropy and perplexity on text windows.
 * @returns loss (nats), accuracy in [0, 1] (a classifier) or perplexity (a sequence task), example count, backend id.
 * @throws UnknownTaskError, InvalidWeightsError, InvalidDataError, BackendError, AbortedError.
 */
export async function evaluate (options: EvaluateOptions, run: { signal?: AbortSignal } = {}): Promise<EvaluateResult> {
  const task = getTask(options.task)
  const batchSize = resolveEvalBatchSize(options.batchSize)
  checkAborted(run.signal, 'evaluation')
  const selection: BackendSelection = await selectBackend(task, { backend: options.backend, purpose: 'inference' })
  const ds = await resolveData(task, options.data)
  const params = acquireParams(task, options.weights)
  try {
    const r = await lossAndCorrect(task, params, ds, batchSize, ds.count, run.signal)
    const loss = r.lossSum / r.count
    if (isSequenceTask(task)) return { loss, perplexity: Math.exp(loss), count: r.count, backend: selection.backend }
    return { loss, accuracy: r.correct / r.count, count: r.count, backend: selection.backend }
  } finally {
    releaseParams(params)
  }
}
