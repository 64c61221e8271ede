/**
 * The LevelDB key layout (doc/ledger-format.md is the normative description). Keys are UTF-8 strings made of
 * a one-letter prefix and `!`-separated fields; numbers are 16 lowercase hex digits so that byte order is
 * numeric order; authors are the 32-byte Ed25519 public key as 64 lowercase hex digits; ids are CID strings
 * (base32, `b…`).
 */

export const PREFIX = {
  entry: 'e!',
  head: 'h!',
  id: 'i!',
  time: 't!',
  kind: 'k!',
  round: 'r!',
  release: 'l!',
  evidence: 'x!',
  meta: 'm!'
} as const

export const META_SCHEMA = 'm!schema'
export const META_SUMMARY = 'm!summary'
export const META_COMMUNITY = 'm!community'
export const META_VERIFIED = 'm!verified'

const HEX16 = /^[0-9a-f]{16}$/
const AUTHOR_HEX = /^[0-9a-f]{64}$/

/** A position in the store: author (64 hex) and seq. */
export interface Position { author: string, seq: number }

/** 16 lowercase hex digits; clamps to [0, 2^53 - 1] (safe integers only reach the store). */
export function num16 (n: number): string {
  const v = Number.isSafeInteger(n) && n > 0 ? n : 0
  return v.toString(16).padStart(16, '0')
}

function parseNum16 (s: string): number | undefined {
  if (!HEX16.test(s)) return undefined
  const n = Number.parseInt(s, 16)
  return Number.isSafeInteger(n) ? n : undefined
}

export function isAuthorHex (s: string): boolean {
  return AUTHOR_HEX.test(s)
}

export function posString (author: string, seq: number): string {
  return `${author}!${num16(seq)}`
}

/** Parses `<author>!<seq>`; undefined when malformed. */
export function parsePos (s: string): Position | undefined {
  const [author, seqHex, ...rest] = s.split('!')
  if (rest.length > 0 || author === undefined || seqHex === undefined || !isAuthorHex(author)) return undefined
  const seq = parseNum16(seqHex)
  return seq === undefined ? undefined : { author, seq }
}

export const entryKey = (author: string, seq: number): string => `${PREFIX.entry}${posString(author, seq)}`
export const headKey = (author: string): string => `${PREFIX.head}${author}`
export const idKey = (cid: string): string => `${PREFIX.id}${cid}`
export const timeKey = (ts: number, author: string, seq: number): string => `${PREFIX.time}${num16(ts)}!${posString(author, seq)}`
export const kindKey = (kind: string, ts: number, author: string, seq: number): string => `${PREFIX.kind}${kind}!${num16(ts)}!${posString(author, seq)}`
export const roundKey = (round: number, ts: number, author: string, seq: number): string => `${PREFIX.round}${num16(round)}!${num16(ts)}!${posString(author, seq)}`
export const releaseKey = (manifest: string, ts: number, author: string, seq: number): string => `${PREFIX.release}${manifest}!${num16(ts)}!${posString(author, seq)}`
export const evidenceKey = (author: string, seq: number, cid: string): string => `${PREFIX.evidence}${posString(author, seq)}!${cid}`

/** The position a time/kind/round/release index key points at: its last two fields. */
export function positionOfIndexKey (key: string): Position | undefined {
  const parts = key.split('!')
  if (parts.length < 3) return undefined
  return parsePos(`${parts[parts.length - 2]}!${parts[parts.length - 1]}`)
}

/** Key range covering every key that starts with `prefix` (`!` sorts below every field character). */
export function prefixRange (prefix: string): { gte: string, lt: string } {
  return { gte: prefix, lt: prefix + '\xff' }
}
