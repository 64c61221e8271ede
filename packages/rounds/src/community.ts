/**
 * Communities: the signed genesis entry that names a task, its maintainers, the genesis release and the
 * community's limits (protocol/entries.md, `genesis`); its id is the community id. `createCommunity` builds
 * the genesis release (from the task's seeded initialisation or a tfjs model folder), stores its manifest and
 * shards as blobs and signs the genesis; `readGenesisFile` checks a genesis file from disk before anything
 * uses it.
 *
 * A community of a pretrained model (a task from a model, doc/model.md) carries its model spec in the genesis
 * task map, `task: { id: 'layers-model/<spec CID>', spec }`; the spec names the base's two blobs (topology and
 * base weights), which the creator's blob store holds and members fetch from it (see task.ts). A community of a
 * causal language model carries `task: { id: 'causal-lm/<spec CID>', spec }`, the spec naming the base's three blobs
 * (config.json, weights, tokenizer.json) and its LoRA adapters.
 */
import { writeFile } from 'node:fs/promises'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import {
  CAUSAL_LM_TASK_PREFIX, causalLmSourceCids, causalLmSpecCid, createCausalLmTask, createModelTask, encodeBaseWeights, encodeTopology, genesisFromTask,
  genesisFromTfjsFolder, getTask, modelSpecCid, registerTask, validateCausalLmSpec, validateModelSpec,
  type BuiltRelease, type CausalLmSource, type CausalLmSpec, type LayersModelSource, type ModelSpec, type Task
} from '@swarmtune/model'
import { blobCid, parseCid, signEntry, validateEntry, type CID, type GenesisBody, type SignedEntry, type SigningKey } from '@swarmtune/wire'
import { DEFAULT_GENESIS_SEED, DEFAULT_MAX_DELTA_NORM, DEFAULT_MAX_ROUND_MS, DEFAULT_MAX_SAMPLES, MAX_GENESIS_FILE_BYTES, MIN_ROUND_DURATION_MS } from './constants.js'
import { readBoundedFile } from '@swarmtune/node'
import { CommunityError } from './errors.js'

/** Task ids of tasks from a model: `layers-model/<CID of the model spec>`. */
export const MODEL_TASK_PREFIX = 'layers-model/'

/** The model spec a genesis task map carries (checked by `checkModelTask`), or undefined for a built-in task. */
function modelSpecOf (task: GenesisBody['task']): ModelSpec | undefined {
  return task.id.startsWith(MODEL_TASK_PREFIX) ? validateModelSpec(task.spec) : undefined
}

/** The causal-LM spec a genesis task map carries (checked by `checkModelTask`), or undefined. */
function lmSpecOf (task: GenesisBody['task']): CausalLmSpec | undefined {
  return task.id.startsWith(CAUSAL_LM_TASK_PREFIX) ? validateCausalLmSpec(task.spec) : undefined
}

/**
 * Checks a genesis task map naming a model task (`layers-model/…` or `causal-lm/…`): its `spec` is a valid spec of
 * that kind whose CID is the id's.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` saying which.
 */
function checkModelTask (task: GenesisBody['task']): void {
  const lm = task.id.startsWith(CAUSAL_LM_TASK_PREFIX)
  let id: string
  try {
    id = lm ? `${CAUSAL_LM_TASK_PREFIX}${causalLmSpecCid(validateCausalLmSpec(task.spec))}` : `${MODEL_TASK_PREFIX}${modelSpecCid(validateModelSpec(task.spec))}`
  } catch (err) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `the community's task ${task.id} is a task from a ${lm ? 'language model' : 'model'}, but its genesis carries ${task.spec === undefined ? 'no model spec (task.spec)' : `a model spec this build refuses (${(err as Error).message})`}; ask the maintainer for the file again, or upgrade swarmtune.`, { cause: err })
  }
  if (id !== task.id) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `the community's task is ${task.id}, but the model spec its genesis carries has the id ${id} (the CID of its canonical JSON): the spec was changed after the id was taken. Ask the maintainer for the file again.`)
  }
}

