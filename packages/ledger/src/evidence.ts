/**
 * Which equivocation evidence a store keeps (doc/ledger-format.md, "Evidence"): one record per author and
 * seq — with the stored entry it conflicts with, a pair that proves the equivocation — at most
 * EVIDENCE_MAX_RECORDS_PER_AUTHOR per author, and EVIDENCE_MAX_TOTAL_BYTES of entry frames in all (evidence
 * against a maintainer is kept up to the per-author cap whatever the total). What is not kept is dropped and
 * counted (`Ledger.evidenceDropped`).
 */
import { EVIDENCE_MAX_RECORDS_PER_AUTHOR, EVIDENCE_MAX_TOTAL_BYTES } from './constants.js'
import { LedgerArgumentError } from './errors.js'

/** Why a conflicting entry was not kept as evidence. */
export type EvidenceDropReason =
  /** a record for this author and seq is kept already: it proves the same equivocation */
  | 'pair-held'
  /** the per-author cap (EVIDENCE_MAX_RECORDS_PER_AUTHOR records by default) is reached */
  | 'author-cap'
  /** keeping it would pass the total cap (EVIDENCE_MAX_TOTAL_BYTES by default) */
  | 'total-cap'

/** One evidence record: author (64 hex), seq, id (CID string) and the size of its entry frame in bytes. */
export interface EvidenceRecord { author: string, seq: number, id: string, bytes: number }

/** The caps (`LedgerInit.evidence`); defaults EVIDENCE_MAX_RECORDS_PER_AUTHOR and EVIDENCE_MAX_TOTAL_BYTES. */
export interface EvidenceLimits {
  /** Most records kept per author. */
  maxRecordsPerAuthor: number
  /** Most bytes of entry frames kept over all authors (maintainers excepted). */
  maxTotalBytes: number
}

export const DEFAULT_EVIDENCE_LIMITS: Readonly<EvidenceLimits> = { maxRecordsPerAuthor: EVIDENCE_MAX_RECORDS_PER_AUTHOR, maxTotalBytes: EVIDENCE_MAX_TOTAL_BYTES }

/**
 * The caps with `partial` over the defaults.
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` unless each is an integer ≥ 1.
 */
export function createEvidenceLimits (partial: Partial<EvidenceLimits> = {}): EvidenceLimits {
  const limits = { ...DEFAULT_EVIDENCE_LIMITS, ...partial }
  for (const [name, n] of Object.entries(limits)) {
    if (!Number.isSafeInteger(n) || n < 1) throw new LedgerArgumentError(`evidence.${name} must be an integer ≥ 1, got ${String(n)}`)
  }
  return limits
}

/** The evidence records a store holds, by author and seq, with their total size. */
export class EvidenceBook {
  readonly #byAuthor = new Map<string, Map<number, Set<string>>>()
  readonly #count = new Map<string, number>()
  readonly #limits: EvidenceLimits
  #bytes = 0

  constructor (records: Iterable<EvidenceRecord> = [], limits: EvidenceLimits = DEFAULT_EVIDENCE_LIMITS) {
    this.#limits = limits
    for (const r of records) this.add(r)
  }

  /** Bytes of all kept records' entry frames. */
  get bytes (): number {
    return this.#bytes
  }

  /** Records kept for `author`. */
  records (author: string): number {
    return this.#count.get(author) ?? 0
  }

  /** True when a record for (author, seq) is kept, or the author's cap is reached: another would be dropped. */
  full (author: string, seq: number): boolean {
    return this.#byAuthor.get(author)?.has(seq) === true || this.records(author) >= this.#limits.maxRecordsPerAuthor
  }

  /**
   * What to do with a conflicting entry: `store` it, `held` (this very record is kept already: a replay),
   * or the reason it is dropped. `maintainer`: its author is a maintainer (not held to the total cap).
   */
  admit (r: EvidenceRecord, maintainer: boolean): 'store' | 'held' | EvidenceDropReason {
    const seqs = this.#byAuthor.get(r.author)?.get(r.seq)
    if (seqs?.has(r.id) === true) return 'held'
    if (seqs !== undefined) return 'pair-held'
    if (this.records(r.author) >= this.#limits.maxRecordsPerAuthor) return 'author-cap'
    if (!maintainer && this.#bytes + r.bytes > this.#limits.maxTotalBytes) return 'total-cap'
    return 'store'
  }

  /** Entry ids (CID strings) of every kept record. */
  * ids (): Generator<string> {
    for (const seqs of this.#byAuthor.values()) for (const ids of seqs.values()) yield * ids
  }

  add (r: EvidenceRecord): void {
    let seqs = this.#byAuthor.get(r.author)
    if (seqs === undefined) this.#byAuthor.set(r.author, seqs = new Map())
    let ids = seqs.get(r.seq)
    if (ids === undefined) seqs.set(r.seq, ids = new Set())
    if (ids.has(r.id)) return
    ids.add(r.id)
    this.#count.set(r.author, this.records(r.author) + 1)
    this.#bytes += r.bytes
  }

  /** Undoes `add` (a batch that failed to write). */
  remove (r: EvidenceRecord): void {
    const seqs = this.#byAuthor.get(r.author)
    const ids = seqs?.get(r.seq)
    if (ids?.delete(r.id) !== true) return
    if (ids.size === 0) seqs?.delete(r.seq)
    this.#count.set(r.author, this.records(r.author) - 1)
    this.#bytes -= r.bytes
  }
}
