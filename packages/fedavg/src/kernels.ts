/**
 * Inner loops shared by the aggregators. Each has a fixed iteration order so that results are the same
 * bytes on every machine: JavaScript numbers are IEEE 754 binary64 with no fused multiply-add.
 */

/** Largest finite float32, 2^128 − 2^104. */
const FLOAT32_MAX = 3.4028234663852886e38

/**
 * Sum of squares of `x` in Float64, in index order, checking each value before it enters any arithmetic.
 * @returns the sum of squares, or −(i + 1) when x[i] is the first non-finite value (NaN, ±Infinity).
 */
export function finiteSquaredNorm (x: Float32Array): number {
  // Written for V8: two comparisons (false for NaN and ±Infinity) and a `break` keep this loop ~2–5× faster
  // than `Number.isFinite` with a `return` inside it (scripts/bench/fedavg.bench.ts measures the result).
  const n = x.length
  let s = 0
  let i = 0
  for (; i < n; i++) {
    const v = x[i]
    if (!(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) break
    s += v * v
  }
  return i < n ? -(i + 1) : s
}

/** acc[i] += scale × x[i] for i in [0, acc.length), reading x from `offset`, in Float64. */
export function addScaled (acc: Float64Array, x: Float32Array, scale: number, offset = 0): void {
  for (let i = 0; i < acc.length; i++) acc[i] += scale * x[offset + i]
}

/**
 * acc[i] = (((acc[i] + k0·x0[o+i]) + k1·x1[o+i]) + k2·x2[o+i]) + k3·x3[o+i]: four deltas in one sweep, the
 * same operations in the same order as four `addScaled` calls, so the same bytes — only faster.
 */
export function addScaled4 (acc: Float64Array, x0: Float32Array, k0: number, x1: Float32Array, k1: number, x2: Float32Array, k2: number, x3: Float32Array, k3: number, offset: number): void {
  for (let i = 0; i < acc.length; i++) {
    const j = offset + i
    let a = acc[i]
    a += k0 * x0[j]
    a += k1 * x1[j]
    a += k2 * x2[j]
    a += k3 * x3[j]
    acc[i] = a
  }
}

/** out[i] = float32(acc[i] / divisor) for i in [0, acc.length): the one rounding to Float32. */
export function divideInto (out: Float32Array, acc: Float64Array, divisor: number): void {
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] / divisor
}
