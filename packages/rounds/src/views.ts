/**
 * Rounds and releases as the ledger records them, readable on any peer: round-opens, contributions with their
 * verdicts, releases and round-closes. The ledger stores round-opens, verdicts, releases and round-closes only
 * when a maintainer named in the genesis signed them (`ERR_LEDGER_NOT_MAINTAINER`), so every one read here is
 * authorised. These are the rows `swarmtune round status | list` and `swarmtune release list | show` print.
 */
import type { Ledger } from '@swarmtune/ledger'
import { parseCid, type CID, type EntryKind, type SignedEntry } from '@swarmtune/wire'
import { peerIdOfKey, type Community } from './community.js'

async function collect<K extends EntryKind> (ledger: Ledger, kind: K, round?: number): Promise<Array<SignedEntry<K>>> {
  const out: Array<SignedEntry<K>> = []
  for await (const e of ledger.entries({ kind, ...(round === undefined ? {} : { round }) })) out.push(e as SignedEntry<K>)
  return out
}

/** Round-opens, oldest first (optionally of one round number). */
export async function roundOpens (ledger: Ledger, round?: number): Promise<Array<SignedEntry<'round-open'>>> {
  return await collect(ledger, 'round-open', round)
}

/** Releases, oldest first (optionally of one round). */
export async function releases (ledger: Ledger, round?: number): Promise<Array<SignedEntry<'release'>>> {
  return await collect(ledger, 'release', round)
}

/** Round-closes, oldest first (optionally of one round). */
export async function roundCloses (ledger: Ledger, round?: number): Promise<Array<SignedEntry<'round-close'>>> {
  return await collect(ledger, 'round-close', round)
}

/** Verdicts of a round by contribution id (the latest wins). */
export async function verdicts (ledger: Ledger, round: number): Promise<Map<string, SignedEntry<'verdict'>>> {
  const out = new Map<string, SignedEntry<'verdict'>>()
  for (const v of await collect(ledger, 'verdict', round)) out.set(parseCid(v.entry.body.contribution).toString(), v)
  return out
}

/** Contributions of a round (anyone may contribute), oldest first. */
export async function contributions (ledger: Ledger, round: number): Promise<Array<SignedEntry<'contribution'>>> {
  const out: Array<SignedEntry<'contribution'>> = []
  for await (const e of ledger.entries({ kind: 'contribution', round })) out.push(e as SignedEntry<'contribution'>)
  return out
}

/** The round-close of a round-open, if the round is closed. */
export async function closeOf (ledger: Ledger, roundOpen: SignedEntry<'round-open'>): Promise<SignedEntry<'round-close'> | undefined> {
  const id = roundOpen.id.toString()
  return (await roundCloses(ledger, roundOpen.entry.body.round)).find((c) => parseCid(c.entry.body.roundOpen).toString() === id)
}

/** The newest release (highest round, then latest) — the base of the next round — or the genesis release. */
export async function latestRelease (ledger: Ledger, community: Community): Promise<{ manifest: CID, round: number, entry?: SignedEntry<'release'> }> {
  const all = await releases(ledger)
  let best: SignedEntry<'release'> | undefined
  for (const r of all) if (best === undefined || r.entry.body.round >= best.entry.body.round) best = r
  return best === undefined ? { manifest: community.release, round: 0 } : { manifest: parseCid(best.entry.body.manifest), round: best.entry.body.round, entry: best }
}

/** The release entry that produced manifest `manifest`, if any (undefined for the genesis release). */
export async function releaseByManifest (ledger: Ledger, manifest: CID): Promise<SignedEntry<'release'> | undefined> {
  const key = manifest.toString()
  for await (const e of ledger.entries({ kind: 'release', release: key })) {
    if (parseCid((e as SignedEntry<'release'>).entry.body.manifest).toString() === key) return e as SignedEntry<'release'>
  }
  return undefined
}

/** The next round number: one above every round any maintainer opened (rounds start at 1). */
export async function nextRoundNumber (ledger: Ledger): Promise<number> {
  let max = 0
  for (const o of await roundOpens(ledger)) max = Math.max(max, o.entry.body.round)
  return max + 1
}

/** One contribution as status shows it. */
export interface ContributionView {
  id: string
  /** Contributor's peer id. */
  peer: string
  samples: number
  /** L2 norm of the delta the contributor reported. */
  norm: number
  blob: string
  /** ms since the Unix epoch (contributor's clock). */
  ts: number
  lossBefore: number
  lossAfter: number
  /** Local training time and encoded delta size, when the contributor reported them (ms, bytes). */
  trainMs?: number
  blobBytes?: number
  verdict?: { accepted: boolean, code: string, reason: string }
}

/** A round as the ledger records it. */
export interface RoundView {
  round: number
  roundOpen: string
  /** Peer id of the maintainer who opened it. */
  coordinator: string
  openedAt: number
  deadline: number
  base: string
  train: Record<string, unknown>
  quorum: number
  maxContributions: number
  aggregator: { name: string, params: Record<string, unknown> }
  codec: { name: string, params: Record<string, unknown> }
  normBound: number
  /** `open` until a round-close is recorded. */
  state: 'open' | 'closed'
  outcome?: 'released' | 'no-release' | 'cancelled'
  /**
   * Code of an outcome without a release: `ERR_ROUNDS_CANCELLED`, or the code the round-close's reason starts
   * with (`ERR_ROUNDS_NO_QUORUM: …`, an aggregator's code); `ERR_ROUNDS_NO_QUORUM` for a reason without one.
   */
  code?: string
  reason?: string
  closedAt?: number
  release?: { entry: string, manifest: string, metrics: Record<string, unknown>, contributions: number }
  contributions: ContributionView[]
  counts: { contributions: number, accepted: number, rejected: number, pending: number }
  /**
   * Wall time from round-open to round-close, the slowest contributor's reported training time and their
   * difference — the coordination overhead (ms; timestamps of different signers, so clock skew enters).
   */
  timing: { wallMs?: number, slowestTrainMs?: number, overheadMs?: number, bytes: number }
}