/** Hex of a raw public key. */
export function keyHex (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
}

/** The peer id of a raw Ed25519 public key (an entry's `author`). */
export function peerIdOfKey (key: Uint8Array): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(key))
}

/** Community limits read from the genesis `policy`. */
export interface CommunityPolicy {
  /** Largest L2 norm of a delta any round may accept (parameter units). */
  maxDeltaNorm: number
  /** Longest round, in ms. */
  maxRoundMs: number
  /** Most training samples one contribution may claim (its FedAvg weight n_k); unset = no bound. */
  maxSamples?: number
}

/** A community as its genesis entry defines it. */
export class Community {
  /** The community id: the CID of the genesis entry. */
  readonly id: CID
  readonly genesis: SignedEntry<'genesis'>
  readonly name: string
  /** The task id (`mnist-2nn`, …, or `layers-model/<spec CID>`). */
  readonly task: string
  /** The model spec of a community of a pretrained tfjs model (genesis `task.spec`); undefined otherwise. */
  readonly modelSpec: ModelSpec | undefined
  /** The spec of a community of a causal language model (genesis `task.spec`); undefined otherwise. */
  readonly lmSpec: CausalLmSpec | undefined
  /** Manifest CID of the genesis release. */
  readonly release: CID
  readonly policy: CommunityPolicy
  private readonly maintainerKeys: Set<string>

  private constructor (genesis: SignedEntry<'genesis'>) {
    const body: GenesisBody = genesis.entry.body
    this.id = genesis.id
    this.genesis = genesis
    this.name = body.name
    this.task = body.task.id
    this.modelSpec = modelSpecOf(body.task)
    this.lmSpec = lmSpecOf(body.task)
    this.release = parseCid(body.release)
    const maxSamples = body.policy.maxSamples
    this.policy = {
      maxDeltaNorm: body.policy.maxDeltaNorm,
      maxRoundMs: body.policy.maxRoundMs,
      ...(typeof maxSamples === 'number' && Number.isSafeInteger(maxSamples) && maxSamples > 0 ? { maxSamples } : {})
    }
    this.maintainerKeys = new Set(body.maintainers.map(keyHex))
  }

  /**
   * The community of a verified genesis entry. A `layers-model/<CID>` task must carry a `spec` that
   * `validateModelSpec` accepts and whose CID (`modelSpecCid`) is the id's.
   * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` when the entry is not a genesis, names an unknown task, or
   *   names a model task whose spec is missing, malformed or of another CID.
   */
  static fromGenesis (signed: SignedEntry): Community {
    if (signed.entry.kind !== 'genesis') {
      throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `expected a genesis entry, got a ${signed.entry.kind} entry; pass the file \`swarmtune community create\` wrote.`)
    }
    const task = signed.entry.body.task
    if (task.id.startsWith(MODEL_TASK_PREFIX) || task.id.startsWith(CAUSAL_LM_TASK_PREFIX)) {
      checkModelTask(task)
    } else {
      try {
        getTask(task.id)
      } catch (err) {
        throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `the community's task ${JSON.stringify(task.id)} is unknown to this build (${(err as Error).message}); upgrade swarmtune.`, { cause: err })
      }
    }
    return new Community(signed as SignedEntry<'genesis'>)
  }

  /** Maintainers' raw public keys, in genesis order. */
  get maintainers (): Uint8Array[] {
    return this.genesis.entry.body.maintainers
  }

  /** True when `key` (raw bytes or 64 hex) is one of the maintainers the genesis names. */
  isMaintainer (key: Uint8Array | string): boolean {
    return this.maintainerKeys.has(typeof key === 'string' ? key : keyHex(key))
  }

  /** The genesis frame, as written to a genesis file. */
  get bytes (): Uint8Array {
    return this.genesis.bytes
  }
}

/**
 * Reads and checks a genesis file: a regular file within the size cap (a link to /dev/zero or a FIFO is
 * refused without reading it), then the full validation of a network entry (decode,
 * schema, signature), then the task.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` naming what is wrong with the file.
 */
