/**
 * The community's task in this daemon. A built-in task is the model package's (`getTask`). A task from a model
 * (`layers-model/<spec CID>`, doc/model.md "Tasks from a model") is rebuilt from its genesis spec and its base's two
 * blobs — the topology's canonical JSON and the base weights blob — read from this node's blob store, else fetched
 * from peers through the blob exchange (the maintainers first), which stores them: the base is pulled once, then
 * this node serves it too. The task is built with `createModelTask(spec, base, { cacheDir })` (features of the
 * frozen backbone cached under `cacheDir`) and registered; the training worker gets it as a `ModelTaskRef` (the
 * spec and the base as bytes) with its jobs. A language-model community (`causal-lm/<spec CID>`) is built the same
 * way from its three blobs (config.json, weights, tokenizer.json) with `createCausalLmTask`.
 */
import type { PeerId } from '@libp2p/interface'
import {
  MAX_HF_CONFIG_BYTES, MAX_HF_WEIGHTS_FILE_BYTES, MAX_MODEL_JSON_BYTES, MAX_RELEASE_BYTES, MAX_TOKENIZER_JSON_BYTES, ModelFormatError, createCausalLmTask,
  createModelTask, decodeSafetensors, getTask, registerTask, type CausalLmSource, type CausalLmSpec, type LayersModelSource, type ModelTaskRef, type Task
} from '@swarmtune/model'
import { parseCid, withCode, type CID } from '@swarmtune/wire'
import { peerIdOfKey, type Community } from './community.js'
import { RoundsError } from './errors.js'
import { getBlob, type BlobAccess } from './releases.js'

/**
 * The base model of the community's task could not be read: not in this node's blob store, and no peer served it
 * (none connected, none has it, or the fetch was cut): `ERR_ROUNDS_MODEL_BASE_UNAVAILABLE`. The daemon retries
 * when a peer connects.
 */
export class ModelBaseUnavailableError extends withCode(RoundsError, 'ERR_ROUNDS_MODEL_BASE_UNAVAILABLE') {}

/** The community's task as this daemon uses it. */
export interface ResolvedTask {
  task: Task
  /** For a task from a model: its description, for the training worker (`worker.train({ …, model })`). */
  model?: ModelTaskRef
  /** For a task from a model: how its base was obtained. */
  base?: BaseFetch
}

/** How a model task's base was obtained: per blob, read from the local store or fetched from peers. */
export interface BaseFetch {
  topology: { cid: string, bytes: number, fetched: boolean }
  weights: { cid: string, bytes: number, fetched: boolean }
  /** Time to obtain both blobs (reading or fetching), ms. */
  fetchMs: number
  /** Time to decode them and build the task, ms. */
  buildMs: number
}

/** Options of {@link resolveTask}. */
export interface ResolveTaskOptions {
  /** Feature cache folder of a model task (`<data>/rounds/features` in a daemon). */
  cacheDir?: string
  /** Peers asked first for the base's blobs (default: the community's maintainers). */
  providers?: PeerId[]
  signal?: AbortSignal
}

/**
 * The community's task: built in (`getTask`), or built from its model spec and its base's blobs (see the module
 * comment).
 * @throws ModelBaseUnavailableError `ERR_ROUNDS_MODEL_BASE_UNAVAILABLE` when a blob of the base is neither stored
 *   nor served by a peer; the model package's errors when the blobs do not make the spec's model
 *   (`ERR_MODEL_BASE_MISMATCH`, `ERR_MODEL_SAFETENSORS_*`, `ERR_MODEL_TFJS_FOLDER_MALFORMED`, …); UnknownTaskError
 *   for a built-in id this build does not know.
 */
export async function resolveTask (community: Community, access: BlobAccess, options: ResolveTaskOptions = {}): Promise<ResolvedTask> {
  if (community.lmSpec !== undefined) return await resolveLmTask(community, community.lmSpec, access, options)
  const spec = community.modelSpec
  if (spec === undefined) return { task: getTask(community.task) }
  const providers = options.providers ?? community.maintainers.map(peerIdOfKey)
  const started = performance.now()
  const topology = await baseBlob(access, parseCid(spec.topology), 'topology', MAX_MODEL_JSON_BYTES, providers, options.signal)
  const weights = await baseBlob(access, parseCid(spec.base), 'base weights', MAX_RELEASE_BYTES, providers, options.signal)
  const fetched = performance.now()
  const source = decodeBase(topology.bytes, weights.bytes, community)
  const task = await createModelTask(spec, source, { cacheDir: options.cacheDir })
  registerTask(task)
  const model: ModelTaskRef = {
    spec,
    base: { kind: 'blob', topology: source.topology, weights: weights.bytes, origin: source.origin },
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir })
  }
  return {
    task,
    model,
    base: {
      topology: { cid: spec.topology, bytes: topology.bytes.length, fetched: topology.fetched },
      weights: { cid: spec.base, bytes: weights.bytes.length, fetched: weights.fetched },
      fetchMs: Math.round(fetched - started),
      buildMs: Math.round(performance.now() - fetched)
    }
  }
}

