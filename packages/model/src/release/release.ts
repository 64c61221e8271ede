/**
 * Building a release from weights and reading one back. The weight stream (every tensor's float32 values,
 * little-endian, laid end to end in spec order) is cut into fixed-size shards, each named by its CID; the
 * manifest lists tensors and shards with their byte ranges. The same weights and metadata always give the same
 * shard CIDs and manifest CID, on any machine.
 */
import { endianness } from 'node:os'
import { blobCid, parseCid } from '@swarmtune/wire'
import type { CID, LongOperationOptions } from '@swarmtune/wire'
import { CustomProgressEvent } from 'progress-events'
import { DEFAULT_SHARD_BYTES, MAX_RELEASE_BYTES, MAX_SHARD_BYTES, MIN_SHARD_BYTES, RELEASE_MANIFEST_VERSION } from '../constants.js'
import { AbortedError, ReleaseError } from '../errors.js'
import type { Weights } from '../weights.js'
import { byteLength, validateWeights } from '../weights.js'
import type { ReleaseManifest } from './manifest.js'
import { decodeManifest, encodeManifest } from './manifest.js'

if (endianness() !== 'LE') {
  throw new ReleaseError('ERR_MODEL_INVALID_RELEASE_OPTIONS', 'releases store float32 little-endian and this host is big-endian, which is not supported')
}

/** What a release says about itself besides its weights. */
export interface ReleaseMeta {
  /** CID of the community's genesis entry; omit for the genesis release. */
  community?: CID | Uint8Array
  /** Manifest CID of the release this one was aggregated on; omit (or null) for a genesis release. */
  parent?: CID | Uint8Array | null
  /** Round that produced it (0 for genesis). */
  round: number
  /** Task id. */
  task: string
  /** Evaluation metrics (finite numbers), e.g. `{ loss, accuracy }`. */
  metrics?: Record<string, number>
  /** 32-byte raw Ed25519 public key of the builder; omit for anonymous. */
  author?: Uint8Array
}

/** Options of `buildRelease`. */
export interface BuildReleaseOptions {
  /** Shard size in bytes, in [`MIN_SHARD_BYTES`, `MAX_SHARD_BYTES`] (default `DEFAULT_SHARD_BYTES`, 4 MiB). */
  shardBytes?: number
}

/** A shard: its CID and its bytes (a view into one buffer holding the whole weight stream). */
export interface Shard {
  cid: CID
  bytes: Uint8Array
}

/** A built release: the manifest (decoded form and canonical bytes), its CID and the shards in order. */
export interface BuiltRelease {
  manifest: ReleaseManifest
  manifestBytes: Uint8Array
  manifestCid: CID
  shards: Shard[]
}

/** Returns shard bytes for a CID (from a local store or a peer). `index`, `offset`, `length` locate it. */
export type GetShard = (cid: CID, where: { index: number, offset: number, length: number }) => Promise<Uint8Array> | Uint8Array

function cidBytesOf (c: CID | Uint8Array): Uint8Array {
  return c instanceof Uint8Array ? c : c.bytes
}

/**
 * Splits weights into content-addressed shards and builds the manifest.
 * @param weights values in the task's fixed order; must be finite (a release never carries NaN or ±∞)
 * @param meta community, parent, round, task, metrics, author
 * @throws InvalidWeightsError for weights that do not match their specs or hold non-finite values;
 *   ReleaseError ERR_MODEL_INVALID_RELEASE_OPTIONS for a shard size out of range or weights larger than
 *   `MAX_RELEASE_BYTES`; ERR_MODEL_MANIFEST_MALFORMED for bad metadata (e.g. a 31-byte author).
 */
export function buildRelease (weights: Weights, meta: ReleaseMeta, options: BuildReleaseOptions = {}): BuiltRelease {
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES
  if (!Number.isSafeInteger(shardBytes) || shardBytes < MIN_SHARD_BYTES || shardBytes > MAX_SHARD_BYTES) {
    throw new ReleaseError('ERR_MODEL_INVALID_RELEASE_OPTIONS', `shard size ${shardBytes} bytes is out of range: expected an integer in [${MIN_SHARD_BYTES}, ${MAX_SHARD_BYTES}]`)
  }
  validateWeights(weights, { finite: true })
  const totalBytes = byteLength(weights.specs)
  if (totalBytes > MAX_RELEASE_BYTES) {
    throw new ReleaseError('ERR_MODEL_INVALID_RELEASE_OPTIONS', `weights are ${totalBytes} bytes; a release holds at most ${MAX_RELEASE_BYTES}`)
  }
  const stream = new Uint8Array(totalBytes)
  const manifestWeights = []
  let at = 0
  for (let i = 0; i < weights.specs.length; i++) {
    const v = weights.values[i]
    stream.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at)
    const s = weights.specs[i]
    manifestWeights.push({ name: s.name, shape: [...s.shape], dtype: s.dtype, offset: at, length: v.byteLength })
    at += v.byteLength
  }
  const shards: Shard[] = []
  for (let offset = 0; offset < totalBytes; offset += shardBytes) {
    const bytes = stream.subarray(offset, Math.min(totalBytes, offset + shardBytes))
    shards.push({ cid: blobCid(bytes), bytes })
  }
  const manifest: ReleaseManifest = {
    v: RELEASE_MANIFEST_VERSION,
    community: meta.community === undefined ? new Uint8Array(0) : cidBytesOf(meta.community),
    parent: meta.parent === undefined || meta.parent === null ? null : cidBytesOf(meta.parent),
    round: meta.round,
    task: meta.task,
    weights: manifestWeights,
    shardBytes,
    totalBytes,
    shards: shards.map((s, i) => ({ cid: s.cid.bytes, offset: i * shardBytes, length: s.bytes.length })),
    metrics: { ...(meta.metrics ?? {}) },
    author: meta.author ?? new Uint8Array(0)
  }
  const manifestBytes = encodeManifest(manifest)
  return { manifest, manifestBytes, manifestCid: blobCid(manifestBytes), shards }
}

