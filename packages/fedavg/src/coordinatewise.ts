/**
 * Coordinate-wise robust aggregators (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
 * Optimal Statistical Rates", ICML): the median and the β-trimmed mean of each coordinate across the n
 * accepted deltas. Unweighted: each accepted contribution counts once, whatever its sample count.
 *
 * Memory: the n deltas must all be in memory (n × 4 bytes × params, held by the caller), plus a Float64
 * scratch of n × `CHUNK_COORDS` values and the output. The result does not depend on input order at all
 * (each coordinate is a function of the sorted values).
 */
import { CHUNK_COORDS } from './constants.js'
import type { AcceptedContribution } from './contribution.js'
import type { ModelSpec } from './spec.js'

/** Reduces one coordinate's n values, sorted ascending, to the aggregate value (before Float32 rounding). */
export type SortedReducer = (sorted: Float64Array, from: number, n: number) => number

/** Sorts v[from, from + n) ascending in place: insertion sort for small n, the native sort otherwise. */
function sortRange (v: Float64Array, from: number, n: number): void {
  if (n > 32) {
    v.subarray(from, from + n).sort()
    return
  }
  for (let i = from + 1; i < from + n; i++) {
    const x = v[i]
    let j = i - 1
    while (j >= from && v[j] > x) {
      v[j + 1] = v[j]
      j--
    }
    v[j + 1] = x
  }
}

/** Applies `reduce` to the sorted column of every coordinate, chunk by chunk. */
export function reduceSortedColumns (accepted: readonly AcceptedContribution[], spec: ModelSpec, reduce: SortedReducer): Float32Array[] {
  const n = accepted.length
  const chunk = Math.max(1, Math.min(CHUNK_COORDS, Math.floor(CHUNK_COORDS * 16 / n)))
  const cols = new Float64Array(chunk * n)
  return spec.sizes.map((size, t) => {
    const out = new Float32Array(size)
    for (let from = 0; from < size; from += chunk) {
      const len = Math.min(chunk, size - from)
      for (let k = 0; k < n; k++) {
        const x = accepted[k].contribution.delta[t]
        for (let j = 0; j < len; j++) cols[j * n + k] = x[from + j]
      }
      for (let j = 0; j < len; j++) {
        sortRange(cols, j * n, n)
        out[from + j] = reduce(cols, j * n, n)
      }
    }
    return out
  })
}

/** Median of a sorted range: the middle value, or the mean of the two middle values for even n. */
export const medianOfSorted: SortedReducer = (v, from, n) => {
  const h = n >> 1
  return (n & 1) === 1 ? v[from + h] : (v[from + h - 1] + v[from + h]) / 2
}

/**
 * The β-trimmed mean reducer: drops ⌊β·n⌋ values from each end of the sorted range and averages the rest
 * (summed in ascending order in Float64). Requires 0 ≤ β < 0.5.
 */
export function trimmedMeanOfSorted (beta: number): SortedReducer {
  return (v, from, n) => {
    const b = Math.floor(beta * n)
    let s = 0
    for (let i = from + b; i < from + n - b; i++) s += v[i]
    return s / (n - 2 * b)
  }
}
