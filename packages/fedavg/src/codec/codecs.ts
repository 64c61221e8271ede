/**
 * Delta codecs: fp32, fp16, int8 (absmax scale per tensor or per row) and top-k with int8 values. The
 * encoded bytes are self-describing (magic, version, codec, shapes) and the exact layout is specified in
 * protocol/codecs.md. Decoding checks every length against the bytes actually present before reading or
 * allocating, so hostile input gives a `CodecError`, never a crash or an allocation larger than the model.
 */
import { FP16_MAX, INT8_MAX, MAX_MODEL_PARAMS, MAX_TENSOR_RANK, MAX_TENSORS } from '../constants.js'
import { CodecError, InvalidConfigError } from '../errors.js'
import { sameShape, shapeSize, type ModelSpec, type Shape } from '../spec.js'
import { ByteReader, ByteWriter } from './bytes.js'
import { halfTable, toHalfBits } from './half.js'
import { topKIndices } from './topk.js'

/** Codec names. */
export type CodecName = 'fp32' | 'fp16' | 'int8' | 'int8-row' | 'topk-int8'

/** The codec names, for CLI choices. */
export const CODEC_NAMES: readonly CodecName[] = ['fp32', 'fp16', 'int8', 'int8-row', 'topk-int8']

/** Codec id byte in the header (0 is never valid). */
const CODEC_IDS: Record<CodecName, number> = { fp32: 1, fp16: 2, int8: 3, 'int8-row': 4, 'topk-int8': 5 }

/** Encoded delta magic, "STDL" (swarmtune delta). */
export const DELTA_MAGIC = Uint8Array.of(0x53, 0x54, 0x44, 0x4c)
/** Version of the encoded delta layout written by this code. */
export const DELTA_FORMAT_VERSION = 1
const HEADER_BYTES = 12

/** Codec options; `fraction` (0 < f ≤ 1) is the share of each tensor's coordinates `topk-int8` keeps. */
export interface CodecOptions {
  readonly codec: CodecName
  readonly fraction?: number
}

/** Default codec options: fp32 (lossless); top-k keeps 1% of coordinates when chosen without a fraction. */
export const CODEC_DEFAULTS = { codec: 'fp32', fraction: 0.01 } as const

/** Fills defaults and validates. @throws InvalidConfigError */
export function createCodecOptions (partial: Partial<CodecOptions> = {}): CodecOptions {
  const o: CodecOptions = { ...CODEC_DEFAULTS, ...partial }
  validateCodecOptions(o)
  return o
}

/** @throws InvalidConfigError for an unknown codec or a fraction outside (0, 1]. */
export function validateCodecOptions (o: CodecOptions): void {
  if (!CODEC_NAMES.includes(o.codec)) {
    throw new InvalidConfigError(`unknown codec ${JSON.stringify(o.codec)}; expected one of ${CODEC_NAMES.join(', ')}`)
  }
  if (o.codec === 'topk-int8' && !(typeof o.fraction === 'number' && o.fraction > 0 && o.fraction <= 1)) {
    throw new InvalidConfigError(`topk-int8 needs a fraction in (0, 1], got ${String(o.fraction)}`)
  }
}

/** Coordinates top-k keeps of a tensor of n elements: ⌈fraction·n⌉, at least 1, at most n. */
export function topKCount (n: number, fraction: number): number {
  return Math.min(n, Math.max(1, Math.ceil(fraction * n)))
}

/** Rows of a tensor for per-row scales: the first dimension of a rank ≥ 2 tensor, else 1. */
export function rowsOf (shape: Shape): number {
  return shape.length >= 2 ? shape[0] : 1
}

/** A decoded delta: the codec it used, the shapes it declared and its values. */
export interface DecodedDelta {
  readonly codec: CodecName
  readonly shapes: Shape[]
  readonly tensors: Float32Array[]
}

function headerSize (shapes: readonly Shape[]): number {
  return HEADER_BYTES + shapes.reduce((s, sh) => s + 1 + 4 * sh.length, 0)
}

function payloadSize (shape: Shape, o: CodecOptions): number {
  const n = shapeSize(shape)
  switch (o.codec) {
    case 'fp32': return 4 * n
    case 'fp16': return 2 * n
    case 'int8': return 4 + n
    case 'int8-row': return 4 * rowsOf(shape) + n
    case 'topk-int8': {
      const k = topKCount(n, o.fraction ?? CODEC_DEFAULTS.fraction)
      return 4 + 4 * k + 4 + k
    }
  }
}

