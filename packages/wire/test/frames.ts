/**
 * Test helpers over canonical msgpack frames: where their length headers are, and how to inflate one.
 * Only ever run on frames this package produced, so they assume a well-formed input.
 */

/** A length-bearing header: at `offset`, the declared length lives in the low bits of the type byte (`width` 0) or in the next `width` bytes. */
export interface LengthHeader { offset: number, width: 0 | 1 | 2 | 4, value: number, fixMax: number }

/** Lists every str, bin, array and map header of a canonical frame, in order. */
export function lengthHeaders (frame: Uint8Array): LengthHeader[] {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const out: LengthHeader[] = []
  let pos = 0
  const read = (): void => {
    const b = frame[pos]
    const header = (width: 0 | 1 | 2 | 4, value: number, fixMax = 0): number => {
      out.push({ offset: pos, width, value, fixMax })
      pos += 1 + width
      return value
    }
    const fixed = { 1: 1, 2: 2, 4: 4, 8: 8 } as const
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) { pos += 1; return }
    if (b <= 0x8f) { const n = header(0, b & 0x0f, 15); for (let i = 0; i < 2 * n; i++) read(); return }
    if (b <= 0x9f) { const n = header(0, b & 0x0f, 15); for (let i = 0; i < n; i++) read(); return }
    if (b <= 0xbf) { pos += header(0, b & 0x1f, 31); return }
    switch (b) {
      case 0xc4: case 0xd9: pos += header(1, frame[pos + 1]); return
      case 0xc5: case 0xda: pos += header(2, view.getUint16(pos + 1)); return
      case 0xc6: case 0xdb: pos += header(4, view.getUint32(pos + 1)); return
      case 0xdc: { const n = header(2, view.getUint16(pos + 1)); for (let i = 0; i < n; i++) read(); return }
      case 0xdd: { const n = header(4, view.getUint32(pos + 1)); for (let i = 0; i < n; i++) read(); return }
      case 0xde: { const n = header(2, view.getUint16(pos + 1)); for (let i = 0; i < 2 * n; i++) read(); return }
      case 0xdf: { const n = header(4, view.getUint32(pos + 1)); for (let i = 0; i < 2 * n; i++) read(); return }
      case 0xcc: case 0xd0: pos += 1 + fixed[1]; return
      case 0xcd: case 0xd1: pos += 1 + fixed[2]; return
      case 0xce: case 0xd2: pos += 1 + fixed[4]; return
      case 0xcb: pos += 1 + fixed[8]; return
      default: throw new Error(`not a canonical frame: type byte 0x${b.toString(16)} at ${pos}`)
    }
  }
  read()
  return out
}

/** The largest length a header of this width can declare. */
export function maxLength (h: LengthHeader): number {
  return h.width === 0 ? h.fixMax : 2 ** (8 * h.width) - 1
}

/** A copy of `frame` whose header `h` declares `h.value + by` instead (1 ≤ by ≤ maxLength(h) − h.value). */
export function inflate (frame: Uint8Array, h: LengthHeader, by: number): Uint8Array {
  const out = new Uint8Array(frame)
  const view = new DataView(out.buffer)
  const value = h.value + by
  if (h.width === 0) out[h.offset] = (out[h.offset] & ~h.fixMax) | value
  else if (h.width === 1) out[h.offset + 1] = value
  else if (h.width === 2) view.setUint16(h.offset + 1, value)
  else view.setUint32(h.offset + 1, value)
  return out
}
