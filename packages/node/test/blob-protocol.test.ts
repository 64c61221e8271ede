/**
 * The blob protocol's decoders against hostile frames: every malformed frame is a BlobProtocolError (the
 * stream is closed and the peer penalised), never another exception; limits are tested at the limit and
 * one past it.
 */
import { blobCid, encodeCanonical } from '@swarmtune/wire'
import fc from 'fast-check'
import { varint } from 'multiformats'
import { describe, expect, it } from 'vitest'
import { testSeed } from '@swarmtune/test-support'
import { decodeChunkHeader, decodeRequest, decodeTableResponse, encodeRequest } from '../src/blob-protocol.js'
import { decodeLengthPrefix, varintBytes } from '../src/bounded-frame.js'
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

describe('bounded length prefixes', () => {
  const decode = (bytes: number[], max: number): number | undefined => decodeLengthPrefix((i) => bytes[i], bytes.length, max, 'test frame')
  const refused = expect.objectContaining({ name: 'FrameLengthError', code: 'ERR_NODE_FRAME_LENGTH' })
  /** The reference encoding (multiformats' unsigned varint). */
  const encode = (n: number): number[] => {
    const out = new Uint8Array(varint.encodingLength(n))
    varint.encodeTo(n, out)
    return [...out]
  }

  it('refuse a prefix at the first byte past what the limit needs, and never ask for more', () => {
    // a request (≤ 1024 bytes) has a prefix of at most 2 bytes: ff ff is refused, ff alone is incomplete
    expect(varintBytes(constants.BLOB_MAX_REQUEST_BYTES)).toBe(2)
    expect(decode([0xff], constants.BLOB_MAX_REQUEST_BYTES)).toBeUndefined()
    expect(() => decode([0xff, 0xff], constants.BLOB_MAX_REQUEST_BYTES)).toThrow(refused)
    expect(() => decode([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], constants.BLOB_MAX_REQUEST_BYTES)).toThrow(refused)
    // at the limit and one past it
    expect(decode(encode(1024), 1024)).toBe(1024)
    expect(() => decode(encode(1025), 1024)).toThrow(refused)
    // non-minimal: 0 written in two bytes
    expect(() => decode([0x80, 0x00], 1024)).toThrow(refused)
    expect(decode([0x00], 1024)).toBe(0)
  })

  it('agree with the varint decoder on every minimal prefix within the limit, and refuse or wait on any other bytes', () => {
    const seed = testSeed('bounded length prefixes')
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.uint8Array({ maxLength: 12 }), (max, n, noise) => {
      const encoded = encode(n)
      if (n <= max) expect(decode(encoded, max)).toBe(n)
      else expect(() => decode(encoded, max)).toThrow(refused)
      // arbitrary bytes: a decoded value is within the limit and read from at most varintBytes(max) bytes
      const bytes = [...noise]
      let result: number | undefined
      try {
        result = decode(bytes, max)
      } catch (err) {
        expect(err).toMatchObject({ code: 'ERR_NODE_FRAME_LENGTH' })
        return
      }
      if (result === undefined) expect(bytes.length).toBeLessThan(varintBytes(max))
      else expect(result).toBeLessThanOrEqual(max)
    }), { seed, numRuns: 2000 })
  })
})
