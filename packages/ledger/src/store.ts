/**
 * The ledger store: signed entries in per-author chains, heads, indexes and equivocation evidence in one
 * LevelDB (or memory-level) database. Layout: doc/ledger-format.md. This module opens a store and holds
 * its public face, the order of writes and the lengths.json upkeep; the write path is store-write.ts, the
 * read path store-read.ts, where the database comes from store-db.ts.
 */
import { resolve } from 'node:path'
import type { EntryKind, LongOperationOptions, SignedEntry, SigningKey } from '@swarmtune/wire'
import { LENGTHS_WRITE_INTERVAL_MS } from './constants.js'
import { LedgerArgumentError, LedgerClosedError, LedgerCommunityError, LedgerCorruptError, LedgerEntryError } from './errors.js'
import { acquireLock, type StoreLock } from './lock.js'
import { META_COMMUNITY, META_VERIFIED } from './keys.js'
import { decodeCheckpoint, encodeCheckpoint, storeSecret, type ChainDigests, type CheckpointRead } from './checkpoint.js'
import { toHex, type CID, type Db, type Head, type Summary } from './records.js'
import type { EntryFilter } from './filters.js'
import type { LedgerInit, HeadInfo, AppendResult, IngestResult, Equivocation, EntryDraft } from './types.js'
import { readLengths, writeLengths } from './lengths.js'
import { checkSchema, rebuildIndexes } from './schema.js'
import { verifyStore, type VerifyProgressEvents, type VerifyReport } from './verify.js'
import { EvidenceBook, createEvidenceLimits, type EvidenceLimits, type EvidenceRecord } from './evidence.js'
import { claimDb, communityOf, openLevelDb, releaseDb } from './store-db.js'
import { chainBytes, digestOfHeads, entryAt, headInfo, headInfos, idAt, matchingEntries, positionOf, storedEquivocations } from './store-read.js'
import { closedResults, commitEntries, recordFailure, recordOutcomes, refuseUnauthorised, signDraft, validateInputs, writeSummaryIfDirty, type Outcome, type StoreState } from './store-write.js'

export { createMemoryDb } from './store-db.js'
export type { EntryFilter } from './filters.js'
export type { LedgerInit, HeadInfo, AppendResult, IngestResult, EvidenceDrop, Equivocation, EntryDraft } from './types.js'

/**
 * Opens a ledger store and verifies it before returning (see {@link Ledger}): all of it, or, for a disk
 * store with a trusted verification checkpoint, the entries stored after it in full and the ones before it
 * by hash (`init.verifyOnOpen`; doc/ledger-format.md "Reopen").
 *
 * @throws LedgerLockedError `ERR_LEDGER_LOCKED` when another process (or this one) has the store open.
 * @throws LedgerSchemaError `ERR_LEDGER_SCHEMA` when the store was written under another schema version.
 * @throws LedgerCommunityError `ERR_LEDGER_COMMUNITY_MISMATCH` when `community` is given and the store holds
 *   entries of another community.
 * @throws LedgerCorruptError `ERR_LEDGER_CORRUPT` / `ERR_LEDGER_TRUNCATED` when verification fails.
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` when neither or both of `path` and `db` are given,
 *   or an evidence cap is not an integer ≥ 1.
 */
export async function openLedger (init: LedgerInit): Promise<Ledger> {
  if ((init.path === undefined) === (init.db === undefined)) throw new LedgerArgumentError('openLedger needs exactly one of `path` (a folder) or `db` (createMemoryDb())')
  createEvidenceLimits(init.evidence)
  if (init.community !== undefined) communityOf(init.community)
  if (init.db !== undefined) {
    claimDb(init.db)
    try {
      if (init.db.status !== 'open') await init.db.open()
      return await Ledger.fromDb(init.db, '<memory>', undefined, undefined, init)
    } catch (err) {
      releaseDb(init.db)
      throw err
    }
  }
  const dir = resolve(init.path as string)
  const lock = acquireLock(dir)
  let db: Db | undefined
  try {
    db = await openLevelDb(dir, lock)
    lock.confirm()
    return await Ledger.fromDb(db, dir, lock, await readLengths(dir), init, await storeSecret(dir))
  } catch (err) {
    if (db?.status === 'open') await db.close().catch(() => {})
    lock.release()
    throw err
  }
}

