/**
 * Reader for IDX files, the format of the MNIST distribution (LeCun, Cortes & Burges, "THE MNIST DATABASE of
 * handwritten digits", http://yann.lecun.com/exdb/mnist/ — "FILE FORMATS FOR THE MNIST DATABASE"):
 *
 *   bytes 0–1  zero; byte 2  element type (0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32,
 *   0x0E float64); byte 3  number of dimensions d; then d big-endian uint32 sizes; then the data, big-endian,
 *   row-major.
 */
import { open } from 'node:fs/promises'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { MAX_IDX_BYTES } from '../constants.js'
import { IdxFormatError } from '../errors.js'

const gunzipAsync = promisify(gunzip)

/** Element type names of IDX files. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64'

/** A decoded IDX tensor: `data` holds `product(shape)` elements, row-major, in host byte order. */
export interface IdxTensor {
  dtype: IdxDtype
  shape: number[]
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array
}

const TYPES: Record<number, { dtype: IdxDtype, bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 }
}

/** Parsed IDX header: element type, shape and the byte offset where the data starts. */
export interface IdxHeader {
  dtype: IdxDtype
  elementBytes: number
  shape: number[]
  dataOffset: number
}

/**
 * Parses an IDX header from the first bytes of a file.
 * @throws IdxFormatError on a bad magic number, unknown type, zero dimensions or a truncated header.
 */
