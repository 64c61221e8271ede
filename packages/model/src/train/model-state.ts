/**
 * Moving weights between plain data and a tfjs layers model, and turning datasets into tensors.
 */
import type { Dataset } from '../data/dataset.js'
import { exampleSize } from '../data/dataset.js'
import { InvalidDataError } from '../errors.js'
import type { Task } from '../tasks/task.js'
import { tf } from '../tf.js'
import type { Weights } from '../weights.js'
import { assertSameSpecs, validateWeights } from '../weights.js'

/**
 * Builds the task's model and loads `weights` into it. The caller must `dispose()` the model.
 * @throws InvalidWeightsError when the weights do not match the task's specs.
 */
export function modelWithWeights (task: Task, weights: Weights): tf.LayersModel {
  validateWeights(weights)
  assertSameSpecs(task.weightSpecs, weights.specs, `weights for task ${task.id}`)
  const model = task.buildModel()
  setModelWeights(model, weights)
  return model
}

/** Most idle models kept per task and backend for reuse (building the CNN costs ~160 ms of random init). */
const MAX_POOLED_MODELS = 2
const pool = new Map<string, tf.LayersModel[]>()
const poolKeys = new WeakMap<tf.LayersModel, string>()

/**
 * A model of `task` holding `weights`, from a per-(task, backend) pool of idle models or freshly built. Return it
 * with `releaseModel` (never dispose it yourself).
 * @throws InvalidWeightsError when the weights do not match the task's specs.
 */
export function acquireModel (task: Task, weights: Weights): tf.LayersModel {
  validateWeights(weights)
  assertSameSpecs(task.weightSpecs, weights.specs, `weights for task ${task.id}`)
  const key = `${task.id}@${tf.getBackend()}`
  const model = pool.get(key)?.pop() ?? task.buildModel()
  poolKeys.set(model, key)
  setModelWeights(model, weights)
  return model
}

/** Returns a model from `acquireModel` to the pool (or disposes it when the pool is full). */
export function releaseModel (model: tf.LayersModel): void {
  const key = poolKeys.get(model)
  if (key === undefined) {
    model.dispose()
    return
  }
  const idle = pool.get(key) ?? []
  pool.set(key, idle)
  if (idle.length < MAX_POOLED_MODELS && !idle.includes(model)) idle.push(model)
  else model.dispose()
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

/** Checks that a dataset fits a task (example size, classes). @throws InvalidDataError */
export function assertDataFitsTask (task: Task, ds: Dataset): void {
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

/** Sum of softmax cross-entropy (nats) and count of correct arg-max predictions over `ds`, in batches. */
export async function lossAndCorrect (task: Task, model: tf.LayersModel, ds: Dataset, batchSize: number, limit = ds.count): Promise<{ lossSum: number, correct: number, count: number }> {
  const count = Math.min(limit, ds.count)
  let lossSum = 0
  let correct = 0
  for (let from = 0; from < count; from += batchSize) {
    const to = Math.min(count, from + batchSize)
    const [l, c] = tf.tidy(() => {
      const { x, y } = batchTensors(task, ds, null, from, to)
      const logits = task.logits(model, x)
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
