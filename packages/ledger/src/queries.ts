/**
 * Researcher queries over a ledger: contributions with their verdicts, per peer and per round; each
 * contributor's share of each release's aggregate weight; release lineage; totals. Verdicts, releases and
 * round-closes count only when signed by a maintainer named in the community's genesis. The store refuses
 * any other on every path and on open (authority.ts); the check here stays as a second line.
 */
import type { SignedEntry } from '@swarmtune/wire'
import type { Ledger } from './store.js'
import { bodyOf, cidString, toHex } from './records.js'

/** One contribution with what became of it. */
export interface ContributionRow {
  /** Entry CID string. */
  id: string
  /** Contributor's public key, 64 hex. */
  author: string
  seq: number
  round: number
  /** ms since Unix epoch (author's clock). */
  ts: number
  /** Training samples behind the delta (the FedAvg weight n_k). */
  samples: number
  /** L2 norm of the delta as reported by the contributor. */
  norm: number
  /** CID string of the delta blob. */
  blob: string
  /** CID string of the base release manifest. */
  base: string
  /** `accepted` / `rejected` by the latest maintainer verdict, `pending` without one. */
  status: 'accepted' | 'rejected' | 'pending'
  /** The verdict's code and reason, when there is a verdict. */
  code?: string
  reason?: string
  /** Manifest CID strings of the releases that aggregated this contribution. */
  releases: string[]
}

/** Contributions of one peer (author). */
export interface PeerSummary {
  author: string
  contributions: number
  accepted: number
  rejected: number
  pending: number
  /** Sum of `samples` over its accepted contributions (what FedAvg could weight; rejected and pending ones not counted). */
  samples: number
  /** Sum of `samples` over all its contributions, rejected and pending included (what it claimed). */
  samplesAll: number
  /** Rounds it contributed to, ascending. */
  rounds: number[]
  /** Contributions aggregated into some release. */
  released: number
}

/** One round. */
export interface RoundSummary {
  round: number
  contributions: number
  contributors: number
  accepted: number
  rejected: number
  pending: number
  /** Manifest CID string of the round's release, when there is one. */
  release?: string
  /** round-close outcome when the round was closed. */
  outcome?: string
  /** The round's release's evaluation metrics ({@link RELEASE_METRICS}), each when the release entry records it as a number. */
  accuracy?: number
  loss?: number
  perplexity?: number
  evalExamples?: number
}

/**
 * Evaluation metrics of a release that the `releases` and `rounds` views carry as columns, each read from the
 * release entry's `metrics` map (protocol/entries.md) when it holds a finite number: `accuracy` (fraction of
 * the evaluation examples classified right, in [0, 1]), `loss` (mean cross-entropy per example or token, nats),
 * `perplexity` (exp of the mean per-token loss; language-model tasks only), `evalExamples` (how many examples
 * the coordinator evaluated on).
 */
export const RELEASE_METRICS = ['accuracy', 'loss', 'perplexity', 'evalExamples'] as const
export type ReleaseMetric = typeof RELEASE_METRICS[number]

/** The {@link RELEASE_METRICS} a release body's `metrics` holds as finite numbers (others left out). */
export function releaseMetrics (body: Record<string, unknown>): Partial<Record<ReleaseMetric, number>> {
  const m = body.metrics
  const out: Partial<Record<ReleaseMetric, number>> = {}
  if (typeof m !== 'object' || m === null) return out
  for (const k of RELEASE_METRICS) {
    const v = (m as Record<string, unknown>)[k]
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v
  }
  return out
}

/** One release as the `releases` view gives it, oldest first. */
export interface ReleaseRow extends Partial<Record<ReleaseMetric, number>> {
  /** Manifest CID string. */
  release: string
  round: number
  /** Manifest CID string of the parent release (the round's base). */
  parent: string
  /** Entry CID string of the release entry. */
  entry: string
  /** ms since Unix epoch (maintainer's clock). */
  ts: number
  /** Contributions aggregated. */
  contributions: number
  /** Public keys (64 hex) of the aggregated contributions' authors, sorted, each once ('' for a contribution not stored). */
  contributors: string[]
  /** Σ of the release's aggregation weights' samples (`metrics.samples`), when recorded. */
  samples?: number
}

