/**
 * Named views of a ledger as JSON-ready rows — what the CLI prints and exports and what the daemon's
 * control API serves (`GET /v1/ledger/view/<view>`), so both paths give the same answer.
 */
import { LedgerArgumentError, LedgerFilterError } from './errors.js'
import { ENTRY_CSV_COLUMNS, entryToJson } from './export.js'
import { contributionsByPeer, contributionsByRound, listContributions, listReleases, RELEASE_METRICS, releaseLineage, releaseShares } from './queries.js'
import type { EntryFilter, Ledger } from './store.js'

export const LEDGER_VIEWS = ['entries', 'contributions', 'peers', 'rounds', 'releases', 'shares', 'lineage', 'heads', 'equivocations'] as const
export type LedgerView = typeof LEDGER_VIEWS[number]

/** Parameters of a view (all optional): the entry filter, plus `release` for shares and lineage. */
export type ViewParams = EntryFilter

/** CSV columns of each view, in order (doc/ledger-format.md lists their meaning). */
export const VIEW_CSV_COLUMNS: Record<LedgerView, readonly string[]> = {
  entries: ENTRY_CSV_COLUMNS,
  contributions: ['id', 'author', 'seq', 'round', 'ts', 'samples', 'norm', 'blob', 'base', 'status', 'code', 'reason', 'releases'],
  peers: ['author', 'contributions', 'accepted', 'rejected', 'pending', 'samples', 'samplesAll', 'rounds', 'released'],
  rounds: ['round', 'contributions', 'contributors', 'accepted', 'rejected', 'pending', 'release', 'outcome', ...RELEASE_METRICS],
  releases: ['release', 'round', 'parent', 'entry', 'ts', 'contributions', 'contributors', 'samples', ...RELEASE_METRICS],
  shares: ['release', 'round', 'contribution', 'author', 'weight', 'share'],
  lineage: ['release', 'parent', 'round', 'entry', 'ts', 'contributions'],
  heads: ['author', 'seq', 'length', 'id'],
  equivocations: ['author', 'seq', 'type', 'stored', 'conflicting']
}

/** A filter of a view: a field of {@link ViewParams}. */
export type ViewFilter = keyof ViewParams

/**
 * The filters each view applies (doc/ledger-format.md, "Filters"); any other is refused. The contribution
 * views (`contributions`, `peers`) select contributions by author, round, the release that aggregated
 * them and time; `peers` then sums the selected ones per author. `rounds` selects rounds, `releases` releases
 * by round and manifest, `shares` rows by
 * release, round and contributor, `heads` and `equivocations` by author, `lineage` starts at a release.
 */
export const VIEW_FILTERS: Record<LedgerView, readonly ViewFilter[]> = {
  entries: ['kind', 'author', 'round', 'release', 'since', 'until', 'limit', 'reverse'],
  contributions: ['author', 'round', 'release', 'since', 'until', 'limit', 'reverse'],
  peers: ['author', 'round', 'release', 'since', 'until', 'limit'],
  rounds: ['round', 'limit', 'reverse'],
  releases: ['round', 'release', 'limit', 'reverse'],
  shares: ['author', 'round', 'release', 'limit'],
  lineage: ['release', 'limit'],
  heads: ['author', 'limit'],
  equivocations: ['author', 'limit']
}

const isView = (view: string): view is LedgerView => (LEDGER_VIEWS as readonly string[]).includes(view)

/**
 * Checks that `view` exists and applies every filter set in `params` (`undefined`, and `false` for
 * `reverse`, count as not set).
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for an unknown view.
 * @throws LedgerFilterError `ERR_LEDGER_UNSUPPORTED_FILTER` naming the filters the view does not apply and those it does.
 */
export function checkViewParams (view: string, params: ViewParams): asserts view is LedgerView {
  if (!isView(view)) throw new LedgerArgumentError(`unknown ledger view ${JSON.stringify(view)}; views are ${LEDGER_VIEWS.join(', ')}`)
  const supported = VIEW_FILTERS[view]
  const unsupported = (Object.keys(params) as ViewFilter[]).filter((k) => params[k] !== undefined && params[k] !== false && !supported.includes(k))
  if (unsupported.length > 0) throw new LedgerFilterError(view, unsupported, supported)
}

/**
 * Rows of one view. `entries` rows are {@link EntryJson}; the others are the query rows of queries.ts.
 * Each filter in `params` applies as {@link VIEW_FILTERS} says, `limit` last.
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for an unknown view or a malformed parameter.
 * @throws LedgerFilterError `ERR_LEDGER_UNSUPPORTED_FILTER` for a filter the view does not apply.
 */
export async function queryView (ledger: Ledger, view: string, params: ViewParams = {}): Promise<Array<Record<string, unknown>>> {
  checkViewParams(view, params)
  const limit = params.limit ?? Number.POSITIVE_INFINITY
  const cap = <T>(rows: T[]): T[] => Number.isFinite(limit) ? rows.slice(0, limit) : rows
  const ordered = <T>(rows: T[]): T[] => cap(params.reverse === true ? rows.reverse() : rows)
  const byAuthor = <T extends { author: string }>(rows: T[]): T[] => params.author === undefined ? rows : rows.filter((r) => r.author === params.author)
  const selected = { round: params.round, author: params.author, release: params.release, since: params.since, until: params.until }
  const rows = (r: unknown): Array<Record<string, unknown>> => r as Array<Record<string, unknown>>
  switch (view) {
    case 'entries': {
      const out: Array<Record<string, unknown>> = []
      for await (const e of ledger.entries(params)) out.push(entryToJson(e) as unknown as Record<string, unknown>)
      return out
    }
    case 'contributions': return rows(ordered(await listContributions(ledger, selected)))
    case 'peers': return rows(cap(await contributionsByPeer(ledger, selected)))
    case 'rounds': return rows(ordered((await contributionsByRound(ledger)).filter((r) => params.round === undefined || r.round === params.round)))
    case 'releases': return rows(ordered((await listReleases(ledger)).filter((r) => (params.round === undefined || r.round === params.round) && (params.release === undefined || r.release === params.release))))
    case 'shares': return rows(cap(byAuthor(await releaseShares(ledger, params.release)).filter((r) => params.round === undefined || r.round === params.round)))
    case 'lineage': return rows(cap(await releaseLineage(ledger, params.release)))
    case 'heads': return rows(cap(byAuthor(ledger.heads())))
    case 'equivocations': {
      const out: Array<Record<string, unknown>> = []
      for await (const e of ledger.equivocations()) {
        if (params.author !== undefined && e.author !== params.author) continue
        out.push({ author: e.author, seq: e.seq, type: e.type, stored: e.stored.id.toString(), conflicting: e.conflicting.id.toString(), conflictingEntry: entryToJson(e.conflicting) })
        if (out.length >= limit) break
      }
      return out
    }
  }
}

/** Author hex of a public key given as hex (any case). @throws LedgerArgumentError */
export function authorParam (value: string): string {
  const hex = value.toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new LedgerArgumentError(`${value} is not an author: expected a 32-byte Ed25519 public key as 64 hex digits`)
  return hex
}

