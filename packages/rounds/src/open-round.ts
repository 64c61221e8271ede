/**
 * What the coordinator keeps of the round it collects contributions for, and the checks of a contribution that
 * need no blob: the entry against the round (its round-open, base, codec and claimed samples), and the reason of a
 * verdict for a delta blob nobody served.
 */
import type { PeerId } from '@libp2p/interface'
import { parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import { sameMethod, type RoundPlan } from './params.js'
import type { DeltaRejection } from './releases.js'
import type { CoordinatorRound, VolunteerAnswer } from './state.js'

/** A contribution's judgement: its decoded delta and norm, or why it is rejected. */
export type Judged = { ok: true, delta: Float32Array[], norm: number } | ({ ok: false } & DeltaRejection)

/** The round a coordinator collects contributions for, in memory. */
export interface OpenRound {
  record: CoordinatorRound
  entry: SignedEntry<'round-open'>
  plan: RoundPlan
  timer?: ReturnType<typeof setTimeout>
  /** Authors (hex) that contributed so far, whatever their contributions were judged. */
  authors: Set<string>
  /** Judgements started at arrival, by contribution id. */
  judged: Map<string, Promise<Judged>>
  /** Arrivals per author (hex). */
  perAuthor: Map<string, number>
  /** Contribution ids recorded as arrivals. */
  arrived: Set<string>
  /** The latest answer of each volunteer that answered the round-open, by peer id. */
  answers: Map<string, VolunteerAnswer>
  /** Peer ids of the authors that contributed so far. */
  contributors: Set<string>
  /**
   * Authors (hex) with a contribution whose entry and delta passed the checks so far (the round's round-open
   * and base, codec, samples, a blob not contributed before, the decoded delta): only these take one of the
   * round's `maxContributions` slots and count toward its quorum.
   */
  valid: Set<string>
  /** Delta blobs (CID strings) of the contributions counted in `valid`. */
  validBlobs: Set<string>
  /** Delta blobs contributed to earlier rounds, read from the ledger once per round. */
  earlierBlobs?: Promise<Set<string>>
  /** Re-checks the early close when the answer window ends. */
  windowTimer?: ReturnType<typeof setTimeout>
}

/**
 * Why a contribution's entry does not fit the open round (`ERR_ROUNDS_WRONG_ROUND`, `ERR_ROUNDS_STALE_BASE`,
 * `ERR_ROUNDS_CODEC_MISMATCH`, `ERR_ROUNDS_TOO_MANY_SAMPLES` above the community's `maxSamples`), or undefined.
 */
export function entryFault (c: SignedEntry<'contribution'>, open: OpenRound, maxSamples: number | undefined): DeltaRejection | undefined {
  const b = c.entry.body
  if (b.round !== open.record.round || parseCid(b.roundOpen).toString() !== open.record.roundOpen) {
    return { code: 'ERR_ROUNDS_WRONG_ROUND', reason: `the contribution answers round ${b.round} (round-open ${parseCid(b.roundOpen).toString()}); this is round ${open.record.round} (${open.record.roundOpen})` }
  }
  if (parseCid(b.base).toString() !== open.plan.base.toString()) {
    return { code: 'ERR_ROUNDS_STALE_BASE', reason: `the delta was computed against ${parseCid(b.base).toString()}; the round's base is ${open.plan.base.toString()}` }
  }
  if (!sameMethod(b.codec, open.plan.codecMethod)) {
    return { code: 'ERR_ROUNDS_CODEC_MISMATCH', reason: `the contribution names codec ${b.codec.name}; the round asks for ${open.plan.codecMethod.name} with ${JSON.stringify(open.plan.codecMethod.params)}` }
  }
  const max = maxSamples
  if (max !== undefined && b.samples > max) {
    return { code: 'ERR_ROUNDS_TOO_MANY_SAMPLES', reason: `the contribution claims ${b.samples} samples; the community allows at most ${max} per contribution` }
  }
  return undefined
}

/** The in-memory record of a round this coordinator collects contributions for (nothing arrived yet). */
export function openRound (record: CoordinatorRound, entry: SignedEntry<'round-open'>, plan: RoundPlan): OpenRound {
  return { record, entry, plan, authors: new Set(), judged: new Map(), perAuthor: new Map(), arrived: new Set(), answers: new Map(), contributors: new Set(), valid: new Set(), validBlobs: new Set() }
}

/**
 * The reason of an `ERR_ROUNDS_BLOB_UNAVAILABLE` verdict, from the blob exchange's error code: which blob,
 * from whom, and what happened — a final statement, without the exchange's advice on resuming a fetch.
 */
export function blobUnavailable (cid: CID, contributor: PeerId, limitMs: number, code: string | undefined, connected: boolean): string {
  const who = `the contributor ${contributor.toString()}${connected ? '' : ' (no longer connected)'} or any other connected peer`
  const what = code === 'ERR_NODE_BLOB_TOO_LARGE'
    ? `was announced larger than a delta of this model and codec by ${who}`
    : code === 'ERR_NODE_BLOB_CORRUPT'
      ? `was served by ${who} with bytes that do not hash to its CID`
      : code === 'ERR_ABORTED' || code === 'ERR_NODE_BLOB_NO_PROVIDERS' || code === undefined
        ? `was not served by ${who} within ${limitMs / 1000} s of the contribution's arrival`
        : `could not be fetched from ${who} (${code})`
  return `the delta blob ${cid.toString()} ${what}; the contribution is not judged further`.slice(0, 1000)
}
