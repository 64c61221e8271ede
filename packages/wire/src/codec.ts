/**
 * Canonical msgpack (protocol/encoding.md): msgpackr does the byte work; this file decides which values
 * exist and in which form, and puts a hardened path in front of decoding. Every value has exactly one
 * encoding, so a frame is accepted only if re-encoding what it decodes to gives back the same bytes.
 */
import { Packr, Unpackr } from 'msgpackr'
import { WireError, isWireError } from './errors.js'
import { LIMITS, createLimits, type Limits, type LimitsInit } from './limits.js'
import { scanFrame } from './scan.js'

/** A value of the canonical data model: what decodeCanonical returns and encodeCanonical accepts. */
export type WireValue = null | boolean | number | string | Uint8Array | WireValue[] | { [key: string]: WireValue }

// Records, structured clone, extensions for typed arrays, bigint and float32 are all off: only the
// msgpack core types are ever written.
const packr = new Packr({
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  structuredClone: false,
  useFloat32: 0,
  bundleStrings: false,
  largeBigIntToFloat: false,
  useBigIntExtension: false
})
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number'
})

/**
 * Encodes `value` in canonical msgpack: maps as string-keyed maps with keys in ascending order of their
 * UTF-8 bytes, integers in [−2^31, 2^32) in their shortest int form, every other number as float64,
 * strings as str, Uint8Array as bin. Object properties whose value is `undefined` are left out.
 * @param value null, boolean, finite number, well-formed string, Uint8Array, array or plain object of these.
 * @returns the encoded bytes (a fresh Uint8Array).
 * @throws WireError `ERR_WIRE_FORBIDDEN_TYPE` (undefined in an array, bigint, symbol, function, Map, Date,
 *   other typed arrays, class instances), `ERR_WIRE_NON_FINITE` (NaN, ±Infinity), `ERR_WIRE_BAD_UTF8`
 *   (a lone surrogate), `ERR_WIRE_BAD_KEY` (`__proto__`), `ERR_WIRE_TOO_DEEP` (deeper than the v1 limit,
 *   which also stops cycles).
 */
export function encodeCanonical (value: unknown): Uint8Array {
  const packed = packCanonical(value)
  const out = new Uint8Array(packed.length)
  out.set(packed)
  return out
}

/** Like encodeCanonical but may return a view of msgpackr's scratch buffer, valid until the next pack. */
function packCanonical (value: unknown, maxDepth = LIMITS.maxDepth): Uint8Array {
  const prepared = prepare(value, 0, maxDepth)
  try {
    return packr.pack(prepared)
  } catch (err) {
    throw new WireError('ERR_WIRE_INTERNAL', 'msgpackr failed to encode a value the canonical checks accepted; please report this with the value.', { cause: err })
  }
}

/**
 * Decodes untrusted bytes holding exactly one canonical msgpack value, through the hardened path: size cap
 * before anything else, a pre-scan of every header (depth, lengths against limits and against the bytes
 * left, forbidden types, key order, duplicate and `__proto__` keys, UTF-8), the decode, then a canonical
 * re-encode that must reproduce the input byte for byte.
 * @param bytes the frame; not modified, and the result shares no memory with it.
 * @param limits tighter limits than the v1 defaults, if wanted.
 * @returns a {@link WireValue}; byte strings come back as plain Uint8Array copies.
 * @throws WireError `ERR_WIRE_NOT_BYTES`, `ERR_WIRE_FRAME_TOO_LARGE`, any pre-scan code (see scanFrame),
 *   `ERR_WIRE_NOT_CANONICAL`.
 */