export async function readGenesisFile (path: string): Promise<Community> {
  const bytes = await readBoundedFile(path, MAX_GENESIS_FILE_BYTES, 'genesis file', (f) =>
    new CommunityError('ERR_ROUNDS_BAD_GENESIS', f.problem === 'unreadable'
      ? `${f.message}. Pass the file \`swarmtune community create\` wrote.`
      : `${f.message}. Is this the right file?`, { cause: f.cause }))
  return await parseGenesis(bytes, path)
}

/**
 * Checks genesis bytes as {@link readGenesisFile} does.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS`.
 */
export async function parseGenesis (bytes: Uint8Array, source = 'the genesis'): Promise<Community> {
  if (bytes.length > MAX_GENESIS_FILE_BYTES) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `${source} is ${bytes.length} bytes; a genesis entry is at most ${MAX_GENESIS_FILE_BYTES} bytes. Is this the right file?`)
  }
  const v = await validateEntry(bytes)
  if (v.status !== 'accept' || v.value === undefined) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `${source} is not a valid signed genesis entry (${v.code ?? 'invalid'}: ${v.reason ?? ''}). Ask the maintainer for the file again.`)
  }
  return Community.fromGenesis(v.value)
}

/** Raw Ed25519 public key of a peer id string. @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` */
export function maintainerKeyOf (peerId: string): Uint8Array {
  let key: Uint8Array | undefined
  try {
    const id = peerIdFromString(peerId)
    if (id.type === 'Ed25519') key = id.publicKey.raw
  } catch (err) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `maintainer '${peerId}' is not a peer id (${(err as Error).message}); copy it from \`swarmtune status -d <the maintainer's data folder>\` run on the maintainer's machine.`, { cause: err })
  }
  if (key === undefined) throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `maintainer '${peerId}' is not an Ed25519 peer id (12D3KooW…); swarmtune identities are Ed25519.`)
  return key
}

/** A community's genesis facts as plain JSON (what `GET /v1/rounds/community` and `community show` print). */
export interface CommunityInfo {
  id: string
  name: string
  task: string
  /** Manifest CID of the genesis release. */
  release: string
  /** Maintainers' peer ids. */
  maintainers: string[]
  policy: CommunityPolicy
  /** ISO 8601 time of the genesis. */
  createdAt: string
}

/** The JSON facts of a community. */
export function communityInfo (c: Community): CommunityInfo {
  return {
    id: c.id.toString(),
    name: c.name,
    task: c.task,
    release: c.release.toString(),
    maintainers: c.maintainers.map((k) => peerIdOfKey(k).toString()),
    policy: c.policy,
    createdAt: new Date(c.genesis.entry.ts).toISOString()
  }
}

/** Where `createCommunity` stores the genesis release: a blob store (or the daemon's blob exchange). */
export interface BlobSink {
  put(bytes: Uint8Array): Promise<CID>
}

/** Options of {@link createCommunity}. */
export interface CreateCommunityOptions {
  /** Task id (`mnist-2nn`, `mnist-cnn`); unused with `model`. */
  task?: string
  /**
   * A community of a pretrained model instead of a built-in task: the base (a tfjs LayersModel as data, e.g.
   * `loadLayersModelFolder(dir)` or `mobilenetV2Base()`) and the spec of the task made of it, whose `topology` and
   * `base` CIDs are the base's (`layersModelCids`). Both blobs of the base go into `store`; the genesis release is
   * the task's `initWeights(seed)` (the trainable weights only).
   */
  model?: { source: LayersModelSource, spec: ModelSpec }
  /**
   * A community of a causal language model: its base's three blobs (`causalLmSourceFromFolder`) and the spec (the
   * blobs' CIDs, `causalLmSourceCids`, context and LoRA). The blobs go into `store`; the genesis release is the
   * adapters' B at zero.
   */
  lm?: { source: CausalLmSource, spec: CausalLmSpec }
  /** Community name (1–128 characters); default the task id. */
  name?: string
  /** Peer ids of the maintainers; the creator (the signing key) is added when missing. */
  maintainers?: string[]
  /** A tfjs layers-model folder whose weights fit the task: the genesis release; default seeded initialisation (not with `model`). */
  from?: string
  /** Seed of the initial weights when `from` is not given (default {@link DEFAULT_GENESIS_SEED}). */
  seed?: number
  policy?: Partial<CommunityPolicy>
  /** Shard size of the genesis release, in bytes (default: the model package's 4 MiB). */
  shardBytes?: number
  /** The creator's identity key: signs the genesis and becomes a maintainer. */
  key: SigningKey
  /** Receives the manifest and shards of the genesis release. */
  store: BlobSink
  /** Time of the genesis, ms since the Unix epoch (default now). */
  ts?: number
}

