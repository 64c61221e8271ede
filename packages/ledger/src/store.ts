/**
 * The ledger store: signed entries in per-author chains, heads, indexes and equivocation evidence in one
 * LevelDB (or memory-level) database. Layout: doc/ledger-format.md.
 */
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { blobCid, decodeEntryUnverified, parseCid, signEntry, validateEntry, type EntryKind, type SignedEntry, type SigningKey, type UnsignedEntry } from '@swarmtune/wire'
import { LENGTHS_WRITE_INTERVAL_MS } from './constants.js'
import { LedgerArgumentError, LedgerClosedError, LedgerCommunityError, LedgerCorruptError, LedgerEntryError, LedgerError, LedgerLockedError } from './errors.js'
import { acquireLock, type StoreLock } from './lock.js'
import { authorityFault, maintainersOf } from './authority.js'
import {
  META_COMMUNITY, META_SUMMARY, PREFIX, entryKey, evidenceKey, headKey, idKey, num16, parsePos,
  positionOfIndexKey, prefixRange, type Position
} from './keys.js'
import { fromHex, indexRecords, jsonBytes, toHex, xorInto, type CID, type Db, type Head, type Summary } from './records.js'
import { checkFilter, entryMatches, type EntryFilter } from './filters.js'
import type { LedgerInit, HeadInfo, AppendResult, IngestResult, EvidenceDrop, Equivocation, EntryDraft } from './types.js'
import { readLengths, writeLengths } from './lengths.js'
import { checkSchema, rebuildIndexes } from './schema.js'
import { chainFault, verifyStore, type VerifyProgress, type VerifyReport } from './verify.js'
import { EvidenceBook, createEvidenceLimits, type EvidenceDropReason, type EvidenceLimits, type EvidenceRecord } from './evidence.js'


export type { EntryFilter } from './filters.js'
export type { LedgerInit, HeadInfo, AppendResult, IngestResult, EvidenceDrop, Equivocation, EntryDraft } from './types.js'

interface Candidate { signed: SignedEntry, author: string, id: string }
interface Outcome { code?: string, reason?: string, evidence?: boolean, evidenceDropped?: EvidenceDropReason }

const openDbs = new WeakSet<Db>()

const utf8 = new TextDecoder()

/** A fresh in-memory database (memory-level, UTF-8 keys, byte values) for {@link openLedger}. */
export function createMemoryDb (): Db {
  return new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Db
}

/**
 * Opens a ledger store and re-verifies all of it before returning (see {@link Ledger}).
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
    if (openDbs.has(init.db)) throw new LedgerLockedError('<memory>', { pid: process.pid, self: true })
    openDbs.add(init.db)
    try {
      if (init.db.status !== 'open') await init.db.open()
      return await Ledger.fromDb(init.db, '<memory>', undefined, undefined, init)
    } catch (err) {
      openDbs.delete(init.db)
      throw err
    }
  }
  const dir = resolve(init.path as string)
  const lock = acquireLock(dir)
  let db: Db | undefined
  try {
    db = new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Db
    try {
      await db.open()
    } catch (err) {
      const e = err as { code?: string, cause?: { code?: string } }
      const code = e.cause?.code ?? e.code
      if (code === 'LEVEL_LOCKED') throw new LedgerLockedError(dir, lock.holder(), { cause: err })
      if (code === 'LEVEL_CORRUPTION' || /corruption/i.test(String((err as { cause?: Error }).cause?.message ?? ''))) throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', dir, 'LevelDB reported corruption while opening', {}, { cause: err })
      throw new LedgerError('ERR_LEDGER_IO', `could not open the LevelDB store in ${join(dir, 'db')}: ${String((err as { cause?: Error }).cause?.message ?? (err as Error).message)}. ` +
        'Check the folder\'s permissions and free space; if its files are damaged, move the folder aside and re-sync from peers or restore a backup.', { cause: err })
    }
    lock.confirm()
    return await Ledger.fromDb(db, dir, lock, await readLengths(dir), init)
  } catch (err) {
    if (db?.status === 'open') await db.close().catch(() => {})
    lock.release()
    throw err
  }
}

/** @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a string that is not a CID. */
function communityOf (community: CID | string): CID {
  if (typeof community !== 'string') return community
  try {
    return parseCid(community)
  } catch {
    throw new LedgerArgumentError(`community ${JSON.stringify(community.slice(0, 80))} is not a CID string; give the community id (the CID of its genesis entry, bafkrei…)`)
  }
}