/** Exact size in bytes of a delta over `spec` encoded with `o`. */
export function encodedSize (spec: ModelSpec, o: CodecOptions): number {
  return headerSize(spec.shapes) + spec.shapes.reduce((s, sh) => s + payloadSize(sh, o), 0)
}

/** int8 scale for a magnitude bound: float32(absmax / 127). */
function int8Scale (max: number): number {
  return Math.fround(max / INT8_MAX)
}

/** q = clamp(round(x / scale), −127, 127); 0 when scale is 0. */
function quantize (x: number, scale: number): number {
  if (scale === 0) return 0
  const q = Math.round(x / scale)
  return q > INT8_MAX ? INT8_MAX : q < -INT8_MAX ? -INT8_MAX : q
}

function checkLayout (tensors: readonly Float32Array[], spec: ModelSpec): void {
  if (tensors.length !== spec.sizes.length || tensors.some((x, t) => !(x instanceof Float32Array) || x.length !== spec.sizes[t])) {
    throw new CodecError('ERR_FEDAVG_CODEC_MALFORMED', `cannot encode: the delta is not laid out as the model spec (${spec.sizes.length} tensors of sizes ${spec.sizes.join(', ')})`)
  }
}

function notFinite (x: Float32Array, t: number): never {
  const i = x.findIndex((v) => !Number.isFinite(v))
  throw new CodecError('ERR_FEDAVG_CODEC_RANGE', `cannot encode tensor ${t}: value ${x[i]} at index ${i} is not finite`)
}

/** Largest |x| over [from, to); throws `ERR_FEDAVG_CODEC_RANGE` if a value is not finite. */
function finiteAbsmax (x: Float32Array, t: number, from = 0, to = x.length): number {
  let m = 0
  for (let i = from; i < to; i++) {
    const a = Math.abs(x[i])
    if (!(a <= m)) {
      if (Number.isNaN(a) || a === Infinity) notFinite(x, t)
      m = a
    }
  }
  return m
}

/**
 * Encodes a delta laid out as `spec` (one Float32Array per tensor).
 * @returns bytes in the layout of protocol/codecs.md; their length is `encodedSize(spec, options)`.
 * @throws InvalidConfigError for bad options; CodecError `ERR_FEDAVG_CODEC_MALFORMED` if the delta is not
 *   laid out as `spec`, `ERR_FEDAVG_CODEC_RANGE` for a non-finite value or, with fp16, |x| > 65504.
 */
export function encodeDelta (tensors: readonly Float32Array[], spec: ModelSpec, options: CodecOptions): Uint8Array {
  validateCodecOptions(options)
  checkLayout(tensors, spec)
  const w = new ByteWriter(encodedSize(spec, options))
  w.array(DELTA_MAGIC)
  w.u8(DELTA_FORMAT_VERSION)
  w.u8(CODEC_IDS[options.codec])
  w.u16(0)
  w.u32(spec.shapes.length)
  for (const shape of spec.shapes) {
    w.u8(shape.length)
    for (const d of shape) w.u32(d)
  }
  spec.shapes.forEach((shape, t) => encodeTensor(w, tensors[t], t, shape, options))
  return w.bytes
}

function encodeTensor (w: ByteWriter, x: Float32Array, t: number, shape: Shape, o: CodecOptions): void {
  const n = x.length
  switch (o.codec) {
    case 'fp32':
      finiteAbsmax(x, t)
      w.array(x)
      return
    case 'fp16': {
      const bits = new Uint32Array(x.buffer, x.byteOffset, n)
      const h = new Uint16Array(n)
      for (let i = 0; i < n; i++) {
        const v = toHalfBits(bits[i])
        if ((v & 0x7c00) === 0x7c00 || Math.abs(x[i]) > FP16_MAX) {
          if (!Number.isFinite(x[i])) notFinite(x, t)
          throw new CodecError('ERR_FEDAVG_CODEC_RANGE', `cannot encode tensor ${t} as fp16: |${x[i]}| at index ${i} exceeds ${FP16_MAX}; use fp32 or int8`)
        }
        h[i] = v
      }
      w.array(h)
      return
    }
    case 'int8': {
      const scale = int8Scale(finiteAbsmax(x, t))
      const q = new Int8Array(n)
      quantizeInto(q, x, 0, n, scale)
      w.f32(scale)
      w.array(q)
      return
    }
    case 'int8-row': {
      const rows = rowsOf(shape)
      const cols = n / rows
      const scales = new Float32Array(rows)
      const q = new Int8Array(n)
      for (let r = 0; r < rows; r++) {
        const scale = int8Scale(finiteAbsmax(x, t, r * cols, (r + 1) * cols))
        scales[r] = scale
        quantizeInto(q, x, r * cols, (r + 1) * cols, scale)
      }
      w.array(scales)
      w.array(q)
      return
    }
    case 'topk-int8': {
      finiteAbsmax(x, t)
      const k = topKCount(n, o.fraction ?? CODEC_DEFAULTS.fraction)
      const idx = topKIndices(x, k)
      let max = 0
      for (let j = 0; j < k; j++) max = Math.max(max, Math.abs(x[idx[j]]))
      const scale = int8Scale(max)
      const q = new Int8Array(k)
      for (let j = 0; j < k; j++) q[j] = quantize(x[idx[j]], scale)
      w.u32(k)
      w.array(idx)
      w.f32(scale)
      w.array(q)
    }
  }
}