/**
 * Creates a community: builds the genesis release, stores its shards and manifest in `store`, and signs the
 * genesis entry (seq 0 of the creator's chain in the new community, author among the maintainers).
 * @returns the community (its id is the genesis entry's CID) and the genesis release.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` for a bad maintainer id, policy or name, neither or both of
 *   `task` and `model`, `model` with `from`; the model package's errors for an unknown task or an unusable tfjs
 *   folder, and `createModelTask`'s (ModelSpecError `ERR_MODEL_SPEC_INVALID`, `ERR_MODEL_BASE_MISMATCH`, …) for a
 *   model that does not fit its spec.
 */
export async function createCommunity (options: CreateCommunityOptions): Promise<{ community: Community, release: BuiltRelease }> {
  const { task, genesisTask } = await communityTask(options)
  const author = options.key.publicKey.raw
  const keys = [author, ...(options.maintainers ?? []).map(maintainerKeyOf)]
  const maintainers: Uint8Array[] = []
  for (const k of keys) if (!maintainers.some((m) => keyHex(m) === keyHex(k))) maintainers.push(k)
  const policy = {
    maxDeltaNorm: options.policy?.maxDeltaNorm ?? DEFAULT_MAX_DELTA_NORM,
    maxRoundMs: options.policy?.maxRoundMs ?? DEFAULT_MAX_ROUND_MS,
    maxSamples: options.policy?.maxSamples ?? DEFAULT_MAX_SAMPLES
  }
  if (!(policy.maxDeltaNorm > 0 && Number.isFinite(policy.maxDeltaNorm))) throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `max delta norm ${policy.maxDeltaNorm} must be a finite number > 0`)
  if (!Number.isSafeInteger(policy.maxRoundMs) || policy.maxRoundMs < MIN_ROUND_DURATION_MS) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `max round time (--max-round-time) ${policy.maxRoundMs} ms is below the shortest round a coordinator opens (${MIN_ROUND_DURATION_MS} ms = ${MIN_ROUND_DURATION_MS / 1000} s), so no round could ever be opened; give at least ${MIN_ROUND_DURATION_MS / 1000}s`)
  }
  if (!Number.isSafeInteger(policy.maxSamples) || policy.maxSamples < 1) throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `max samples ${policy.maxSamples} must be an integer ≥ 1`)
  const name = options.name ?? task.id
  if (name.length < 1 || name.length > 128) throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `community name must be 1–128 characters, got ${name.length}`)
  const release = options.from === undefined
    ? genesisFromTask(task.id, options.seed ?? DEFAULT_GENESIS_SEED, { author, shardBytes: options.shardBytes })
    : await genesisFromTfjsFolder(options.from, task.id, { author, shardBytes: options.shardBytes })
  if (options.model !== undefined) await storeModelBase(options.store, options.model)
  if (options.lm !== undefined) await storeLmBase(options.store, options.lm)
  for (const shard of release.shards) await options.store.put(shard.bytes)
  await options.store.put(release.manifestBytes)
  const signed = await signEntry({
    v: 1,
    community: new Uint8Array(0),
    author,
    seq: 0,
    prev: null,
    ts: options.ts ?? Date.now(),
    kind: 'genesis',
    body: { name, task: genesisTask, maintainers, release: release.manifestCid.bytes, policy }
  }, options.key)
  return { community: Community.fromGenesis(signed), release }
}