const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined

/** The view of one round-open and everything recorded about it. */
export async function roundView (ledger: Ledger, open: SignedEntry<'round-open'>): Promise<RoundView> {
  const body = open.entry.body
  const id = open.id.toString()
  const close = await closeOf(ledger, open)
  const judged = await verdicts(ledger, body.round)
  const rows: ContributionView[] = []
  for (const c of await contributions(ledger, body.round)) {
    if (parseCid(c.entry.body.roundOpen).toString() !== id) continue
    const v = judged.get(c.id.toString())
    const m = c.entry.body.metrics
    rows.push({
      id: c.id.toString(),
      peer: peerIdOfKey(c.entry.author).toString(),
      samples: c.entry.body.samples,
      norm: c.entry.body.norm,
      blob: parseCid(c.entry.body.blob).toString(),
      ts: c.entry.ts,
      lossBefore: m.lossBefore,
      lossAfter: m.lossAfter,
      ...(num(m.trainMs) === undefined ? {} : { trainMs: num(m.trainMs) }),
      ...(num(m.blobBytes) === undefined ? {} : { blobBytes: num(m.blobBytes) }),
      ...(v === undefined ? {} : { verdict: { accepted: v.entry.body.accepted, code: v.entry.body.code, reason: v.entry.body.reason } })
    })
  }
  let release: RoundView['release']
  if (close?.entry.body.release !== undefined) {
    const rel = await ledger.get(parseCid(close.entry.body.release))
    if (rel !== undefined && rel.entry.kind === 'release') {
      release = { entry: rel.id.toString(), manifest: parseCid(rel.entry.body.manifest).toString(), metrics: rel.entry.body.metrics, contributions: rel.entry.body.contributions.length }
    }
  }
  const accepted = rows.filter((r) => r.verdict?.accepted === true)
  const slowest = accepted.reduce<number | undefined>((m, r) => r.trainMs === undefined ? m : Math.max(m ?? 0, r.trainMs), undefined)
  const wallMs = close === undefined ? undefined : close.entry.ts - open.entry.ts
  return {
    round: body.round,
    roundOpen: id,
    coordinator: peerIdOfKey(open.entry.author).toString(),
    openedAt: open.entry.ts,
    deadline: body.deadline,
    base: parseCid(body.base).toString(),
    train: body.train,
    quorum: body.quorum,
    maxContributions: body.maxContributions,
    aggregator: body.aggregator,
    codec: body.codec,
    normBound: body.normBound,
    state: close === undefined ? 'open' : 'closed',
    ...(close === undefined ? {} : { outcome: close.entry.body.outcome, ...outcomeCode(close.entry.body), reason: close.entry.body.reason, closedAt: close.entry.ts }),
    ...(release === undefined ? {} : { release }),
    contributions: rows,
    counts: {
      contributions: rows.length,
      accepted: accepted.length,
      rejected: rows.filter((r) => r.verdict?.accepted === false).length,
      pending: rows.filter((r) => r.verdict === undefined).length
    },
    timing: {
      ...(wallMs === undefined ? {} : { wallMs }),
      ...(slowest === undefined ? {} : { slowestTrainMs: slowest }),
      ...(wallMs === undefined || slowest === undefined ? {} : { overheadMs: wallMs - slowest }),
      bytes: rows.reduce((s, r) => s + (r.blobBytes ?? 0), 0)
    }
  }
}

/** The `code` of a round-close without a release (see {@link RoundView.code}). */
function outcomeCode (b: SignedEntry<'round-close'>['entry']['body']): { code?: string } {
  if (b.outcome === 'released') return {}
  if (b.outcome === 'cancelled') return { code: 'ERR_ROUNDS_CANCELLED' }
  return { code: /^(ERR_[A-Z0-9_]{1,60}): /.exec(b.reason)?.[1] ?? 'ERR_ROUNDS_NO_QUORUM' }
}

/** A release as `release list | show` prints it. */
export interface ReleaseView {
  /** Manifest CID string (the release id). */
  manifest: string
  /** Release entry id; undefined for the genesis release. */
  entry?: string
  round: number
  parent?: string
  /** Peer id of the maintainer who signed it (the genesis author for the genesis release). */
  signer: string
  ts: number
  metrics: Record<string, unknown>
  contributions: Array<{ id: string, weight: number }>
}

/** The genesis release and every release, oldest first. */
export async function releaseViews (ledger: Ledger, community: Community): Promise<ReleaseView[]> {
  const out: ReleaseView[] = [{
    manifest: community.release.toString(),
    round: 0,
    signer: peerIdOfKey(community.genesis.entry.author).toString(),
    ts: community.genesis.entry.ts,
    metrics: {},
    contributions: []
  }]
  for (const r of await releases(ledger)) out.push(releaseView(r))
  return out
}

/** The view of one release entry. */
export function releaseView (r: SignedEntry<'release'>): ReleaseView {
  const b = r.entry.body
  return {
    manifest: parseCid(b.manifest).toString(),
    entry: r.id.toString(),
    round: b.round,
    parent: parseCid(b.parent).toString(),
    signer: peerIdOfKey(r.entry.author).toString(),
    ts: r.entry.ts,
    metrics: b.metrics,
    contributions: b.contributions.map((c, i) => ({ id: parseCid(c).toString(), weight: b.weights[i] }))
  }
}