/** q[i] = quantize(x[i], scale) for i in [from, to). */
function quantizeInto (q: Int8Array, x: Float32Array, from: number, to: number, scale: number): void {
  if (scale === 0) return
  // |x| ≤ absmax and scale = float32(absmax / 127) is within 2^-24 of absmax / 127, so |x / scale| < 127.5:
  // round() already lands in [−127, 127] and the clamp of the layout never binds.
  for (let i = from; i < to; i++) q[i] = Math.round(x[i] / scale)
}

/** Options of `decodeDelta`. */
export interface DecodeOptions {
  /** Expected layout (the base release's): shapes must match before any payload is read or allocated. */
  readonly spec?: ModelSpec
  /** Without a spec: largest parameter count accepted (default `MAX_MODEL_PARAMS`). */
  readonly maxParams?: number
}

function malformed (what: string): never {
  throw new CodecError('ERR_FEDAVG_CODEC_MALFORMED', `encoded delta is malformed: ${what}`)
}

/**
 * Decodes bytes written by `encodeDelta`. Size checks come first: the header, then every declared shape
 * against `options.spec` (or against `maxParams`), then each payload length against the bytes present;
 * the bytes must end exactly where the layout does. Values are not checked for finiteness here: that is
 * the aggregator's validation (`checkContribution`).
 * @throws CodecError: `ERR_FEDAVG_CODEC_TRUNCATED` (too short), `ERR_FEDAVG_CODEC_MAGIC` (not a delta),
 *   `ERR_FEDAVG_CODEC_VERSION` (unknown version), `ERR_FEDAVG_CODEC_UNKNOWN` (unknown codec id),
 *   `ERR_FEDAVG_CODEC_TOO_LARGE` (more tensors, rank or parameters than allowed),
 *   `ERR_FEDAVG_CODEC_MALFORMED` (shapes differ from the spec, bad scale or index, reserved bits, trailing bytes).
 */
