/**
 * safetensors files (Hugging Face, https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian
 * unsigned header length N, N bytes of UTF-8 JSON `{ "__metadata__": { string: string }, "<name>": { "dtype":
 * "F32", "shape": [...], "data_offsets": [begin, end] }, … }` (offsets relative to the byte after the header),
 * then the tensor bytes, little-endian, row-major, with no holes. The header is padded with spaces to a multiple
 * of 8 bytes, as the reference writer does. F32 tensors are written, and on request F16 and BF16 ones holding
 * values those types represent exactly; F32 and — for Hugging Face checkpoints, on request — F16 and BF16 are
 * read, converted exactly to float32 (every F16 and BF16 value is a float32 value).
 */
import { readFile, stat } from 'node:fs/promises'
import { MAX_RELEASE_BYTES, MAX_RELEASE_TENSORS, MAX_SAFETENSORS_HEADER_BYTES, MAX_TENSOR_RANK } from '../constants.js'
import { InvalidWeightsError, ModelFormatError } from '../errors.js'
import type { Weights } from '../weights.js'
import { sizeOf, validateSpecs, validateWeights } from '../weights.js'

/** Bytes of the header-length prefix (u64 little-endian). */
const LENGTH_PREFIX_BYTES = 8
/** Header alignment the reference writer pads to. */
const HEADER_ALIGN_BYTES = 8

/** Tensor dtypes `decodeSafetensors` can read (safetensors' names). */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16'
const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 }

/** Options of `decodeSafetensors`. */
export interface DecodeSafetensorsOptions {
  /** dtypes accepted (default `['F32']`); others are `ERR_MODEL_SAFETENSORS_MALFORMED`. */
  dtypes?: readonly SafetensorsDtype[]
  /** Names for messages, e.g. the file's path. */
  origin?: string
}

/** IEEE 754 binary16 → the same number as float32 (exact: subnormals, infinities and NaN included). */
function halfToFloat (h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN
  return sign * (1024 + frac) * 2 ** (exp - 25)
}

/** Little-endian tensor bytes of `dtype` as float32 values. */
function toFloat32 (bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  if (dtype === 'F32') {
    const v = new Float32Array(bytes.length / 4)
    new Uint8Array(v.buffer).set(bytes)
    return v
  }
  const n = bytes.length / 2
  const out = new Float32Array(n)
  if (dtype === 'BF16') {
    // bfloat16 is the high half of a float32
    const u = new Uint32Array(out.buffer)
    for (let i = 0; i < n; i++) u[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(bytes[2 * i] | (bytes[2 * i + 1] << 8))
  }
  return out
}

const malformed = (why: string): ModelFormatError => new ModelFormatError('ERR_MODEL_SAFETENSORS_MALFORMED', `safetensors data is malformed: ${why}`)

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/**
 * The binary16 bits of a float32 value it holds exactly (normal, subnormal, ±0, ±∞; NaN as the quiet NaN
 * 0x7e00), or −1 when binary16 cannot hold it.
 */
function floatToHalf (v: number): number {
  if (Number.isNaN(v)) return 0x7e00
  f32[0] = v
  const bits = u32[0]
  const sign = (bits >>> 16) & 0x8000
  const a = Math.abs(v)
  if (a === Infinity) return sign | 0x7c00
  if (a === 0) return sign
  const exp = ((bits >>> 23) & 0xff) - 127
  if (exp > 15) return -1
  if (exp >= -14) return (bits & 0x1fff) === 0 ? sign | ((exp + 15) << 10) | ((bits >>> 13) & 0x3ff) : -1
  const frac = a * 2 ** 24 // a subnormal half: frac × 2^−24, frac < 1024
  return Number.isInteger(frac) ? sign | frac : -1
}

/** `values` as little-endian bytes of `dtype`. @throws InvalidWeightsError naming the first value F16 or BF16 cannot hold exactly. */
function fromFloat32 (values: Float32Array, dtype: SafetensorsDtype, name: string): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  const out = new Uint16Array(values.length)
  const inexact = (i: number): InvalidWeightsError => new InvalidWeightsError(`tensor ${name} cannot be stored as ${dtype}: its value ${values[i]} at index ${i} is not a ${dtype} value; store it as F32`)
  if (dtype === 'BF16') {
    const u = new Uint32Array(values.buffer, values.byteOffset, values.length)
    for (let i = 0; i < values.length; i++) {
      if (Number.isNaN(values[i])) out[i] = 0x7fc0
      else if ((u[i] & 0xffff) !== 0) throw inexact(i)
      else out[i] = u[i] >>> 16
    }
  } else {
    for (let i = 0; i < values.length; i++) {
      const h = floatToHalf(values[i])
      if (h < 0) throw inexact(i)
      out[i] = h
    }
  }
  // Uint16Array is platform-endian; every supported platform (x64, arm64) is little-endian, which safetensors needs
  return new Uint8Array(out.buffer)
}