/**
 * A ledger store: every author's chain of signed entries (seq from 0, each naming its predecessor's
 * CID), heads, indexes by kind, round, author, release and time, and equivocation evidence.
 *
 * - Appending is one atomic LevelDB batch (entry + head + indexes + summary) and idempotent by content id.
 * - On open the store checks its schema version and verifies every chain; it fails closed. Signatures are
 *   checked of every entry, or, on a disk store holding a trusted verification checkpoint (`m!verified`,
 *   written on open and on close), only of the entries stored after it, the ones before it being checked by
 *   the SHA-256 of their bytes (doc/ledger-format.md "Reopen").
 * - One process opens a store at a time (own lock file + LevelDB's lock; see lock.ts).
 *
 * - Equivocation evidence is kept within caps (evidence.ts): one record per author and seq,
 *   EVIDENCE_MAX_RECORDS_PER_AUTHOR per author, EVIDENCE_MAX_TOTAL_BYTES in all; the rest is counted.
 *
 * Events: `entry` (CustomEvent<SignedEntry>) after an entry is stored; `equivocation`
 * (CustomEvent<SignedEntry>, the conflicting entry) after evidence is stored; `evidence-dropped`
 * (CustomEvent<{@link EvidenceDrop}>) after a conflicting entry was refused and not kept.
 */
export class Ledger extends EventTarget {
  readonly path: string
  /** What the verification on open found. */
  readonly openReport: VerifyReport
  readonly #state: StoreState
  readonly #lock: StoreLock | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false
  #lengthsTimer: NodeJS.Timeout | undefined
  /** The lengths.json write in flight (or the last one): each write starts after the one before it ended. */
  #lengthsWrite: Promise<void> = Promise.resolve()
  /** The HMAC key of the verification checkpoint (disk stores), `<path>/verified.key`. */
  readonly #secret: Uint8Array | undefined
  /** What the stored checkpoint covers (entries, evidence, community), so that an unchanged store skips the write. */
  #checkpointed: string | undefined