/** One contribution's part in one release. */
export interface ShareRow {
  /** Release manifest CID string. */
  release: string
  round: number
  /** Contribution entry CID string. */
  contribution: string
  /** Contributor's public key (64 hex), or '' when the contribution entry is not stored. */
  author: string
  /** Aggregation weight listed in the release (FedAvg: n_k / n). */
  weight: number
  /** weight / sum of the release's weights, in [0, 1] (0 when all weights are 0). */
  share: number
}

/** One release in a lineage, newest first; the last row is the genesis release. */
export interface LineageRow {
  /** Manifest CID string. */
  release: string
  /** Manifest CID string of the parent, or null for the genesis release. */
  parent: string | null
  round: number
  /** Entry CID string of the release entry, or null for the genesis release. */
  entry: string | null
  ts: number
  contributions: number
}

/** Totals of a ledger. */
export interface LedgerStats {
  community?: string
  entries: number
  authors: number
  byKind: Record<string, number>
  rounds: number
  releases: number
  contributions: { total: number, accepted: number, rejected: number, pending: number }
  /** Equivocation evidence records. */
  equivocations: number
  /** Conflicting entries refused and not kept as evidence (a pair for that author and seq was kept, or a cap was reached). */
  evidenceDropped: number
}

async function all (it: AsyncIterable<SignedEntry>): Promise<SignedEntry[]> {
  const out: SignedEntry[] = []
  for await (const e of it) out.push(e)
  return out
}

interface Facts {
  contributions: SignedEntry[]
  verdicts: Map<string, SignedEntry>
  releases: SignedEntry[]
  closes: SignedEntry[]
}

/** Entries of the kinds the queries read, each list in ascending time (then author, seq). */
type KindLists = Record<'contribution' | 'verdict' | 'release' | 'round-close', SignedEntry[]>

async function facts (ledger: Ledger, round?: number): Promise<Facts> {
  const of = async (kind: keyof KindLists): Promise<SignedEntry[]> => await all(ledger.entries({ kind, ...(round === undefined ? {} : { round }) }))
  return factsOf(ledger, { contribution: await of('contribution'), verdict: await of('verdict'), release: await of('release'), 'round-close': await of('round-close') })
}

function factsOf (ledger: Ledger, lists: KindLists): Facts {
  // the store takes verdicts, releases and round-closes only from maintainers its genesis names
  const trusted = (e: SignedEntry): boolean => ledger.isMaintainer(e.entry.author)
  const verdicts = new Map<string, SignedEntry>()
  for (const v of lists.verdict) {
    if (!trusted(v)) continue
    const target = cidString(bodyOf(v.entry).contribution)
    if (target !== undefined) verdicts.set(target, v) // ascending time: the latest verdict wins
  }
  return { contributions: lists.contribution, verdicts, releases: lists.release.filter(trusted), closes: lists['round-close'].filter(trusted) }
}

function contributionRows (f: Facts): ContributionRow[] {
  const released = new Map<string, string[]>()
  for (const r of f.releases) {
    const body = bodyOf(r.entry)
    const manifest = cidString(body.manifest) ?? ''
    for (const c of body.contributions as Uint8Array[]) {
      const id = cidString(c) ?? ''
      released.set(id, [...(released.get(id) ?? []), manifest])
    }
  }
  return f.contributions.map((c) => {
    const body = bodyOf(c.entry)
    const id = c.id.toString()
    const verdict = f.verdicts.get(id)
    const v = verdict === undefined ? undefined : bodyOf(verdict.entry)
    return {
      id,
      author: toHex(c.entry.author),
      seq: c.entry.seq,
      round: body.round as number,
      ts: c.entry.ts,
      samples: body.samples as number,
      norm: body.norm as number,
      blob: cidString(body.blob) ?? '',
      base: cidString(body.base) ?? '',
      status: v === undefined ? 'pending' : v.accepted === true ? 'accepted' : 'rejected',
      ...(v === undefined ? {} : { code: v.code as string, reason: v.reason as string }),
      releases: released.get(id) ?? []
    }
  })
}