/** Options of `encodeSafetensors`. */
export interface EncodeSafetensorsOptions {
  /** Each tensor's stored dtype, in spec order (default all F32); F16 and BF16 only for values they hold exactly. */
  dtypes?: readonly SafetensorsDtype[]
}

/**
 * Encodes weights as a safetensors file, tensors in spec order.
 * @param metadata free-form string pairs stored under `__metadata__`
 * @throws InvalidWeightsError for weights that do not match their specs, `options.dtypes` of another length, or a
 *   value its F16 / BF16 dtype cannot hold exactly (nothing is rounded).
 */
export function encodeSafetensors (weights: Weights, metadata: Record<string, string> = {}, options: EncodeSafetensorsOptions = {}): Uint8Array {
  validateWeights(weights)
  const dtypes = options.dtypes ?? weights.specs.map(() => 'F32' as const)
  if (dtypes.length !== weights.specs.length) throw new InvalidWeightsError(`${dtypes.length} dtypes for ${weights.specs.length} tensors`)
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata }
  let at = 0
  const data = weights.specs.map((s, i) => fromFloat32(weights.values[i], dtypes[i], s.name))
  weights.specs.forEach((s, i) => {
    const end = at + data[i].byteLength
    header[s.name] = { dtype: dtypes[i], shape: [...s.shape], data_offsets: [at, end] }
    at = end
  })
  let json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.length / HEADER_ALIGN_BYTES) * HEADER_ALIGN_BYTES
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20)
    p.set(json)
    json = p
  }
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + json.length + at)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, LENGTH_PREFIX_BYTES)
  let off = LENGTH_PREFIX_BYTES + json.length
  for (const d of data) {
    out.set(d, off)
    off += d.byteLength
  }
  return out
}

/**
 * Decodes a safetensors file: checks the header length, JSON, every entry (an accepted dtype, integer shape,
 * offsets inside the data and tiling it without holes or overlap) and returns the tensors ordered by their data
 * offset, as float32, with each one's stored dtype in `dtypes` (same order).
 * @throws ModelFormatError ERR_MODEL_SAFETENSORS_MALFORMED naming the first problem (and `options.origin`).
 */
export function decodeSafetensors (bytes: Uint8Array, options: DecodeSafetensorsOptions = {}): { weights: Weights, metadata: Record<string, string>, dtypes: SafetensorsDtype[] } {
  try {
    return decode(bytes, options.dtypes ?? ['F32'])
  } catch (err) {
    if (options.origin !== undefined && err instanceof ModelFormatError) throw new ModelFormatError(err.code, `${options.origin}: ${err.message}`)
    throw err
  }
}

