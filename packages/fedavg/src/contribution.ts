/**
 * Contributions and their validation. Validation runs before any arithmetic on a delta's values: tensor
 * count and lengths against the release's spec, every value finite, weight > 0, then the L2 norm bound.
 */
import { MAX_CONTRIBUTION_ID_BYTES, MAX_WEIGHT } from './constants.js'
import { ContributionRejectedError, type FedAvgErrorCode } from './errors.js'
import { finiteSquaredNorm } from './kernels.js'
import { sameShape, type ModelSpec, type Shape } from './spec.js'

/** One client's or volunteer's delta with its aggregation weight. */
export interface Contribution {
  /**
   * Identity bytes supplied by the caller (e.g. the contribution entry's hash), 1 to
   * `MAX_CONTRIBUTION_ID_BYTES` bytes, unique within a round. Fixes the canonical order: ascending bytes.
   */
  readonly id: Uint8Array
  /** Aggregation weight: the number of training samples behind the delta (McMahan et al. 2017 n_k). Finite, > 0. */
  readonly weight: number
  /** Local weights − base weights, one Float32Array per tensor, in the release's weight order. */
  readonly delta: readonly Float32Array[]
  /** Shapes the sender declared (e.g. from the encoded delta); when given they must equal the spec's. */
  readonly shapes?: readonly Shape[]
}

/** Options of validation. */
export interface ValidationOptions {
  /** Largest accepted L2 norm of a whole delta (all tensors), in parameter units; unset = no bound. */
  readonly maxNorm?: number
  /**
   * Largest accepted weight, in samples: the round's bound on the sample count a contribution may claim
   * (the community policy `maxSamples`). A contribution claiming more is rejected
   * (`ERR_FEDAVG_WEIGHT_BOUND`), not clamped: its claim is false or its data is not the task's, and a
   * clamped weight would still hand it the largest share. Unset = `MAX_WEIGHT`.
   */
  readonly maxWeight?: number
}

/** Outcome of validating one contribution. A rejection carries a stable code and a reason for the ledger. */
export type Verdict =
  | { readonly status: 'accept', readonly norm: number }
  | { readonly status: 'reject', readonly code: FedAvgErrorCode, readonly reason: string }

/** A contribution an aggregator left out, with the reason (recorded as a rejection in the ledger). */
export interface Rejection {
  readonly id: Uint8Array
  readonly code: FedAvgErrorCode
  readonly reason: string
}

/** Orders contribution ids: bytewise ascending, a proper prefix before its extensions. */
export function compareIds (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i]
  }
  return a.length - b.length
}

/** Hex form of an id, for messages. */
export function idHex (id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}

function reject (code: FedAvgErrorCode, reason: string): Verdict {
  return { status: 'reject', code, reason }
}

/**
 * L2 norm of a delta: per tensor, the sum of squares in Float64 in coordinate order; those sums added in
 * weight order; then the square root — the same on every machine. NaN if a value is not finite.
 */
export function deltaNorm (delta: readonly Float32Array[]): number {
  let s = 0
  for (const t of delta) {
    const q = finiteSquaredNorm(t)
    if (q < 0) return NaN
    s += q
  }
  return Math.sqrt(s)
}

/**
 * Validates one contribution against the release's spec. Never throws; checks in this order and stops at
 * the first failure: id (`ERR_FEDAVG_INVALID_ID`), weight in (0, `MAX_WEIGHT`] (`ERR_FEDAVG_INVALID_WEIGHT`), weight
 * ≤ `options.maxWeight` (`ERR_FEDAVG_WEIGHT_BOUND`), tensor count
 * (`ERR_FEDAVG_TENSOR_COUNT`), shapes and lengths (`ERR_FEDAVG_SHAPE_MISMATCH`), finite values
 * (`ERR_FEDAVG_NON_FINITE`) — all before any arithmetic on values — then the norm bound
 * (`ERR_FEDAVG_NORM_BOUND`). An accepted verdict carries the delta's L2 norm.
 */
