/**
 * The pre-scan: one pass over untrusted msgpack bytes, before any value is built, that checks every header
 * against the canonical rules and the limits (protocol/encoding.md). It allocates nothing per value, so a
 * hostile frame costs at most one linear walk over its bytes; a header that declares more data than the
 * bytes left (a forged 2^32-element array) is rejected on the spot.
 */
import { isUtf8 } from 'node:buffer'
import { WireError, type WireErrorCode } from './errors.js'
import type { Limits } from './limits.js'

/** UTF-8 bytes of `__proto__`, the one map key rejected outright (prototype pollution in naive decoders). */
const PROTO_KEY = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]

/** Strings up to this many bytes are checked for ASCII in JavaScript before calling the native validator. */
const SHORT_STRING_BYTES = 32

/**
 * Walks `bytes` as exactly one canonical msgpack value and throws at the first violation.
 * @param maxItems most values the frame may hold (default `limits.maxItems`; entry frames pass a tighter
 *   bound).
 * @param children when given, receives where each element of the outermost container starts (for a map:
 *   key, value, key, …), in order, with `bytes.length` appended as the end of the last; nothing for a
 *   scalar frame or an empty container. Lets a caller read the top-level fields of an entry without
 *   decoding the rest.
 * @throws WireError with one of the codes `ERR_WIRE_TRUNCATED`, `ERR_WIRE_TRAILING_BYTES`,
 *   `ERR_WIRE_TOO_DEEP`, `ERR_WIRE_ARRAY_TOO_LONG`, `ERR_WIRE_MAP_TOO_LARGE`, `ERR_WIRE_STRING_TOO_LONG`,
 *   `ERR_WIRE_BIN_TOO_LONG`, `ERR_WIRE_TOO_MANY_ITEMS`, `ERR_WIRE_FORBIDDEN_TYPE`, `ERR_WIRE_NON_FINITE`,
 *   `ERR_WIRE_BAD_UTF8`, `ERR_WIRE_BAD_KEY`, `ERR_WIRE_DUPLICATE_KEY`, `ERR_WIRE_NOT_CANONICAL`.
 */