/**
 * A language-model community's task: its base's three blobs (config.json, weights, tokenizer.json) from the store or
 * from peers, then `createCausalLmTask`, registered. The worker gets the blobs as bytes with its jobs.
 * @throws as `resolveTask`
 */
async function resolveLmTask (community: Community, spec: CausalLmSpec, access: BlobAccess, options: ResolveTaskOptions): Promise<ResolvedTask> {
  const providers = options.providers ?? community.maintainers.map(peerIdOfKey)
  const started = performance.now()
  const config = await baseBlob(access, parseCid(spec.config), 'config.json', MAX_HF_CONFIG_BYTES, providers, options.signal)
  const tokenizer = await baseBlob(access, parseCid(spec.tokenizer), 'tokenizer.json', MAX_TOKENIZER_JSON_BYTES, providers, options.signal)
  const weights = await baseBlob(access, parseCid(spec.base), 'weights', MAX_HF_WEIGHTS_FILE_BYTES, providers, options.signal)
  const fetched = performance.now()
  const source: CausalLmSource = { config: config.bytes, weights: weights.bytes, tokenizer: tokenizer.bytes, origin: `the base of community ${community.name} (weights ${spec.base})` }
  const task = await createCausalLmTask(spec, source)
  registerTask(task)
  return {
    task,
    model: { spec, base: source },
    base: {
      topology: { cid: spec.config, bytes: config.bytes.length + tokenizer.bytes.length, fetched: config.fetched || tokenizer.fetched },
      weights: { cid: spec.base, bytes: weights.bytes.length, fetched: weights.fetched },
      fetchMs: Math.round(fetched - started),
      buildMs: Math.round(performance.now() - fetched)
    }
  }
}

/** One blob of the base: from the store, else fetched (and so stored). @throws ModelBaseUnavailableError */
async function baseBlob (access: BlobAccess, cid: CID, what: string, maxBytes: number, providers: PeerId[], signal?: AbortSignal): Promise<{ bytes: Uint8Array, fetched: boolean }> {
  const stored = await access.blobs.has(cid)
  try {
    return { bytes: await getBlob(access, cid, { providers, maxBytes, signal }), fetched: !stored }
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new ModelBaseUnavailableError(`the community's base model ${what} blob ${cid.toString()} is not in this node's blob store and could not be fetched from a peer (${code ?? 'error'}: ${(err as Error).message}); ` +
      'connect this node to the maintainer or another member (`--bootstrap <address>`): it tries again whenever a peer connects', { cause: err })
  }
}

/** The base as data: the topology's JSON and the safetensors weights. @throws the model package's errors */
function decodeBase (topologyBytes: Uint8Array, weightsBytes: Uint8Array, community: Community): LayersModelSource {
  let topology: unknown
  try {
    topology = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(topologyBytes))
  } catch (err) {
    throw new ModelFormatError('ERR_MODEL_TFJS_FOLDER_MALFORMED', `the base topology blob of community ${community.name} is not UTF-8 JSON (${(err as Error).message}); its CID matched, so the maintainer stored a bad blob: ask them to create the community again`, { cause: err })
  }
  if (typeof topology !== 'object' || topology === null || Array.isArray(topology)) {
    throw new ModelFormatError('ERR_MODEL_TFJS_FOLDER_MALFORMED', `the base topology blob of community ${community.name} is not a JSON object (a tfjs modelTopology); ask the maintainer to create the community again`)
  }
  return {
    topology: topology as Record<string, unknown>,
    weights: decodeSafetensors(weightsBytes).weights,
    origin: `the base of community ${community.name} (topology ${community.modelSpec?.topology ?? ''}, weights ${community.modelSpec?.base ?? ''})`
  }
}
