/**
 * The write path of the ledger store: validating incoming entries, classifying them against the chains
 * (append, duplicate, gap, refused, equivocation evidence kept or dropped), writing all that fit in one
 * atomic LevelDB batch, and signing a new entry at the head of its author's chain. It updates the store's
 * in-memory state ({@link StoreState}) only after the batch is written. Callers (store.ts) run
 * {@link commitEntries} and {@link signDraft} one at a time.
 */
import { parseCid, signEntry, validateEntry, type EntryKind, type SignedEntry, type SigningKey, type UnsignedEntry } from '@swarmtune/wire'
import { LedgerArgumentError, LedgerEntryError, LedgerError } from './errors.js'
import { authorityFault, maintainersOf } from './authority.js'
import { META_COMMUNITY, META_SUMMARY, entryKey, evidenceKey, headKey, idKey } from './keys.js'
import { fromHex, indexRecords, jsonBytes, toHex, xorInto, type CID, type Db, type Head, type Summary } from './records.js'
import { chainFault } from './verify.js'
import type { EvidenceBook, EvidenceDropReason, EvidenceRecord } from './evidence.js'
import type { ChainDigests } from './checkpoint.js'
import type { EntryDraft, EvidenceDrop, IngestResult } from './types.js'

/**
 * @internal What an open store knows in memory besides its database: every head, the summary, the community
 * and its maintainers, the evidence kept, and what is still to be written. The write path changes it; the
 * reads answer from it.
 */
export interface StoreState {
  readonly db: Db
  /** Where `entry`, `equivocation` and `evidence-dropped` are dispatched (the Ledger). */
  readonly events: EventTarget
  /** fsync each batch unless the call says otherwise. */
  readonly sync: boolean
  readonly heads: Map<string, Head>
  summary: Summary
  community: CID | undefined
  maintainers: Set<string> | undefined
  /** Digest of the heads, computed on demand; undefined after heads changed. */
  headsDigest: Uint8Array | undefined
  readonly evidence: EvidenceBook
  /** The in-memory summary counts evidence dropped since `m!summary` was last written. */
  summaryDirty: boolean
  /** Chains grew since lengths.json was last written. */
  lengthsDirty: boolean
  /** Chain digests and the expected index digest of every stored entry (what a verification checkpoint records). */
  readonly digests: ChainDigests
}

/** A validated entry waiting to be classified: author as 64 hex, id as the CID string. */
export interface Candidate { signed: SignedEntry, author: string, id: string }
/** What became of one candidate: no code when it was appended. */
export interface Outcome { code?: string, reason?: string, evidence?: boolean, evidenceDropped?: EvidenceDropReason }

/** The ingest answer of every input while the store is closed. */
export function closedResults (inputs: Uint8Array[]): IngestResult[] {
  return inputs.map(() => ({ status: 'reject', code: 'ERR_LEDGER_CLOSED', reason: 'the ledger is closed' }))
}

/**
 * Validates wire entries against the store's community. Fills `results` for those that fail and returns
 * the rest as candidates (with their input index), and each input's validated entry (undefined where it failed).
 */
export async function validateInputs (inputs: Uint8Array[], community: CID | undefined, results: IngestResult[]): Promise<{ candidates: Array<{ index: number, candidate: Candidate }>, validated: Array<SignedEntry | undefined> }> {
  const candidates: Array<{ index: number, candidate: Candidate }> = []
  const validations = await Promise.all(inputs.map(async (bytes) => await validateEntry(bytes, { community })))
  const validated = validations.map((v) => v.status === 'accept' ? v.value : undefined)
  validations.forEach((v, index) => {
    if (v.status !== 'accept' || v.value === undefined) {
      results[index] = { status: v.status === 'ignore' ? 'ignore' : 'reject', code: v.code ?? 'ERR_LEDGER_INVALID_ENTRY', reason: v.reason ?? 'the entry failed validation' }
      return
    }
    const signed = v.value
    candidates.push({ index, candidate: { signed, author: toHex(signed.entry.author), id: signed.id.toString() } })
  })
  return { candidates, validated }
}

