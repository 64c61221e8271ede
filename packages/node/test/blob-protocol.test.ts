/**
 * The blob protocol's decoders against hostile frames: every malformed frame is a BlobProtocolError (the
 * stream is closed and the peer penalised), never another exception; limits are tested at the limit and
 * one past it.
 */
import { blobCid, encodeCanonical } from '@swarmtune/wire'
import { describe, expect, it } from 'vitest'
import { decodeChunkHeader, decodeRequest, decodeTableResponse, encodeRequest } from '../src/blob-protocol.js'
import * as constants from '../src/constants.js'

describe('blob protocol decoders', () => {
  const cid = blobCid(new Uint8Array([1, 2, 3]))

  it('round-trip well-formed requests', () => {
    expect(decodeRequest(encodeRequest({ op: 'table', cid }))).toEqual({ op: 'table', cid })
    expect(decodeRequest(encodeRequest({ op: 'chunk', cid, index: 7 }))).toEqual({ op: 'chunk', cid, index: 7 })
  })

  it('reject hostile frames with BlobProtocolError, never another exception', () => {
    const hostile: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([0xc1]),
      new TextEncoder().encode('not msgpack at all'),
      encodeCanonical({ op: 'table' }),
      encodeCanonical({ op: 'table', cid: new Uint8Array(36) }),
      encodeCanonical({ op: 'chunk', cid: cid.bytes, index: -1 }),
      encodeCanonical({ op: 'chunk', cid: cid.bytes, index: 1.5 }),
      encodeCanonical({ op: 'table', cid: cid.bytes, extra: 1 }),
      encodeCanonical({ op: 'delete', cid: cid.bytes }),
      new Uint8Array(constants.BLOB_MAX_REQUEST_BYTES + 1)
    ]
    for (const frame of hostile) expect(() => decodeRequest(frame)).toThrow(expect.objectContaining({ name: 'BlobProtocolError', code: 'ERR_NODE_BLOB_PROTOCOL' }))
  })

  it('check that a chunk table holds one digest per chunk and a sane chunk size', () => {
    const size = 3 * constants.BLOB_CHUNK_BYTES
    const ok = { ok: true, size, chunkBytes: constants.BLOB_CHUNK_BYTES, hashes: new Uint8Array(96) }
    expect(decodeTableResponse(encodeCanonical(ok))).toMatchObject({ ok: true, size })
    expect(() => decodeTableResponse(encodeCanonical({ ...ok, hashes: new Uint8Array(95) }))).toThrow(expect.objectContaining({ code: 'ERR_NODE_BLOB_PROTOCOL' }))
    expect(() => decodeTableResponse(encodeCanonical({ ...ok, chunkBytes: constants.BLOB_MAX_CHUNK_BYTES + 1 }))).toThrow(expect.objectContaining({ code: 'ERR_NODE_BLOB_PROTOCOL' }))
    expect(decodeTableResponse(encodeCanonical({ ok: false, code: 'busy', reason: 'later' }))).toEqual({ ok: false, code: 'busy', reason: 'later' })
    expect(() => decodeChunkHeader(encodeCanonical({ ok: true, index: 0, length: constants.BLOB_MAX_CHUNK_BYTES + 1 }))).toThrow(expect.objectContaining({ code: 'ERR_NODE_BLOB_PROTOCOL' }))
    expect(decodeChunkHeader(encodeCanonical({ ok: true, index: 0, length: constants.BLOB_MAX_CHUNK_BYTES }))).toMatchObject({ length: constants.BLOB_MAX_CHUNK_BYTES })
  })
})
