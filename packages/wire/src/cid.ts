/**
 * Content ids (protocol/cids.md): every blob, shard, manifest and entry is named by a CIDv1 with the `raw`
 * codec (0x55) and a SHA2-256 multihash — 36 bytes in binary, `b…` (base32) as text.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { CID_BYTES, MAX_CID_STRING_CHARS, RAW_CODEC, SHA2_256_BYTES, SHA2_256_CODE } from './constants.js'
import { WireError } from './errors.js'

export { CID }

/**
 * The content id of `bytes`: CIDv1, codec raw (0x55), multihash sha2-256 (0x12) of the bytes.
 * @param bytes any bytes (a blob, a shard, an encoded manifest or an entry frame).
 */
export function blobCid (bytes: Uint8Array): CID {
  const digest = createHash('sha256').update(bytes).digest()
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256_CODE, new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)))
}

/** True when `bytes` is a v1 CID in binary form: 0x01 0x55 0x12 0x20 followed by a 32-byte digest. */
export function isCidBytes (bytes: unknown): bytes is Uint8Array {
  return bytes instanceof Uint8Array && bytes.length === CID_BYTES &&
    bytes[0] === 1 && bytes[1] === RAW_CODEC && bytes[2] === SHA2_256_CODE && bytes[3] === SHA2_256_BYTES
}

/**
 * Parses a content id from its text form (any multibase multiformats reads by default; base32 `b…` is
 * what swarmtune writes) or its 36-byte binary form, and checks that it is a v1 CID as protocol v1 uses:
 * version 1, codec raw, sha2-256 with a 32-byte digest.
 * @throws WireError `ERR_WIRE_BAD_CID` when the input is not such a CID.
 */
export function parseCid (input: string | Uint8Array): CID {
  let cid: CID
  try {
    if (typeof input === 'string') {
      if (input.length > MAX_CID_STRING_CHARS) throw new Error(`longer than ${MAX_CID_STRING_CHARS} characters`)
      cid = CID.parse(input)
    } else if (input instanceof Uint8Array) {
      if (input.length !== CID_BYTES) throw new Error(`${input.length} bytes instead of ${CID_BYTES}`)
      cid = CID.decode(input)
    } else {
      throw new Error(`a ${typeof input}, not a string or Uint8Array`)
    }
  } catch (err) {
    throw new WireError('ERR_WIRE_BAD_CID', `not a content id: ${(err as Error).message}; expected a CIDv1 (raw, sha2-256) such as the ids swarmtune prints.`, { cause: err })
  }
  if (cid.version !== 1 || cid.code !== RAW_CODEC || cid.multihash.code !== SHA2_256_CODE || cid.multihash.size !== SHA2_256_BYTES) {
    throw new WireError('ERR_WIRE_BAD_CID', `content id ${cid.toString()} is version ${cid.version}, codec 0x${cid.code.toString(16)}, hash 0x${cid.multihash.code.toString(16)}; protocol v1 uses only CIDv1 with codec raw (0x55) and sha2-256.`)
  }
  return cid
}

/** The CID named by `bytes`, which must satisfy {@link isCidBytes} (as schema-checked entry fields do). */
export function cidFromBytes (bytes: Uint8Array): CID {
  return CID.decode(bytes)
}
