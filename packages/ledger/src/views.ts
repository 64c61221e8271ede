/**
 * Named views of a ledger as JSON-ready rows — what the CLI prints and exports and what the daemon's
 * control API serves (`GET /v1/ledger/view/<view>`), so both paths give the same answer.
 */
import { LedgerArgumentError } from './errors.js'
import { ENTRY_CSV_COLUMNS, entryToJson } from './export.js'
import { contributionsByPeer, contributionsByRound, listContributions, releaseLineage, releaseShares } from './queries.js'
import type { EntryFilter, Ledger } from './store.js'

export const LEDGER_VIEWS = ['entries', 'contributions', 'peers', 'rounds', 'shares', 'lineage', 'heads', 'equivocations'] as const
export type LedgerView = typeof LEDGER_VIEWS[number]

/** Parameters of a view (all optional): the entry filter, plus `release` for shares and lineage. */
export type ViewParams = EntryFilter

/** CSV columns of each view, in order (doc/ledger-format.md lists their meaning). */
export const VIEW_CSV_COLUMNS: Record<LedgerView, readonly string[]> = {
  entries: ENTRY_CSV_COLUMNS,
  contributions: ['id', 'author', 'seq', 'round', 'ts', 'samples', 'norm', 'blob', 'base', 'status', 'code', 'reason', 'releases'],
  peers: ['author', 'contributions', 'accepted', 'rejected', 'pending', 'samples', 'rounds', 'released'],
  rounds: ['round', 'contributions', 'contributors', 'accepted', 'rejected', 'pending', 'release', 'outcome'],
  shares: ['release', 'round', 'contribution', 'author', 'weight', 'share'],
  lineage: ['release', 'parent', 'round', 'entry', 'ts', 'contributions'],
  heads: ['author', 'seq', 'length', 'id'],
  equivocations: ['author', 'seq', 'type', 'stored', 'conflicting']
}

/**
 * Rows of one view. `entries` rows are {@link EntryJson}; the others are the query rows of queries.ts.
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for an unknown view or a malformed parameter.
 */
export async function queryView (ledger: Ledger, view: string, params: ViewParams = {}): Promise<Array<Record<string, unknown>>> {
  const limit = params.limit ?? Number.POSITIVE_INFINITY
  const cap = <T>(rows: T[]): T[] => Number.isFinite(limit) ? rows.slice(0, limit) : rows
  switch (view) {
    case 'entries': {
      const rows: Array<Record<string, unknown>> = []
      for await (const e of ledger.entries(params)) rows.push(entryToJson(e) as unknown as Record<string, unknown>)
      return rows
    }
    case 'contributions': return cap(await listContributions(ledger, { round: params.round, author: params.author })) as unknown as Array<Record<string, unknown>>
    case 'peers': return cap(await contributionsByPeer(ledger)) as unknown as Array<Record<string, unknown>>
    case 'rounds': return cap(await contributionsByRound(ledger)) as unknown as Array<Record<string, unknown>>
    case 'shares': return cap(await releaseShares(ledger, params.release)) as unknown as Array<Record<string, unknown>>
    case 'lineage': return cap(await releaseLineage(ledger, params.release)) as unknown as Array<Record<string, unknown>>
    case 'heads': return cap(ledger.heads()) as unknown as Array<Record<string, unknown>>
    case 'equivocations': {
      const rows: Array<Record<string, unknown>> = []
      for await (const e of ledger.equivocations()) {
        rows.push({ author: e.author, seq: e.seq, type: e.type, stored: e.stored.id.toString(), conflicting: e.conflicting.id.toString(), conflictingEntry: entryToJson(e.conflicting) })
        if (rows.length >= limit) break
      }
      return rows
    }
    default:
      throw new LedgerArgumentError(`unknown ledger view ${JSON.stringify(view)}; views are ${LEDGER_VIEWS.join(', ')}`)
  }
}

/** Author hex of a public key given as hex (any case). @throws LedgerArgumentError */
export function authorParam (value: string): string {
  const hex = value.toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new LedgerArgumentError(`${value} is not an author: expected a 32-byte Ed25519 public key as 64 hex digits`)
  return hex
}

