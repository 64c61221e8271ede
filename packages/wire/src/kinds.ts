/** The seven kinds of ledger entry in protocol v1 (protocol/entries.md), in the order a round produces them. */
export const ENTRY_KINDS = [
  'genesis',
  'round-open',
  'contribution',
  'verdict',
  'release',
  'round-close',
  'checkpoint'
] as const

/** One of {@link ENTRY_KINDS}. */
export type EntryKind = typeof ENTRY_KINDS[number]

const KIND_SET: ReadonlySet<string> = new Set(ENTRY_KINDS)

/** True when `value` names a v1 entry kind. */
export function isEntryKind (value: unknown): value is EntryKind {
  return typeof value === 'string' && KIND_SET.has(value)
}
