/**
 * The release manifest (doc/model.md, "Release manifest"): what a release is, encoded with the wire package's
 * canonical msgpack so that its CID is a function of its content. Fields:
 *
 *   v          1
 *   community  CID bytes of the community's genesis entry; empty for the genesis release (which the genesis
 *              entry itself names, so it cannot name the community)
 *   parent     CID bytes of the parent release's manifest; null for a genesis release
 *   round      round number that produced it; 0 for a genesis release
 *   task       task id (`mnist-2nn`, …)
 *   weights    [{ name, shape, dtype: 'float32', offset, length }] in the fixed weight order; offset and
 *              length in bytes within the weight stream (each tensor's float32 values, little-endian, row-major,
 *              tensors laid end to end in order)
 *   shardBytes fixed shard size in bytes; every shard but the last has exactly this length
 *   totalBytes length of the weight stream in bytes
 *   shards     [{ cid, offset, length }]: CID bytes (CIDv1, raw, sha2-256) of each consecutive slice of the stream
 *   metrics    { name: number }: evaluation metrics of these weights (e.g. loss, accuracy); may be empty
 *   author     32-byte raw Ed25519 public key of who built it; empty when anonymous
 */
import { ED25519_PUBLIC_KEY_BYTES, decodeCanonical, encodeCanonical, isCidBytes } from '@swarmtune/wire'
import { z } from 'zod'
import { FLOAT32_BYTES, MAX_MANIFEST_BYTES, MAX_RELEASE_BYTES, MAX_RELEASE_TENSORS, MAX_SHARD_BYTES, MAX_TENSOR_RANK, MIN_SHARD_BYTES, RELEASE_MANIFEST_VERSION } from '../constants.js'
import { ReleaseError } from '../errors.js'
import { sizeOf, validateSpecs } from '../weights.js'
import type { WeightSpec } from '../weights.js'

/** Size of a raw Ed25519 public key, in bytes (RFC 8032 §5.1.5): the wire's, which defines it once. */
export { ED25519_PUBLIC_KEY_BYTES }

/** Most metrics a manifest may carry. */
export const MAX_MANIFEST_METRICS = 64

/** One tensor of a release: its spec and its byte range in the weight stream. */
export interface ManifestWeight extends WeightSpec {
  offset: number
  length: number
}

/** One shard: its CID (binary) and byte range in the weight stream. */
export interface ManifestShard {
  cid: Uint8Array
  offset: number
  length: number
}

/** The decoded manifest, exactly the fields that are encoded. */
export interface ReleaseManifest {
  v: 1
  community: Uint8Array
  parent: Uint8Array | null
  round: number
  task: string
  weights: ManifestWeight[]
  shardBytes: number
  totalBytes: number
  shards: ManifestShard[]
  metrics: Record<string, number>
  author: Uint8Array
}

const uint = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const cidBytes = z.instanceof(Uint8Array).refine(isCidBytes, 'not a CIDv1 (raw, sha2-256) in binary form')

const manifestSchema = z.strictObject({
  v: z.literal(RELEASE_MANIFEST_VERSION),
  community: z.instanceof(Uint8Array).refine((b) => b.length === 0 || isCidBytes(b), 'neither empty nor a CIDv1 (raw, sha2-256)'),
  parent: cidBytes.nullable(),
  round: uint,
  task: z.string().min(1).max(128),
  weights: z.array(z.strictObject({
    name: z.string().min(1).max(256),
    shape: z.array(z.number().int().min(1).max(2 ** 31 - 1)).max(MAX_TENSOR_RANK),
    dtype: z.literal('float32'),
    offset: uint,
    length: uint
  })).min(1).max(MAX_RELEASE_TENSORS),
  shardBytes: z.number().int().min(MIN_SHARD_BYTES).max(MAX_SHARD_BYTES),
  totalBytes: z.number().int().min(1).max(MAX_RELEASE_BYTES),
  shards: z.array(z.strictObject({ cid: cidBytes, offset: uint, length: z.number().int().min(1) })).min(1),
  metrics: z.record(z.string().min(1).max(64), z.number()).refine((m) => Object.keys(m).length <= MAX_MANIFEST_METRICS, `more than ${MAX_MANIFEST_METRICS} metrics`),
  author: z.instanceof(Uint8Array).refine((b) => b.length === 0 || b.length === ED25519_PUBLIC_KEY_BYTES, `neither empty nor a ${ED25519_PUBLIC_KEY_BYTES}-byte Ed25519 public key`)
})