export function checkContribution (c: Contribution, spec: ModelSpec, options: ValidationOptions = {}): Verdict {
  if (!(c.id instanceof Uint8Array) || c.id.length === 0 || c.id.length > MAX_CONTRIBUTION_ID_BYTES) {
    return reject('ERR_FEDAVG_INVALID_ID', `contribution id must be 1 to ${MAX_CONTRIBUTION_ID_BYTES} bytes`)
  }
  if (typeof c.weight !== 'number' || !Number.isFinite(c.weight) || c.weight <= 0 || c.weight > MAX_WEIGHT) {
    return reject('ERR_FEDAVG_INVALID_WEIGHT', `weight ${String(c.weight)} is not a number in (0, ${MAX_WEIGHT}] (expected the sample count)`)
  }
  if (options.maxWeight !== undefined && !(c.weight <= options.maxWeight)) {
    return reject('ERR_FEDAVG_WEIGHT_BOUND', `weight ${c.weight} (the claimed sample count) exceeds the round's bound of ${options.maxWeight} samples per contribution`)
  }
  if (!Array.isArray(c.delta) || c.delta.length !== spec.sizes.length) {
    return reject('ERR_FEDAVG_TENSOR_COUNT', `delta has ${Array.isArray(c.delta) ? c.delta.length : 'no'} tensors, the release has ${spec.sizes.length}`)
  }
  if (c.shapes !== undefined && (!Array.isArray(c.shapes) || c.shapes.length !== spec.shapes.length)) {
    return reject('ERR_FEDAVG_TENSOR_COUNT', `declared shapes list ${Array.isArray(c.shapes) ? c.shapes.length : 'no'} tensors, the release has ${spec.shapes.length}`)
  }
  for (let t = 0; t < spec.sizes.length; t++) {
    const x = c.delta[t]
    if (!(x instanceof Float32Array) || x.length !== spec.sizes[t]) {
      return reject('ERR_FEDAVG_SHAPE_MISMATCH', `tensor ${t} has ${x instanceof Float32Array ? x.length : 'no'} float32 values, the release's shape [${spec.shapes[t].join(', ')}] has ${spec.sizes[t]}`)
    }
    if (c.shapes !== undefined && !sameShape(c.shapes[t], spec.shapes[t])) {
      return reject('ERR_FEDAVG_SHAPE_MISMATCH', `tensor ${t} is declared [${c.shapes[t].join(', ')}], the release has [${spec.shapes[t].join(', ')}]`)
    }
  }
  // one pass per tensor: each value is checked finite before it enters the sum of squares
  let squares = 0
  for (let t = 0; t < c.delta.length; t++) {
    const s = finiteSquaredNorm(c.delta[t])
    if (s < 0) {
      const i = -s - 1
      return reject('ERR_FEDAVG_NON_FINITE', `tensor ${t} holds ${c.delta[t][i]} at index ${i}; every delta value must be finite`)
    }
    squares += s
  }
  const norm = Math.sqrt(squares)
  if (options.maxNorm !== undefined && !(norm <= options.maxNorm)) {
    return reject('ERR_FEDAVG_NORM_BOUND', `delta L2 norm ${norm} exceeds the bound ${options.maxNorm}`)
  }
  return { status: 'accept', norm }
}

/**
 * Like `checkContribution` but throws.
 * @throws ContributionRejectedError with the verdict's code.
 */
export function assertContribution (c: Contribution, spec: ModelSpec, options: ValidationOptions = {}): number {
  const v = checkContribution(c, spec, options)
  if (v.status === 'reject') throw new ContributionRejectedError(v.code, v.reason)
  return v.norm
}

/** A contribution that passed validation, with its norm. */
export interface AcceptedContribution {
  readonly contribution: Contribution
  readonly norm: number
}

/** Accepted contributions in canonical order, and the rejected ones. */
export interface Screened {
  readonly accepted: AcceptedContribution[]
  readonly rejected: Rejection[]
}

/**
 * Validates every contribution, then sorts the accepted ones into canonical order (ascending id bytes).
 * An id that appears more than once is rejected in every copy (`ERR_FEDAVG_DUPLICATE_CONTRIBUTION`): two
 * deltas under one id are an equivocation, and dropping all of them keeps the result independent of the
 * order they arrived in. Rejections are listed in canonical order too.
 */
export function screen (contributions: readonly Contribution[], spec: ModelSpec, options: ValidationOptions = {}): Screened {
  const ok: AcceptedContribution[] = []
  const rejected: Rejection[] = []
  for (const c of contributions) {
    const v = checkContribution(c, spec, options)
    if (v.status === 'reject') rejected.push({ id: c.id instanceof Uint8Array ? c.id : new Uint8Array(), code: v.code, reason: v.reason })
    else ok.push({ contribution: c, norm: v.norm })
  }
  ok.sort((a, b) => compareIds(a.contribution.id, b.contribution.id))
  const accepted: AcceptedContribution[] = []
  for (let i = 0; i < ok.length; i++) {
    const id = ok[i].contribution.id
    const dupPrev = i > 0 && compareIds(ok[i - 1].contribution.id, id) === 0
    const dupNext = i + 1 < ok.length && compareIds(ok[i + 1].contribution.id, id) === 0
    if (dupPrev || dupNext) {
      rejected.push({ id, code: 'ERR_FEDAVG_DUPLICATE_CONTRIBUTION', reason: `contribution ${idHex(id)} appears more than once; none of its copies is aggregated` })
    } else {
      accepted.push(ok[i])
    }
  }
  rejected.sort((a, b) => compareIds(a.id, b.id) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
  return { accepted, rejected }
}
