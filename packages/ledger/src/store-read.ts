/**
 * The read path of the ledger store: heads and their digest, entries by content id or position, an author's
 * raw chain, filtered iteration over the indexes, and the stored equivocations. Nothing here writes; the
 * {@link Ledger} class (store.ts) checks that the store is open and hands in its database and heads.
 */
import { createHash } from 'node:crypto'
import { blobCid, decodeEntryUnverified, parseCid, type SignedEntry } from '@swarmtune/wire'
import { PREFIX, entryKey, idKey, num16, parsePos, positionOfIndexKey, prefixRange, type Position } from './keys.js'
import { toHex, type CID, type Db, type Head } from './records.js'
import { checkFilter, entryMatches, type EntryFilter } from './filters.js'
import type { Equivocation, HeadInfo } from './types.js'

const utf8 = new TextDecoder()

/** Entries or keys read from a LevelDB iterator per step. */
const READ_BATCH = 256

/** Every author's head, sorted by author. */
export function headInfos (heads: ReadonlyMap<string, Head>): HeadInfo[] {
  return [...heads].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([author, h]) => ({ author, seq: h.seq, length: h.seq + 1, id: h.id }))
}

/** The head of one author chain (author as 64 hex or 32 raw bytes), or undefined. */
export function headInfo (heads: ReadonlyMap<string, Head>, author: string | Uint8Array): HeadInfo | undefined {
  const hex = typeof author === 'string' ? author : toHex(author)
  const h = heads.get(hex)
  return h === undefined ? undefined : { author: hex, seq: h.seq, length: h.seq + 1, id: h.id }
}

/**
 * SHA-256 over the heads (sorted by author), each as the 32-byte author, the seq as an 8-byte big-endian
 * integer and the head's CID bytes (36): see {@link Ledger.headsDigest}.
 */
export function digestOfHeads (heads: HeadInfo[]): Uint8Array {
  const hash = createHash('sha256')
  const seq = Buffer.alloc(8)
  for (const head of heads) {
    hash.update(Buffer.from(head.author, 'hex'))
    seq.writeBigUInt64BE(BigInt(head.seq))
    hash.update(seq)
    hash.update(parseCid(head.id).bytes)
  }
  return new Uint8Array(hash.digest())
}

/** The position (author hex, seq) of the stored entry with this content id, or undefined. */
export async function positionOf (db: Db, id: CID | string): Promise<Position | undefined> {
  const pos = await db.get(idKey(id.toString()))
  return pos === undefined ? undefined : parsePos(utf8.decode(pos))
}

/** The stored entry at (author, seq), or undefined. */
export async function entryAt (db: Db, author: string | Uint8Array, seq: number): Promise<SignedEntry | undefined> {
  const bytes = await db.get(entryKey(typeof author === 'string' ? author : toHex(author), seq))
  return bytes === undefined ? undefined : decodeEntryUnverified(bytes)
}

/** CID string of the stored entry at (author hex, seq), or undefined. */
export async function idAt (db: Db, author: string, seq: number): Promise<string | undefined> {
  const bytes = await db.get(entryKey(author, seq))
  return bytes === undefined ? undefined : blobCid(bytes).toString()
}

/** Raw bytes of an author's entries with seq in [from, to], in seq order. */
export async function * chainBytes (db: Db, author: string, from: number, to: number): AsyncGenerator<Uint8Array> {
  for await (const batch of batches(db.values({ gte: entryKey(author, from), lte: entryKey(author, to) }))) yield * batch
}

/** What an iterator of the database yields, {@link READ_BATCH} at a time; the iterator is closed at the end or on return. */
async function * batches<T> (iterator: { nextv: (size: number) => Promise<T[]>, close: () => Promise<void> }): AsyncGenerator<T[]> {
  try {
    while (true) {
      const batch = await iterator.nextv(READ_BATCH)
      if (batch.length === 0) return
      yield batch
    }
  } finally {
    await iterator.close()
  }
}

/**
 * Stored entries matching `filter`, ordered by timestamp (then author, seq), or by seq for an author filter:
 * an author filter walks that author's chain, any other the round, release, kind or time index.
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a malformed filter.
 */
export async function * matchingEntries (db: Db, filter: EntryFilter): AsyncGenerator<SignedEntry> {
  checkFilter(filter)
  const limit = filter.limit ?? Number.POSITIVE_INFINITY
  if (limit === 0) return
  let count = 0
  const source = filter.author !== undefined
    ? batches(db.values({ ...prefixRange(`${PREFIX.entry}${filter.author}!`), reverse: filter.reverse === true }))
    : indexBatches(db, filter)
  for await (const batch of source) {
    for (const bytes of batch) {
      if (bytes === undefined) continue
      const s = decodeEntryUnverified(bytes)
      if (!entryMatches(s, filter)) continue
      yield s
      if (++count >= limit) return
    }
  }
}

/**
 * The stored entries (wire bytes; undefined for an index record without its entry) that the round,
 * release, kind or time index lists for `filter` within its since/until range, in index order.
 */
async function * indexBatches (db: Db, filter: EntryFilter): AsyncGenerator<Array<Uint8Array | undefined>> {
  const prefix = filter.round !== undefined
    ? `${PREFIX.round}${num16(filter.round)}!`
    : filter.release !== undefined
      ? `${PREFIX.release}${filter.release}!`
      : filter.kind !== undefined ? `${PREFIX.kind}${filter.kind}!` : PREFIX.time
  const range = {
    gte: prefix + (filter.since !== undefined ? num16(filter.since) : ''),
    lt: filter.until !== undefined ? prefix + num16(filter.until + 1) : prefix + '\xff'
  }
  for await (const keys of batches(db.keys({ ...range, reverse: filter.reverse === true }))) {
    const positions = keys.map(positionOfIndexKey).filter((p): p is Position => p !== undefined)
    yield await db.getMany(positions.map((p) => entryKey(p.author, p.seq)))
  }
}

/**
 * Every stored equivocation: the conflicting entry and the stored one it conflicts with (the entry at the
 * same seq, or for a fork the one before it). `at` reads a stored entry.
 */
export async function * storedEquivocations (db: Db, at: (author: string, seq: number) => Promise<SignedEntry | undefined>): AsyncGenerator<Equivocation> {
  for await (const [key, bytes] of db.iterator(prefixRange(PREFIX.evidence))) {
    const parts = key.slice(2).split('!')
    const pos = parsePos(`${parts[0]}!${parts[1]}`)
    if (pos === undefined) continue
    const conflicting = decodeEntryUnverified(bytes)
    const same = await at(pos.author, pos.seq)
    if (same !== undefined && !same.id.equals(conflicting.id)) {
      yield { author: pos.author, seq: pos.seq, type: 'same-seq', stored: same, conflicting }
      continue
    }
    const before = pos.seq > 0 ? await at(pos.author, pos.seq - 1) : undefined
    if (before !== undefined) yield { author: pos.author, seq: pos.seq, type: 'fork', stored: before, conflicting }
  }
}