export function parseIdxHeader (bytes: Uint8Array): IdxHeader {
  if (bytes.length < 4) throw new IdxFormatError(`IDX data is ${bytes.length} bytes: a header needs at least 4`)
  if (isGzip(bytes)) {
    throw new IdxFormatError('this is a gzip file (it starts with the gzip magic 1f 8b), not an IDX file: unpack it with `gunzip <file>`, or read it with readIdxFile, which unpacks .gz files itself')
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxFormatError(`not an IDX file: the first two bytes are ${bytes[0]}, ${bytes[1]}; expected 0, 0`)
  }
  const type = TYPES[bytes[2]]
  if (type === undefined) {
    throw new IdxFormatError(`IDX element type 0x${bytes[2].toString(16)} is unknown: expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E`)
  }
  const rank = bytes[3]
  if (rank === 0) throw new IdxFormatError('IDX file declares 0 dimensions: expected at least 1')
  const dataOffset = 4 + 4 * rank
  if (bytes.length < dataOffset) {
    throw new IdxFormatError(`IDX header declares ${rank} dimensions but only ${bytes.length} header bytes were given; expected ${dataOffset}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const shape: number[] = []
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false))
  return { dtype: type.dtype, elementBytes: type.bytes, shape, dataOffset }
}

/**
 * Decodes a whole IDX file held in memory. With `limit`, only the first `limit` items (along dimension 0) are
 * decoded and `shape[0]` is reduced accordingly.
 * @throws IdxFormatError when the header is malformed or the data length disagrees with the declared shape.
 */
export function decodeIdx (bytes: Uint8Array, limit?: number): IdxTensor {
  const h = parseIdxHeader(bytes)
  const items = limit === undefined ? h.shape[0] : Math.min(h.shape[0], limit)
  const shape = [items, ...h.shape.slice(1)]
  const count = shape.reduce((a, b) => a * b, 1)
  const declared = h.shape.reduce((a, b) => a * b, 1)
  const available = bytes.length - h.dataOffset
  if (limit === undefined ? available !== declared * h.elementBytes : available < count * h.elementBytes) {
    throw new IdxFormatError(`IDX data holds ${available} bytes but the header declares shape [${h.shape.join(', ')}] of ${h.dtype} (${declared * h.elementBytes} bytes): the file is truncated or not an IDX file`)
  }
  return { dtype: h.dtype, shape, data: decodeElements(bytes.subarray(h.dataOffset, h.dataOffset + count * h.elementBytes), h.dtype, count) }
}

function decodeElements (raw: Uint8Array, dtype: IdxDtype, count: number): IdxTensor['data'] {
  if (dtype === 'uint8') return Uint8Array.from(raw)
  if (dtype === 'int8') return new Int8Array(Uint8Array.from(raw).buffer)
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  switch (dtype) {
    case 'int16': { const out = new Int16Array(count); for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, false); return out }
    case 'int32': { const out = new Int32Array(count); for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, false); return out }
    case 'float32': { const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, false); return out }
    default: { const out = new Float64Array(count); for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, false); return out }
  }
}

/** true when `bytes` start with the gzip magic number 1f 8b (RFC 1952, section 2.3.1). */
function isGzip (bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
}

/**
 * Unpacks a gzipped IDX file (as MNIST is distributed: `train-images-idx3-ubyte.gz`) in memory, refusing more
 * than `maxBytes` unpacked bytes, and decodes it with the same size check as an unpacked file.
 * @throws IdxFormatError when the gzip data is corrupt, unpacks to more than `maxBytes`, or the IDX inside is malformed.
 */
async function readGzippedIdx (path: string, packed: Uint8Array, maxBytes: number, limit: number | undefined): Promise<IdxTensor> {
  let bytes: Uint8Array
  try {
    bytes = await gunzipAsync(packed, { maxOutputLength: maxBytes })
  } catch (err) {
    const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
    throw new IdxFormatError(tooLarge
      ? `gzipped IDX file ${path} unpacks to more than ${maxBytes} bytes, the most accepted`
      : `gzipped IDX file ${path} cannot be unpacked (${(err as Error).message}): the file is truncated or corrupt; download it again`, { cause: err })
  }
  const h = parseIdxHeader(bytes)
  const declaredBytes = h.dataOffset + h.shape.reduce((a, b) => a * b, 1) * h.elementBytes
  if (declaredBytes !== bytes.length) {
    throw new IdxFormatError(`gzipped IDX file ${path} unpacks to ${bytes.length} bytes but its header declares shape [${h.shape.join(', ')}] of ${h.dtype} (${declaredBytes} bytes): the file is truncated or has trailing data`)
  }
  return decodeIdx(bytes, limit === undefined ? undefined : Math.max(0, limit))
}

/**
 * Reads an IDX file from disk, checking its size against the header before reading the data. With `limit`, only
 * the first `limit` items are read from disk. A gzipped file (the gzip magic 1f 8b, as MNIST is distributed) is
 * unpacked in memory first, at most `maxBytes` unpacked.
 * @param path file path
 * @param options.limit read at most this many items (along dimension 0)
 * @param options.maxBytes refuse files (packed or unpacked) larger than this many bytes (default `MAX_IDX_BYTES`, 256 MiB)
 * @throws IdxFormatError when the file is too large, malformed or truncated; the fs error (ENOENT …) as `cause`.
 */
export async function readIdxFile (path: string, options: { limit?: number, maxBytes?: number } = {}): Promise<IdxTensor> {
  const maxBytes = options.maxBytes ?? MAX_IDX_BYTES
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    throw new IdxFormatError(`cannot open IDX file ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const { size } = await fh.stat()
    if (size > maxBytes) {
      throw new IdxFormatError(`IDX file ${path} is ${size} bytes; at most ${maxBytes} are accepted`)
    }
    const head = new Uint8Array(Math.min(size, 4 + 4 * 255))
    await fh.read(head, 0, head.length, 0)
    if (isGzip(head)) {
      const packed = new Uint8Array(size)
      await fh.read(packed, 0, size, 0)
      return await readGzippedIdx(path, packed, maxBytes, options.limit)
    }
    const h = parseIdxHeader(head)
    const items = options.limit === undefined ? h.shape[0] : Math.min(h.shape[0], Math.max(0, options.limit))
    const perItem = h.shape.slice(1).reduce((a, b) => a * b, 1) * h.elementBytes
    const declaredBytes = h.dataOffset + h.shape[0] * perItem
    if (declaredBytes !== size) {
      throw new IdxFormatError(`IDX file ${path} is ${size} bytes but its header declares shape [${h.shape.join(', ')}] of ${h.dtype} (${declaredBytes} bytes): the file is truncated or has trailing data`)
    }
    const bytes = new Uint8Array(h.dataOffset + items * perItem)
    await fh.read(bytes, 0, bytes.length, 0)
    return decodeIdx(bytes, items)
  } finally {
    await fh.close()
  }
}