/** Which contributions a query takes (every field optional; all given must hold). */
export interface ContributionFilter {
  round?: number
  /** Contributor's public key, 64 lowercase hex. */
  author?: string
  /** Release manifest CID string: only contributions that release aggregated. */
  release?: string
  /** Contribution timestamps (ms since Unix epoch, author's clock), inclusive. */
  since?: number
  until?: number
}

/** Every contribution that passes `filter`, in time order, with its verdict and releases. */
export async function listContributions (ledger: Ledger, filter: ContributionFilter = {}): Promise<ContributionRow[]> {
  return contributionRows(await facts(ledger, filter.round)).filter((r) =>
    (filter.author === undefined || r.author === filter.author) &&
    (filter.release === undefined || r.releases.includes(filter.release)) &&
    (filter.since === undefined || r.ts >= filter.since) &&
    (filter.until === undefined || r.ts <= filter.until))
}

/** Contributions per peer (of the contributions that pass `filter`), sorted by author. */
export async function contributionsByPeer (ledger: Ledger, filter: ContributionFilter = {}): Promise<PeerSummary[]> {
  const peers = new Map<string, PeerSummary>()
  for (const row of await listContributions(ledger, filter)) {
    const p = peers.get(row.author) ?? { author: row.author, contributions: 0, accepted: 0, rejected: 0, pending: 0, samples: 0, samplesAll: 0, rounds: [], released: 0 }
    p.contributions++
    p[row.status]++
    if (row.status === 'accepted') p.samples += row.samples
    p.samplesAll += row.samples
    if (!p.rounds.includes(row.round)) p.rounds.push(row.round)
    if (row.releases.length > 0) p.released++
    peers.set(row.author, p)
  }
  return [...peers.values()].map((p) => ({ ...p, rounds: p.rounds.sort((a, b) => a - b) })).sort((a, b) => a.author < b.author ? -1 : 1)
}

/** Contributions per round, ascending. */
export async function contributionsByRound (ledger: Ledger): Promise<RoundSummary[]> {
  const f = await facts(ledger)
  const rounds = new Map<number, RoundSummary & { peers: Set<string> }>()
  const get = (round: number): RoundSummary & { peers: Set<string> } => {
    const r = rounds.get(round) ?? { round, contributions: 0, contributors: 0, accepted: 0, rejected: 0, pending: 0, peers: new Set<string>() }
    rounds.set(round, r)
    return r
  }
  for (const row of contributionRows(f)) {
    const r = get(row.round)
    r.contributions++
    r[row.status]++
    r.peers.add(row.author)
  }
  for (const rel of f.releases) Object.assign(get(bodyOf(rel.entry).round as number), { release: cidString(bodyOf(rel.entry).manifest) }, releaseMetrics(bodyOf(rel.entry)))
  for (const close of f.closes) get(bodyOf(close.entry).round as number).outcome = bodyOf(close.entry).outcome as string
  return [...rounds.values()].sort((a, b) => a.round - b.round).map(({ peers, ...r }) => ({ ...r, contributors: peers.size }))
}

/** Every release a maintainer signed, oldest first, with its metrics and contributors. */
export async function listReleases (ledger: Ledger): Promise<ReleaseRow[]> {
  const f = await facts(ledger)
  const authors = new Map(f.contributions.map((c) => [c.id.toString(), toHex(c.entry.author)]))
  return f.releases.map((r) => {
    const body = bodyOf(r.entry)
    const ids = (body.contributions as Uint8Array[]).map((c) => cidString(c) ?? '')
    const samples = (body.metrics as Record<string, unknown> | undefined)?.samples
    return {
      release: cidString(body.manifest) ?? '',
      round: body.round as number,
      parent: cidString(body.parent) ?? '',
      entry: r.id.toString(),
      ts: r.entry.ts,
      contributions: ids.length,
      contributors: [...new Set(ids.map((id) => authors.get(id) ?? ''))].sort(),
      ...releaseMetrics(body),
      ...(typeof samples === 'number' && Number.isFinite(samples) ? { samples } : {})
    }
  })
}