  private constructor (db: Db, path: string, lock: StoreLock | undefined, sync: boolean, secret: Uint8Array | undefined, state: { heads: Map<string, Head>, summary: Summary, community: CID | undefined, maintainers: Set<string> | undefined, evidenceRecords: EvidenceRecord[], evidenceLimits: EvidenceLimits, report: VerifyReport, digests: ChainDigests }) {
    super()
    this.path = path
    this.#lock = lock
    this.#secret = secret
    this.#state = {
      db,
      events: this,
      sync,
      heads: state.heads,
      summary: state.summary,
      community: state.community,
      maintainers: state.maintainers,
      headsDigest: undefined,
      evidence: new EvidenceBook(state.evidenceRecords, state.evidenceLimits),
      summaryDirty: false,
      lengthsDirty: false,
      digests: state.digests
    }
    this.openReport = state.report
    if (lock !== undefined) {
      this.#lengthsTimer = setInterval(() => {
        void this.#writeLengths().catch(() => {})
        void this.#exclusive(async () => { await writeSummaryIfDirty(this.#state) }).catch(() => {})
      }, LENGTHS_WRITE_INTERVAL_MS)
      this.#lengthsTimer.unref()
    }
  }

  /** @internal Used by {@link openLedger}. */
  static async fromDb (db: Db, path: string, lock: StoreLock | undefined, knownLengths: Map<string, number> | undefined, init: LedgerInit, secret?: Uint8Array): Promise<Ledger> {
    await checkSchema(db, path)
    const read: CheckpointRead = secret === undefined || init.verifyOnOpen === 'full' ? { status: 'absent' } : decodeCheckpoint(await db.get(META_VERIFIED).catch(() => undefined), secret)
    const checkpoint = read.status === 'trusted' ? read.checkpoint : undefined
    let state = await verifyStore(db, { path, knownLengths, signal: init.signal, onProgress: init.onProgress, checkpoint })
    let rebuilt = false
    if (!state.indexesOk) {
      await rebuildIndexes(db)
      rebuilt = true
      state = await verifyStore(db, { path, knownLengths, signal: init.signal, checkpoint })
      if (!state.indexesOk) throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', path, 'the indexes still differ from the entries after a rebuild')
    }
    if (init.community !== undefined) {
      const expected = communityOf(init.community)
      if (state.community === undefined) {
        await db.put(META_COMMUNITY, expected.bytes, { sync: true } as object)
        state = { ...state, community: expected, report: { ...state.report, community: expected.toString() } }
      } else if (state.community.toString() !== expected.toString()) {
        throw new LedgerCommunityError(path, state.community.toString(), expected.toString(), state.report.entries)
      }
    }
    const report: VerifyReport = {
      ...state.report,
      indexesRebuilt: rebuilt,
      ...(secret === undefined || init.verifyOnOpen === 'full' || read.status === 'trusted' ? {} : { checkpoint: read.status }),
      ...(read.status === 'untrusted' ? { checkpointReason: read.reason } : {})
    }
    const ledger = new Ledger(db, path, lock, init.sync ?? true, secret, { ...state, evidenceLimits: createEvidenceLimits(init.evidence), report })
    if (lock !== undefined) {
      await ledger.#writeLengths(true)
      // a trusted checkpoint that covered everything (and the same community) needs no new write
      if (checkpoint !== undefined && report.signaturesChecked === 0 && checkpoint.community === ledger.community?.toString()) ledger.#checkpointed = ledger.#coverage()
      await ledger.#writeCheckpoint()
    }
    return ledger
  }

  /** The community id (CID of its genesis entry): the one the store was opened for, or that of its entries. */
  get community (): CID | undefined {
    return this.#state.community
  }

  /**
   * The maintainers the stored genesis names (raw Ed25519 keys as 64 lowercase hex digits), or undefined
   * while the genesis is not stored. Only they may author round-open, verdict, release and round-close
   * entries; the store refuses such entries from anyone else (`ERR_LEDGER_NOT_MAINTAINER`).
   */
  get maintainers (): ReadonlySet<string> | undefined {
    return this.#state.maintainers
  }

  /** True when the stored genesis names `author` (64 hex or 32 raw bytes) as a maintainer. */
  isMaintainer (author: string | Uint8Array): boolean {
    return this.#state.maintainers?.has(typeof author === 'string' ? author : toHex(author)) === true
  }

  /**
   * A digest of every chain: SHA-256 over the heads sorted by author, each as the 32-byte author, the seq as
   * an 8-byte big-endian integer and the head's CID bytes (36). Each head names its whole chain by hash, so
   * two stores with the same digest hold the same entries; sync compares digests before it sends heads.
   * Computed once after each change (32 bytes).
   */
  headsDigest (): Uint8Array {
    this.#state.headsDigest ??= digestOfHeads(this.heads())
    return this.#state.headsDigest
  }

  /** Number of stored entries. */
  get size (): number {
    return this.#state.summary.entries
  }

  /** Number of stored equivocation evidence records. */
  get evidenceCount (): number {
    return this.#state.summary.evidence
  }

  /**
   * Conflicting entries refused and not kept as evidence since the store was created: a record for the same
   * author and seq was kept already, or the per-author or total cap was reached (evidence.ts). Kept in
   * `m!summary`, written with the next append, every LENGTHS_WRITE_INTERVAL_MS and on close.
   */
  get evidenceDropped (): number {
    return this.#state.summary.evidenceDropped ?? 0
  }

  /**
   * False when a conflicting entry of `author` (64 hex) at `seq` would not be kept (a record for that seq is
   * kept already, or the author's cap is reached): sync does not ask peers for it.
   */
  wantsEvidence (author: string, seq: number): boolean {
    return !this.#state.evidence.full(author, seq)
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Every author's head, sorted by author. */
  heads (): HeadInfo[] {
    return headInfos(this.#state.heads)
  }

  /** The head of one author chain (author as 64 hex or 32 raw bytes), or undefined. */
  head (author: string | Uint8Array): HeadInfo | undefined {
    return headInfo(this.#state.heads, author)
  }

  /**
   * Validates and stores one entry (wire bytes or a SignedEntry). Idempotent: storing an entry twice
   * returns `duplicate: true`.
   *
   * @throws LedgerEntryError with the code of {@link IngestResult} when the entry is refused, e.g.
   *   `ERR_LEDGER_NOT_MAINTAINER` for a round-open, verdict, release or round-close whose author the genesis
   *   does not name (an equivocating entry is kept as evidence before the error is thrown).
   */
  async append (input: SignedEntry | Uint8Array, options: { sync?: boolean } = {}): Promise<AppendResult> {
    const bytes = input instanceof Uint8Array ? input : input.bytes
    const { results: [result], validated: [signed] } = await this.#ingest([bytes], options)
    if (signed !== undefined && (result.status === 'accept' || result.code === 'ERR_LEDGER_DUPLICATE')) {
      return { entry: signed, duplicate: result.status !== 'accept' }
    }
    throw new LedgerEntryError(result.code ?? 'ERR_LEDGER_INVALID_ENTRY', `entry refused: ${result.reason ?? ''}`)
  }

  /**
   * Validates and stores entries received from the network, in order, in one atomic batch. Never throws:
   * each entry gets an {@link IngestResult}. Entries of one chain must come in seq order.
   *
   * `options.onDecided` is called once with every input's result as soon as all are known — before the
   * batch that stores the accepted entries and the evidence is written (and fsynced) — or with the final
   * results when nothing is to be written. A refusal there is final; an `accept` (or `evidence: true`) holds
   * only once the returned promise resolves with it: a failed write turns those into `ERR_LEDGER_IO`.
   * It must not throw.
   */
  async ingest (inputs: Uint8Array[], options: { sync?: boolean, onDecided?: (results: IngestResult[]) => void } = {}): Promise<IngestResult[]> {
    return (await this.#ingest(inputs, options)).results
  }

  /** ingest, also returning each entry that passed validation (undefined where it did not). */
  async #ingest (inputs: Uint8Array[], options: { sync?: boolean, onDecided?: (results: IngestResult[]) => void }): Promise<{ results: IngestResult[], validated: Array<SignedEntry | undefined> }> {
    if (this.#closed) return decided({ results: closedResults(inputs), validated: [] }, options.onDecided)
    const results: IngestResult[] = new Array(inputs.length)
    const { candidates: valid, validated } = await validateInputs(inputs, this.#state.community, results)
    // refusals on authority first: they need neither the disk nor a turn behind other writes
    const candidates = refuseUnauthorised(this.#state, valid, results)
    if (candidates.length === 0) return decided({ results, validated }, options.onDecided)
    let told = false
    const onClassified = options.onDecided === undefined
      ? undefined
      : (outcomes: Outcome[]): void => {
          const early = [...results]
          recordOutcomes(early, candidates, outcomes)
          told = true
          options.onDecided?.(early)
        }
    try {
      const outcomes = await this.#exclusive(async () => await commitEntries(this.#state, candidates.map((c) => c.candidate), options.sync ?? this.#state.sync, onClassified))
      recordOutcomes(results, candidates, outcomes)
    } catch (err) {
      recordFailure(results, candidates, err)
    }
    // nothing was to be written (duplicates, gaps, refusals), or the store failed before classifying
    return told ? { results, validated } : decided({ results, validated }, options.onDecided)
  }

  /**
   * Signs a new entry with `key` at the head of the key's own chain (seq, prev, author and community
   * filled in) and stores it, atomically with respect to other appends, so that no two entries of this
   * process ever share a seq. A checkpoint draft may omit its body: `{ length: seq, head: prev }` is used.
   *
   * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a non-genesis draft while no community is known.
   * @throws LedgerEntryError when the signed entry is refused (e.g. a wrong body shape, or
   *   `ERR_LEDGER_NOT_MAINTAINER` / `ERR_LEDGER_NO_GENESIS` for a maintainer-only kind).
   */
  async sign<K extends EntryKind> (draft: EntryDraft<K>, key: SigningKey, options: { sync?: boolean } = {}): Promise<SignedEntry> {
    this.#assertOpen()
    return await this.#exclusive(async () => await signDraft(this.#state, draft, key, options.sync ?? this.#state.sync))
  }

  /** The stored entry with this content id (CID or CID string), or undefined. */
  async get (id: CID | string): Promise<SignedEntry | undefined> {
    this.#assertOpen()
    const p = await positionOf(this.#state.db, id)
    return p === undefined ? undefined : await this.at(p.author, p.seq)
  }

  /** The stored entry at (author, seq), or undefined. */
  async at (author: string | Uint8Array, seq: number): Promise<SignedEntry | undefined> {
    this.#assertOpen()
    return await entryAt(this.#state.db, author, seq)
  }

  /** CID string of the stored entry at (author hex, seq), or undefined. */
  async idAt (author: string, seq: number): Promise<string | undefined> {
    this.#assertOpen()
    return await idAt(this.#state.db, author, seq)
  }

  /** Raw bytes of an author's entries with seq in [from, to], in seq order. */
  async * chainBytes (author: string, from = 0, to = Number.MAX_SAFE_INTEGER): AsyncGenerator<Uint8Array> {
    this.#assertOpen()
    yield * chainBytes(this.#state.db, author, from, to)
  }

  /**
   * Stored entries matching `filter`, ordered by timestamp (then author, seq), or by seq for an author filter.
   * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a malformed filter.
   */
  async * entries (filter: EntryFilter = {}): AsyncGenerator<SignedEntry> {
    this.#assertOpen()
    yield * matchingEntries(this.#state.db, filter)
  }

  /** Every stored equivocation: the conflicting entry and the stored one it conflicts with. */
  async * equivocations (): AsyncGenerator<Equivocation> {
    this.#assertOpen()
    yield * storedEquivocations(this.#state.db, async (author, seq) => await this.at(author, seq))
  }

  /**
   * Re-verifies the whole open store now, whatever the checkpoint says: every chain, signature, head, the
   * summary, evidence and indexes (what `openLedger` does with `verifyOnOpen: 'full'`). Appends wait while it runs.
   * @throws LedgerCorruptError as {@link openLedger} does.
   */
  async verify (options: LongOperationOptions<VerifyProgressEvents> = {}): Promise<VerifyReport> {
    this.#assertOpen()
    return await this.#exclusive(async () => {
      const state = await verifyStore(this.#state.db, { path: this.path, ...options })
      if (!state.indexesOk) throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', this.path, 'the indexes differ from the entries (reopen the store to rebuild them)')
      return state.report
    })
  }

  /** Waits for pending appends, records the chain lengths (disk stores), closes the database and the lock. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#lengthsTimer)
    await this.#queue.catch(() => {})
    try {
      await writeSummaryIfDirty(this.#state)
      if (this.#lock !== undefined) {
        await this.#writeLengths(true)
        await this.#writeCheckpoint()
      }
    } finally {
      await this.#state.db.close()
      this.#lock?.release()
      releaseDb(this.#state.db)
    }
  }

  #assertOpen (): void {
    if (this.#closed) throw new LedgerClosedError()
  }

  async #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      this.#assertOpen()
      return await fn()
    })
    this.#queue = run.catch(() => {})
    return await run
  }

  /**
   * Writes `<path>/lengths.json` (tmp file, fsync, rename): a lower bound of every chain's length. Writes
   * are serialised — the periodic one and the one of `close` share one temporary file, and two writers of
   * it would fail the second rename (ENOENT) or leave a torn file.
   */
  async #writeLengths (force = false): Promise<void> {
    const run = this.#lengthsWrite.then(async () => { await this.#writeLengthsNow(force) })
    this.#lengthsWrite = run.catch(() => {})
    await run
  }

  /**
   * Writes `m!verified`: every stored entry and evidence record was verified, on open or when it was
   * appended, so the checkpoint covers all of them. Disk stores only; on open and on close. Not fsynced: it
   * follows in LevelDB's log the batches it covers, so a crash loses it with them or alone, and a lost
   * checkpoint only makes the next open verify more.
   */
  async #writeCheckpoint (): Promise<void> {
    if (this.#secret === undefined || this.#checkpointed === this.#coverage()) return
    const s = this.#state
    const cp = s.digests.checkpoint(s.heads, s.community?.toString(), s.evidence.ids())
    await s.db.put(META_VERIFIED, encodeCheckpoint(cp, this.#secret), { sync: false } as object)
    this.#checkpointed = this.#coverage()
  }

  #coverage (): string {
    const s = this.#state
    return `${s.summary.entries} ${s.summary.evidence} ${s.community?.toString() ?? ''}`
  }

  async #writeLengthsNow (force: boolean): Promise<void> {
    if (this.#lock === undefined || (!force && !this.#state.lengthsDirty)) return
    this.#state.lengthsDirty = false
    await writeLengths(this.path, this.#state.summary.entries, this.#state.heads)
  }
}

/** Hands an ingest's final results to its `onDecided` (when nothing was left to write) and returns them. */
function decided<T extends { results: IngestResult[] }> (outcome: T, onDecided: ((results: IngestResult[]) => void) | undefined): T {
  onDecided?.(outcome.results)
  return outcome
}
