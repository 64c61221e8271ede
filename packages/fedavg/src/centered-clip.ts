/**
 * CenteredClip (Karimireddy, He, Jaggi 2021, "Learning from History for Byzantine Robust Optimization",
 * ICML, Algorithm 2): starting from a centre v₀, repeat l times
 *   v ← v + (1/n) Σ_i (Δ_i − v) · min(1, τ / ‖Δ_i − v‖).
 * Unweighted (each accepted delta counts once). A delta far from the centre moves it by at most τ/n.
 *
 * Our choices where the paper leaves them to the caller: v₀ is the coordinate-wise median (a robust start;
 * the paper restarts from the previous round's momentum, which a caller can pass as `center`), and when τ is
 * not given it is the median of ‖Δ_i − v₀‖, so that about half of the deltas move the centre unclipped.
 *
 * Memory: the n deltas in memory (caller), two Float64 buffers (centre and step, 16 bytes × params), the
 * median start (4 bytes × params, unless `center` is given) and the output.
 */
import type { AcceptedContribution } from './contribution.js'
import { medianOfSorted, reduceSortedColumns } from './coordinatewise.js'
import type { ModelSpec } from './spec.js'

/** Options of CenteredClip. */
export interface CenteredClipOptions {
  /** Clipping radius τ (L2, parameter units); default: median distance of the deltas to the start. */
  readonly tau?: number
  /** Iterations l ≥ 1. */
  readonly iterations: number
  /** Starting centre v₀ (e.g. the previous aggregate); default: the coordinate-wise median. */
  readonly center?: readonly Float32Array[]
}

/** ‖x − v‖ over all tensors, in Float64, in weight then coordinate order. */
function distance (x: readonly Float32Array[], v: readonly Float64Array[]): number {
  let s = 0
  for (let t = 0; t < v.length; t++) {
    const xt = x[t]
    const vt = v[t]
    for (let i = 0; i < vt.length; i++) {
      const e = xt[i] - vt[i]
      s += e * e
    }
  }
  return Math.sqrt(s)
}

/** Median of a list of numbers (mean of the two middle ones for an even count). */
function medianOf (values: number[]): number {
  const v = Float64Array.from(values).sort()
  return medianOfSorted(v, 0, v.length)
}

/** Runs CenteredClip over accepted deltas (n ≥ 1) and returns the centre rounded to Float32. */
export function centeredClip (accepted: readonly AcceptedContribution[], spec: ModelSpec, options: CenteredClipOptions): Float32Array[] {
  const n = accepted.length
  const start = options.center ?? reduceSortedColumns(accepted, spec, medianOfSorted)
  const v = start.map((s) => Float64Array.from(s))
  const tau = options.tau ?? medianOf(accepted.map((a) => distance(a.contribution.delta, v)))
  const step = spec.sizes.map((size) => new Float64Array(size))
  for (let it = 0; it < options.iterations; it++) {
    for (const s of step) s.fill(0)
    for (const a of accepted) {
      const x = a.contribution.delta
      const dist = distance(x, v)
      const c = dist <= tau ? 1 : tau / dist
      for (let t = 0; t < v.length; t++) {
        const st = step[t]
        const vt = v[t]
        const xt = x[t]
        for (let i = 0; i < vt.length; i++) st[i] += c * (xt[i] - vt[i])
      }
    }
    for (let t = 0; t < v.length; t++) {
      const st = step[t]
      const vt = v[t]
      for (let i = 0; i < vt.length; i++) vt[i] += st[i] / n
    }
  }
  return v.map((vt) => Float32Array.from(vt))
}