/**
 * Each contributor's share of each release's aggregate weight: share = weight / Σ weights of that release
 * (the release entry lists the aggregated contributions and their weights; FedAvg weights are n_k / n,
 * McMahan et al. 2017). Optionally for one release manifest only.
 */
export async function releaseShares (ledger: Ledger, release?: string): Promise<ShareRow[]> {
  const f = await facts(ledger)
  const authors = new Map(f.contributions.map((c) => [c.id.toString(), toHex(c.entry.author)]))
  const rows: ShareRow[] = []
  for (const r of f.releases) {
    const body = bodyOf(r.entry)
    const manifest = cidString(body.manifest) ?? ''
    if (release !== undefined && manifest !== release) continue
    const weights = body.weights as number[]
    const total = weights.reduce((s, w) => s + w, 0)
    ;(body.contributions as Uint8Array[]).forEach((c, i) => {
      const contribution = cidString(c) ?? ''
      rows.push({ release: manifest, round: body.round as number, contribution, author: authors.get(contribution) ?? '', weight: weights[i], share: total > 0 ? weights[i] / total : 0 })
    })
  }
  return rows
}

/**
 * The chain of releases from `release` (a manifest CID string; default the newest release) back through
 * each release's parent to the genesis release. Stops at a parent that no stored release produced.
 */
export async function releaseLineage (ledger: Ledger, release?: string): Promise<LineageRow[]> {
  const f = await facts(ledger)
  const byManifest = new Map(f.releases.map((r) => [cidString(bodyOf(r.entry).manifest) ?? '', r]))
  let current = release ?? (f.releases.length > 0 ? cidString(bodyOf(f.releases[f.releases.length - 1].entry).manifest) : undefined)
  const rows: LineageRow[] = []
  const seen = new Set<string>()
  while (current !== undefined && !seen.has(current)) {
    seen.add(current)
    const r = byManifest.get(current)
    if (r === undefined) {
      const genesis = ledger.community === undefined ? undefined : await ledger.get(ledger.community)
      const genesisRelease = genesis === undefined ? undefined : cidString(bodyOf(genesis.entry).release)
      rows.push({ release: current, parent: null, round: 0, entry: null, ts: genesisRelease === current ? genesis?.entry.ts ?? 0 : 0, contributions: 0 })
      break
    }
    const body = bodyOf(r.entry)
    const parent = cidString(body.parent) ?? null
    rows.push({ release: current, parent, round: body.round as number, entry: r.id.toString(), ts: r.entry.ts, contributions: (body.contributions as unknown[]).length })
    current = parent ?? undefined
  }
  return rows
}

/** Totals: entries by kind, authors, rounds, releases, contribution outcomes, equivocations. */
export async function ledgerStats (ledger: Ledger): Promise<LedgerStats> {
  const byKind: Record<string, number> = {}
  const rounds = new Set<number>()
  // one pass over the entries in time order, which is also the order of each kind's index
  const lists: KindLists = { contribution: [], verdict: [], release: [], 'round-close': [] }
  for await (const e of ledger.entries()) {
    const kind = e.entry.kind
    byKind[kind] = (byKind[kind] ?? 0) + 1
    const round = bodyOf(e.entry).round
    if (typeof round === 'number') rounds.add(round)
    if (kind in lists) lists[kind as keyof KindLists].push(e)
  }
  const f = factsOf(ledger, lists)
  const rows = contributionRows(f)
  return {
    ...(ledger.community === undefined ? {} : { community: ledger.community.toString() }),
    entries: ledger.size,
    authors: ledger.heads().length,
    byKind,
    rounds: rounds.size,
    releases: f.releases.length,
    contributions: {
      total: rows.length,
      accepted: rows.filter((r) => r.status === 'accepted').length,
      rejected: rows.filter((r) => r.status === 'rejected').length,
      pending: rows.filter((r) => r.status === 'pending').length
    },
    equivocations: ledger.evidenceCount,
    evidenceDropped: ledger.evidenceDropped
  }
}
