/**
 * Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant
 * Gradient Descent", NeurIPS). With n deltas of which at most f are Byzantine, each delta i gets the score
 * s(i) = Σ ‖Δ_i − Δ_j‖² over its n − f − 2 nearest other deltas; Krum keeps the delta with the lowest score,
 * Multi-Krum keeps the m lowest and averages them, weighted by sample count (FedAvg over the selection).
 * Requires n ≥ 2f + 3. Ties in score go to the earlier delta in canonical order.
 *
 * Memory: the n deltas in memory (caller), an n × n Float64 distance matrix, and the output. Pairwise
 * distances cost n(n − 1)/2 passes over the model, computed coordinate chunk by chunk.
 */
import { CHUNK_COORDS } from './constants.js'
import { idHex, type AcceptedContribution, type Rejection } from './contribution.js'
import { TooFewDeltasError } from './errors.js'
import type { ModelSpec } from './spec.js'

/** Squared Euclidean distances between every pair of deltas (symmetric n × n, row-major). */
export function pairwiseSquaredDistances (accepted: readonly AcceptedContribution[], spec: ModelSpec): Float64Array {
  const n = accepted.length
  const d = new Float64Array(n * n)
  for (let t = 0; t < spec.sizes.length; t++) {
    const size = spec.sizes[t]
    for (let from = 0; from < size; from += CHUNK_COORDS) {
      const to = Math.min(size, from + CHUNK_COORDS)
      for (let a = 0; a < n; a++) {
        const xa = accepted[a].contribution.delta[t]
        for (let b = a + 1; b < n; b++) {
          const xb = accepted[b].contribution.delta[t]
          let s = 0
          for (let i = from; i < to; i++) {
            const e = xa[i] - xb[i]
            s += e * e
          }
          d[a * n + b] += s
        }
      }
    }
  }
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) d[b * n + a] = d[a * n + b]
  }
  return d
}

/** Krum scores: for each delta, the sum of its n − f − 2 smallest squared distances to the others. */
export function krumScores (distances: Float64Array, n: number, f: number): Float64Array {
  const keep = n - f - 2
  const scores = new Float64Array(n)
  const row = new Float64Array(n - 1)
  for (let i = 0; i < n; i++) {
    let k = 0
    for (let j = 0; j < n; j++) if (j !== i) row[k++] = distances[i * n + j]
    row.sort()
    let s = 0
    for (let j = 0; j < keep; j++) s += row[j]
    scores[i] = s
  }
  return scores
}

/**
 * Selects the `m` deltas with the lowest Krum scores, in canonical order; the others become rejections
 * with code `ERR_FEDAVG_OUTLIER`.
 * @throws TooFewDeltasError if n < 2f + 3 or m > n − f.
 */
export function krumSelect (accepted: readonly AcceptedContribution[], spec: ModelSpec, f: number, m: number): { selected: AcceptedContribution[], excluded: Rejection[] } {
  const n = accepted.length
  if (n < 2 * f + 3) {
    throw new TooFewDeltasError(`Krum with f = ${f} Byzantine contributions needs at least ${2 * f + 3} accepted deltas, got ${n}; lower f or wait for more contributions`)
  }
  if (m > n - f) {
    throw new TooFewDeltasError(`Multi-Krum selecting m = ${m} needs at least m + f = ${m + f} accepted deltas, got ${n}`)
  }
  const scores = krumScores(pairwiseSquaredDistances(accepted, spec), n, f)
  const order = [...scores.keys()].sort((a, b) => scores[a] - scores[b] || a - b)
  const chosen = new Set(order.slice(0, m))
  const selected: AcceptedContribution[] = []
  const excluded: Rejection[] = []
  accepted.forEach((a, i) => {
    if (chosen.has(i)) selected.push(a)
    else excluded.push({ id: a.contribution.id, code: 'ERR_FEDAVG_OUTLIER', reason: `Krum score ${scores[i]} of ${idHex(a.contribution.id)} is not among the ${m} lowest` })
  })
  return { selected, excluded }
}
