/**
 * Weights as plain data: what the trainer returns, what fedavg aggregates and what a release ships. A model's
 * weights are a list of specs (`name`, `shape`, `dtype`) and a parallel list of `Float32Array` values in the
 * same fixed order — the order of the task's `weightSpecs` (layer by layer, kernel before bias, as tfjs-layers
 * lists `model.weights`). No tfjs types appear here.
 */
import { FLOAT32_BYTES, MAX_RELEASE_TENSORS, MAX_TENSOR_RANK } from './constants.js'
import { InvalidWeightsError } from './errors.js'

/** Element type of a weight tensor. Releases and deltas carry float32 only (IEEE 754 binary32, little-endian). */
export type WeightDtype = 'float32'

/** One weight tensor's identity: a stable name (`<layer>/<kernel|bias>`), its shape and dtype. */
export interface WeightSpec {
  /** Stable name, e.g. `hidden1/kernel`. Unique within a model. */
  name: string
  /** Dimensions, outermost first (row-major), e.g. `[784, 200]` for a dense kernel. Each an integer ≥ 1. */
  shape: number[]
  dtype: WeightDtype
}

/** A model's weights: `values[i]` holds the row-major elements of `specs[i]` (length = product of its shape). */
export interface Weights {
  specs: WeightSpec[]
  values: Float32Array[]
}

/** Number of elements of a tensor of the given shape (1 for a scalar `[]`). */
export function sizeOf (shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/** Total number of parameters (elements) over all specs. */
export function paramCount (specs: readonly WeightSpec[]): number {
  let n = 0
  for (const s of specs) n += sizeOf(s.shape)
  return n
}

/** Total bytes of the weights' values when laid end to end as float32 (the release byte layout). */
export function byteLength (specs: readonly WeightSpec[]): number {
  return paramCount(specs) * FLOAT32_BYTES
}

/**
 * Checks that specs are well-formed: at most `MAX_RELEASE_TENSORS`, unique non-empty names, integer dimensions
 * ≥ 1, rank ≤ `MAX_TENSOR_RANK`, dtype `float32`.
 * @throws InvalidWeightsError naming the first bad spec.
 */
export function validateSpecs (specs: readonly WeightSpec[]): void {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new InvalidWeightsError('weight specs are empty: expected at least one { name, shape, dtype } entry')
  }
  if (specs.length > MAX_RELEASE_TENSORS) {
    throw new InvalidWeightsError(`weight specs list ${specs.length} tensors; at most ${MAX_RELEASE_TENSORS} are accepted`)
  }
  const seen = new Set<string>()
  specs.forEach((s, i) => {
    if (typeof s?.name !== 'string' || s.name.length === 0 || s.name.length > 256) {
      throw new InvalidWeightsError(`weight spec ${i} has no usable name: expected a string of 1–256 characters`)
    }
    if (seen.has(s.name)) throw new InvalidWeightsError(`weight name ${s.name} appears twice: names must be unique`)
    seen.add(s.name)
    if (s.dtype !== 'float32') {
      throw new InvalidWeightsError(`weight ${s.name} has dtype ${String(s.dtype)}; only float32 is supported — cast the model to float32 first`)
    }
    if (!Array.isArray(s.shape) || s.shape.length > MAX_TENSOR_RANK ||
        !s.shape.every((d: number) => Number.isSafeInteger(d) && d >= 1)) {
      throw new InvalidWeightsError(`weight ${s.name} has shape ${JSON.stringify(s.shape)}: expected up to ${MAX_TENSOR_RANK} integer dimensions ≥ 1`)
    }
  })
}

/**
 * Checks values against specs: same count, each a `Float32Array` of exactly `sizeOf(shape)` elements; with
 * `finite: true` also that every value is finite.
 * @throws InvalidWeightsError naming the first mismatch.
 */
export function validateWeights (weights: Weights, options: { finite?: boolean } = {}): void {
  validateSpecs(weights.specs)
  const { specs, values } = weights
  if (!Array.isArray(values) || values.length !== specs.length) {
    throw new InvalidWeightsError(`got ${Array.isArray(values) ? values.length : 'no'} value arrays for ${specs.length} weight specs: expected one Float32Array per spec, in spec order`)
  }
  for (let i = 0; i < specs.length; i++) {
    const v = values[i]
    const want = sizeOf(specs[i].shape)
    if (!(v instanceof Float32Array)) {
      throw new InvalidWeightsError(`weight ${specs[i].name} is not a Float32Array`)
    }
    if (v.length !== want) {
      throw new InvalidWeightsError(`weight ${specs[i].name} has ${v.length} values; its shape ${JSON.stringify(specs[i].shape)} needs ${want}`)
    }
    if (options.finite === true) {
      for (let j = 0; j < v.length; j++) {
        if (!Number.isFinite(v[j])) {
          throw new InvalidWeightsError(`weight ${specs[i].name} holds a non-finite value (${v[j]}) at index ${j}`)
        }
      }
    }
  }
}

/** True when both spec lists name the same tensors, shapes and dtypes in the same order. */
export function sameSpecs (a: readonly WeightSpec[], b: readonly WeightSpec[]): boolean {
  return a.length === b.length && a.every((s, i) =>
    s.name === b[i].name && s.dtype === b[i].dtype &&
    s.shape.length === b[i].shape.length && s.shape.every((d, j) => d === b[i].shape[j]))
}

/**
 * Throws unless `actual` has the same specs as `expected`, naming the first difference.
 * @throws InvalidWeightsError
 */
export function assertSameSpecs (expected: readonly WeightSpec[], actual: readonly WeightSpec[], what = 'weights'): void {
  if (sameSpecs(expected, actual)) return
  if (expected.length !== actual.length) {
    throw new InvalidWeightsError(`${what}: ${actual.length} tensor${actual.length === 1 ? '' : 's'}, expected ${expected.length}`)
  }
  const i = expected.findIndex((s, k) => !sameSpecs([s], [actual[k]]))
  throw new InvalidWeightsError(`${what}: tensor ${i} is ${describeSpec(actual[i])}; expected ${describeSpec(expected[i])}`)
}

function describeSpec (s: WeightSpec): string {
  return `${s.name} ${s.dtype}[${s.shape.join(',')}]`
}

/** Deep copy of weights (new specs objects and new value arrays). */
export function cloneWeights (weights: Weights): Weights {
  return {
    specs: weights.specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })),
    values: weights.values.map((v) => v.slice())
  }
}

/** True when both have the same specs and bit-identical values (compares the raw bytes, so NaN payloads and −0 count). */
export function weightsBitEqual (a: Weights, b: Weights): boolean {
  if (!sameSpecs(a.specs, b.specs)) return false
  return a.values.every((v, i) => {
    const x = new Uint32Array(v.buffer, v.byteOffset, v.length)
    const w = b.values[i]
    const y = new Uint32Array(w.buffer, w.byteOffset, w.length)
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false
    return true
  })
}
