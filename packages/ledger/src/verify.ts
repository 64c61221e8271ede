/**
 * Verification of a whole store, run on open and by `Ledger.verify()`: every chain from seq 0, every
 * signature (through wire's `validateEntry`), the maintainer rule (authority.ts), every head, the
 * summary record, the evidence records, the sidecar of known lengths and a digest of the derived indexes. A raw LevelDB log can lose keys
 * silently after a byte flip, so each way a key can go missing is cross-checked by another record.
 * Given a trusted verification checkpoint (checkpoint.ts), the entries and evidence it covers are checked by
 * the SHA-256 of their bytes against it instead of being decoded and signature-checked again.
 */
import { createHash } from 'node:crypto'
import { blobCid, parseCid, validateEntry, type SignedEntry } from '@swarmtune/wire'
import { VERIFY_PROGRESS_EVERY_ENTRIES } from './constants.js'
import { MAINTAINER_KINDS, authorityFault, maintainersOf } from './authority.js'
import { CustomProgressEvent } from 'progress-events'
import { LedgerCorruptError, type CorruptionDetail } from './errors.js'
import { META_COMMUNITY, META_SCHEMA, META_SUMMARY, META_VERIFIED, PREFIX, entryKey, parsePos, type Position } from './keys.js'
import type { EvidenceRecord } from './evidence.js'
import { ChainDigests, type Checkpoint } from './checkpoint.js'
import { bodyOf, cidString, indexRecords, parseSummary, RecordSetDigest, toHex, xorInto, type CID, type Db, type Head, type Summary } from './records.js'

/** The progress events of a verification: `ledger:verify` every VERIFY_PROGRESS_EVERY_ENTRIES entries and at the end. */
export type VerifyProgressEvents = CustomProgressEvent<VerifyProgress, 'ledger:verify'>

/** Progress of a verification, reported every VERIFY_PROGRESS_EVERY_ENTRIES entries. */
export interface VerifyProgress {
  /** Entries verified so far. */
  verified: number
  /** Entries the summary record says the store holds. */
  total: number
}

/** What a verification found. */
export interface VerifyReport {
  entries: number
  authors: number
  /** Equivocation evidence records (each verified). */
  evidence: number
  /** Conflicting entries not kept as evidence, as the summary record counts them (over the caps, or a pair already kept). */
  evidenceDropped: number
  /** True when the derived indexes did not match the entries and were rebuilt from them. */
  indexesRebuilt: boolean
  /** Wall-clock duration of the verification, in ms. */
  durationMs: number
  /**
   * Entries and evidence records whose signatures this verification checked: all of them for a full
   * verification; on a reopen with a trusted checkpoint, only those stored after it.
   */
  signaturesChecked: number
  /**
   * The verification checkpoint (`m!verified`) on open: `used` (a trusted one covered `checkpointEntries`
   * entries, checked by hash), `absent`, `untrusted` (its MAC or format did not check out, `checkpointReason`
   * says why; everything was verified instead) or `off` (a full verification: `Ledger.verify()`,
   * `verifyOnOpen: 'full'`, a memory store).
   */
  checkpoint: 'used' | 'absent' | 'untrusted' | 'off'
  checkpointEntries?: number
  checkpointReason?: string
  /** CID string of the community, when the store holds any entry. */
  community?: string
}

export interface VerifyContext {
  /** Shown in errors. */
  path: string
  /** Lower bounds of chain lengths known from an earlier run (lengths.json), by author hex. */
  knownLengths?: ReadonlyMap<string, number>
  signal?: AbortSignal
  onProgress?: (evt: VerifyProgressEvents) => void
  /** A trusted verification checkpoint: the entries and evidence it covers are checked by hash only. */
  checkpoint?: Checkpoint
}