/**
 * The task of a community being created and the genesis `task` map naming it: a built-in task, or the task made
 * of `options.model` (built with `createModelTask` and registered, so `genesisFromTask` finds it).
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS`; the model package's errors.
 */
async function communityTask (options: CreateCommunityOptions): Promise<{ task: Task, genesisTask: GenesisBody['task'] }> {
  const given = [options.task, options.model, options.lm].filter((x) => x !== undefined).length
  if (given !== 1) {
    throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `a community has one task: give one of a built-in task id (mnist-2nn, mnist-cnn), a model and its spec, or a language model and its spec, ${given === 0 ? 'not none' : 'not several'}`)
  }
  if (options.lm !== undefined) {
    if (options.from !== undefined) throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', 'a community of a language model starts from its adapters at zero: `from` (a tfjs folder of a built-in task\'s weights) does not apply')
    const spec = validateCausalLmSpec(options.lm.spec)
    const task = await createCausalLmTask(spec, options.lm.source)
    registerTask(task)
    return { task, genesisTask: { id: task.id, spec: JSON.parse(JSON.stringify(spec)) as GenesisBody['task'][string] } }
  }
  if (options.model === undefined) {
    const task = getTask(options.task as string)
    return { task, genesisTask: { id: task.id } }
  }
  if (options.from !== undefined) throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', 'a community of a pretrained model starts from its spec\'s seeded head and adapters: `from` (a tfjs folder of a built-in task\'s weights) does not apply')
  const spec = validateModelSpec(options.model.spec)
  const task = await createModelTask(spec, options.model.source)
  registerTask(task)
  return { task, genesisTask: { id: task.id, spec: JSON.parse(JSON.stringify(spec)) as GenesisBody['task'][string] } }
}

/**
 * Puts a model community's base into the blob store: the topology's canonical JSON and the base weights blob,
 * which must hash to the spec's `topology` and `base` CIDs.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` when a stored blob's CID is not the spec's.
 */
async function storeModelBase (store: BlobSink, model: NonNullable<CreateCommunityOptions['model']>): Promise<void> {
  const blobs = [['topology', encodeTopology(model.source.topology)], ['base', encodeBaseWeights(model.source.weights)]] as const
  for (const [field, bytes] of blobs) {
    const cid = await store.put(bytes)
    if (!cid.equals(blobCid(bytes)) || cid.toString() !== model.spec[field]) {
      throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `the model's ${field} blob was stored as ${cid.toString()}, but the spec names ${model.spec[field]}; build the spec from this model (layersModelCids)`)
    }
  }
}

/**
 * Puts a language-model community's base into the blob store: config.json, weights and tokenizer.json, which must
 * hash to the spec's CIDs.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` when a stored blob's CID is not the spec's.
 */
async function storeLmBase (store: BlobSink, lm: NonNullable<CreateCommunityOptions['lm']>): Promise<void> {
  const cids = causalLmSourceCids(lm.source)
  for (const [field, bytes] of [['config', lm.source.config], ['base', lm.source.weights], ['tokenizer', lm.source.tokenizer]] as const) {
    const cid = await store.put(bytes)
    if (cid.toString() !== cids[field] || cids[field] !== lm.spec[field]) {
      throw new CommunityError('ERR_ROUNDS_BAD_GENESIS', `the language model's ${field} blob was stored as ${cid.toString()}, but the spec names ${lm.spec[field]}; build the spec from this model (causalLmSourceCids)`)
    }
  }
}

/** Writes a community's genesis file (the exact signed frame; its SHA-256 CID is the community id). */
export async function writeGenesisFile (path: string, community: Community): Promise<void> {
  await writeFile(path, community.bytes, { mode: 0o644 })
}