/** Fills `results` from the candidates' outcomes: duplicates, gaps and a missing genesis are ignored, the rest of the faults rejected. */
export function recordOutcomes (results: IngestResult[], candidates: Array<{ index: number, candidate: Candidate }>, outcomes: Outcome[]): void {
  candidates.forEach(({ index, candidate }, i) => {
    const o = outcomes[i]
    const base = { id: candidate.id, author: candidate.author, seq: candidate.signed.entry.seq }
    if (o.code === undefined) results[index] = { status: 'accept', ...base }
    else if (o.code === 'ERR_LEDGER_DUPLICATE' || o.code === 'ERR_LEDGER_GAP' || o.code === 'ERR_LEDGER_NO_GENESIS') results[index] = { status: 'ignore', code: o.code, reason: o.reason, ...base }
    else results[index] = { status: 'reject', code: o.code, reason: o.reason, evidence: o.evidence, ...(o.evidenceDropped === undefined ? {} : { evidenceDropped: o.evidenceDropped }), ...base }
  })
}

/**
 * Answers, without the database and without waiting for the write queue, the candidates whose author may not
 * sign their kind ({@link authorityFault}), and returns the others. Only once the genesis is stored: its
 * maintainers never change after that, and no stored entry fails the check (each was checked when stored),
 * so the answer is the one {@link commitEntries} would give (a duplicate of a refused entry cannot exist).
 */
export function refuseUnauthorised (state: StoreState, candidates: Array<{ index: number, candidate: Candidate }>, results: IngestResult[]): Array<{ index: number, candidate: Candidate }> {
  const maintainers = state.maintainers
  if (maintainers === undefined) return candidates
  return candidates.filter(({ index, candidate }) => {
    const fault = authorityFault(candidate.signed.entry, maintainers)
    if (fault === undefined) return true
    results[index] = { status: 'reject', code: fault.code, reason: fault.reason, id: candidate.id, author: candidate.author, seq: candidate.signed.entry.seq }
    return false
  })
}

/** Fills `results` for every candidate when the batch could not be written (`err`, by default `ERR_LEDGER_IO`). */
export function recordFailure (results: IngestResult[], candidates: Array<{ index: number }>, err: unknown): void {
  const e = err as { code?: string, message?: string }
  for (const { index } of candidates) results[index] = { status: 'ignore', code: e.code ?? 'ERR_LEDGER_IO', reason: e.message }
}

/**
 * Classifies validated entries against the chains and writes all that fit in one batch (entries, heads,
 * indexes, evidence, summary, community), then updates `state` and dispatches the events. `onClassified`
 * is called with the outcomes once they are known, before the batch is written (they stand unless the
 * write fails).
 * @throws LedgerError `ERR_LEDGER_IO` when the batch cannot be written (nothing is stored).
 */
export async function commitEntries (state: StoreState, candidates: Candidate[], sync: boolean, onClassified?: (outcomes: Outcome[]) => void): Promise<Outcome[]> {
  const existing = await state.db.getMany(candidates.map((c) => idKey(c.id)))
  const heads = new Map<string, Head>()
  const headOf = (author: string): Head | undefined => heads.get(author) ?? state.heads.get(author)
  const seen = new Set<string>()
  const ops: Array<{ type: 'put', key: string, value: Uint8Array }> = []
  const digest = fromHex(state.summary.digest) as Uint8Array
  let community = state.community
  let maintainers = state.maintainers
  let newCommunity = false
  let added = 0
  let evidence = 0
  const appended: SignedEntry[] = []
  const indexed: Array<[string, Uint8Array]> = []
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
      const verdict = state.evidence.admit(record, maintainers?.has(author) === true)
      if (verdict === 'store') {
        state.evidence.add(record) // undone below if the batch fails
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
    for (const [key, value] of indexRecords(signed, author, id)) {
      ops.push({ type: 'put', key, value })
      indexed.push([key, value])
    }
    heads.set(author, { seq, id })
    if (kind === 'genesis') maintainers = maintainersOf(signed) // chainFault checked it is this community's
    xorInto(digest, signed.id.multihash.digest)
    seen.add(id)
    added++
    appended.push(signed)
    outcomes.push({})
  }
  const evidenceDropped = (state.summary.evidenceDropped ?? 0) + dropped.length
  if (added === 0 && evidence === 0) {
    // nothing to write now: the count goes into m!summary with the next write
    if (dropped.length > 0) {
      state.summary = { ...state.summary, evidenceDropped }
      state.summaryDirty = true
      dispatchDrops(state.events, dropped)
    }
    return outcomes
  }
  onClassified?.(outcomes)
  for (const [author, head] of heads) ops.push({ type: 'put', key: headKey(author), value: jsonBytes(head) })
  const authors = new Set([...state.heads.keys(), ...heads.keys()]).size
  const summary: Summary = {
    entries: state.summary.entries + added, authors, evidence: state.summary.evidence + evidence, digest: toHex(digest), ...(evidenceDropped === 0 ? {} : { evidenceDropped })
  }
  ops.push({ type: 'put', key: META_SUMMARY, value: jsonBytes(summary) })
  if (newCommunity && added > 0) ops.push({ type: 'put', key: META_COMMUNITY, value: (community as CID).bytes })
  try {
    await state.db.batch(ops, { sync } as object)
  } catch (err) {
    for (const record of kept) state.evidence.remove(record)
    throw new LedgerError('ERR_LEDGER_IO', `could not write to the ledger store: ${(err as Error).message}. Check free space and permissions; nothing was stored.`, { cause: err })
  }
  state.summaryDirty = false
  for (const [author, head] of heads) state.heads.set(author, head)
  if (added > 0) state.headsDigest = undefined
  state.summary = summary
  state.maintainers = maintainers
  if (newCommunity && added > 0) state.community = community
  state.lengthsDirty = true
  for (const signed of appended) state.digests.add(toHex(signed.entry.author), signed.id.multihash.digest)
  for (const [key, value] of indexed) state.digests.indexes.add(key, value)
  for (const signed of appended) state.events.dispatchEvent(new CustomEvent('entry', { detail: signed }))
  for (const signed of evidenced) state.events.dispatchEvent(new CustomEvent('equivocation', { detail: signed }))
  dispatchDrops(state.events, dropped)
  return outcomes
}