export function decodeCanonical (bytes: Uint8Array, limits?: LimitsInit): unknown {
  const lim = createLimits(limits)
  if (!(bytes instanceof Uint8Array)) {
    throw new WireError('ERR_WIRE_NOT_BYTES', `expected the frame as a Uint8Array, got ${describe(bytes)}; pass the raw received bytes.`)
  }
  if (bytes.length > lim.maxFrameBytes) {
    throw new WireError('ERR_WIRE_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds the limit of ${lim.maxFrameBytes} bytes; the frame is rejected unread.`)
  }
  return decodeChecked(bytes, lim)
}

/** decodeCanonical after the type and size checks, for callers that made them. */
export function decodeChecked (bytes: Uint8Array, limits: Limits): unknown {
  const input = plainView(bytes)
  scanFrame(input, limits)
  return decodeScanned(input, limits)
}

/**
 * A fresh plain Uint8Array view of `bytes`: decoded bins come out as Uint8Array (not Buffer) copies, and the
 * property msgpackr caches on its source (`dataView`) lands on the view, not on the caller's array.
 */
export function plainView (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * The decode and canonical re-encode of a frame the pre-scan (scanFrame) accepted under `limits`.
 * @param input a plain view ({@link plainView}) of the scanned bytes, or of one whole value inside them.
 * @throws WireError `ERR_WIRE_NOT_CANONICAL`, `ERR_WIRE_INTERNAL`.
 */
export function decodeScanned (input: Uint8Array, limits: Limits): unknown {
  let value: unknown
  try {
    value = unpackr.unpack(input)
  } catch (err) {
    throw new WireError('ERR_WIRE_INTERNAL', 'msgpackr failed on a frame the pre-scan accepted; please report this frame.', { cause: err })
  }
  let again: Uint8Array
  try {
    again = packCanonical(value, limits.maxDepth)
  } catch (err) {
    if (isWireError(err) && err.code !== 'ERR_WIRE_INTERNAL') {
      throw new WireError('ERR_WIRE_NOT_CANONICAL', `the decoded value cannot be encoded canonically (${err.code}); the frame is rejected.`, { cause: err })
    }
    throw err
  }
  if (!equalBytes(again, input)) {
    throw new WireError('ERR_WIRE_NOT_CANONICAL', 'the frame is not in canonical form (re-encoding its value gives different bytes); the sender must encode with the canonical rules of protocol/encoding.md.')
  }
  return value
}

/** True when `a` and `b` hold the same bytes. */
export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

/**
 * Checks `value` against the data model and returns what msgpackr writes canonically: the value itself
 * when it already is (plain objects whose own keys are in byte order with no undefined values, arrays of
 * such), otherwise a copy where such objects become Maps with sorted keys (a Map keeps insertion order; an
 * object puts integer-like keys such as "9" before "10" whatever the order they were added in).
 */
function prepare (value: unknown, depth: number, maxDepth: number): unknown {
  switch (typeof value) {
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) {
        throw new WireError('ERR_WIRE_NON_FINITE', `cannot encode ${value}; expected a finite number. Check the computation that produced it.`)
      }
      return value
    case 'string':
      if (!isWellFormed(value)) {
        throw new WireError('ERR_WIRE_BAD_UTF8', 'cannot encode a string with a lone UTF-16 surrogate; expected well-formed text. Use String.prototype.toWellFormed() first.')
      }
      return value
    case 'object': {
      if (value === null) return null
      if (value instanceof Uint8Array) return value
      if (depth >= maxDepth) {
        throw new WireError('ERR_WIRE_TOO_DEEP', `value nests deeper than ${maxDepth} arrays and maps (or is cyclic); flatten it.`)
      }
      if (Array.isArray(value)) return prepareArray(value, depth, maxDepth)
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) forbidden(value)
      // written as is only when msgpackr will take its plain-object path (which tests `constructor`)
      const plain = proto === Object.prototype && (value as { constructor?: unknown }).constructor === Object
      return prepareObject(value as Record<string, unknown>, plain, depth, maxDepth)
    }
    default:
      return forbidden(value)
  }
}

function prepareArray (value: unknown[], depth: number, maxDepth: number): unknown[] {
  if (Object.getPrototypeOf(value) !== Array.prototype) forbidden(value)
  let out: unknown[] | undefined
  for (let i = 0; i < value.length; i++) {
    const v = value[i]
    if (v === undefined) {
      throw new WireError('ERR_WIRE_FORBIDDEN_TYPE', `array element ${i} is undefined (or a hole); expected a value. Use null for "no value".`)
    }
    const p = prepare(v, depth + 1, maxDepth)
    if (p !== v) {
      out ??= value.slice()
      out[i] = p
    }
  }
  return out ?? value
}

function prepareObject (value: Record<string, unknown>, plain: boolean, depth: number, maxDepth: number): unknown {
  const keys = Object.keys(value)
  const prepared = new Array<unknown>(keys.length)
  let asIs = plain
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]
    const v = value[key]
    if (v === undefined) {
      asIs = false
      continue
    }
    if (key === '__proto__') {
      throw new WireError('ERR_WIRE_BAD_KEY', 'cannot encode the key "__proto__"; rename the field.')
    }
    if (!isWellFormed(key)) {
      throw new WireError('ERR_WIRE_BAD_UTF8', 'cannot encode a map key with a lone UTF-16 surrogate; expected well-formed text.')
    }
    if (i > 0 && asIs && compareUtf8(keys[i - 1], key) >= 0) asIs = false
    const p = prepare(v, depth + 1, maxDepth)
    prepared[i] = p
    if (p !== v) asIs = false
  }
  if (asIs) return value
  const order = keys.map((_, i) => i).filter((i) => value[keys[i]] !== undefined)
  order.sort((a, b) => compareUtf8(keys[a], keys[b]))
  const map = new Map<string, unknown>()
  for (const i of order) map.set(keys[i], prepared[i])
  return map
}

/** Compares two well-formed strings by their UTF-8 bytes (code-unit order differs only around surrogates). */
function compareUtf8 (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      if (x < 0xd800 && y < 0xd800) return x - y
      return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
    }
  }
  return a.length - b.length
}

/** String.prototype.isWellFormed (ES2024, Node ≥ 20): no lone UTF-16 surrogates. */
function isWellFormed (s: string): boolean {
  return (s as unknown as { isWellFormed: () => boolean }).isWellFormed()
}

function forbidden (value: unknown): never {
  throw new WireError('ERR_WIRE_FORBIDDEN_TYPE', `cannot encode ${describe(value)}; expected null, boolean, finite number, string, Uint8Array, array or plain object.`)
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'a null-prototype object'}`
  return `a ${typeof value}`
}
