/**
 * zod schemas of the entry envelope and of each kind's body (protocol/entries.md is their written form).
 * Objects are strict — an unknown field is an error — except the open hyper-parameter maps (`task`,
 * `policy`, `train`, `metrics`, `params`), whose extra fields must be JSON-like values (no bytes).
 * All ids are CID bytes (36 bytes, see cid.ts); all integers are non-negative safe integers.
 */
import { z } from 'zod'
import { isCidBytes } from './cid.js'
import {
  ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, MAX_CODE_CHARS, MAX_CONTRIBUTIONS_PER_ROUND, MAX_MAINTAINERS,
  MAX_NAME_CHARS, MAX_REASON_CHARS, PROTOCOL_VERSION
} from './constants.js'
import { ENTRY_KINDS, type EntryKind } from './kinds.js'

const bytesOfLength = (n: number, what: string) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length === n, { message: `expected ${what} (${n} bytes)` })

/** CID bytes: a CIDv1, codec raw, sha2-256 (36 bytes). */
export const cidBytesSchema = z.custom<Uint8Array>(isCidBytes, { message: 'expected CID bytes (CIDv1, raw, sha2-256: 36 bytes)' })
/** A raw Ed25519 public key (32 bytes). */
export const publicKeySchema = bytesOfLength(ED25519_PUBLIC_KEY_BYTES, 'a raw Ed25519 public key')
/** An Ed25519 signature (64 bytes). */
export const signatureSchema = bytesOfLength(ED25519_SIGNATURE_BYTES, 'an Ed25519 signature')

const uint = z.int().nonnegative()
const positiveInt = z.int().positive()
const name = z.string().min(1).max(MAX_NAME_CHARS)
const reason = z.string().max(MAX_REASON_CHARS)
/** Open parameters: string keys, JSON-like values (null, boolean, finite number, string, arrays, maps). */
const params = z.record(z.string(), z.json())
/** A named method with its parameters: an aggregator (`fedavg`, `fedadam`, …) or a delta codec (`fp16`, `topk`, …). */
export const methodSchema = z.strictObject({ name, params })

/** genesis: creates a community. Its id (the CID of the genesis frame) is the community id. */
const genesisBodySchema = z.strictObject({
  /** Human-readable community name. */
  name,
  /** The task: `id` names the architecture + data + metrics recipe; other fields are its hyper-parameters. */
  task: z.object({ id: name }).catchall(z.json()),
  /** Raw Ed25519 public keys of the maintainers (1–64, distinct); the genesis author must be one of them. */
  maintainers: z.array(publicKeySchema).min(1).max(MAX_MAINTAINERS),
  /** CID bytes of the genesis release manifest (the starting weights). */
  release: cidBytesSchema,
  /** Community policy limits: largest L2 norm of a delta accepted, longest round in ms, and more. */
  policy: z.object({ maxDeltaNorm: z.number().positive(), maxRoundMs: positiveInt }).catchall(z.json())
}).superRefine((body, ctx) => {
  const seen = new Set<string>()
  body.maintainers.forEach((key, i) => {
    const hex = Buffer.from(key).toString('hex')
    if (seen.has(hex)) ctx.addIssue({ code: 'custom', path: ['maintainers', i], message: 'maintainer key listed twice' })
    seen.add(hex)
  })
})

/** round-open: a maintainer opens a training round on a base release. */
const roundOpenBodySchema = z.strictObject({
  /** Round number, chosen by the coordinator (the genesis release is round 0's base). */
  round: uint,
  /** CID bytes of the release manifest every contribution must start from. */
  base: cidBytesSchema,
  /** Local training hyper-parameters; `learningRate` is the client (inner) learning rate. */
  train: z.object({
    epochs: positiveInt,
    batchSize: positiveInt,
    learningRate: z.number().positive(),
    optimizer: name
  }).catchall(z.json()),
  /** Time after which contributions are no longer taken, in ms since the Unix epoch. */
  deadline: uint,
  /** Accepted contributions needed to aggregate. */
  quorum: positiveInt,
  /** Most contributions accepted; at least `quorum`, at most 10,000. */
  maxContributions: positiveInt.max(MAX_CONTRIBUTIONS_PER_ROUND),
  /** Aggregator (FedAvg and variants) and its parameters (e.g. server learning rate). */
  aggregator: methodSchema,
  /** Delta compression codec contributors must use, and its parameters. */
  codec: methodSchema,
  /** Largest L2 norm of a delta accepted in this round. */
  normBound: z.number().positive()
}).superRefine((body, ctx) => {
  if (body.maxContributions < body.quorum) {
    ctx.addIssue({ code: 'custom', path: ['maxContributions'], message: `maxContributions (${body.maxContributions}) is below quorum (${body.quorum})` })
  }
})

/** contribution: a volunteer's delta for a round, stored as a blob and announced by id. */
const contributionBodySchema = z.strictObject({
  round: uint,
  /** Entry CID bytes of the round-open this answers. */
  roundOpen: cidBytesSchema,
  /** CID bytes of the base release manifest the delta was computed against. */
  base: cidBytesSchema,
  /** CID bytes of the encoded delta blob. */
  blob: cidBytesSchema,
  /** The codec the blob is encoded with, and its parameters. */
  codec: methodSchema,
  /** Number of training samples behind the delta (the FedAvg weight n_k, McMahan et al. 2017). */
  samples: positiveInt,
  /** Local training metrics: loss before and after local training, and more. */
  metrics: z.object({ lossBefore: z.number(), lossAfter: z.number() }).catchall(z.json()),
  /** L2 norm of the delta (before compression). */
  norm: z.number().nonnegative()
})