export function scanFrame (bytes: Uint8Array, limits: Limits, maxItems = limits.maxItems, children?: number[]): void {
  const end = bytes.length
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const maxDepth = limits.maxDepth
  // Per open container: values still to read (a map of n pairs starts at 2n), whether it is a map, and
  // where the previous key of that map lies (start, length; length −1 before the first key).
  const remaining: number[] = []
  const isMap: boolean[] = []
  const keyStart: number[] = []
  const keyLength: number[] = []
  let top = -1
  let pos = 0
  let items = 0

  function fail (code: WireErrorCode, what: string, expected: string): never {
    throw new WireError(code, `${what} at byte ${pos} of a ${end}-byte frame; expected ${expected}. The frame is rejected; the sender must re-encode it canonically within the protocol v1 limits.`)
  }
  function need (n: number, what: string): void {
    if (n > end - pos) fail('ERR_WIRE_TRUNCATED', `${what} needs ${n} more bytes but ${end - pos} remain`, 'a complete value')
  }

  for (;;) {
    if (pos >= end) fail('ERR_WIRE_TRUNCATED', top < 0 ? 'empty frame' : 'frame ends inside a container', 'one complete msgpack value')
    if (++items > maxItems) fail('ERR_WIRE_TOO_MANY_ITEMS', `more than ${maxItems} values`, `at most ${maxItems}`)
    let isKey = false
    if (top === 0 && children !== undefined) children.push(pos)
    if (top >= 0) {
      isKey = isMap[top] && (remaining[top] & 1) === 0
      remaining[top]--
    }
    const b = bytes[pos]
    let container = -1 // element count of an array, pair count of a map, −1 for a scalar
    let containerIsMap = false

    if (isKey) {
      // A key must be a string; keys of one map must be in strictly ascending order of their bytes.
      let len: number
      if (b >= 0xa0 && b <= 0xbf) {
        len = b - 0xa0; pos += 1
      } else if (b === 0xd9) {
        need(2, 'str8 header'); len = bytes[pos + 1]; checkMinimal(len, 32); pos += 2
      } else if (b === 0xda) {
        need(3, 'str16 header'); len = view.getUint16(pos + 1); checkMinimal(len, 256); pos += 3
      } else if (b === 0xdb) {
        need(5, 'str32 header'); len = view.getUint32(pos + 1); checkMinimal(len, 65_536); pos += 5
      } else {
        fail('ERR_WIRE_BAD_KEY', `map key of type 0x${b.toString(16)}`, 'a string key')
      }
      if (len > end - pos) fail('ERR_WIRE_TRUNCATED', `key declares ${len} bytes but ${end - pos} remain`, 'a complete key')
      if (len > limits.maxStringBytes) fail('ERR_WIRE_STRING_TOO_LONG', `key of ${len} bytes`, `at most ${limits.maxStringBytes} bytes`)
      checkUtf8(pos, len)
      if (len === PROTO_KEY.length && PROTO_KEY.every((c, i) => bytes[pos + i] === c)) {
        fail('ERR_WIRE_BAD_KEY', 'map key "__proto__"', 'any other key')
      }
      if (keyLength[top] >= 0) {
        const order = compareBytes(bytes, keyStart[top], keyLength[top], pos, len)
        if (order === 0) fail('ERR_WIRE_DUPLICATE_KEY', 'a map key repeats', 'each key once')
        if (order > 0) fail('ERR_WIRE_NOT_CANONICAL', 'map keys out of order', 'keys in ascending order of their UTF-8 bytes')
      }
      keyStart[top] = pos
      keyLength[top] = len
      pos += len
    } else if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      pos += 1 // fixint, negative fixint, nil, false, true
    } else if (b <= 0x8f) {
      container = b - 0x80; containerIsMap = true; pos += 1
    } else if (b <= 0x9f) {
      container = b - 0x90; pos += 1
    } else if (b <= 0xbf) {
      pos += 1; string(b - 0xa0)
    } else {
      switch (b) {
        case 0xc4: need(2, 'bin8 header'); pos += 2; bin(bytes[pos - 1]); break
        case 0xc5: need(3, 'bin16 header'); pos += 3; bin(view.getUint16(pos - 2), 256); break
        case 0xc6: need(5, 'bin32 header'); pos += 5; bin(view.getUint32(pos - 4), 65_536); break
        case 0xcb: {
          need(9, 'float64')
          const v = view.getFloat64(pos + 1)
          if (!Number.isFinite(v)) fail('ERR_WIRE_NON_FINITE', `float64 ${v}`, 'a finite number')
          if (Object.is(v, -0) || (Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff)) {
            fail('ERR_WIRE_NOT_CANONICAL', `float64 ${Object.is(v, -0) ? '-0' : v}`, 'an integer in [-2^31, 2^32) to use the smallest int form')
          }
          pos += 9
          break
        }
        case 0xcc: need(2, 'uint8'); checkMinimal(bytes[pos + 1], 0x80); pos += 2; break
        case 0xcd: need(3, 'uint16'); checkMinimal(view.getUint16(pos + 1), 0x100); pos += 3; break
        case 0xce: need(5, 'uint32'); checkMinimal(view.getUint32(pos + 1), 0x10000); pos += 5; break
        case 0xd0: need(2, 'int8'); checkMinimal(-view.getInt8(pos + 1), 33); pos += 2; break
        case 0xd1: need(3, 'int16'); checkMinimal(-view.getInt16(pos + 1), 129); pos += 3; break
        case 0xd2: need(5, 'int32'); checkMinimal(-view.getInt32(pos + 1), 32_769); pos += 5; break
        case 0xd9: need(2, 'str8 header'); pos += 2; string(bytes[pos - 1], 32); break
        case 0xda: need(3, 'str16 header'); pos += 3; string(view.getUint16(pos - 2), 256); break
        case 0xdb: need(5, 'str32 header'); pos += 5; string(view.getUint32(pos - 4), 65_536); break
        case 0xdc: need(3, 'array16 header'); container = view.getUint16(pos + 1); checkMinimal(container, 16); pos += 3; break
        case 0xdd: need(5, 'array32 header'); container = view.getUint32(pos + 1); checkMinimal(container, 65_536); pos += 5; break
        case 0xde: need(3, 'map16 header'); container = view.getUint16(pos + 1); checkMinimal(container, 16); containerIsMap = true; pos += 3; break
        case 0xdf: need(5, 'map32 header'); container = view.getUint32(pos + 1); checkMinimal(container, 65_536); containerIsMap = true; pos += 5; break
        default:
          // 0xc1 (never used), ext and fixext (0xc7–0xc9, 0xd4–0xd8), float32 (0xca), uint64/int64 (0xcf, 0xd3)
          fail('ERR_WIRE_FORBIDDEN_TYPE', `msgpack type byte 0x${b.toString(16)}`,
            'nil, bool, int up to 32 bits, float64, str, bin, array or map (no extensions, float32 or 64-bit ints)')
      }
    }

    if (container > 0) {
      if (top + 2 > maxDepth) fail('ERR_WIRE_TOO_DEEP', `nesting deeper than ${maxDepth}`, `at most ${maxDepth} nested arrays and maps`)
      // Every element takes at least one byte, every pair at least two.
      const valueCount = containerIsMap ? container * 2 : container
      if (valueCount > end - pos) {
        fail('ERR_WIRE_TRUNCATED', `${containerIsMap ? 'map' : 'array'} declares ${container} ${containerIsMap ? 'pairs' : 'elements'} but ${end - pos} bytes remain`, 'a complete container')
      }
      if (containerIsMap && container > limits.maxMapSize) fail('ERR_WIRE_MAP_TOO_LARGE', `map of ${container} pairs`, `at most ${limits.maxMapSize}`)
      if (!containerIsMap && container > limits.maxArrayLength) fail('ERR_WIRE_ARRAY_TOO_LONG', `array of ${container} elements`, `at most ${limits.maxArrayLength}`)
      top++
      remaining[top] = valueCount
      isMap[top] = containerIsMap
      keyLength[top] = -1
      continue
    }
    if (container === 0 && top + 2 > maxDepth) fail('ERR_WIRE_TOO_DEEP', `nesting deeper than ${maxDepth}`, `at most ${maxDepth} nested arrays and maps`)
    while (top >= 0 && remaining[top] === 0) top--
    if (top < 0) break
  }
  if (pos !== end) {
    fail('ERR_WIRE_TRAILING_BYTES', `${end - pos} bytes after the value`, 'exactly one msgpack value filling the frame')
  }
  if (children !== undefined && children.length > 0) children.push(end)

  function checkMinimal (value: number, smallest: number): void {
    if (value < smallest) fail('ERR_WIRE_NOT_CANONICAL', `value or length ${value} in a longer form than needed`, 'the shortest msgpack form')
  }
  function string (len: number, smallest = 0): void {
    checkMinimal(len, smallest)
    if (len > end - pos) fail('ERR_WIRE_TRUNCATED', `string declares ${len} bytes but ${end - pos} remain`, 'a complete string')
    if (len > limits.maxStringBytes) fail('ERR_WIRE_STRING_TOO_LONG', `string of ${len} bytes`, `at most ${limits.maxStringBytes} bytes`)
    checkUtf8(pos, len)
    pos += len
  }
  function bin (len: number, smallest = 0): void {
    checkMinimal(len, smallest)
    if (len > end - pos) fail('ERR_WIRE_TRUNCATED', `bin declares ${len} bytes but ${end - pos} remain`, 'complete bytes')
    if (len > limits.maxBinBytes) fail('ERR_WIRE_BIN_TOO_LONG', `bin of ${len} bytes`, `at most ${limits.maxBinBytes} bytes`)
    pos += len
  }
  function checkUtf8 (start: number, len: number): void {
    if (len <= SHORT_STRING_BYTES) {
      let ascii = true
      for (let i = start; i < start + len; i++) if (bytes[i] >= 0x80) { ascii = false; break }
      if (ascii) return
    }
    if (!isUtf8(bytes.subarray(start, start + len))) fail('ERR_WIRE_BAD_UTF8', 'string is not well-formed UTF-8', 'UTF-8 without surrogates or overlong forms')
  }
}

/** Compares two byte ranges of `bytes` lexicographically: negative, 0 or positive. */
function compareBytes (bytes: Uint8Array, a: number, aLen: number, b: number, bLen: number): number {
  const n = Math.min(aLen, bLen)
  for (let i = 0; i < n; i++) {
    const d = bytes[a + i] - bytes[b + i]
    if (d !== 0) return d
  }
  return aLen - bLen
}
