/**
 * Settings of the rounds service: `<data>/rounds.json` (optional), overridden by the options the daemon is
 * started with (`swarmtune daemon --community <genesis file>`). An interface, a defaults object, a merge and a
 * validation that throws a typed error naming every bad field.
 *
 * ```json
 * {
 *   "community": "community.genesis",
 *   "coordinator": { "enabled": true, "evalData": { "source": "mnist", "split": "test" }, "closeWhenAnswered": true, "blobFetchMs": 30000 },
 *   "volunteer": {
 *     "enabled": true,
 *     "data": { "source": "mnist", "split": "train", "partition": { "scheme": "dirichlet", "clients": 5, "client": 0, "seed": 1, "alpha": 0.5 } },
 *     "backend": "wasm",
 *     "maxRoundMs": 600000
 *   }
 * }
 * ```
 */
import { isAbsolute, join } from 'node:path'
import { MAX_CSV_FILE_BYTES, MAX_DATASET_CLASSES, MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS, RESIZE_POLICIES, type DataSpec, type ResizePolicy } from '@swarmtune/model'
import { z } from 'zod'
import { readBoundedFile } from '@swarmtune/node'
import { writeFileAtomic } from '@swarmtune/node'
import { CONTRIBUTION_FETCH_TIMEOUT_MS, DEFAULT_EVAL_EXAMPLES, DEFAULT_VOLUNTEER_MAX_ROUND_MS, MAX_ROUNDS_CONFIG_FILE_BYTES, MAX_TIMER_DELAY_MS } from './constants.js'
import { RoundsConfigError } from './errors.js'

/** Longest class name accepted (the model spec's bound on a label). */
const MAX_NAME_CHARS = 128

/** File name of the rounds settings inside a data folder. */
export const ROUNDS_CONFIG_FILE = 'rounds.json'

export interface RoundsConfig {
  /** The community's genesis file (absolute, or relative to the data folder). Unset: the ledger's community, if any. */
  community?: string
  coordinator: {
    /** Coordinate rounds when this node is a maintainer (default true). */
    enabled: boolean
    /** The held-out examples each new release is evaluated on (default: the MNIST test split). */
    evalData: DataSpec
    /** tfjs backend for evaluation; chosen automatically when unset. */
    backend?: string
    /**
     * Close a round as soon as every volunteer that answered its round-open has contributed or declined (after
     * `ANSWER_WINDOW_MS`); false waits for the deadline or `maxContributions` (default true).
     */
    closeWhenAnswered: boolean
    /** Time allowed to fetch one contribution's delta blob, from its arrival, in ms (default 30 s). */
    blobFetchMs: number
  }
  volunteer: {
    /** Train in rounds (default: true when `data` is set). */
    enabled: boolean
    /** This volunteer's own examples: an image folder, a CSV file, IDX files, or a part of MNIST (for demos and tests). */
    data?: DataSpec
    /** tfjs backend for training (`wasm`, `cpu`, `node`, `node-gpu`); chosen automatically when unset. */
    backend?: string
    /** Longest local training this volunteer accepts for one round, in ms; training stops after it. */
    maxRoundMs: number
    /** Examples used to measure the loss before and after training (default all local examples). */
    lossExamples?: number
  }
}

/** Partial settings: each group may be partial. */
export interface RoundsConfigInit {
  community?: string
  coordinator?: Partial<RoundsConfig['coordinator']>
  volunteer?: Partial<RoundsConfig['volunteer']>
}

export const DEFAULT_ROUNDS_CONFIG: Readonly<RoundsConfig> = Object.freeze({
  coordinator: { enabled: true, evalData: { source: 'mnist', split: 'test', limit: DEFAULT_EVAL_EXAMPLES }, closeWhenAnswered: true, blobFetchMs: CONTRIBUTION_FETCH_TIMEOUT_MS },
  volunteer: { enabled: true, maxRoundMs: DEFAULT_VOLUNTEER_MAX_ROUND_MS }
} satisfies RoundsConfig)

