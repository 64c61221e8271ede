/**
 * Messages of the blob stream protocol (`BLOB_PROTOCOL`, `/swarmtune/blob/1.0.0`; doc/daemon.md, "Blob
 * protocol"). Every frame is an unsigned-varint length prefix and a body. Requests and response headers are
 * canonical msgpack maps (decoded through `@swarmtune/wire`'s hardened `decodeCanonical`, then
 * schema-checked); chunk data follows its header as a raw frame.
 *
 * ```
 * → { op: 'table', cid }                      ← { ok: true, size, chunkBytes, hashes }   | error
 * → { op: 'chunk', cid, index }               ← { ok: true, index, length } <raw frame>   | error
 *   error = { ok: false, code: 'not-found' | 'busy' | 'bad-request' | 'corrupt', reason }
 * ```
 * A client may send several requests before reading the responses; the provider answers in order.
 */
import { decodeCanonical, encodeCanonical, parseCid, type CID } from '@swarmtune/wire'
import { z } from 'zod'
import { chunkCount } from './blob-store.js'
import { BlobProtocolError } from './errors.js'
import { SHA2_256_BYTES } from './cid.js'
import { BLOB_MAX_CHUNK_BYTES, BLOB_MAX_CHUNK_HEADER_BYTES, BLOB_MAX_HEADER_BYTES, BLOB_MAX_REQUEST_BYTES, BLOB_MIN_CHUNK_BYTES } from './constants.js'

export { BlobProtocolError }

export type BlobErrorCode = 'not-found' | 'busy' | 'bad-request' | 'corrupt'

export type BlobRequest =
  | { op: 'table', cid: CID }
  | { op: 'chunk', cid: CID, index: number }

export interface TableResponse { ok: true, size: number, chunkBytes: number, hashes: Uint8Array }
export interface ChunkHeader { ok: true, index: number, length: number }
export interface ErrorResponse { ok: false, code: BlobErrorCode, reason: string }

const cidBytes = z.instanceof(Uint8Array)
const index = z.number().int().min(0).max(2 ** 32)

const requestSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('table'), cid: cidBytes }),
  z.strictObject({ op: z.literal('chunk'), cid: cidBytes, index })
])

const errorSchema = z.strictObject({
  ok: z.literal(false),
  code: z.enum(['not-found', 'busy', 'bad-request', 'corrupt']),
  reason: z.string().max(1024)
})

const tableSchema = z.strictObject({
  ok: z.literal(true),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  chunkBytes: z.number().int().min(BLOB_MIN_CHUNK_BYTES).max(BLOB_MAX_CHUNK_BYTES),
  hashes: z.instanceof(Uint8Array)
}).refine((t) => t.hashes.length === chunkCount(t.size, t.chunkBytes) * SHA2_256_BYTES, {
  message: 'hashes must hold one 32-byte sha2-256 digest per chunk'
})

const chunkHeaderSchema = z.strictObject({
  ok: z.literal(true),
  index,
  length: z.number().int().min(0).max(BLOB_MAX_CHUNK_BYTES)
})


export function encodeRequest (req: BlobRequest): Uint8Array {
  return encodeCanonical(req.op === 'table' ? { op: 'table', cid: req.cid.bytes } : { op: 'chunk', cid: req.cid.bytes, index: req.index })
}

/** @throws BlobProtocolError for anything but a well-formed request */
export function decodeRequest (frame: Uint8Array): BlobRequest {
  const value = decodeOrThrow(frame, BLOB_MAX_REQUEST_BYTES)
  const parsed = requestSchema.safeParse(value)
  if (!parsed.success) throw new BlobProtocolError(`malformed blob request: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`)
  let cid: CID
  try {
    cid = parseCid(parsed.data.cid)
  } catch (err) {
    throw new BlobProtocolError(`blob request names no valid CID: ${(err as Error).message}`)
  }
  return parsed.data.op === 'table' ? { op: 'table', cid } : { op: 'chunk', cid, index: parsed.data.index }
}

export function encodeTable (size: number, chunkBytes: number, hashes: Uint8Array): Uint8Array {
  return encodeCanonical({ ok: true, size, chunkBytes, hashes })
}

export function encodeChunkHeader (i: number, length: number): Uint8Array {
  return encodeCanonical({ ok: true, index: i, length })
}

export function encodeError (code: BlobErrorCode, reason: string): Uint8Array {
  return encodeCanonical({ ok: false, code, reason: reason.slice(0, 1024) })
}

/** @throws BlobProtocolError */
export function decodeTableResponse (frame: Uint8Array): TableResponse | ErrorResponse {
  return decodeResponse(frame, BLOB_MAX_HEADER_BYTES, tableSchema, 'chunk table')
}

/** @throws BlobProtocolError */
export function decodeChunkHeader (frame: Uint8Array): ChunkHeader | ErrorResponse {
  return decodeResponse(frame, BLOB_MAX_CHUNK_HEADER_BYTES, chunkHeaderSchema, 'chunk header')
}

function decodeResponse<T> (frame: Uint8Array, maxBytes: number, schema: z.ZodType<T>, what: string): T | ErrorResponse {
  const value = decodeOrThrow(frame, maxBytes)
  const err = errorSchema.safeParse(value)
  if (err.success) return err.data
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new BlobProtocolError(`malformed ${what}: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`)
  return parsed.data
}

function decodeOrThrow (frame: Uint8Array, maxBytes: number): unknown {
  try {
    return decodeCanonical(frame, { maxFrameBytes: maxBytes })
  } catch (err) {
    throw new BlobProtocolError(`undecodable blob protocol frame: ${(err as Error).message}`)
  }
}
