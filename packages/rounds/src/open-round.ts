/**
 * What the coordinator keeps in memory, all of it derived: the round it collects contributions for (rebuilt from
 * the persisted record, its arrivals and answers when the coordinator starts), the index of delta blobs
 * contributed so far (rebuilt from the ledger), and the reason of a verdict for a delta blob nobody served. The
 * round's state itself is the persisted `CoordinatorRound` (state.ts); nothing here outlives a restart.
 */
import type { PeerId } from '@libp2p/interface'
import type { Ledger } from '@swarmtune/ledger'
import { parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import type { RoundPlan } from './params.js'
import type { CoordinatorRound, VolunteerAnswer } from './state.js'
import type { Judged } from './strategy.js'

/**
 * The round a coordinator collects contributions for, in memory: a cache derived from the persisted record
 * (`record`, as read when tracking began; the phase and a cancel are read from the state store, never from here),
 * its arrivals and answers, plus the judgements in progress and the timers.
 */
export interface OpenRound {
  /** The persisted record as tracking began (its round and round-open never change). */
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
  /** Re-checks the early close when the answer window ends. */
  windowTimer?: ReturnType<typeof setTimeout>
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

/**
 * Delta blobs contributed so far (any round), with the lowest round each was contributed to: an index derived
 * from the ledger, built once on first use and kept up to date from each stored contribution (`add`), so a
 * replay check never rescans the ledger's contributions.
 */
export class ContributedBlobs {
  private index: Promise<Map<string, number>> | undefined

  constructor (private readonly ledger: () => Ledger) {}

  /** Notes a contribution the ledger stored (idempotent; cheap before the index is built: the build reads it). */
  add (c: SignedEntry<'contribution'>): void {
    if (this.index === undefined) return
    void this.index.then((m) => { note(m, c) }, () => {})
  }

  /** The blobs contributed to rounds before `round` (CID strings), as a membership test. */
  async before (round: number): Promise<{ has: (blob: string) => boolean }> {
    if (this.index === undefined) {
      const build = (async () => {
        const m = new Map<string, number>()
        for await (const e of this.ledger().entries({ kind: 'contribution' })) note(m, e as SignedEntry<'contribution'>)
        return m
      })()
      this.index = build
      build.catch(() => { if (this.index === build) this.index = undefined })
    }
    const m = await this.index
    return { has: (blob) => (m.get(blob) ?? Infinity) < round }
  }
}

function note (m: Map<string, number>, c: SignedEntry<'contribution'>): void {
  const blob = parseCid(c.entry.body.blob).toString()
  const round = c.entry.body.round
  if (round < (m.get(blob) ?? Infinity)) m.set(blob, round)
}
