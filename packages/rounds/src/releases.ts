/**
 * Releases over the network and the one merge rule every peer applies: reading a release (manifest and
 * verified shards) from the blob store, fetching what is missing from peers; storing a built release; decoding
 * a contribution's delta against the base; and `mergeRound` — aggregate the accepted deltas in canonical
 * order, take one server-optimiser step from the state the parent release recorded, add the update to the
 * base. The coordinator builds releases with it and `release verify` recomputes them with it, so both reach
 * the same bytes.
 */
import type { PeerId } from '@libp2p/interface'
import {
  aggregate, applyUpdate, checkContribution, createModelSpec, decodeDelta, decodeServerOptimizerState, encodeServerOptimizerState,
  encodedSize, initServerOptimizerState, serverStep, FedAvgError,
  type AggregateResult, type Contribution, type ModelSpec, type ServerOptimizerConfig, type ServerOptimizerState
} from '@swarmtune/fedavg'
import { MAX_MANIFEST_BYTES, assembleRelease, decodeManifest, type BuiltRelease, type ReleaseManifest, type Weights } from '@swarmtune/model'
import { blobCid, parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import type { BlobExchange } from '@swarmtune/node'
import type { BlobStore } from '@swarmtune/node'
import type { RoundPlan } from './params.js'

/** The blob parts of the daemon a release needs. */
export interface BlobAccess {
  blobs: BlobStore
  exchange: BlobExchange
}

/** Options of fetching: provider hints (asked first), a size cap and cancellation. */
export interface GetBlobOptions {
  providers?: PeerId[]
  maxBytes?: number
  signal?: AbortSignal
}

/**
 * A blob's bytes from the local store, fetched from peers first when missing (each chunk and the whole blob
 * verified against the CID by the blob exchange).
 * @throws BlobFetchError `ERR_NODE_BLOB_NO_PROVIDERS`, BlobTooLargeError, AbortedError, BlobCorruptError.
 */
export async function getBlob (access: BlobAccess, cid: CID, options: GetBlobOptions = {}): Promise<Uint8Array> {
  if (!(await access.blobs.has(cid))) await access.exchange.fetch(cid, options)
  return await access.blobs.get(cid, { signal: options.signal })
}

/**
 * A release manifest (decoded and checked), fetched when missing.
 * @throws the errors of {@link getBlob}; ReleaseError `ERR_MODEL_MANIFEST_*` for a malformed manifest.
 */
export async function loadManifest (access: BlobAccess, manifest: CID, options: GetBlobOptions = {}): Promise<{ manifest: ReleaseManifest, bytes: Uint8Array }> {
  const bytes = await getBlob(access, manifest, { ...options, maxBytes: MAX_MANIFEST_BYTES })
  return { manifest: decodeManifest(bytes), bytes }
}

/**
 * A release's weights: the manifest, then every shard (fetched in parallel from the hinted providers and any
 * peer that has them), each checked against its CID by `assembleRelease`.
 * @returns the manifest and the weights in manifest order.
 * @throws the errors of {@link getBlob}; ReleaseError for a malformed manifest or a shard that does not match.
 */
export async function loadRelease (access: BlobAccess, manifestCid: CID, options: GetBlobOptions = {}): Promise<{ manifest: ReleaseManifest, weights: Weights }> {
  const { manifest, bytes } = await loadManifest(access, manifestCid, options)
  await Promise.all(manifest.shards.map(async (s) => {
    const cid = parseCid(s.cid)
    if (!(await access.blobs.has(cid))) await access.exchange.fetch(cid, { ...options, maxBytes: s.length })
  }))
  return await assembleRelease(bytes, async (cid) => await access.blobs.get(cid, { signal: options.signal }), { expectedCid: manifestCid, signal: options.signal })
}

/** Stores a built release's shards and manifest (announced to the DHT when it is on). */
export async function storeRelease (access: BlobAccess, built: BuiltRelease): Promise<void> {
  for (const shard of built.shards) await access.exchange.put(shard.bytes)
  await access.exchange.put(built.manifestBytes)
}

/** The fedavg model spec of some weights (their shapes in order). */
export function specOf (weights: Weights): ModelSpec {
  return createModelSpec(weights.specs.map((s) => s.shape))
}

/** Why a delta was refused, with a stable code (recorded in the verdict). */
export interface DeltaRejection { code: string, reason: string }

/**
 * Decodes and validates a contribution's delta blob against the base release's layout and the round: size
 * checked before decoding, shapes equal to the base's, the round's codec, every value finite, the L2 norm
 * within the round's bound.
 * @returns the decoded tensors and their norm, or a rejection with its code (`ERR_FEDAVG_CODEC_*`,
 *   `ERR_ROUNDS_CODEC_MISMATCH`, `ERR_FEDAVG_NON_FINITE`, `ERR_FEDAVG_NORM_BOUND`, …). Never throws.
 */
export function decodeContribution (bytes: Uint8Array, spec: ModelSpec, plan: RoundPlan): { delta: Float32Array[], norm: number } | DeltaRejection {
  const expected = encodedSize(spec, plan.codec)
  if (bytes.length !== expected) {
    return { code: 'ERR_FEDAVG_CODEC_MALFORMED', reason: `the delta blob is ${bytes.length} bytes; a ${plan.codec.codec} delta of this model is exactly ${expected} bytes` }
  }
  let tensors: Float32Array[]
  try {
    const decoded = decodeDelta(bytes, { spec })
    if (decoded.codec !== plan.codec.codec) return { code: 'ERR_ROUNDS_CODEC_MISMATCH', reason: `the delta is encoded with ${decoded.codec}; the round asks for ${plan.codec.codec}` }
    tensors = decoded.tensors
  } catch (err) {
    if (err instanceof FedAvgError) return { code: err.code, reason: err.message }
    return { code: 'ERR_FEDAVG_CODEC_MALFORMED', reason: `the delta blob could not be decoded: ${(err as Error).message}` }
  }
  const verdict = checkContribution({ id: Uint8Array.of(1), weight: 1, delta: tensors }, spec, { maxNorm: plan.normBound })
  if (verdict.status === 'reject') return { code: verdict.code, reason: verdict.reason }
  return { delta: tensors, norm: verdict.norm }
}

/** Largest encoded size of a delta of `spec` under the round's codec, in bytes (the fetch cap). */
export function maxDeltaBytes (spec: ModelSpec, plan: RoundPlan): number {
  return encodedSize(spec, plan.codec)
}

/**
 * The server-optimiser state a round starts from: the state the parent release recorded
 * (`metrics.serverOptimizerState`, a blob CID) when it is of the round's optimiser kind, otherwise a fresh one.
 * @param parent the release entry whose manifest is the round's base; undefined for the genesis release.
 * @throws the errors of {@link getBlob} when the recorded state blob cannot be fetched.
 */
export async function serverStateFor (access: BlobAccess, parent: SignedEntry<'release'> | undefined, config: ServerOptimizerConfig, spec: ModelSpec, options: GetBlobOptions = {}): Promise<ServerOptimizerState> {
  const recorded = parent?.entry.body.metrics.serverOptimizerState
  if (typeof recorded !== 'string') return initServerOptimizerState(config, spec)
  const cid = parseCid(recorded)
  const bytes = await getBlob(access, cid, { ...options, maxBytes: 12 + 2 * (4 + encodedSize(spec, { codec: 'fp32' })) })
  try {
    return decodeServerOptimizerState(bytes, config, spec)
  } catch {
    // recorded for another optimiser kind: this round starts the new optimiser afresh
    return initServerOptimizerState(config, spec)
  }
}

/** What one round's merge produced. */
export interface MergeResult {
  result: AggregateResult
  /** New weights (base + server update), when at least one contribution was merged. */
  weights?: Weights
  /** Server-optimiser state after the step, and its encoding (a blob; its CID goes into the release metrics). */
  state?: ServerOptimizerState
  stateBytes?: Uint8Array
  /** Aggregation weight of each merged contribution, in canonical order: n_k / n (McMahan et al. 2017). */
  weightsOf?: number[]
}

/**
 * The merge rule of a round: `aggregate` (canonical order by entry id, validation, the round's aggregator,
 * norm bound and sample bound), then `serverStep` from `state`, then `applyUpdate` to the base. Deterministic: the same inputs
 * give the same bytes on every machine.
 * @param contributions id = contribution entry id bytes, weight = its `samples`, delta decoded against the base.
 * @throws FedAvgError for a configuration the plan did not catch (e.g. Krum with too few deltas).
 */
export function mergeRound (base: Weights, plan: RoundPlan, contributions: Contribution[], state: ServerOptimizerState): MergeResult {
  const spec = specOf(base)
  const result = aggregate(contributions, spec, plan.aggregator, { maxNorm: plan.normBound, maxWeight: plan.maxSamples })
  if (result.status !== 'update') return { result }
  const step = serverStep(plan.server, state, result.delta, spec)
  const values = applyUpdate(base.values, step.update)
  const samples = new Map(contributions.map((c) => [Buffer.from(c.id).toString('hex'), c.weight]))
  const weightsOf = result.accepted.map((id) => (samples.get(Buffer.from(id).toString('hex')) ?? 0) / result.totalWeight)
  return {
    result,
    weights: { specs: base.specs.map((s) => ({ ...s, shape: [...s.shape] })), values },
    state: step.state,
    stateBytes: encodeServerOptimizerState(step.state, spec),
    weightsOf
  }
}

/** CID string of encoded server-optimiser state. */
export function stateCid (bytes: Uint8Array): string {
  return blobCid(bytes).toString()
}

/** The code and reason recorded when a round cannot be merged: the error's own code, else `ERR_ROUNDS_AGGREGATION_FAILED`. */
export function aggregationFailure (err: unknown, what: string): { code: string, reason: string } {
  const code = (err as { code?: unknown }).code
  return {
    code: typeof code === 'string' && /^ERR_[A-Z0-9_]{1,56}$/.test(code) ? code : 'ERR_ROUNDS_AGGREGATION_FAILED',
    reason: `${what}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 900)
  }
}