/**
 * Checks the manifest's internal consistency beyond its schema: tensors tile the weight stream in order with
 * lengths matching their shapes, shards tile it in `shardBytes` steps, unique names.
 * @throws ReleaseError ERR_MODEL_MANIFEST_MALFORMED naming the first inconsistency.
 */
export function checkManifestLayout (m: ReleaseManifest): void {
  const bad = (why: string): never => { throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', `release manifest is inconsistent: ${why}; the manifest was built wrongly or altered — fetch it again from another peer`) }
  try {
    validateSpecs(m.weights)
  } catch (err) {
    bad((err as Error).message)
  }
  let at = 0
  for (const w of m.weights) {
    if (w.offset !== at) bad(`tensor ${w.name} starts at byte ${w.offset}; expected ${at} (tensors are laid end to end)`)
    const want = sizeOf(w.shape) * FLOAT32_BYTES
    if (w.length !== want) bad(`tensor ${w.name} has length ${w.length} bytes; its shape [${w.shape.join(', ')}] needs ${want}`)
    at += w.length
  }
  if (at !== m.totalBytes) bad(`tensors cover ${at} bytes but totalBytes is ${m.totalBytes}`)
  const shardCount = Math.ceil(m.totalBytes / m.shardBytes)
  if (m.shards.length !== shardCount) bad(`${m.shards.length} shards listed; ${m.totalBytes} bytes in shards of ${m.shardBytes} need ${shardCount}`)
  m.shards.forEach((s, i) => {
    const offset = i * m.shardBytes
    const length = Math.min(m.shardBytes, m.totalBytes - offset)
    if (s.offset !== offset || s.length !== length) bad(`shard ${i} covers bytes [${s.offset}, ${s.offset + s.length}); expected [${offset}, ${offset + length})`)
  })
}

/**
 * Encodes a manifest canonically (wire `encodeCanonical`): the bytes whose CID names the release.
 * @throws ReleaseError ERR_MODEL_MANIFEST_MALFORMED when the manifest fails its schema or layout checks, or its
 *   metrics hold a non-finite number; ERR_MODEL_MANIFEST_TOO_LARGE above `MAX_MANIFEST_BYTES`.
 */
export function encodeManifest (m: ReleaseManifest): Uint8Array {
  const parsed = manifestSchema.safeParse(m)
  if (!parsed.success) throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', `release manifest does not fit its schema: ${z.prettifyError(parsed.error)}`)
  checkManifestLayout(m)
  let bytes: Uint8Array
  try {
    bytes = encodeCanonical(m)
  } catch (err) {
    throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', `release manifest cannot be encoded: ${(err as Error).message}`, { cause: err })
  }
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ReleaseError('ERR_MODEL_MANIFEST_TOO_LARGE', `release manifest encodes to ${bytes.length} bytes; at most ${MAX_MANIFEST_BYTES} are allowed — use larger shards`)
  }
  return bytes
}

/**
 * Decodes and checks untrusted manifest bytes: size cap, hardened canonical decode, schema, layout.
 * @throws ReleaseError ERR_MODEL_MANIFEST_TOO_LARGE, ERR_MODEL_MANIFEST_MALFORMED (with the wire error as `cause`
 *   when decoding failed).
 */
export function decodeManifest (bytes: Uint8Array): ReleaseManifest {
  if (!(bytes instanceof Uint8Array)) throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', 'release manifest must be given as a Uint8Array of its encoded bytes')
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ReleaseError('ERR_MODEL_MANIFEST_TOO_LARGE', `release manifest is ${bytes.length} bytes; at most ${MAX_MANIFEST_BYTES} are accepted`)
  }
  let value: unknown
  try {
    value = decodeCanonical(bytes, { maxFrameBytes: MAX_MANIFEST_BYTES })
  } catch (err) {
    throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', `release manifest is not canonical msgpack: ${(err as Error).message}`, { cause: err })
  }
  const parsed = manifestSchema.safeParse(value)
  if (!parsed.success) {
    throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', `release manifest does not fit its schema: ${z.prettifyError(parsed.error)}`)
  }
  const m = parsed.data as ReleaseManifest
  checkManifestLayout(m)
  return m
}