const count = z.number().int().min(1)
const partitionSchema = z.discriminatedUnion('scheme', [
  z.strictObject({ scheme: z.literal('iid'), clients: count, client: z.number().int().min(0), seed: z.number().int() }),
  z.strictObject({ scheme: z.literal('pathological'), clients: count, client: z.number().int().min(0), seed: z.number().int(), shardsPerClient: count.optional(), shardSize: count.optional() }),
  z.strictObject({ scheme: z.literal('dirichlet'), clients: count, client: z.number().int().min(0), seed: z.number().int(), alpha: z.number().positive() })
]).refine((p) => p.client < p.clients, { message: 'client must be below clients (0-based index)' })

/** Class names: distinct, non-empty, 2 to MAX_DATASET_CLASSES. */
const labelsSchema = z.array(z.string().min(1).max(MAX_NAME_CHARS)).min(2).max(MAX_DATASET_CLASSES).refine((xs) => new Set(xs).size === xs.length, 'labels repeat: name each class once')

/**
 * Schema of a {@link DataSpec}: MNIST (a split, optionally limited and partitioned), a pair of IDX files, an
 * image folder (one sub-folder per class, PNG / JPEG) or a CSV file (a label column and feature columns) — the
 * model package's `loadImageFolder` / `loadCsv` options, each field checked here.
 */
export const dataSpecSchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('mnist'), split: z.enum(['train', 'test']), limit: count.optional(), partition: partitionSchema.optional() }),
  z.strictObject({ source: z.literal('idx'), images: z.string().min(1), labels: z.string().min(1), classes: z.number().int().min(2).optional(), limit: count.optional(), partition: partitionSchema.optional() }),
  z.strictObject({
    source: z.literal('images'),
    path: z.string().min(1),
    size: z.tuple([count, count]).refine(([h, w]) => h * w <= MAX_IMAGE_PIXELS, `an image size has at most ${MAX_IMAGE_PIXELS} pixels`).optional(),
    channels: z.union([z.literal(1), z.literal(3)]).optional(),
    labels: labelsSchema.optional(),
    resize: z.enum(RESIZE_POLICIES as [ResizePolicy, ...ResizePolicy[]]).optional(),
    minExamples: count.optional(),
    maxFileBytes: count.max(MAX_IMAGE_FILE_BYTES).optional(),
    maxPixels: count.max(MAX_IMAGE_PIXELS).optional(),
    limit: count.optional(),
    partition: partitionSchema.optional()
  }),
  z.strictObject({
    source: z.literal('csv'),
    path: z.string().min(1),
    label: z.string().min(1),
    features: z.array(z.string().min(1)).min(1).refine((xs) => new Set(xs).size === xs.length, 'feature columns repeat').optional(),
    labels: labelsSchema.optional(),
    minExamples: count.optional(),
    maxFileBytes: count.max(MAX_CSV_FILE_BYTES).optional(),
    limit: count.optional(),
    partition: partitionSchema.optional()
  }),
  z.strictObject({ source: z.literal('text'), path: z.string().min(1), minExamples: count.optional(), limit: count.optional(), partition: partitionSchema.optional() })
])

const backend = z.enum(['node-gpu', 'node', 'wasm', 'cpu'])

const configSchema = z.strictObject({
  community: z.string().min(1).optional(),
  coordinator: z.strictObject({
    enabled: z.boolean(),
    evalData: dataSpecSchema,
    backend: backend.optional(),
    closeWhenAnswered: z.boolean(),
    blobFetchMs: count.max(MAX_TIMER_DELAY_MS, { error: `must be at most ${MAX_TIMER_DELAY_MS} ms (≈ 24.8 days)` })
  }),
  volunteer: z.strictObject({
    enabled: z.boolean(),
    data: dataSpecSchema.optional(),
    backend: backend.optional(),
    // the training budget is one timer: at most 2^31 − 1 ms (≈ 24.8 days)
    maxRoundMs: count.max(MAX_TIMER_DELAY_MS, { error: `must be at most ${MAX_TIMER_DELAY_MS} ms (≈ 24.8 days)` }),
    lossExamples: count.optional()
  })
})

