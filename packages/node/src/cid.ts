/**
 * Blob content ids: CIDv1, codec raw (0x55), multihash sha2-256 (0x12) — the form `@swarmtune/wire`'s
 * `blobCid` produces. Here they are built from a digest computed incrementally, so blobs of any size are
 * hashed while they stream instead of being held in memory.
 */
import { createHash, type Hash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { RAW_CODEC, SHA2_256_BYTES, SHA2_256_CODE } from '@swarmtune/wire'

/** The multicodecs of raw bytes and sha2-256 and a sha2-256 digest's length: the wire's, which defines them once. */
export { RAW_CODEC, SHA2_256_BYTES, SHA2_256_CODE }

/** The blob CID of a sha2-256 digest (32 bytes). */
export function blobCidFromDigest (digest: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256_CODE, digest))
}

/** The sha2-256 digest inside a blob CID. */
export function digestOf (cid: CID): Uint8Array {
  return cid.multihash.digest
}

export function sha256 (): Hash {
  return createHash('sha256')
}

export function sha256Of (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** Byte-wise equality (digests are public, so no constant-time comparison is needed). */
/** SHA-256 of the concatenation of `parts` (32 bytes), without concatenating them. */
export function sha256OfParts (parts: Uint8Array[]): Uint8Array {
  const h = sha256()
  for (const p of parts) h.update(p)
  return h.digest()
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
