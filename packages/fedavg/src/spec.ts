/**
 * The layout of a model's weights as a release fixes it: one shape per weight tensor, in the release's
 * fixed weight order. Every delta, aggregate and optimiser state is a `Float32Array[]` in that order.
 */
import { MAX_MODEL_PARAMS, MAX_TENSOR_RANK, MAX_TENSORS } from './constants.js'
import { InvalidSpecError } from './errors.js'

/** A tensor shape: dimensions, each a positive integer (rank 0 = a scalar, one element). */
export type Shape = readonly number[]

/** The release's weight layout: shapes in weight order, with the element count of each tensor. */
export interface ModelSpec {
  readonly shapes: readonly Shape[]
  /** Elements per tensor (product of its shape). */
  readonly sizes: readonly number[]
  /** Total parameter count (sum of `sizes`). */
  readonly params: number
}

/** Element count of a shape; 1 for rank 0. */
export function shapeSize (shape: Shape): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/**
 * Builds a `ModelSpec` from tensor shapes.
 * @throws InvalidSpecError (`ERR_FEDAVG_INVALID_SPEC`) if there are no tensors or more than `MAX_TENSORS`,
 *   a rank above `MAX_TENSOR_RANK`, a dimension that is not a positive integer, or more than
 *   `MAX_MODEL_PARAMS` parameters in total.
 */
export function createModelSpec (shapes: readonly Shape[]): ModelSpec {
  if (!Array.isArray(shapes) || shapes.length === 0 || shapes.length > MAX_TENSORS) {
    throw new InvalidSpecError(`a model spec needs 1 to ${MAX_TENSORS} tensor shapes, got ${Array.isArray(shapes) ? shapes.length : typeof shapes}; pass the release's shapes in weight order`)
  }
  const sizes: number[] = []
  let params = 0
  shapes.forEach((shape, t) => {
    if (!Array.isArray(shape) || shape.length > MAX_TENSOR_RANK) {
      throw new InvalidSpecError(`tensor ${t}: a shape is an array of at most ${MAX_TENSOR_RANK} dimensions, got ${JSON.stringify(shape)}`)
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1 || d > MAX_MODEL_PARAMS) {
        throw new InvalidSpecError(`tensor ${t}: dimension ${String(d)} is not a positive integer ≤ ${MAX_MODEL_PARAMS}; fix the release manifest`)
      }
    }
    const n = shapeSize(shape)
    params += n
    if (n > MAX_MODEL_PARAMS || params > MAX_MODEL_PARAMS) {
      throw new InvalidSpecError(`the model has more than ${MAX_MODEL_PARAMS} parameters (at tensor ${t}); larger models are not supported`)
    }
    sizes.push(n)
  })
  return { shapes: shapes.map((s) => [...s]), sizes, params }
}

/** Whether two shapes are equal dimension by dimension. */
export function sameShape (a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Fresh zero tensors laid out as `spec` (one Float32Array per tensor). Memory: 4 bytes × `spec.params`. */
export function zeros (spec: ModelSpec): Float32Array[] {
  return spec.sizes.map((n) => new Float32Array(n))
}
