/** Entry filters of {@link Ledger.entries} (store.ts): their shape, their check and the match of one entry. */
import { ENTRY_KINDS, isEntryKind, parseCid, type EntryKind, type SignedEntry } from '@swarmtune/wire'
import { LedgerArgumentError } from './errors.js'
import { isAuthorHex } from './keys.js'
import { releaseRefs, toHex } from './records.js'

/** Filter of `Ledger.entries`; all given fields must match. */
export interface EntryFilter {
  kind?: EntryKind
  /** Author public key, 64 hex. */
  author?: string
  round?: number
  /** Release manifest CID string: entries naming it (as release, parent, base or genesis release). */
  release?: string
  /** Earliest entry timestamp, ms since Unix epoch, inclusive. */
  since?: number
  /** Latest entry timestamp, ms since Unix epoch, inclusive. */
  until?: number
  /** Most entries returned. */
  limit?: number
  /** Newest first (by timestamp; by seq descending for an author filter). */
  reverse?: boolean
}

/**
 * Checks a filter from outside (and normalises its release CID string in place).
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` naming the bad field
 */
export function checkFilter (filter: EntryFilter): void {
  const bad = (what: string): never => { throw new LedgerArgumentError(`bad entry filter: ${what}`) }
  if (filter.author !== undefined && !isAuthorHex(filter.author)) bad('author must be a 32-byte public key as 64 lowercase hex digits')
  for (const name of ['round', 'limit', 'since', 'until'] as const) {
    const n = filter[name]
    if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) bad(`${name} must be a non-negative integer`)
  }
  if (filter.release !== undefined) {
    try {
      filter.release = parseCid(filter.release).toString()
    } catch {
      bad('release must be a CID string')
    }
  }
  if (filter.kind !== undefined && !isEntryKind(filter.kind)) {
    bad(`kind must be one of ${ENTRY_KINDS.join(', ')}`)
  }
}

/** True when the entry matches every field the filter gives. */
export function entryMatches (s: SignedEntry, f: EntryFilter): boolean {
  const e = s.entry
  if (f.kind !== undefined && e.kind !== f.kind) return false
  if (f.since !== undefined && e.ts < f.since) return false
  if (f.until !== undefined && e.ts > f.until) return false
  if (f.round !== undefined && (e.body as { round?: unknown }).round !== f.round) return false
  if (f.author !== undefined && toHex(e.author) !== f.author) return false
  if (f.release !== undefined && !releaseRefs(e).some(([manifest]) => manifest === f.release)) return false
  return true
}