function decode (bytes: Uint8Array, accepted: readonly SafetensorsDtype[]): { weights: Weights, metadata: Record<string, string>, dtypes: SafetensorsDtype[] } {
  if (bytes.length < LENGTH_PREFIX_BYTES) throw malformed(`${bytes.length} bytes is shorter than the 8-byte header length`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = view.getBigUint64(0, true)
  if (n > BigInt(Math.min(MAX_SAFETENSORS_HEADER_BYTES, bytes.length - LENGTH_PREFIX_BYTES))) {
    throw malformed(`header length ${n} exceeds the file (${bytes.length} bytes) or the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`)
  }
  const headerBytes = Number(n)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + headerBytes)))
  } catch (err) {
    throw malformed(`the header is not UTF-8 JSON (${(err as Error).message})`)
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw malformed('the header is not a JSON object')
  const dataStart = LENGTH_PREFIX_BYTES + headerBytes
  const dataBytes = bytes.length - dataStart
  const metadata: Record<string, string> = {}
  const entries: Array<{ name: string, shape: number[], dtype: SafetensorsDtype, begin: number, end: number }> = []
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw malformed('__metadata__ must map strings to strings')
      }
      Object.assign(metadata, raw)
      continue
    }
    const e = raw as { dtype?: unknown, shape?: unknown, data_offsets?: unknown }
    if (e === null || typeof e !== 'object') throw malformed(`entry ${name} is not an object`)
    if (typeof e.dtype !== 'string' || !(accepted as readonly string[]).includes(e.dtype)) throw malformed(`tensor ${name} has dtype ${JSON.stringify(e.dtype)}; ${accepted.join(', ')} ${accepted.length === 1 ? 'is' : 'are'} supported here`)
    const dtype = e.dtype as SafetensorsDtype
    if (!Array.isArray(e.shape) || e.shape.length > MAX_TENSOR_RANK || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw malformed(`tensor ${name} has shape ${JSON.stringify(e.shape)}: expected up to ${MAX_TENSOR_RANK} non-negative integers`)
    }
    const off = e.data_offsets
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1] || off[1] > dataBytes) {
      throw malformed(`tensor ${name} has data_offsets ${JSON.stringify(off)}: expected [begin, end] within the ${dataBytes} data bytes`)
    }
    const want = sizeOf(e.shape as number[]) * DTYPE_BYTES[dtype]
    if (off[1] - off[0] !== want) throw malformed(`tensor ${name} spans ${off[1] - off[0]} bytes; its shape [${(e.shape as number[]).join(', ')}] of ${dtype} needs ${want}`)
    entries.push({ name, shape: e.shape as number[], dtype, begin: off[0], end: off[1] })
  }
  if (entries.length > MAX_RELEASE_TENSORS) throw malformed(`${entries.length} tensors; at most ${MAX_RELEASE_TENSORS} are accepted`)
  entries.sort((a, b) => a.begin - b.begin)
  let at = 0
  for (const e of entries) {
    if (e.begin !== at) throw malformed(`tensor ${e.name} starts at data byte ${e.begin}; expected ${at} (no holes or overlaps)`)
    at = e.end
  }
  if (at !== dataBytes) throw malformed(`tensors cover ${at} data bytes but the file holds ${dataBytes}`)
  const weights: Weights = {
    specs: entries.map((e) => ({ name: e.name, shape: e.shape, dtype: 'float32' as const })),
    values: entries.map((e) => toFloat32(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype))
  }
  try {
    validateSpecs(weights.specs)
  } catch (err) {
    throw malformed((err as Error).message)
  }
  return { weights, metadata, dtypes: entries.map((e) => e.dtype) }
}

/**
 * Reads a safetensors file (at most `MAX_RELEASE_BYTES` plus the header).
 * @throws ModelFormatError ERR_MODEL_SAFETENSORS_MALFORMED, fs errors.
 */
export async function readSafetensors (path: string): Promise<{ weights: Weights, metadata: Record<string, string> }> {
  const { size } = await stat(path)
  if (size > MAX_RELEASE_BYTES + MAX_SAFETENSORS_HEADER_BYTES) throw malformed(`${path} is ${size} bytes; too large`)
  return decodeSafetensors(new Uint8Array(await readFile(path)))
}