export function decodeDelta (bytes: Uint8Array, options: DecodeOptions = {}): DecodedDelta {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('ERR_FEDAVG_CODEC_MALFORMED', 'encoded delta must be a Uint8Array')
  const r = new ByteReader(bytes)
  r.need(HEADER_BYTES, 'the header')
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== DELTA_MAGIC[i]) throw new CodecError('ERR_FEDAVG_CODEC_MAGIC', 'bytes do not start with the delta magic "STDL"; they are not an encoded swarmtune delta')
  }
  r.offset = 4
  const version = r.u8('version')
  if (version !== DELTA_FORMAT_VERSION) throw new CodecError('ERR_FEDAVG_CODEC_VERSION', `encoded delta version ${version} is not supported (this build reads version ${DELTA_FORMAT_VERSION}); upgrade swarmtune`)
  const codecId = r.u8('codec')
  const codec = CODEC_NAMES.find((c) => CODEC_IDS[c] === codecId)
  if (codec === undefined) throw new CodecError('ERR_FEDAVG_CODEC_UNKNOWN', `codec id ${codecId} is unknown; expected 1–${CODEC_NAMES.length}`)
  if (r.u16('flags') !== 0) malformed('reserved flags are not zero')
  const count = r.u32('tensor count')
  if (count === 0 || count > MAX_TENSORS) throw new CodecError('ERR_FEDAVG_CODEC_TOO_LARGE', `tensor count ${count} is outside 1–${MAX_TENSORS}`)
  const spec = options.spec
  if (spec !== undefined && count !== spec.shapes.length) malformed(`it lists ${count} tensors, the release has ${spec.shapes.length}`)
  r.need(count, 'the shapes')
  const maxParams = spec?.params ?? Math.min(options.maxParams ?? MAX_MODEL_PARAMS, MAX_MODEL_PARAMS)
  const shapes: number[][] = []
  let params = 0
  for (let t = 0; t < count; t++) {
    const rank = r.u8(`rank of tensor ${t}`)
    if (rank > MAX_TENSOR_RANK) throw new CodecError('ERR_FEDAVG_CODEC_TOO_LARGE', `tensor ${t} has rank ${rank}, above ${MAX_TENSOR_RANK}`)
    const shape: number[] = []
    let n = 1
    for (let i = 0; i < rank; i++) {
      const d = r.u32(`dimension ${i} of tensor ${t}`)
      if (d === 0) malformed(`tensor ${t} has a zero dimension`)
      n *= d
      if (n > maxParams) throw new CodecError('ERR_FEDAVG_CODEC_TOO_LARGE', `tensor ${t} has more than ${maxParams} elements`)
      shape.push(d)
    }
    params += n
    if (params > maxParams) throw new CodecError('ERR_FEDAVG_CODEC_TOO_LARGE', `the delta has more than ${maxParams} parameters`)
    if (spec !== undefined && !sameShape(shape, spec.shapes[t])) malformed(`tensor ${t} is [${shape.join(', ')}], the release has [${spec.shapes[t].join(', ')}]`)
    shapes.push(shape)
  }
  const tensors = shapes.map((shape, t) => decodeTensor(r, codec, shape, t))
  if (r.remaining !== 0) malformed(`${r.remaining} trailing bytes after the last tensor`)
  return { codec, shapes, tensors }
}

function readScale (r: ByteReader, what: string): number {
  const s = r.f32(what)
  if (!Number.isFinite(s) || s < 0) malformed(`${what} is ${s}, expected a finite number ≥ 0`)
  return s
}

function decodeTensor (r: ByteReader, codec: CodecName, shape: Shape, t: number): Float32Array {
  const n = shapeSize(shape)
  switch (codec) {
    case 'fp32':
      return r.f32s(n, `tensor ${t}`)
    case 'fp16': {
      const h = r.u16s(n, `tensor ${t}`)
      const table = halfTable()
      const out = new Float32Array(n)
      for (let i = 0; i < n; i++) out[i] = table[h[i]]
      return out
    }
    case 'int8': {
      r.need(4 + n, `tensor ${t}`)
      const scale = readScale(r, `scale of tensor ${t}`)
      const q = r.i8s(n, `tensor ${t}`)
      const out = new Float32Array(n)
      for (let i = 0; i < n; i++) out[i] = q[i] * scale
      return out
    }
    case 'int8-row': {
      const rows = rowsOf(shape)
      const cols = n / rows
      r.need(4 * rows + n, `tensor ${t}`)
      const scales = r.f32s(rows, `row scales of tensor ${t}`)
      for (let i = 0; i < rows; i++) {
        if (!Number.isFinite(scales[i]) || scales[i] < 0) malformed(`row ${i} scale of tensor ${t} is ${scales[i]}, expected a finite number ≥ 0`)
      }
      const q = r.i8s(n, `tensor ${t}`)
      const out = new Float32Array(n)
      for (let row = 0; row < rows; row++) {
        const s = scales[row]
        for (let i = row * cols; i < (row + 1) * cols; i++) out[i] = q[i] * s
      }
      return out
    }
    case 'topk-int8': {
      const k = r.u32(`k of tensor ${t}`)
      if (k > n) malformed(`tensor ${t} keeps k = ${k} of only ${n} coordinates`)
      r.need(4 * k + 4 + k, `tensor ${t}`)
      const idx = r.u32s(k, `indices of tensor ${t}`)
      for (let j = 0; j < k; j++) {
        if (idx[j] >= n || (j > 0 && idx[j] <= idx[j - 1])) malformed(`tensor ${t}: index ${idx[j]} at position ${j} is out of range or not strictly ascending`)
      }
      const scale = readScale(r, `scale of tensor ${t}`)
      const q = r.i8s(k, `values of tensor ${t}`)
      const out = new Float32Array(n)
      for (let j = 0; j < k; j++) out[idx[j]] = q[j] * scale
      return out
    }
  }
}
