/**
 * Inner loops shared by the aggregators. Each has a fixed iteration order so that results are the same
 * bytes on every machine: JavaScript numbers are IEEE 754 binary64 with no fused multiply-add.
 */

/**
 * Sum of squares of `x` in Float64, in index order, checking each value before it enters any arithmetic.
 * @returns the sum of squares, or −(i + 1) when x[i] is the first non-finite value (NaN, ±Infinity).
 */
export function finiteSquaredNorm (x: Float32Array): number {
  let s = 0
  for (let i = 0; i < x.length; i++) {
    const v = x[i]
    if (!Number.isFinite(v)) return -(i + 1)
    s += v * v
  }
  return s
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
