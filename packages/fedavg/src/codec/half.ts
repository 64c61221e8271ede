/**
 * IEEE 754 binary16 (fp16) conversion. Encoding rounds to nearest, ties to even, with subnormals; decoding
 * is exact (every fp16 value is a float32 value) through a 65,536-entry table.
 */

/**
 * fp16 bits of the float32 whose bit pattern is `bits`, rounded to nearest, ties to even. Overflow gives
 * ±Infinity (0x7C00), NaN a quiet NaN (0x7E00).
 */
export function toHalfBits (bits: number): number {
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  let mant = bits & 0x7fffff
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00)
  const e = exp - 127 + 15
  if (e >= 31) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++
  return sign | half
}

/** The value of fp16 bits `h` (0 ≤ h < 65536). */
function halfBitsToNumber (h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

let table: Float32Array | undefined

/** Float32 value of every fp16 bit pattern (256 KiB, built on first use). */
export function halfTable (): Float32Array {
  if (table === undefined) {
    table = new Float32Array(65536)
    for (let h = 0; h < 65536; h++) table[h] = halfBitsToNumber(h)
  }
  return table
}
