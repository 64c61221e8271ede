/**
 * What one entry writes besides itself: its index records (doc/ledger-format.md, "Indexes"). Shared by the
 * append path and by the verification on open, so that both agree byte for byte on what must be stored.
 */
import { parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import { idKey, kindKey, posString, releaseKey, roundKey, timeKey } from './keys.js'

export type { CID }

const hexTable = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lowercase hex of bytes. */
export function toHex (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += hexTable[bytes[i]]
  return s
}

/** Bytes of an even-length lowercase/uppercase hex string; undefined when malformed. */
export function fromHex (hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

export function bodyOf (entry: SignedEntry['entry']): Record<string, unknown> {
  return entry.body as unknown as Record<string, unknown>
}

/** The CID string of a CID-bytes body field, or undefined when absent or not a CID. */
export function cidString (value: unknown): string | undefined {
  if (!(value instanceof Uint8Array) || value.length === 0) return undefined
  try {
    return parseCid(value).toString()
  } catch {
    return undefined
  }
}

/** The round number of an entry whose body has one (every kind but genesis and checkpoint). */
export function roundOf (entry: SignedEntry['entry']): number | undefined {
  const round = bodyOf(entry).round
  return typeof round === 'number' && Number.isSafeInteger(round) && round >= 0 ? round : undefined
}

/** Release manifests an entry names, with the role it names them in. */
export function releaseRefs (entry: SignedEntry['entry']): Array<[manifest: string, role: string]> {
  const body = bodyOf(entry)
  const refs: Array<[string, string]> = []
  const add = (value: unknown, role: string): void => {
    const cid = cidString(value)
    if (cid !== undefined) refs.push([cid, role])
  }
  switch (entry.kind) {
    case 'genesis': add(body.release, 'genesis'); break
    case 'round-open': add(body.base, 'base'); break
    case 'contribution': add(body.base, 'base'); break
    case 'release': add(body.manifest, 'release'); add(body.parent, 'parent'); break
    default: break
  }
  return refs
}

const EMPTY = new Uint8Array(0)
const utf8 = new TextEncoder()

/**
 * The index records of one stored entry, as [key, value] pairs: `i!` (id → position), `t!` (time), `k!`
 * (kind), `r!` (round, when the body has one) and `l!` (each release manifest the body names → role).
 */
export function indexRecords (signed: SignedEntry, author: string, idStr: string): Array<[string, Uint8Array]> {
  const { entry } = signed
  const { seq, ts, kind } = entry
  const records: Array<[string, Uint8Array]> = [
    [idKey(idStr), utf8.encode(posString(author, seq))],
    [timeKey(ts, author, seq), EMPTY],
    [kindKey(kind, ts, author, seq), EMPTY]
  ]
  const round = roundOf(entry)
  if (round !== undefined) records.push([roundKey(round, ts, author, seq), EMPTY])
  for (const [manifest, role] of releaseRefs(entry)) {
    records.push([releaseKey(manifest, ts, author, seq), utf8.encode(role)])
  }
  return records
}

/**
 * An order-independent digest of a set of key/value records: count plus two 32-bit sums of FNV-1a hashes
 * with different offsets. It detects accidental loss or damage of derived records (indexes); the entries
 * themselves are checked by signature and hash chain, not by this.
 */
export class RecordSetDigest {
  count = 0
  private a = 0
  private b = 0

  add (key: string, value: Uint8Array): void {
    let h1 = 0x811c9dc5
    let h2 = 0x01000193 ^ 0x5bd1e995
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 0x01000193)
      h2 = Math.imul(h2 ^ c, 0x5bd1e995)
    }
    for (let i = 0; i < value.length; i++) {
      h1 = Math.imul(h1 ^ (value[i] + 256), 0x01000193)
      h2 = Math.imul(h2 ^ (value[i] + 256), 0x5bd1e995)
    }
    this.count++
    this.a = (this.a + (h1 >>> 0)) >>> 0
    this.b = (this.b + ((h2 ^ (h2 >>> 15)) >>> 0)) >>> 0
  }

  equals (other: RecordSetDigest): boolean {
    return this.count === other.count && this.a === other.a && this.b === other.b
  }

  /** The digest as [count, a, b] (what the verification checkpoint stores). */
  state (): [number, number, number] {
    return [this.count, this.a, this.b]
  }

  /** A digest that continues from `state` (from {@link RecordSetDigest.state}). */
  static from (state: readonly [number, number, number]): RecordSetDigest {
    const d = new RecordSetDigest()
    d.count = state[0]
    d.a = state[1]
    d.b = state[2]
    return d
  }
}

/** The key/value database the store runs on: classic-level on disk, memory-level in memory. */
export type Db = import('abstract-level').AbstractLevel<unknown, string, Uint8Array>

/** The last entry of an author chain. */
export interface Head {
  seq: number
  /** CID string of the entry. */
  id: string
}

/**
 * The summary record `m!summary`: counts and the XOR of every entry's SHA2-256 digest (64 hex), and how many
 * conflicting entries were not kept as evidence (`evidenceDropped`, absent when none were; a count of what is
 * not stored, so open reads it but cannot check it).
 */
export interface Summary {
  entries: number
  authors: number
  evidence: number
  digest: string
  evidenceDropped?: number
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export function parseSummary (value: Uint8Array): Summary | undefined {
  try {
    const s = JSON.parse(utf8Decoder.decode(value)) as Summary
    const counts = [s.entries, s.authors, s.evidence, s.evidenceDropped ?? 0].every((n) => Number.isSafeInteger(n) && n >= 0)
    if (!counts || typeof s.digest !== 'string' || !/^[0-9a-f]{64}$/.test(s.digest)) return undefined
    return { entries: s.entries, authors: s.authors, evidence: s.evidence, digest: s.digest, ...(s.evidenceDropped === undefined || s.evidenceDropped === 0 ? {} : { evidenceDropped: s.evidenceDropped }) }
  } catch {
    return undefined
  }
}

/** JSON record as UTF-8 bytes. */
export function jsonBytes (value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value))
}

/** target ^= source, byte by byte (both 32 bytes). */
export function xorInto (target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] ^= source[i]
}
