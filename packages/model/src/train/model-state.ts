/**
 * Moving weights between plain data and tfjs: the trainer's weight variables (pooled per task and backend), a
 * layers model (for export and import), and datasets turned into batch tensors.
 */
import type { Dataset } from '../data/dataset.js'
import { exampleSize, validateDataset } from '../data/dataset.js'
import { AbortedError, InvalidDataError, WeightsMismatchError, type WeightIdentity, type WeightsMismatch } from '../errors.js'
import { isSequenceTask, type Task } from '../tasks/task.js'
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
 * Builds the task's layers model and loads `weights` into it (by name, see `setModelWeights`). The caller must
 * `dispose()` the model.
 * @throws InvalidWeightsError when the weights do not match the task's specs; WeightsMismatchError when the
 *   task's model does not name its weights as its specs do (a task definition error).
 */
export function modelWithWeights (task: Task, weights: Weights): tf.LayersModel {
  checkWeights(task, weights)
  const model = task.buildModel()
  setModelWeights(model, weights)
  return model
}

/** Most names each list of a `WeightsMismatchError` message shows (the error's fields hold them all). */
const MAX_NAMES_SHOWN = 5

function identity (name: string, shape: readonly number[], dtype: string): WeightIdentity {
  return { name, shape: [...shape], dtype }
}

function describe (w: WeightIdentity): string {
  return `${w.name} ${w.dtype}[${w.shape.join(',')}]`
}

function listed<T> (items: readonly T[], show: (item: T) => string): string {
  const shown = items.slice(0, MAX_NAMES_SHOWN).map(show).join(', ')
  return items.length > MAX_NAMES_SHOWN ? `${shown} and ${items.length - MAX_NAMES_SHOWN} more` : shown
}

function mismatchMessage (model: string, m: WeightsMismatch): string {
  const parts = [
    m.duplicated.length > 0 ? `the model names ${m.duplicated.length} weight(s) twice (${listed(m.duplicated, String)})` : '',
    m.missing.length > 0 ? `${m.missing.length} of the model's weights are missing (${listed(m.missing, describe)})` : '',
    m.unexpected.length > 0 ? `${m.unexpected.length} given weight(s) name no weight of the model (${listed(m.unexpected, describe)})` : '',
    m.mismatched.length > 0
      ? `${m.mismatched.length} weight(s) differ in shape or dtype (${listed(m.mismatched, (x) => `${x.name}: the model has ${x.expected.dtype}[${x.expected.shape.join(',')}], the weights ${x.got.dtype}[${x.got.shape.join(',')}]`)})`
      : ''
  ].filter((p) => p !== '')
  return `the weights do not fit model ${model}: ${parts.join('; ')}. Weights are matched by name, <layer>/<weight> ` +
    '(tfjs\' originalName, e.g. conv1/kernel, bn1/moving_mean), in any order: pass weights of the model\'s architecture under its layer names'
}

/**
 * Assigns plain weights to a model's variables, matched by name: each of `model.weights` takes the tensor of
 * `weights` named by its `originalName` (`<layer>/<weight>`, e.g. `conv1/kernel`, `bn1/moving_mean`; the names
 * releases, shards and safetensors files carry), whatever the order of either list. tfjs lists `model.weights`
 * trainable weights first, so a batch-normalisation layer's moving statistics come after every kernel and bias:
 * matching by position would mix layers up. Nothing is written unless every weight fits.
 * @throws InvalidWeightsError when `weights` do not match their own specs; WeightsMismatchError
 *   (`ERR_MODEL_WEIGHTS_MISMATCH`) naming each missing, unexpected or mismatched weight (expected vs. got shape
 *   and dtype), or names the model uses twice.
 */
export function setModelWeights (model: tf.LayersModel, weights: Weights): void {
  validateWeights(weights)
  const byName = new Map(weights.specs.map((s, i) => [s.name, i]))
  const m: WeightsMismatch = { missing: [], unexpected: [], mismatched: [], duplicated: [] }
  const seen = new Set<string>()
  const targets: Array<{ variable: (typeof model.weights)[number], index: number }> = []
  for (const variable of model.weights) {
    const name = variable.originalName
    if (seen.has(name)) {
      m.duplicated.push(name)
      continue
    }
    seen.add(name)
    const expected = identity(name, variable.shape as number[], variable.dtype)
    const index = byName.get(name)
    if (index === undefined) {
      m.missing.push(expected)
      continue
    }
    const s = weights.specs[index]
    const got = identity(name, s.shape, s.dtype)
    if (s.dtype !== variable.dtype || s.shape.length !== expected.shape.length || s.shape.some((d, k) => d !== expected.shape[k])) {
      m.mismatched.push({ name, expected, got })
    }
    targets.push({ variable, index })
  }
  for (const s of weights.specs) if (!seen.has(s.name)) m.unexpected.push(identity(s.name, s.shape, s.dtype))
  if (m.missing.length + m.unexpected.length + m.mismatched.length + m.duplicated.length > 0) {
    throw new WeightsMismatchError(mismatchMessage(model.name, m), m)
  }
  tf.tidy(() => {
    for (const { variable, index } of targets) variable.write(tf.tensor(weights.values[index], weights.specs[index].shape, 'float32'))
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
  if (isSequenceTask(task)) {
    if (exampleSize(ds) !== want) throw new InvalidDataError(`task ${task.id} needs windows of ${want} tokens; the data has examples of shape [${ds.exampleShape.join(', ')}]`)
    if (ds.count === 0) throw new InvalidDataError(`the dataset for task ${task.id} is empty: at least one window of text is needed`)
    return
  }
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

/** The windows at `order[from..to)` (or `from..to`) of a text dataset as token ids `[n, window]` int32. */
export function windowTensor (ds: Dataset, order: ArrayLike<number> | null, from: number, to: number): tf.Tensor2D {
  const size = exampleSize(ds)
  const n = to - from
  const ids = new Int32Array(n * size)
  for (let k = 0; k < n; k++) {
    const i = order === null ? from + k : order[from + k]
    const row = ds.images.subarray(i * size, (i + 1) * size)
    for (let j = 0; j < size; j++) ids[k * size + j] = row[j]
  }
  return tf.tensor2d(ids, [n, size], 'int32')
}

/**
 * Sum of softmax cross-entropy (nats) and count of correct arg-max predictions over the first `limit` examples.
 * @throws AbortedError when `signal` fires (checked between batches).
 */
export async function lossAndCorrect (task: Task, params: readonly tf.Tensor[], ds: Dataset, batchSize: number, limit = ds.count, signal?: AbortSignal): Promise<{ lossSum: number, correct: number, count: number }> {
  const count = Math.min(limit, ds.count)
  let lossSum = 0
  let correct = 0
  if (isSequenceTask(task)) {
    // windows of equal length: the mean over windows of each one's mean is the mean over tokens
    for (let from = 0; from < count; from += task.sequence.evalBatch) {
      if (signal?.aborted === true) throw new AbortedError('evaluation was aborted', { cause: signal.reason })
      const to = Math.min(count, from + task.sequence.evalBatch)
      const ids = windowTensor(ds, null, from, to)
      try {
        lossSum += task.sequence.loss(params, ids) * (to - from)
      } finally {
        ids.dispose()
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    return { lossSum, correct, count }
  }
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