/**
 * A ledger store: every author's chain of signed entries (seq from 0, each naming its predecessor's
 * CID), heads, indexes by kind, round, author, release and time, and equivocation evidence.
 *
 * - Appending is one atomic LevelDB batch (entry + head + indexes + summary) and idempotent by content id.
 * - On open the store checks its schema version and re-verifies every chain and signature; it fails closed.
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
  readonly #db: Db
  readonly #lock: StoreLock | undefined
  readonly #sync: boolean
  readonly #heads: Map<string, Head>
  #summary: Summary
  #community: CID | undefined
  #maintainers: Set<string> | undefined
  #headsDigest: Uint8Array | undefined
  readonly #evidence: EvidenceBook
  /** The in-memory summary counts evidence dropped since `m!summary` was last written. */
  #summaryDirty = false
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false
  #lengthsDirty = false
  #lengthsTimer: NodeJS.Timeout | undefined
  /** The lengths.json write in flight (or the last one): each write starts after the one before it ended. */
  #lengthsWrite: Promise<void> = Promise.resolve()

  private constructor (db: Db, path: string, lock: StoreLock | undefined, sync: boolean, state: { heads: Map<string, Head>, summary: Summary, community: CID | undefined, maintainers: Set<string> | undefined, evidenceRecords: EvidenceRecord[], evidenceLimits: EvidenceLimits, report: VerifyReport }) {
    super()
    this.#db = db
    this.path = path
    this.#lock = lock
    this.#sync = sync
    this.#heads = state.heads
    this.#summary = state.summary
    this.#community = state.community
    this.#maintainers = state.maintainers
    this.#evidence = new EvidenceBook(state.evidenceRecords, state.evidenceLimits)
    this.openReport = state.report
    if (lock !== undefined) {
      this.#lengthsTimer = setInterval(() => {
        void this.#writeLengths().catch(() => {})
        void this.#exclusive(async () => { await this.#writeSummaryIfDirty() }).catch(() => {})
      }, LENGTHS_WRITE_INTERVAL_MS)
      this.#lengthsTimer.unref()
    }
  }

  /** @internal Used by {@link openLedger}. */
  static async fromDb (db: Db, path: string, lock: StoreLock | undefined, knownLengths: Map<string, number> | undefined, init: LedgerInit): Promise<Ledger> {
    await checkSchema(db, path)
    let state = await verifyStore(db, { path, knownLengths, signal: init.signal, onProgress: init.onProgress })
    let rebuilt = false
    if (!state.indexesOk) {
      await rebuildIndexes(db)
      rebuilt = true
      state = await verifyStore(db, { path, knownLengths, signal: init.signal })
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
    const ledger = new Ledger(db, path, lock, init.sync ?? true, { ...state, evidenceLimits: createEvidenceLimits(init.evidence), report: { ...state.report, indexesRebuilt: rebuilt } })
    if (lock !== undefined) await ledger.#writeLengths(true)
    return ledger
  }

  /** The community id (CID of its genesis entry): the one the store was opened for, or that of its entries. */
  get community (): CID | undefined {
    return this.#community
  }

  /**
   * The maintainers the stored genesis names (raw Ed25519 keys as 64 lowercase hex digits), or undefined
   * while the genesis is not stored. Only they may author round-open, verdict, release and round-close
   * entries; the store refuses such entries from anyone else (`ERR_LEDGER_NOT_MAINTAINER`).
   */
  get maintainers (): ReadonlySet<string> | undefined {
    return this.#maintainers
  }

  /** True when the stored genesis names `author` (64 hex or 32 raw bytes) as a maintainer. */
  isMaintainer (author: string | Uint8Array): boolean {
    return this.#maintainers?.has(typeof author === 'string' ? author : toHex(author)) === true
  }

  /**
   * A digest of every chain: SHA-256 over the heads sorted by author, each as the 32-byte author, the seq as
   * an 8-byte big-endian integer and the head's CID bytes (36). Each head names its whole chain by hash, so
   * two stores with the same digest hold the same entries; sync compares digests before it sends heads.
   * Computed once after each change (32 bytes).
   */
  headsDigest (): Uint8Array {
    if (this.#headsDigest === undefined) {
      const hash = createHash('sha256')
      const seq = Buffer.alloc(8)
      for (const head of this.heads()) {
        hash.update(Buffer.from(head.author, 'hex'))
        seq.writeBigUInt64BE(BigInt(head.seq))
        hash.update(seq)
        hash.update(parseCid(head.id).bytes)
      }
      this.#headsDigest = new Uint8Array(hash.digest())
    }
    return this.#headsDigest
  }

  /** Number of stored entries. */
  get size (): number {
    return this.#summary.entries
  }

  /** Number of stored equivocation evidence records. */
  get evidenceCount (): number {
    return this.#summary.evidence
  }

  /**
   * Conflicting entries refused and not kept as evidence since the store was created: a record for the same
   * author and seq was kept already, or the per-author or total cap was reached (evidence.ts). Kept in
   * `m!summary`, written with the next append, every LENGTHS_WRITE_INTERVAL_MS and on close.
   */
  get evidenceDropped (): number {
    return this.#summary.evidenceDropped ?? 0
  }

  /**
   * False when a conflicting entry of `author` (64 hex) at `seq` would not be kept (a record for that seq is
   * kept already, or the author's cap is reached): sync does not ask peers for it.
   */
  wantsEvidence (author: string, seq: number): boolean {
    return !this.#evidence.full(author, seq)
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Every author's head, sorted by author. */
  heads (): HeadInfo[] {
    return [...this.#heads].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([author, h]) => ({ author, seq: h.seq, length: h.seq + 1, id: h.id }))
  }

  /** The head of one author chain (author as 64 hex or 32 raw bytes), or undefined. */
  head (author: string | Uint8Array): HeadInfo | undefined {
    const hex = typeof author === 'string' ? author : toHex(author)
    const h = this.#heads.get(hex)
    return h === undefined ? undefined : { author: hex, seq: h.seq, length: h.seq + 1, id: h.id }
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
   */
  async ingest (inputs: Uint8Array[], options: { sync?: boolean } = {}): Promise<IngestResult[]> {
    return (await this.#ingest(inputs, options)).results
  }

  /** ingest, also returning each entry that passed validation (undefined where it did not). */
  async #ingest (inputs: Uint8Array[], options: { sync?: boolean }): Promise<{ results: IngestResult[], validated: Array<SignedEntry | undefined> }> {
    if (this.#closed) return { results: inputs.map(() => ({ status: 'reject', code: 'ERR_LEDGER_CLOSED', reason: 'the ledger is closed' })), validated: [] }
    const results: IngestResult[] = new Array(inputs.length)
    const candidates: Array<{ index: number, candidate: Candidate }> = []
    const validations = await Promise.all(inputs.map(async (bytes) => await validateEntry(bytes, { community: this.#community })))
    const validated = validations.map((v) => v.status === 'accept' ? v.value : undefined)
    validations.forEach((v, index) => {
      if (v.status !== 'accept' || v.value === undefined) {
        results[index] = { status: v.status === 'ignore' ? 'ignore' : 'reject', code: v.code ?? 'ERR_LEDGER_INVALID_ENTRY', reason: v.reason ?? 'the entry failed validation' }
        return
      }
      const signed = v.value
      candidates.push({ index, candidate: { signed, author: toHex(signed.entry.author), id: signed.id.toString() } })
    })
    if (candidates.length === 0) return { results, validated }
    try {
      const outcomes = await this.#exclusive(async () => await this.#commit(candidates.map((c) => c.candidate), options.sync ?? this.#sync))
      candidates.forEach(({ index, candidate }, i) => {
        const o = outcomes[i]
        const base = { id: candidate.id, author: candidate.author, seq: candidate.signed.entry.seq }
        if (o.code === undefined) results[index] = { status: 'accept', ...base }
        else if (o.code === 'ERR_LEDGER_DUPLICATE' || o.code === 'ERR_LEDGER_GAP' || o.code === 'ERR_LEDGER_NO_GENESIS') results[index] = { status: 'ignore', code: o.code, reason: o.reason, ...base }
        else results[index] = { status: 'reject', code: o.code, reason: o.reason, evidence: o.evidence, ...(o.evidenceDropped === undefined ? {} : { evidenceDropped: o.evidenceDropped }), ...base }
      })
    } catch (err) {
      const e = err as { code?: string, message?: string }
      for (const { index } of candidates) results[index] = { status: 'ignore', code: e.code ?? 'ERR_LEDGER_IO', reason: e.message }
    }
    return { results, validated }
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
    return await this.#exclusive(async () => {
      const author = toHex(key.publicKey.raw)
      const head = this.#heads.get(author)
      const seq = head === undefined ? 0 : head.seq + 1
      const prev = head === undefined ? null : parseCid(head.id).bytes
      if (draft.kind !== 'genesis' && this.#community === undefined) {
        throw new LedgerArgumentError(`cannot sign a ${draft.kind} entry before the ledger knows its community: store the genesis entry first`)
      }
      const community = draft.kind === 'genesis' ? new Uint8Array(0) : (this.#community as CID).bytes
      if (draft.body === undefined && draft.kind !== 'checkpoint') throw new LedgerArgumentError(`a ${draft.kind} entry needs a body`)
      const body = draft.body ?? { length: seq, head: prev }
      const unsigned = { v: 1, community, author: key.publicKey.raw, seq, prev, ts: draft.ts ?? Date.now(), kind: draft.kind, body } as unknown as UnsignedEntry
      const signed = await signEntry(unsigned, key)
      const v = await validateEntry(signed.bytes, { community: this.#community })
      if (v.status !== 'accept') throw new LedgerEntryError('ERR_LEDGER_INVALID_ENTRY', `the signed ${draft.kind} entry does not validate (${v.code ?? ''}: ${v.reason ?? ''}); check the body against protocol/entries.md`)
      const [outcome] = await this.#commit([{ signed, author, id: signed.id.toString() }], options.sync ?? this.#sync)
      if (outcome.code !== undefined) throw new LedgerEntryError(outcome.code, `the signed entry was refused: ${outcome.reason ?? ''}`)
      return signed
    })
  }

  /** The stored entry with this content id (CID or CID string), or undefined. */
  async get (id: CID | string): Promise<SignedEntry | undefined> {
    this.#assertOpen()
    const pos = await this.#db.get(idKey(id.toString()))
    if (pos === undefined) return undefined
    const p = parsePos(utf8.decode(pos))
    return p === undefined ? undefined : await this.at(p.author, p.seq)
  }

  /** The stored entry at (author, seq), or undefined. */
  async at (author: string | Uint8Array, seq: number): Promise<SignedEntry | undefined> {
    this.#assertOpen()
    const bytes = await this.#db.get(entryKey(typeof author === 'string' ? author : toHex(author), seq))
    return bytes === undefined ? undefined : decodeEntryUnverified(bytes)
  }

  /** CID string of the stored entry at (author hex, seq), or undefined. */
  async idAt (author: string, seq: number): Promise<string | undefined> {
    this.#assertOpen()
    const bytes = await this.#db.get(entryKey(author, seq))
    return bytes === undefined ? undefined : blobCid(bytes).toString()
  }

  /** Raw bytes of an author's entries with seq in [from, to], in seq order. */
  async * chainBytes (author: string, from = 0, to = Number.MAX_SAFE_INTEGER): AsyncGenerator<Uint8Array> {
    this.#assertOpen()
    const iterator = this.#db.values({ gte: entryKey(author, from), lte: entryKey(author, to) })
    try {
      while (true) {
        const batch = await iterator.nextv(256)
        if (batch.length === 0) return
        yield * batch
      }
    } finally {
      await iterator.close()
    }
  }

  /**
   * Stored entries matching `filter`, ordered by timestamp (then author, seq), or by seq for an author filter.
   * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a malformed filter.
   */
  async * entries (filter: EntryFilter = {}): AsyncGenerator<SignedEntry> {
    this.#assertOpen()
    checkFilter(filter)
    const limit = filter.limit ?? Number.POSITIVE_INFINITY
    if (limit === 0) return
    let count = 0
    const matches = (s: SignedEntry): boolean => entryMatches(s, filter)
    if (filter.author !== undefined) {
      const iterator = this.#db.values({ ...prefixRange(`${PREFIX.entry}${filter.author}!`), reverse: filter.reverse === true })
      try {
        while (true) {
          const batch = await iterator.nextv(256)
          if (batch.length === 0) return
          for (const bytes of batch) {
            const s = decodeEntryUnverified(bytes)
            if (!matches(s)) continue
            yield s
            if (++count >= limit) return
          }
        }
      } finally {
        await iterator.close()
      }
    }
    const prefix = filter.round !== undefined
      ? `${PREFIX.round}${num16(filter.round)}!`
      : filter.release !== undefined
        ? `${PREFIX.release}${filter.release}!`
        : filter.kind !== undefined ? `${PREFIX.kind}${filter.kind}!` : PREFIX.time
    const range = {
      gte: prefix + (filter.since !== undefined ? num16(filter.since) : ''),
      lt: filter.until !== undefined ? prefix + num16(filter.until + 1) : prefix + '\xff'
    }
    const iterator = this.#db.keys({ ...range, reverse: filter.reverse === true })
    try {
      while (true) {
        const keys = await iterator.nextv(256)
        if (keys.length === 0) return
        const positions = keys.map(positionOfIndexKey).filter((p): p is Position => p !== undefined)
        const values = await this.#db.getMany(positions.map((p) => entryKey(p.author, p.seq)))
        for (const bytes of values) {
          if (bytes === undefined) continue
          const s = decodeEntryUnverified(bytes)
          if (!matches(s)) continue
          yield s
          if (++count >= limit) return
        }
      }
    } finally {
      await iterator.close()
    }
  }

  /** Every stored equivocation: the conflicting entry and the stored one it conflicts with. */
  async * equivocations (): AsyncGenerator<Equivocation> {
    this.#assertOpen()
    for await (const [key, bytes] of this.#db.iterator(prefixRange(PREFIX.evidence))) {
      const parts = key.slice(2).split('!')
      const pos = parsePos(`${parts[0]}!${parts[1]}`)
      if (pos === undefined) continue
      const conflicting = decodeEntryUnverified(bytes)
      const same = await this.at(pos.author, pos.seq)
      if (same !== undefined && !same.id.equals(conflicting.id)) {
        yield { author: pos.author, seq: pos.seq, type: 'same-seq', stored: same, conflicting }
        continue
      }
      const before = pos.seq > 0 ? await this.at(pos.author, pos.seq - 1) : undefined
      if (before !== undefined) yield { author: pos.author, seq: pos.seq, type: 'fork', stored: before, conflicting }
    }
  }

  /**
   * Re-verifies the whole open store now (what open does): chains, signatures, heads, summary, evidence,
   * indexes. Appends wait while it runs.
   * @throws LedgerCorruptError as {@link openLedger} does.
   */
  async verify (options: { signal?: AbortSignal, onProgress?: (p: VerifyProgress) => void } = {}): Promise<VerifyReport> {
    this.#assertOpen()
    return await this.#exclusive(async () => {
      const state = await verifyStore(this.#db, { path: this.path, ...options })
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
      await this.#writeSummaryIfDirty()
      if (this.#lock !== undefined) await this.#writeLengths(true)
    } finally {
      await this.#db.close()
      this.#lock?.release()
      openDbs.delete(this.#db)
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

  /** Classifies validated entries against the chains and writes all that fit in one batch. */
  async #commit (candidates: Candidate[], sync: boolean): Promise<Outcome[]> {
    const existing = await this.#db.getMany(candidates.map((c) => idKey(c.id)))
    const heads = new Map<string, Head>()
    const headOf = (author: string): Head | undefined => heads.get(author) ?? this.#heads.get(author)
    const seen = new Set<string>()
    const ops: Array<{ type: 'put', key: string, value: Uint8Array }> = []
    const digest = fromHex(this.#summary.digest) as Uint8Array
    let community = this.#community
    let maintainers = this.#maintainers
    let newCommunity = false
    let added = 0
    let evidence = 0
    const appended: SignedEntry[] = []
    const evidenced: SignedEntry[] = []
    const kept: EvidenceRecord[] = []
    const dropped: EvidenceDrop[] = []
    const outcomes: Outcome[] = []
    for (let i = 0; i < candidates.length; i++) {
      const { signed, author, id } = candidates[i]
      const { seq, kind } = signed.entry
      if (existing[i] !== undefined || seen.has(id)) {
        outcomes.push({ code: 'ERR_LEDGER_DUPLICATE', reason: `entry ${id} is already stored` })
        continue
      }
      if (community === undefined) {
        community = kind === 'genesis' ? signed.id : parseCid(signed.entry.community)
        newCommunity = true
      }
      const unauthorised = authorityFault(signed.entry, maintainers)
      if (unauthorised !== undefined) {
        outcomes.push(unauthorised)
        continue
      }
      const head = headOf(author)
      const expected = head === undefined ? 0 : head.seq + 1
      if (seq > expected) {
        outcomes.push({ code: 'ERR_LEDGER_GAP', reason: `seq ${seq} of author ${author} follows seq ${expected - 1}; entries ${expected}..${seq - 1} are missing (sync fills them)` })
        continue
      }
      const fault = seq < expected
        ? { code: 'ERR_LEDGER_EQUIVOCATION', reason: `author ${author} signed two different entries with seq ${seq}` }
        : chainFault(signed, author, seq, head, community)
      if (fault !== undefined) {
        if (fault.code !== 'ERR_LEDGER_EQUIVOCATION' && fault.code !== 'ERR_LEDGER_FORK') {
          outcomes.push({ ...fault, evidence: false })
          continue
        }
        const record = { author, seq, id, bytes: signed.bytes.length }
        const verdict = this.#evidence.admit(record, maintainers?.has(author) === true)
        if (verdict === 'store') {
          this.#evidence.add(record) // undone below if the batch fails
          kept.push(record)
          ops.push({ type: 'put', key: evidenceKey(author, seq, id), value: signed.bytes })
          evidence++
          evidenced.push(signed)
        } else if (verdict !== 'held') {
          dropped.push({ entry: signed, reason: verdict })
        }
        outcomes.push({ ...fault, evidence: verdict === 'store', ...(verdict === 'store' || verdict === 'held' ? {} : { evidenceDropped: verdict }) })
        continue
      }
      ops.push({ type: 'put', key: entryKey(author, seq), value: signed.bytes })
      for (const [key, value] of indexRecords(signed, author, id)) ops.push({ type: 'put', key, value })
      heads.set(author, { seq, id })
      if (kind === 'genesis') maintainers = maintainersOf(signed) // chainFault checked it is this community's
      xorInto(digest, signed.id.multihash.digest)
      seen.add(id)
      added++
      appended.push(signed)
      outcomes.push({})
    }
    const evidenceDropped = this.evidenceDropped + dropped.length
    if (added === 0 && evidence === 0) {
      // nothing to write now: the count goes into m!summary with the next write
      if (dropped.length > 0) {
        this.#summary = { ...this.#summary, evidenceDropped }
        this.#summaryDirty = true
        this.#dispatchDrops(dropped)
      }
      return outcomes
    }
    for (const [author, head] of heads) ops.push({ type: 'put', key: headKey(author), value: jsonBytes(head) })
    const authors = new Set([...this.#heads.keys(), ...heads.keys()]).size
    const summary: Summary = {
      entries: this.#summary.entries + added, authors, evidence: this.#summary.evidence + evidence, digest: toHex(digest), ...(evidenceDropped === 0 ? {} : { evidenceDropped })
    }
    ops.push({ type: 'put', key: META_SUMMARY, value: jsonBytes(summary) })
    if (newCommunity && added > 0) ops.push({ type: 'put', key: META_COMMUNITY, value: (community as CID).bytes })
    try {
      await this.#db.batch(ops, { sync } as object)
    } catch (err) {
      for (const record of kept) this.#evidence.remove(record)
      throw new LedgerError('ERR_LEDGER_IO', `could not write to the ledger store: ${(err as Error).message}. Check free space and permissions; nothing was stored.`, { cause: err })
    }
    this.#summaryDirty = false
    for (const [author, head] of heads) this.#heads.set(author, head)
    if (added > 0) this.#headsDigest = undefined
    this.#summary = summary
    this.#maintainers = maintainers
    if (newCommunity && added > 0) this.#community = community
    this.#lengthsDirty = true
    for (const signed of appended) this.dispatchEvent(new CustomEvent('entry', { detail: signed }))
    for (const signed of evidenced) this.dispatchEvent(new CustomEvent('equivocation', { detail: signed }))
    this.#dispatchDrops(dropped)
    return outcomes
  }

  #dispatchDrops (dropped: EvidenceDrop[]): void {
    for (const detail of dropped) this.dispatchEvent(new CustomEvent<EvidenceDrop>('evidence-dropped', { detail }))
  }

  /** Writes `m!summary` when only the count of dropped evidence changed since it was last written. */
  async #writeSummaryIfDirty (): Promise<void> {
    if (!this.#summaryDirty) return
    this.#summaryDirty = false
    await this.#db.put(META_SUMMARY, jsonBytes(this.#summary), { sync: this.#sync } as object)
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

  async #writeLengthsNow (force: boolean): Promise<void> {
    if (this.#lock === undefined || (!force && !this.#lengthsDirty)) return
    this.#lengthsDirty = false
    await writeLengths(this.path, this.#summary.entries, this.#heads)
  }
}