function dispatchDrops (events: EventTarget, dropped: EvidenceDrop[]): void {
  for (const detail of dropped) events.dispatchEvent(new CustomEvent<EvidenceDrop>('evidence-dropped', { detail }))
}

/**
 * Signs `draft` with `key` at the head of the key's own chain (seq, prev, author and community filled in;
 * a checkpoint without a body gets `{ length: seq, head: prev }`) and commits it.
 *
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a non-genesis draft while no community is
 *   known, or a draft without a body that needs one.
 * @throws LedgerEntryError when the signed entry does not validate or is refused.
 */
export async function signDraft<K extends EntryKind> (state: StoreState, draft: EntryDraft<K>, key: SigningKey, sync: boolean): Promise<SignedEntry> {
  const author = toHex(key.publicKey.raw)
  const head = state.heads.get(author)
  const seq = head === undefined ? 0 : head.seq + 1
  const prev = head === undefined ? null : parseCid(head.id).bytes
  if (draft.kind !== 'genesis' && state.community === undefined) {
    throw new LedgerArgumentError(`cannot sign a ${draft.kind} entry before the ledger knows its community: store the genesis entry first`)
  }
  const community = draft.kind === 'genesis' ? new Uint8Array(0) : (state.community as CID).bytes
  if (draft.body === undefined && draft.kind !== 'checkpoint') throw new LedgerArgumentError(`a ${draft.kind} entry needs a body`)
  const body = draft.body ?? { length: seq, head: prev }
  const unsigned = { v: 1, community, author: key.publicKey.raw, seq, prev, ts: draft.ts ?? Date.now(), kind: draft.kind, body } as unknown as UnsignedEntry
  const signed = await signEntry(unsigned, key)
  const v = await validateEntry(signed.bytes, { community: state.community })
  if (v.status !== 'accept') throw new LedgerEntryError('ERR_LEDGER_INVALID_ENTRY', `the signed ${draft.kind} entry does not validate (${v.code ?? ''}: ${v.reason ?? ''}); check the body against protocol/entries.md`)
  const [outcome] = await commitEntries(state, [{ signed, author, id: signed.id.toString() }], sync)
  if (outcome.code !== undefined) throw new LedgerEntryError(outcome.code, `the signed entry was refused: ${outcome.reason ?? ''}`)
  return signed
}

/** Writes `m!summary` when only the count of dropped evidence changed since it was last written. */
export async function writeSummaryIfDirty (state: StoreState): Promise<void> {
  if (!state.summaryDirty) return
  state.summaryDirty = false
  await state.db.put(META_SUMMARY, jsonBytes(state.summary), { sync: state.sync } as object)
}