/** verdict: the coordinator's decision on one contribution. */
const verdictBodySchema = z.strictObject({
  round: uint,
  /** Entry CID bytes of the contribution judged. */
  contribution: cidBytesSchema,
  accepted: z.boolean(),
  /** Stable code of the decision (e.g. `OK`, `ERR_FEDAVG_NORM_BOUND`). */
  code: z.string().min(1).max(MAX_CODE_CHARS),
  /** Human-readable reason. */
  reason
})

/** release: the coordinator's new release, aggregated from the listed contributions. */
const releaseBodySchema = z.strictObject({
  round: uint,
  /** CID bytes of the manifest of the release this one was aggregated on (the round's base). */
  parent: cidBytesSchema,
  /** CID bytes of the new release manifest. */
  manifest: cidBytesSchema,
  /** Entry CID bytes of the contributions aggregated, in canonical order: strictly ascending bytes. */
  contributions: z.array(cidBytesSchema).min(1).max(MAX_CONTRIBUTIONS_PER_ROUND),
  /** Aggregation weight of each contribution, same order and length (FedAvg: n_k / n). */
  weights: z.array(z.number().nonnegative()).max(MAX_CONTRIBUTIONS_PER_ROUND),
  /** Evaluation metrics of the new release. */
  metrics: params
}).superRefine((body, ctx) => {
  if (body.weights.length !== body.contributions.length) {
    ctx.addIssue({ code: 'custom', path: ['weights'], message: `${body.weights.length} weights for ${body.contributions.length} contributions` })
  }
  for (let i = 1; i < body.contributions.length; i++) {
    if (Buffer.compare(body.contributions[i - 1], body.contributions[i]) >= 0) {
      ctx.addIssue({ code: 'custom', path: ['contributions', i], message: 'contribution ids must be in strictly ascending byte order (canonical order, no repeats)' })
      break
    }
  }
})

/** round-close: the end of a round, with its outcome. */
const roundCloseBodySchema = z.strictObject({
  round: uint,
  /** Entry CID bytes of the round-open closed. */
  roundOpen: cidBytesSchema,
  outcome: z.enum(['released', 'no-release', 'cancelled']),
  /** Entry CID bytes of the release entry; present if and only if `outcome` is `released`. */
  release: cidBytesSchema.optional(),
  reason
}).superRefine((body, ctx) => {
  if ((body.outcome === 'released') !== (body.release !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['release'], message: 'release must be present exactly when outcome is "released"' })
  }
})

/** checkpoint: the author attests its chain's head, so that a syncing peer knows how far to fetch. */
const checkpointBodySchema = z.strictObject({
  /** Number of entries in the author's chain up to and including `head` (= head's seq + 1). */
  length: positiveInt,
  /** Entry CID bytes of the author's chain head. */
  head: cidBytesSchema
})

/** The body schema of each kind. */
export const bodySchemas = {
  genesis: genesisBodySchema,
  'round-open': roundOpenBodySchema,
  contribution: contributionBodySchema,
  verdict: verdictBodySchema,
  release: releaseBodySchema,
  'round-close': roundCloseBodySchema,
  checkpoint: checkpointBodySchema
} as const satisfies Record<EntryKind, z.ZodType>

/** The body of an entry of kind `K`. */
export type BodyOf<K extends EntryKind> = z.output<typeof bodySchemas[K]>
export type GenesisBody = BodyOf<'genesis'>
export type RoundOpenBody = BodyOf<'round-open'>
export type ContributionBody = BodyOf<'contribution'>
export type VerdictBody = BodyOf<'verdict'>
export type ReleaseBody = BodyOf<'release'>
export type RoundCloseBody = BodyOf<'round-close'>
export type CheckpointBody = BodyOf<'checkpoint'>

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)

/** The envelope of an entry, with the body only checked to be a map (bodySchemas[kind] checks the rest). */
export const envelopeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  community: z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes' }),
  author: publicKeySchema,
  seq: uint,
  prev: cidBytesSchema.nullable(),
  ts: uint,
  kind: z.enum(ENTRY_KINDS),
  body: z.custom<Record<string, unknown>>(isPlainObject, { message: 'expected a map' }),
  sig: signatureSchema
}).superRefine((e, ctx) => {
  if (e.kind === 'genesis') {
    if (e.community.length !== 0) ctx.addIssue({ code: 'custom', path: ['community'], message: 'a genesis has an empty community (its own id is the community id)' })
    if (e.seq !== 0) ctx.addIssue({ code: 'custom', path: ['seq'], message: 'a genesis is seq 0 of its author chain' })
  } else if (!isCidBytes(e.community)) {
    ctx.addIssue({ code: 'custom', path: ['community'], message: 'expected the community id as CID bytes (36 bytes)' })
  }
  if ((e.seq === 0) !== (e.prev === null)) {
    ctx.addIssue({ code: 'custom', path: ['prev'], message: 'prev must be null exactly when seq is 0' })
  }
})

/** Formats zod issues as `path: message; …` for an error reason. */
export function formatIssues (error: z.ZodError, prefix = ''): string {
  return error.issues.slice(0, 5).map((i) => {
    const path = [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.')
    return `${path === '' ? '(root)' : path}: ${i.message}`
  }).join('; ') + (error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : '')
}
