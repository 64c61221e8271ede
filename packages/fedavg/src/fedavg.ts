/**
 * Weighted federated averaging (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks
 * from Decentralized Data", Algorithm 1): Δ = Σ_k n_k Δ_k / Σ_k n_k, with n_k the sample count of client k.
 * Optionally each delta is first clipped to an L2 norm bound (norm clipping, as in DP-FedAvg, McMahan et
 * al. 2018): Δ_k ← Δ_k · min(1, C / ‖Δ_k‖).
 *
 * Determinism: contributions enter in canonical order (ascending id bytes); each coordinate is summed in
 * Float64 in that order and rounded to Float32 once, after the division by the total weight. The
 * streaming accumulator and the chunked in-memory path perform the same operations per coordinate in the
 * same order (four deltas per sweep in memory, one by one when streaming: the same additions), so both
 * give identical bytes.
 */
import { CHUNK_COORDS } from './constants.js'
import { checkContribution, compareIds, idHex, screen, type AcceptedContribution, type Contribution, type Rejection, type ValidationOptions, type Verdict } from './contribution.js'
import { CanonicalOrderError, InvalidConfigError } from './errors.js'
import { addScaled, addScaled4, divideInto } from './kernels.js'
import { noUpdate, type AggregateResult } from './result.js'
import type { ModelSpec } from './spec.js'

/** Options of FedAvg. */
export interface FedAvgOptions extends ValidationOptions {
  /** When set, each delta is scaled down to at most this L2 norm before averaging (norm clipping). */
  readonly clipNorm?: number
}

/** @throws InvalidConfigError if `clipNorm`, `maxNorm` or `maxWeight` is not a finite number > 0. */
export function validateFedAvgOptions (o: FedAvgOptions): void {
  for (const key of ['clipNorm', 'maxNorm', 'maxWeight'] as const) {
    const v = o[key]
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new InvalidConfigError(`${key} must be a finite number > 0, got ${String(v)}`)
    }
  }
}

/** Effective multiplier of a contribution in the weighted sum: weight × clip factor. */
function scaleOf (weight: number, norm: number, clipNorm: number | undefined): number {
  if (clipNorm === undefined || norm <= clipNorm) return weight
  return weight * (clipNorm / norm)
}

/**
 * Streaming FedAvg: add contributions one at a time, in canonical order, then take the result. Memory is
 * one Float64 accumulator of the model (8 bytes × params) plus whatever delta the caller holds, whatever the
 * number of contributions — decode one blob, add it, drop it.
 *
 * ```ts
 * const acc = new FedAvgAccumulator(spec)
 * for (const c of contributionsSortedById) acc.add(c)   // each returns a Verdict
 * const result = acc.result()                          // 'update' with .delta, or 'no-update'
 * ```
 */
export class FedAvgAccumulator {
  private readonly spec: ModelSpec
  private readonly options: FedAvgOptions
  private readonly acc: Float64Array[]
  private readonly accepted: Uint8Array[] = []
  private readonly rejected: Rejection[] = []
  private totalWeight = 0
  private lastId: Uint8Array | undefined
  private done = false

  /** @throws InvalidConfigError for a bad `clipNorm` / `maxNorm` / `maxWeight`. */
  constructor (spec: ModelSpec, options: FedAvgOptions = {}) {
    validateFedAvgOptions(options)
    this.spec = spec
    this.options = options
    this.acc = spec.sizes.map((n) => new Float64Array(n))
  }

  /**
   * Validates `c` and, if accepted, adds it to the weighted sum. A rejected contribution changes nothing
   * and is reported in the result.
   * @throws CanonicalOrderError if `c.id` is not strictly greater than every id added before (sort the
   *   contributions by id first and drop duplicate ids), or if `result()` was already taken.
   */
  add (c: Contribution): Verdict {
    if (this.done) throw new CanonicalOrderError('the accumulator has already produced its result; start a new one for the next round')
    if (c.id instanceof Uint8Array && this.lastId !== undefined && compareIds(this.lastId, c.id) >= 0) {
      throw new CanonicalOrderError(`contribution ${idHex(c.id)} was added after ${idHex(this.lastId)}: add contributions in strictly ascending id order, without duplicates`)
    }
    const v = checkContribution(c, this.spec, this.options)
    if (c.id instanceof Uint8Array && c.id.length > 0) this.lastId = c.id
    if (v.status === 'reject') {
      this.rejected.push({ id: c.id, code: v.code, reason: v.reason })
      return v
    }
    const k = scaleOf(c.weight, v.norm, this.options.clipNorm)
    for (let t = 0; t < this.acc.length; t++) addScaled(this.acc[t], c.delta[t], k)
    this.totalWeight += c.weight
    this.accepted.push(c.id)
    return v
  }

  /** The weighted mean of the accepted deltas, or "no update" if none was accepted. Ends the accumulator. */
  result (): AggregateResult {
    this.done = true
    if (this.accepted.length === 0) return noUpdate(this.rejected)
    const delta = this.acc.map((a) => {
      const out = new Float32Array(a.length)
      divideInto(out, a, this.totalWeight)
      return out
    })
    return { status: 'update', delta, accepted: this.accepted, rejected: this.rejected, totalWeight: this.totalWeight }
  }
}

/**
 * FedAvg over contributions all in memory, in any order: validates, sorts into canonical order, then sums
 * coordinate chunk by coordinate chunk (`CHUNK_COORDS`) so the Float64 scratch stays in cache. Same bytes as
 * `FedAvgAccumulator` fed in canonical order. Extra memory: 8 × `CHUNK_COORDS` bytes plus the output.
 * @throws InvalidConfigError for a bad `clipNorm` / `maxNorm` / `maxWeight`.
 */
export function fedAvg (contributions: readonly Contribution[], spec: ModelSpec, options: FedAvgOptions = {}): AggregateResult {
  validateFedAvgOptions(options)
  const { accepted, rejected } = screen(contributions, spec, options)
  return weightedMean(accepted, rejected, spec, options.clipNorm)
}

/** Chunked weighted mean of screened contributions (already validated, in canonical order). */
export function weightedMean (accepted: readonly AcceptedContribution[], rejected: Rejection[], spec: ModelSpec, clipNorm?: number): AggregateResult {
  if (accepted.length === 0) return noUpdate(rejected)
  let totalWeight = 0
  const scales = accepted.map((a) => {
    totalWeight += a.contribution.weight
    return scaleOf(a.contribution.weight, a.norm, clipNorm)
  })
  const scratch = new Float64Array(CHUNK_COORDS)
  const delta = spec.sizes.map((n, t) => {
    const out = new Float32Array(n)
    for (let from = 0; from < n; from += CHUNK_COORDS) {
      const to = Math.min(n, from + CHUNK_COORDS)
      const acc = scratch.subarray(0, to - from)
      acc.fill(0)
      let k = 0
      for (; k + 4 <= accepted.length; k += 4) {
        const [a, b, c, d] = accepted.slice(k, k + 4).map((x) => x.contribution.delta[t])
        addScaled4(acc, a, scales[k], b, scales[k + 1], c, scales[k + 2], d, scales[k + 3], from)
      }
      for (; k < accepted.length; k++) addScaled(acc, accepted[k].contribution.delta[t], scales[k], from)
      divideInto(out.subarray(from, to), acc, totalWeight)
    }
    return out
  })
  return { status: 'update', delta, accepted: accepted.map((a) => a.contribution.id), rejected, totalWeight }
}