/** Options of `assembleRelease`. */
export interface AssembleReleaseOptions extends LongOperationOptions<ReleaseProgressEvents> {
  /** When given, the manifest bytes must hash to this CID (e.g. the CID a signed release entry names). */
  expectedCid?: CID
}

/** The progress events of `assembleRelease`: `release:shard` after each verified shard (`bytes` read so far). */
export type ReleaseProgressEvents = CustomProgressEvent<{ shards: number, of: number, bytes: number }, 'release:shard'>

/**
 * Reads a release back: decodes and checks the manifest, fetches every shard through `getShard`, checks each
 * shard's length and hash against the manifest, and rebuilds the weights bit for bit.
 * @returns the manifest and the weights (specs and values in manifest order, each value array with its own buffer)
 * @throws ReleaseError ERR_MODEL_MANIFEST_TOO_LARGE / ERR_MODEL_MANIFEST_MALFORMED (bad manifest, or its CID is not
 *   `expectedCid`), ERR_MODEL_SHARD_MISSING (`getShard` failed or returned nothing), ERR_MODEL_SHARD_SIZE_MISMATCH,
 *   ERR_MODEL_SHARD_HASH_MISMATCH; AbortedError.
 */
export async function assembleRelease (manifestBytes: Uint8Array, getShard: GetShard, options: AssembleReleaseOptions = {}): Promise<{ manifest: ReleaseManifest, weights: Weights }> {
  const manifest = decodeManifest(manifestBytes)
  if (options.expectedCid !== undefined) {
    const actual = blobCid(manifestBytes).toString()
    const expected = options.expectedCid.toString()
    if (actual !== expected) {
      throw new ReleaseError('ERR_MODEL_MANIFEST_MALFORMED', `release manifest hashes to ${actual}, not the expected ${expected}; fetch the manifest again`)
    }
  }
  // One buffer per tensor (so handing one to a worker or a store does not carry the rest); each verified shard is
  // copied into the tensors its byte range overlaps.
  const tensors = manifest.weights.map((w) => new Uint8Array(w.length))
  let first = 0
  for (let i = 0; i < manifest.shards.length; i++) {
    if (options.signal?.aborted === true) throw new AbortedError('assembling the release was aborted', { cause: options.signal.reason })
    const s = manifest.shards[i]
    const cid = parseCid(s.cid)
    let bytes: Uint8Array | undefined
    try {
      bytes = await getShard(cid, { index: i, offset: s.offset, length: s.length })
    } catch (err) {
      throw new ReleaseError('ERR_MODEL_SHARD_MISSING', `shard ${i} (${cid.toString()}) could not be fetched: ${(err as Error).message}`, { cause: err })
    }
    if (!((bytes as unknown) instanceof Uint8Array)) throw new ReleaseError('ERR_MODEL_SHARD_MISSING', `shard ${i} (${cid.toString()}) was not returned as bytes`)
    if (bytes.length !== s.length) {
      throw new ReleaseError('ERR_MODEL_SHARD_SIZE_MISMATCH', `shard ${i} (${cid.toString()}) is ${bytes.length} bytes; the manifest says ${s.length} — the provider sent the wrong data, fetch it from another peer`)
    }
    const got = blobCid(bytes).toString()
    if (got !== cid.toString()) {
      throw new ReleaseError('ERR_MODEL_SHARD_HASH_MISMATCH', `shard ${i} hashes to ${got}, not ${cid.toString()}: the bytes are corrupt or forged — fetch it from another peer`)
    }
    const end = s.offset + s.length
    while (first < tensors.length && manifest.weights[first].offset + manifest.weights[first].length <= s.offset) first++
    for (let t = first; t < tensors.length && manifest.weights[t].offset < end; t++) {
      const w = manifest.weights[t]
      const from = Math.max(s.offset, w.offset)
      const to = Math.min(end, w.offset + w.length)
      tensors[t].set(bytes.subarray(from - s.offset, to - s.offset), from - w.offset)
    }
    options.onProgress?.(new CustomProgressEvent('release:shard', { shards: i + 1, of: manifest.shards.length, bytes: s.offset + s.length }))
  }
  const weights: Weights = {
    specs: manifest.weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: w.dtype })),
    values: tensors.map((b) => new Float32Array(b.buffer))
  }
  return { manifest, weights }
}
