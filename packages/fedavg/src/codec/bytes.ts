/**
 * Bounds-checked little-endian reading and writing for the delta codecs. Every read checks the remaining
 * length first and throws `CodecError` (`ERR_FEDAVG_CODEC_TRUNCATED`) instead of reading past the end.
 */
import { CodecError } from '../errors.js'

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Sequential reader over untrusted bytes. */
export class ByteReader {
  readonly bytes: Uint8Array
  private readonly view: DataView
  offset: number

  constructor (bytes: Uint8Array, offset = 0) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.offset = offset
  }

  get remaining (): number {
    return this.bytes.length - this.offset
  }

  /** @throws CodecError `ERR_FEDAVG_CODEC_TRUNCATED` if fewer than `n` bytes remain. */
  need (n: number, what: string): void {
    if (n > this.remaining) {
      throw new CodecError('ERR_FEDAVG_CODEC_TRUNCATED', `encoded delta is truncated: ${what} needs ${n} bytes at offset ${this.offset}, only ${this.remaining} remain`)
    }
  }

  u8 (what: string): number {
    this.need(1, what)
    return this.view.getUint8(this.offset++)
  }

  u16 (what: string): number {
    this.need(2, what)
    const v = this.view.getUint16(this.offset, true)
    this.offset += 2
    return v
  }

  u32 (what: string): number {
    this.need(4, what)
    const v = this.view.getUint32(this.offset, true)
    this.offset += 4
    return v
  }

  f32 (what: string): number {
    this.need(4, what)
    const v = this.view.getFloat32(this.offset, true)
    this.offset += 4
    return v
  }

  /** `n` little-endian float32 values, copied into an aligned array. */
  f32s (n: number, what: string): Float32Array {
    return new Float32Array(this.aligned(n, 4, what))
  }

  /** `n` little-endian uint16 values, copied into an aligned array. */
  u16s (n: number, what: string): Uint16Array {
    return new Uint16Array(this.aligned(n, 2, what))
  }

  /** `n` little-endian uint32 values, copied into an aligned array. */
  u32s (n: number, what: string): Uint32Array {
    return new Uint32Array(this.aligned(n, 4, what))
  }

  /** `n` int8 values (a view, no copy). */
  i8s (n: number, what: string): Int8Array {
    this.need(n, what)
    const v = new Int8Array(this.bytes.buffer, this.bytes.byteOffset + this.offset, n)
    this.offset += n
    return v
  }

  private aligned (n: number, width: number, what: string): ArrayBuffer {
    this.need(n * width, what)
    const start = this.bytes.byteOffset + this.offset
    const copy = this.bytes.buffer.slice(start, start + n * width) as ArrayBuffer
    this.offset += n * width
    if (!LITTLE_ENDIAN) swapInPlace(new Uint8Array(copy), width)
    return copy
  }
}

/** Sequential writer into a buffer sized up front by the encoder. */
export class ByteWriter {
  readonly bytes: Uint8Array
  private readonly view: DataView
  offset = 0

  constructor (size: number) {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
  }

  u8 (v: number): void { this.view.setUint8(this.offset, v); this.offset += 1 }
  u16 (v: number): void { this.view.setUint16(this.offset, v, true); this.offset += 2 }
  u32 (v: number): void { this.view.setUint32(this.offset, v, true); this.offset += 4 }
  f32 (v: number): void { this.view.setFloat32(this.offset, v, true); this.offset += 4 }

  /** Appends the bytes of a typed array (little-endian). */
  array (a: Float32Array | Uint16Array | Uint32Array | Int8Array | Uint8Array): void {
    const src = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    this.bytes.set(src, this.offset)
    if (!LITTLE_ENDIAN) swapInPlace(this.bytes.subarray(this.offset, this.offset + src.length), a.BYTES_PER_ELEMENT)
    this.offset += src.length
  }
}

function swapInPlace (b: Uint8Array, width: number): void {
  if (width === 1) return
  for (let i = 0; i < b.length; i += width) b.subarray(i, i + width).reverse()
}