/** Merges partial settings over the defaults (groups merge one level deep). Does not validate. */
export function createRoundsConfig (init: RoundsConfigInit = {}, base: RoundsConfig = DEFAULT_ROUNDS_CONFIG): RoundsConfig {
  const clean = <T extends object>(o: T | undefined): Partial<T> => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>
  return {
    ...(init.community ?? base.community) === undefined ? {} : { community: init.community ?? base.community },
    coordinator: { ...structuredClone(base.coordinator), ...clean(init.coordinator) },
    volunteer: { ...structuredClone(base.volunteer), ...clean(init.volunteer) }
  }
}

/**
 * Checks settings (parsed JSON or a merge result).
 * @param source where they came from, for the message.
 * @throws RoundsConfigError `ERR_ROUNDS_CONFIG_INVALID` listing each bad field as `path: problem`.
 */
export function validateRoundsConfig (value: unknown, source = 'rounds settings'): RoundsConfig {
  const r = configSchema.safeParse(value)
  if (r.success) return r.data as RoundsConfig
  const lines = r.error.issues.map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`)
  throw new RoundsConfigError(`${source} is not valid:\n${lines.join('\n')}\nFix these fields (see doc/rounds.md, "Configuration").`)
}

/**
 * Reads `<dataDir>/rounds.json` (defaults when absent; a regular file of at most `MAX_ROUNDS_CONFIG_FILE_BYTES`)
 * and merges `overrides` over it.
 * @throws RoundsConfigError `ERR_ROUNDS_CONFIG_INVALID` for an unreadable, non-regular or oversized file, bad
 *   JSON or invalid fields.
 */
export async function readRoundsConfig (dataDir: string, overrides: RoundsConfigInit = {}): Promise<RoundsConfig> {
  const path = join(dataDir, ROUNDS_CONFIG_FILE)
  let fromFile: RoundsConfigInit = {}
  let text: string | undefined
  try {
    text = Buffer.from(await readBoundedFile(path, MAX_ROUNDS_CONFIG_FILE_BYTES, 'rounds settings file', (f) =>
      f.errno === 'ENOENT' ? new MissingFile() : new RoundsConfigError(`${f.message}. Fix or delete it (see doc/rounds.md, "Configuration").`, { cause: f.cause }))).toString('utf8')
  } catch (err) {
    if (!(err instanceof MissingFile)) throw err
  }
  if (text !== undefined) {
    try {
      fromFile = JSON.parse(text) as RoundsConfigInit
    } catch (err) {
      throw new RoundsConfigError(`${path} is not JSON (${(err as Error).message}); fix or delete it`, { cause: err })
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) throw new RoundsConfigError(`${path} must hold a JSON object`)
  }
  const merged = createRoundsConfig(overrides, createRoundsConfig(fromFile))
  return validateRoundsConfig(merged, text === undefined ? 'the rounds options' : path)
}

/** rounds.json is absent: the defaults apply (caught in readRoundsConfig, never thrown out of it). */
class MissingFile extends RoundsConfigError { constructor () { super('rounds.json is absent; the defaults apply') } }

/** Writes `<dataDir>/rounds.json` (validated first). @throws RoundsConfigError */
export async function writeRoundsConfig (dataDir: string, config: RoundsConfig): Promise<void> {
  validateRoundsConfig(config)
  await writeFileAtomic(join(dataDir, ROUNDS_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n')
}

/** A path from the settings, resolved against the data folder when relative. */
export function resolveIn (dataDir: string, path: string): string {
  return isAbsolute(path) ? path : join(dataDir, path)
}
