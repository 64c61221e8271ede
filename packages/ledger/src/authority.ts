/**
 * Maintainer rights (protocol/entries.md, "Chain rules"): `round-open`, `verdict`, `release` and `round-close`
 * entries may be authored only by a maintainer the community's genesis names. The store checks this before
 * anything else about an entry's place in its chain, on every append, ingest and sync, and again on open.
 */
import type { Entry, EntryKind, SignedEntry } from '@swarmtune/wire'
import { bodyOf, toHex } from './records.js'

/** Kinds only a maintainer named in the community's genesis may author. */
export const MAINTAINER_KINDS: ReadonlySet<EntryKind> = new Set<EntryKind>(['round-open', 'verdict', 'release', 'round-close'])

/** The maintainer keys of a genesis entry, as 64 lowercase hex digits each. */
export function maintainersOf (genesis: SignedEntry): Set<string> {
  return new Set((bodyOf(genesis.entry).maintainers as Uint8Array[]).map(toHex))
}

/**
 * Why the store cannot take `entry` on authority grounds, or undefined when it may. `maintainers` is the set
 * of the stored genesis (undefined while the genesis is not stored).
 *
 * - `ERR_LEDGER_NOT_MAINTAINER`: a maintainer-only kind signed by a key the genesis does not name (the
 *   sender misbehaved: a reject).
 * - `ERR_LEDGER_NO_GENESIS`: a maintainer-only kind while the genesis is not stored yet, so its author cannot
 *   be checked (not the sender's fault: an ignore; sync brings the genesis, then the entry is taken).
 */
export function authorityFault (entry: Entry, maintainers: ReadonlySet<string> | undefined): { code: 'ERR_LEDGER_NOT_MAINTAINER' | 'ERR_LEDGER_NO_GENESIS', reason: string } | undefined {
  if (!MAINTAINER_KINDS.has(entry.kind)) return undefined
  const author = toHex(entry.author)
  if (maintainers === undefined) {
    return { code: 'ERR_LEDGER_NO_GENESIS', reason: `a ${entry.kind} entry by ${author} cannot be checked before the community's genesis is stored (only its maintainers may sign one); sync the genesis first` }
  }
  if (maintainers.has(author)) return undefined
  return { code: 'ERR_LEDGER_NOT_MAINTAINER', reason: `a ${entry.kind} entry signed by ${author}, who is not a maintainer named in the community's genesis; only maintainers may open rounds, judge contributions, sign releases and close rounds` }
}
