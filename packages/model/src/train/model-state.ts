/**
 * Moving weights between plain data and tfjs: the trainer's weight variables (pooled per task and backend), a
 * layers model (for export and import), and datasets turned into batch tensors.
 */
import type { Dataset } from '../data/dataset.js'
import { exampleSize, validateDataset } from '../data/dataset.js'
import { AbortedError, InvalidDataError } from '../errors.js'
import type { Task } from '../tasks/task.js'
import { tf } from '../tf.js'
import type { Weights } from '../weights.js'
import { assertSameSpecs, validateWeights } from '../weights.js'

/** Most idle variable sets kept per task and backend for reuse. */
const MAX_POOLED_PARAMS = 2
const pool = new Map<string, tf.Variable[][]>()
const poolKeys = new WeakMap<tf.Variable[], string>()

function checkWeights (task: Task, weights: Weights): void {
  validateWeights(weights)
  assertSameSpecs(task.weightSpecs, weights.specs, `weights for task ${task.id}`)
}

/**
 * Trainable variables of `task` holding `weights` (in spec order), from a per-(task, backend) pool or new.
 * Return them with `releaseParams` (never dispose them yourself).
 * @throws InvalidWeightsError when the weights do not match the task's specs.
 */
export function acquireParams (task: Task, weights: Weights): tf.Variable[] {
  checkWeights(task, weights)
  const key = `${task.id}@${tf.getBackend()}`
  let params = pool.get(key)?.pop()
  if (params === undefined) {
    // A variable shares its initial tensor's data; made inside tidy, that tensor is released and the variable
    // alone holds the data (outside, the tensor would outlive the variable's dispose()).
    params = weights.specs.map((s, i) => tf.tidy(() => tf.variable(tf.tensor(weights.values[i], s.shape, 'float32'), true)))
  } else {
    const vars = params
    tf.tidy(() => { vars.forEach((v, i) => v.assign(tf.tensor(weights.values[i], weights.specs[i].shape, 'float32'))) })
  }
  poolKeys.set(params, key)
  return params
}

/** Returns variables from `acquireParams` to the pool (or disposes them when the pool is full). */
export function releaseParams (params: tf.Variable[]): void {
  const key = poolKeys.get(params)
  const idle = key === undefined ? undefined : (pool.get(key) ?? [])
  if (key !== undefined && idle !== undefined && idle.length < MAX_POOLED_PARAMS && !idle.includes(params)) {
    idle.push(params)
    pool.set(key, idle)
  } else {
    params.forEach((v) => v.dispose())
  }
}

/** Copies variables' values out as plain weights with the given specs. */
export async function readParams (task: Task, params: readonly tf.Variable[]): Promise<Weights> {
  const values = await Promise.all(params.map(async (v) => Float32Array.from(await v.data() as Float32Array)))
  return { specs: task.weightSpecs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })), values }
}

/**
 * Builds the task's layers model and loads `weights` into it. The caller must `dispose()` the model.
 * @throws InvalidWeightsError when the weights do not match the task's specs.
 */
export function modelWithWeights (task: Task, weights: Weights): tf.LayersModel {
  checkWeights(task, weights)
  const model = task.buildModel()
  setModelWeights(model, weights)
  return model
}

/** Assigns plain weights to a model's variables, in order (shapes already checked against the task). */
export function setModelWeights (model: tf.LayersModel, weights: Weights): void {
  tf.tidy(() => {
    model.weights.forEach((w, i) => { w.write(tf.tensor(weights.values[i], weights.specs[i].shape, 'float32')) })
  })
}

/** Reads a model's weights as plain data (copies), named by each weight's original (unsuffixed) name. */
export async function readModelWeights (model: tf.LayersModel): Promise<Weights> {
  const values = await Promise.all(model.weights.map(async (w) => Float32Array.from(await w.read().data() as Float32Array)))
  return {
    specs: model.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[], dtype: 'float32' as const })),
    values
  }
}

/**
 * Checks that a dataset is consistent (array lengths, labels in range), fits a task (example size, classes) and
 * is not empty.
 * @throws InvalidDataError
 */
export function assertDataFitsTask (task: Task, ds: Dataset): void {
  validateDataset(ds)
  const want = task.inputShape.reduce((a, b) => a * b, 1)
  if (exampleSize(ds) !== want || ds.classes !== task.classes) {
    throw new InvalidDataError(`task ${task.id} needs examples of ${want} values in ${task.classes} classes; the data has shape [${ds.exampleShape.join(', ')}] in ${ds.classes} classes`)
  }
  if (ds.count === 0) throw new InvalidDataError(`the dataset for task ${task.id} is empty: at least one example is needed`)
}

/**
 * Copies the examples at `order[from..to)` (or at `from..to` when `order` is null) into a batch: inputs
 * `[n, ...inputShape]` float32 and one-hot labels `[n, classes]` float32.
 */
export function batchTensors (task: Task, ds: Dataset, order: ArrayLike<number> | null, from: number, to: number): { x: tf.Tensor, y: tf.Tensor2D } {
  const size = exampleSize(ds)
  const n = to - from
  const xs = new Float32Array(n * size)
  const ys = new Float32Array(n * task.classes)
  for (let k = 0; k < n; k++) {
    const i = order === null ? from + k : order[from + k]
    xs.set(ds.images.subarray(i * size, (i + 1) * size), k * size)
    ys[k * task.classes + ds.labels[i]] = 1
  }
  return { x: tf.tensor(xs, [n, ...task.inputShape], 'float32'), y: tf.tensor2d(ys, [n, task.classes], 'float32') }
}

/**
 * Sum of softmax cross-entropy (nats) and count of correct arg-max predictions over the first `limit` examples.
 * @throws AbortedError when `signal` fires (checked between batches).
 */
export async function lossAndCorrect (task: Task, params: readonly tf.Tensor[], ds: Dataset, batchSize: number, limit = ds.count, signal?: AbortSignal): Promise<{ lossSum: number, correct: number, count: number }> {
  const count = Math.min(limit, ds.count)
  let lossSum = 0
  let correct = 0
  for (let from = 0; from < count; from += batchSize) {
    if (signal?.aborted === true) throw new AbortedError('evaluation was aborted', { cause: signal.reason })
    const to = Math.min(count, from + batchSize)
    const [l, c] = tf.tidy(() => {
      const { x, y } = batchTensors(task, ds, null, from, to)
      const logits = task.forward(params, x)
      const loss = tf.losses.softmaxCrossEntropy(y, logits, undefined, undefined, tf.Reduction.SUM)
      const hits = tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)).sum()
      return [loss, hits]
    })
    const [lv, cv] = await Promise.all([l.data(), c.data()])
    l.dispose()
    c.dispose()
    lossSum += lv[0]
    correct += cv[0]
  }
  return { lossSum, correct, count }
}