export interface VerifiedState {
  report: VerifyReport
  heads: Map<string, Head>
  summary: Summary
  community: CID | undefined
  /** Maintainer keys (hex) of the stored genesis; undefined when the genesis is not stored. */
  maintainers: Set<string> | undefined
  /** Every evidence record (author, seq, id, frame size). */
  evidenceRecords: EvidenceRecord[]
  indexesOk: boolean
  /** Chain digests and the expected index digest of every stored entry, for the next checkpoint. */
  digests: ChainDigests
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Why an entry cannot extend its chain: a stable code and a reason. */
export interface ChainFault { code: string, reason: string }

/**
 * Checks one entry against the chain position it would take (`seq`, after `prev`) and the community.
 * Returns undefined when it fits.
 */
export function chainFault (signed: SignedEntry, author: string, seq: number, prev: Head | undefined, community: CID | undefined): ChainFault | undefined {
  const { entry } = signed
  if (toHex(entry.author) !== author) return { code: 'ERR_LEDGER_INVALID_ENTRY', reason: 'the entry is signed by another author than its chain' }
  if (entry.seq !== seq) return { code: 'ERR_LEDGER_INVALID_ENTRY', reason: `the entry has seq ${entry.seq}, its chain position is ${seq}` }
  if (community !== undefined) {
    if (entry.kind === 'genesis' ? !signed.id.equals(community) : cidString(entry.community) !== community.toString()) {
      return { code: 'ERR_LEDGER_WRONG_COMMUNITY', reason: `the entry belongs to another community than ${community.toString()}` }
    }
  }
  const prevId = entry.prev === null ? undefined : cidString(entry.prev)
  if (prevId !== prev?.id) {
    return { code: 'ERR_LEDGER_FORK', reason: `its prev is ${prevId ?? 'null'}, the previous entry of the chain is ${prev?.id ?? 'none'}` }
  }
  if (entry.kind === 'checkpoint') {
    const body = bodyOf(entry)
    if (body.length !== seq || cidString(body.head) !== prev?.id) {
      return { code: 'ERR_LEDGER_BAD_CHECKPOINT', reason: 'a checkpoint must state its own seq as length and its prev as head' }
    }
  }
  return undefined
}

/**
 * Scans the whole store in key order and verifies it.
 *
 * @throws LedgerCorruptError `ERR_LEDGER_CORRUPT` or `ERR_LEDGER_TRUNCATED` on any mismatch or LevelDB
 *   corruption error; the signal's reason when aborted.
 */
export async function verifyStore (db: Db, ctx: VerifyContext): Promise<VerifiedState> {
  const started = performance.now()
  type Fail = (what: string, detail?: CorruptionDetail, cause?: unknown, code?: 'ERR_LEDGER_CORRUPT' | 'ERR_LEDGER_TRUNCATED') => never
  const fail: Fail = (what, detail = {}, cause, code = 'ERR_LEDGER_CORRUPT') => {
    throw new LedgerCorruptError(code, ctx.path, what, detail, cause === undefined ? undefined : { cause })
  }
  const getMeta = async (key: string): Promise<Uint8Array | undefined> => {
    try {
      return await db.get(key)
    } catch (err) {
      return fail(`LevelDB could not read ${key}`, { key }, err)
    }
  }

  const summaryBytes = await getMeta(META_SUMMARY)
  const summary = summaryBytes === undefined ? undefined : parseSummary(summaryBytes)
  if (summaryBytes !== undefined && summary === undefined) fail('the summary record is malformed', { key: META_SUMMARY })
  const communityBytes = await getMeta(META_COMMUNITY)
  let community: CID | undefined
  if (communityBytes !== undefined) {
    community = decodeCommunity(communityBytes) ?? fail('the community record is malformed', { key: META_COMMUNITY })
  }

  const cp = ctx.checkpoint
  // a store's community is set once, by its first entry or its open for a community, after which a checkpoint may have been written before
  if (cp !== undefined && cp.community !== undefined && cp.community !== community?.toString()) fail(`the verification checkpoint names community ${cp.community ?? 'none'}, the store ${community?.toString() ?? 'none'}`, { key: META_VERIFIED })
  const covered = (pos: Position): boolean => cp !== undefined && pos.seq < (cp.chains.get(pos.author)?.length ?? 0)
  const heads = new Map<string, Head>()
  const digest = new Uint8Array(32)
  const expectedIndexes = cp === undefined ? new RecordSetDigest() : RecordSetDigest.from(cp.indexes)
  const digests = new ChainDigests(expectedIndexes)
  let signatures = 0
  const actualIndexes = new RecordSetDigest()
  let entries = 0
  let evidence = 0
  let headsSeen = 0
  let lastAuthor: string | undefined
  const total = summary?.entries ?? 0
  const evidenceRecords: Array<[string, Uint8Array]> = []
  let maintainers: Set<string> | undefined
  // the first maintainer-only entry of each author, checked once the genesis is known (it may come later in key order)
  const maintainerEntries = new Map<string, SignedEntry>()

  const iterator = db.iterator()
  try {
    while (true) {
      ctx.signal?.throwIfAborted()
      let batch: Array<[string, Uint8Array]>
      try {
        batch = await iterator.nextv(1000)
      } catch (err) {
        return fail('LevelDB reported an error while reading the store', {}, err)
      }
      if (batch.length === 0) break
      const positions = batch.map(([key]) => key.startsWith(PREFIX.entry) ? parsePos(key.slice(2)) : undefined)
      // Signatures of a batch are checked together; chain order is checked after, in key order.
      const validations = await Promise.all(batch.map(async ([key, value], i) => {
        const pos = positions[i]
        return key.startsWith(PREFIX.entry) && (pos === undefined || !covered(pos)) ? await validateEntry(value, { community }) : undefined
      }))
      for (let i = 0; i < batch.length; i++) {
        const [key, value] = batch[i]
        const prefix = key.slice(0, 2)
        if (prefix === PREFIX.entry) {
          const pos = positions[i] ?? fail('a chain key is malformed', { key })
          if (pos.author !== lastAuthor) {
            if (lastAuthor !== undefined && pos.author < lastAuthor) fail('chain keys are out of order', { key })
            lastAuthor = pos.author
          }
          const prev = heads.get(pos.author)
          const expected = prev === undefined ? 0 : prev.seq + 1
          if (pos.seq !== expected) {
            fail(`the chain skips from seq ${expected - 1} to ${pos.seq}: entries are missing`, { author: pos.author, seq: expected, key, missing: { from: expected, to: pos.seq - 1 } }, undefined, 'ERR_LEDGER_TRUNCATED')
          }
          if (cp !== undefined && covered(pos)) {
            const d = new Uint8Array(createHash('sha256').update(value).digest())
            digests.add(pos.author, d)
            const chain = cp.chains.get(pos.author) as { length: number, head: string, digest: Uint8Array }
            let id = ''
            if (pos.seq === chain.length - 1) {
              // the chain digest covers every entry of the verified part of the chain, in seq order
              const got = digests.digest(pos.author) as Uint8Array
              if (!Buffer.from(got).equals(chain.digest) || !Buffer.from(d).equals(parseCid(chain.head).multihash.digest)) {
                fail(`entries 0..${chain.length - 1} of the chain are not the bytes verified earlier (the verification checkpoint's chain digest differs): an entry was altered or replaced`, { author: pos.author, seq: pos.seq, key })
              }
              id = chain.head
            }
            if (community !== undefined && Buffer.from(d).equals(community.multihash.digest)) {
              const v = await validateEntry(value, { community })
              if (v.value?.entry.kind !== 'genesis') fail(`the genesis entry fails validation (${v.code ?? 'unknown'}: ${v.reason ?? ''})`, { author: pos.author, seq: pos.seq, key })
              maintainers = maintainersOf(v.value)
            }
            heads.set(pos.author, { seq: pos.seq, id })
            xorInto(digest, d)
            entries++
            if (entries % VERIFY_PROGRESS_EVERY_ENTRIES === 0) ctx.onProgress?.(new CustomProgressEvent('ledger:verify', { verified: entries, total }))
            continue
          }
          signatures++
          const v = validations[i]
          if (v?.status !== 'accept' || v.value === undefined) {
            fail(`an entry fails validation (${v?.code ?? 'unknown'}: ${v?.reason ?? ''})`, { author: pos.author, seq: pos.seq, key })
          }
          const signed = v.value
          const fault = chainFault(signed, pos.author, pos.seq, prev, community)
          if (fault !== undefined) fail(`an entry does not fit its chain (${fault.code}): ${fault.reason}`, { author: pos.author, seq: pos.seq, key })
          if (signed.entry.kind === 'genesis') maintainers = maintainersOf(signed)
          else if (MAINTAINER_KINDS.has(signed.entry.kind) && !maintainerEntries.has(pos.author)) maintainerEntries.set(pos.author, signed)
          const id = signed.id.toString()
          heads.set(pos.author, { seq: pos.seq, id })
          xorInto(digest, signed.id.multihash.digest)
          digests.add(pos.author, signed.id.multihash.digest)
          for (const [k, val] of indexRecords(signed, pos.author, id)) expectedIndexes.add(k, val)
          entries++
          if (entries % VERIFY_PROGRESS_EVERY_ENTRIES === 0) ctx.onProgress?.(new CustomProgressEvent('ledger:verify', { verified: entries, total }))
        } else if (prefix === PREFIX.head) {
          const author = key.slice(2)
          const head = heads.get(author)
          const stored = parseHead(value)
          if (stored === undefined) fail('a head record is malformed', { author, key })
          const verified = cp?.chains.get(author)?.length ?? 0
          const have = (head?.seq ?? -1) + 1
          if (have < verified) fail(`the chain holds ${have} entries, the verification checkpoint ${verified}: entries are missing`, { author, seq: have, key, missing: { from: have, to: verified - 1 } }, undefined, 'ERR_LEDGER_TRUNCATED')
          if (head === undefined) fail('a head names a chain with no entries: entries are missing', { author, key, missing: { from: 0, to: stored.seq } }, undefined, 'ERR_LEDGER_TRUNCATED')
          if (stored.seq > head.seq) fail(`the head is at seq ${stored.seq}, the chain ends at ${head.seq}: entries are missing`, { author, seq: head.seq + 1, key, missing: { from: head.seq + 1, to: stored.seq } }, undefined, 'ERR_LEDGER_TRUNCATED')
          if (stored.seq !== head.seq || stored.id !== head.id) fail('a head record does not match its chain', { author, seq: head.seq, key })
          headsSeen++
        } else if (prefix === PREFIX.id || prefix === PREFIX.time || prefix === PREFIX.kind || prefix === PREFIX.round || prefix === PREFIX.release) {
          actualIndexes.add(key, value)
        } else if (prefix === PREFIX.evidence) {
          evidenceRecords.push([key, value])
        } else if (key !== META_SCHEMA && key !== META_SUMMARY && key !== META_COMMUNITY && key !== META_VERIFIED) {
          fail('the store holds a key outside the ledger layout', { key })
        }
      }
    }
  } finally {
    await iterator.close().catch(() => {})
  }

  for (const [author, signed] of maintainerEntries) {
    const fault = authorityFault(signed.entry, maintainers)
    if (fault !== undefined) fail(`an entry breaks the maintainer rule (${fault.code}): ${fault.reason}`, { author, seq: signed.entry.seq })
  }
  for (const [author, chain] of cp?.chains ?? []) {
    const have = (heads.get(author)?.seq ?? -1) + 1
    if (have < chain.length) fail(`the chain holds ${have} entries, the verification checkpoint ${chain.length}: entries are missing`, { author, seq: have, missing: { from: have, to: chain.length - 1 } }, undefined, 'ERR_LEDGER_TRUNCATED')
  }
  const evidenceIndex: EvidenceRecord[] = []
  for (const [key, value] of evidenceRecords) {
    const known = cp === undefined ? undefined : checkedEvidence(key, value, cp)
    if (known === undefined) signatures++
    evidenceIndex.push(known ?? await checkEvidence(db, key, value, heads, community, fail))
    evidence++
  }
  if (headsSeen !== heads.size) {
    const missing = [...heads.keys()].find(() => true)
    fail(`${heads.size - headsSeen} head records are missing`, { author: missing })
  }
  if (entries > 0 && community === undefined) fail('the community record is missing', { key: META_COMMUNITY })
  if (summary === undefined) {
    if (entries > 0 || evidence > 0) fail('the summary record is missing', { key: META_SUMMARY })
  } else {
    if (summary.entries > entries) {
      // lengths.json, when it knows the shortened chain, names whose entries they are
      const short = [...(ctx.knownLengths ?? [])].map(([author, length]) => ({ author, length, have: (heads.get(author)?.seq ?? -1) + 1 })).find((c) => c.have < c.length)
      fail(`the summary counts ${summary.entries} entries, the chains hold ${entries}: entries are missing`,
        short === undefined ? { key: META_SUMMARY } : { key: META_SUMMARY, author: short.author, seq: short.have, missing: { from: short.have, to: short.length - 1 } }, undefined, 'ERR_LEDGER_TRUNCATED')
    }
    if (summary.entries !== entries || summary.authors !== heads.size || summary.evidence !== evidence || summary.digest !== toHex(digest)) {
      fail(`the summary record (${summary.entries} entries, ${summary.authors} authors, ${summary.evidence} evidence) does not match the chains (${entries}, ${heads.size}, ${evidence})`, { key: META_SUMMARY })
    }
  }
  for (const [author, length] of ctx.knownLengths ?? []) {
    const have = (heads.get(author)?.seq ?? -1) + 1
    if (have < length) fail(`the chain holds ${have} entries, ${length} were stored earlier: entries are missing`, { author, seq: have, missing: { from: have, to: length - 1 } }, undefined, 'ERR_LEDGER_TRUNCATED')
  }
  ctx.onProgress?.(new CustomProgressEvent('ledger:verify', { verified: entries, total }))
  const durationMs = performance.now() - started
  return {
    report: {
      entries, authors: heads.size, evidence, evidenceDropped: summary?.evidenceDropped ?? 0, indexesRebuilt: false, durationMs, signaturesChecked: signatures,
      checkpoint: cp === undefined ? 'off' : 'used', ...(cp === undefined ? {} : { checkpointEntries: cp.entries }), community: community?.toString()
    },
    heads,
    summary: { entries, authors: heads.size, evidence, digest: toHex(digest), ...(summary?.evidenceDropped === undefined ? {} : { evidenceDropped: summary.evidenceDropped }) },
    community,
    maintainers,
    evidenceRecords: evidenceIndex,
    indexesOk: expectedIndexes.equals(actualIndexes),
    digests
  }
}

/**
 * The record of an evidence value the checkpoint lists, when its key is well formed and its bytes hash to
 * the id in the key (it was verified when the checkpoint was written, and the chain prefix it conflicts with
 * is checked by the chain digests); undefined for one to verify in full.
 */
function checkedEvidence (key: string, value: Uint8Array, cp: Checkpoint): EvidenceRecord | undefined {
  const parts = key.slice(2).split('!')
  const pos = parts.length === 3 ? parsePos(`${parts[0]}!${parts[1]}`) : undefined
  if (pos === undefined || !cp.evidence.has(parts[2])) return undefined
  if (blobCid(value).toString() !== parts[2]) return undefined
  return { author: pos.author, seq: pos.seq, id: parts[2], bytes: value.length }
}

function decodeCommunity (bytes: Uint8Array): CID | undefined {
  try {
    return parseCid(bytes)
  } catch {
    return undefined
  }
}

/** A head record: `{"seq":n,"id":"b…"}` in UTF-8 JSON. */
function parseHead (value: Uint8Array): Head | undefined {
  try {
    const head = JSON.parse(utf8.decode(value)) as Head
    return Number.isSafeInteger(head.seq) && head.seq >= 0 && typeof head.id === 'string' ? { seq: head.seq, id: head.id } : undefined
  } catch {
    return undefined
  }
}

async function checkEvidence (db: Db, key: string, value: Uint8Array, heads: Map<string, Head>, community: CID | undefined,
  fail: (what: string, detail?: CorruptionDetail) => never): Promise<EvidenceRecord> {
  const parts = key.slice(2).split('!')
  const pos = parts.length === 3 ? parsePos(`${parts[0]}!${parts[1]}`) : undefined
  if (pos === undefined) fail('an evidence key is malformed', { key })
  const v = await validateEntry(value, { community })
  if (v.status !== 'accept' || v.value === undefined) fail(`an evidence record fails validation (${v.code ?? ''})`, { ...pos, key })
  const signed = v.value
  if (signed.id.toString() !== parts[2] || toHex(signed.entry.author) !== pos.author || signed.entry.seq !== pos.seq) {
    fail('an evidence record does not match its key', { ...pos, key })
  }
  const head = heads.get(pos.author)
  const stored = head !== undefined && pos.seq <= head.seq ? await db.get(entryKey(pos.author, pos.seq)) : undefined
  const storedId = stored === undefined ? undefined : blobCid(stored).toString()
  const record = { author: pos.author, seq: pos.seq, id: parts[2], bytes: value.length }
  if (storedId !== undefined && storedId !== parts[2]) return record // two entries for one author and seq
  const before = pos.seq > 0 && head !== undefined && pos.seq - 1 <= head.seq ? await db.get(entryKey(pos.author, pos.seq - 1)) : undefined
  const beforeId = before === undefined ? undefined : blobCid(before).toString()
  if (beforeId !== undefined && cidString(signed.entry.prev) !== beforeId) return record // a fork: its prev is not the stored entry
  fail('an evidence record does not conflict with the stored chain', { ...pos, key })
}
