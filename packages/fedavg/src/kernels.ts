/**
 * Inner loops shared by the aggregators. Each has a fixed iteration order so that results are the same
 * bytes on every machine: JavaScript numbers are IEEE 754 binary64 with no fused multiply-add.
 */

/** acc[i] += scale × x[i] for i in [from, to), in Float64. */
export function addScaled (acc: Float64Array, x: Float32Array, scale: number, from = 0, to = x.length): void {
  for (let i = from; i < to; i++) acc[i] += scale * x[i]
}

/** out[i] = float32(acc[i] / divisor) for i in [0, acc.length): the one rounding to Float32. */
export function divideInto (out: Float32Array, acc: Float64Array, divisor: number): void {
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] / divisor
}
