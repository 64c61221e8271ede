/**
 * The dashboard page: reads `GET /dashboard/api/snapshot` (what the daemon's control API reports: rounds,
 * the ledger's views, peers, `ledger verify`), draws it as tables and uPlot charts, and reads it again when
 * the event stream (`GET /dashboard/api/events`, server-sent events) reports a round, ledger or peer event —
 * no reload. Every table and plot offers its exact data as CSV and JSON.
 */
import uPlot from 'uplot'
import { cell, csvOf, type Column, type Row } from './table.js'

interface Identity { peerId: string, key: string }
interface Contribution { id: string, peer: string, samples: number, blobBytes?: number, trainMs?: number, ts: number, verdict?: { accepted: boolean, code: string, reason: string } }
interface RoundView {
  round: number, state: string, outcome?: string, openedAt: number, closedAt?: number, contributions: Contribution[]
  counts: { contributions: number, accepted: number, rejected: number, pending: number }
  timing: { wallMs?: number, slowestTrainMs?: number, overheadMs?: number, bytes: number }
}
interface ReleaseRow { release: string, round: number, parent: string, entry: string, ts: number, contributions: number, contributors: string[], accuracy?: number, loss?: number, perplexity?: number, evalExamples?: number }
interface RoundEvent { type: string, ts: number, round?: number, contribution?: string }
interface Snapshot {
  generatedAt: number
  status?: { peerId: string }
  community?: { name?: string, id?: string }
  rounds?: RoundView[]
  releases?: ReleaseRow[]
  heads?: Array<{ author: string, seq: number, length: number, id: string }>
  peers?: Array<{ peerId: string, direction: string, rttMs?: number, gossipScore: number, penalty: number, addresses: string[] }>
  verify?: { ranAt: number, report?: Record<string, unknown>, error?: { code: string, message: string } }
  identities: Identity[]
  roundEvents: RoundEvent[]
  errors: Record<string, { status: number, code: string, message: string }>
}

/** Metrics of a release the page plots, in order. */
const METRICS = ['accuracy', 'loss', 'perplexity'] as const
const SNAPSHOT_URL = '/dashboard/api/snapshot'
const EVENTS_URL = '/dashboard/api/events'
/** Events within this many ms are read as one change (a round's close emits several at once). */
const REFRESH_DEBOUNCE_MS = 250
const COLORS = ['#2364aa', '#3da35d', '#e8a33d', '#c2410c', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f', '#92400e', '#334155']

const main = document.getElementById('main') as HTMLElement
const notice = document.getElementById('notice') as HTMLElement
const live = document.getElementById('live') as HTMLElement
let peerOfKey = new Map<string, string>()
let plots: uPlot[] = []

const seconds = (ms: number | undefined): number | undefined => ms === undefined ? undefined : Math.round(ms) / 1000
const peerName = (key: string): string => peerOfKey.get(key) ?? key

function el<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  e.append(...children)
  return e
}

/** CSV and JSON download links of exactly `rows` (the columns of the table or the points of the plot). */
function downloads (name: string, columns: readonly string[], rows: Row[]): HTMLElement {
  const link = (format: 'csv' | 'json'): HTMLElement => {
    const a = el('a', { 'data-download': name, 'data-format': format, download: `${name}.${format}` }, format.toUpperCase())
    a.addEventListener('click', () => {
      const text = format === 'csv' ? csvOf(columns, rows) : JSON.stringify(rows, null, 2) + '\n'
      const url = URL.createObjectURL(new Blob([text], { type: format === 'csv' ? 'text/csv' : 'application/json' }))
      a.setAttribute('href', url)
      setTimeout(() => { URL.revokeObjectURL(url) }, 10_000)
    })
    return a
  }
  return el('span', { class: 'downloads' }, link('csv'), link('json'))
}

/** A table of `rows` under `columns`; each cell carries its exact value in `data-value`. */
function table (name: string, columns: Column[], rows: Row[]): HTMLElement {
  if (rows.length === 0) return el('p', { class: 'empty', 'data-table': name }, 'none yet')
  const head = el('tr', {}, ...columns.map((c) => el('th', {}, c.label ?? c.key)))
  const body = rows.map((r) => el('tr', {}, ...columns.map((c) => cell(c, r[c.key]))))
  return el('table', { 'data-table': name }, el('thead', {}, head), el('tbody', {}, ...body))
}

function section (id: string, title: string, ...children: Node[]): HTMLElement {
  return el('section', { id }, el('h2', {}, title), ...children)
}

function titled (title: string, name: string, columns: readonly string[], rows: Row[]): HTMLElement {
  return el('h3', {}, title, downloads(name, columns, rows))
}

/** A uPlot chart of `rows` (x = `x`, one series per `series`), the drawn rows in `data-points`. */
function plot (name: string, x: string, series: Array<{ key: string, label: string }>, rows: Row[], options: { bars?: boolean, stacked?: boolean } = {}): HTMLElement {
  const box = el('div', { class: 'plot', 'data-plot': name, 'data-points': JSON.stringify(rows) })
  const xs = [...new Set(rows.map((r) => r[x] as number))].sort((a, b) => a - b)
  const values = series.map((s) => xs.map((v) => {
    const r = rows.find((row) => row[x] === v && (row.series === undefined || row.series === s.key))
    const y = r === undefined ? undefined : r[options.stacked === true ? 'value' : s.key]
    return typeof y === 'number' ? y : null
  }))
  if (options.stacked === true) {
    // stacked bars: each series drawn at the running sum of those below it, the top one first
    for (let i = 1; i < values.length; i++) values[i] = values[i].map((v, j) => (v ?? 0) + (values[i - 1][j] ?? 0))
  }
  const bars = options.bars === true ? uPlot.paths.bars?.({ size: [0.6, 60] }) : undefined
  const order = options.stacked === true ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i)
  const opts: uPlot.Options = {
    width: 420,
    height: 220,
    // bars: the x range padded by half a step so the outer bars show whole, and counts from 0
    scales: bars === undefined
      ? { x: { time: false } }
      : { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (_u, _min, max) => [0, max * 1.05] } },
    axes: [{ label: x }, { size: 64 }],
    series: [{ label: x }, ...order.map((i) => ({
      label: series[i].label,
      stroke: COLORS[i % COLORS.length],
      ...(bars === undefined ? { points: { show: true } } : { paths: bars, fill: COLORS[i % COLORS.length] })
    }))]
  }
  const data = [xs, ...order.map((i) => values[i])] as uPlot.AlignedData
  queueMicrotask(() => { plots.push(new uPlot(opts, data, box)) })
  return box
}

function releasesSection (s: Snapshot): HTMLElement {
  const rows: Row[] = (s.releases ?? []).map((r) => ({
    round: r.round, release: r.release, parent: r.parent, accuracy: r.accuracy, loss: r.loss, perplexity: r.perplexity,
    evalExamples: r.evalExamples, contributions: r.contributions, contributors: r.contributors.map(peerName), signed: new Date(r.ts).toISOString()
  }))
  const columns: Column[] = [
    { key: 'round' }, { key: 'release', mono: true }, { key: 'parent', mono: true }, { key: 'accuracy', digits: 4 }, { key: 'loss', digits: 4 },
    { key: 'perplexity', digits: 4 }, { key: 'evalExamples' }, { key: 'contributions' }, { key: 'contributors', mono: true }, { key: 'signed' }
  ]
  const charts = METRICS.filter((m) => rows.some((r) => typeof r[m] === 'number')).map((m) => {
    const points = rows.filter((r) => typeof r[m] === 'number').map((r) => ({ round: r.round, release: r.release, [m]: r[m] }))
    return el('div', {}, titled(`${m} over releases`, `plot-${m}`, ['round', 'release', m], points), plot(`metric-${m}`, 'round', [{ key: m, label: m }], points))
  })
  return section('releases', 'Releases (lineage)',
    titled('every release: round, parent, metrics, contributors', 'releases', columns.map((c) => c.key), rows), table('releases', columns, rows),
    el('div', { class: 'plots' }, ...charts))
}

function contributionsSection (s: Snapshot): HTMLElement {
  const rows: Row[] = []
  for (const r of s.rounds ?? []) {
    for (const c of r.contributions) {
      rows.push({
        round: r.round, peer: c.peer, status: c.verdict === undefined ? 'pending' : c.verdict.accepted ? 'accepted' : 'rejected',
        code: c.verdict?.code, reason: c.verdict?.reason, samples: c.samples, bytes: c.blobBytes, contribution: c.id
      })
    }
  }
  const columns: Column[] = [
    { key: 'round' }, { key: 'peer', mono: true }, { key: 'status', status: true }, { key: 'code' }, { key: 'reason' },
    { key: 'samples' }, { key: 'bytes' }, { key: 'contribution', mono: true }
  ]
  const peers = [...new Set(rows.map((r) => r.peer as string))].sort()
  const points: Row[] = []
  for (const round of [...new Set(rows.map((r) => r.round as number))]) {
    for (const peer of peers) {
      const accepted = rows.filter((r) => r.round === round && r.peer === peer && r.status === 'accepted')
      if (accepted.length > 0) points.push({ round, series: peer, value: accepted.reduce((n, r) => n + (r.samples as number), 0) })
    }
  }
  return section('contributions', 'Contributions per volunteer per round',
    titled('accepted samples per volunteer (stacked)', 'plot-contributions', ['round', 'series', 'value'], points),
    plot('contributions', 'round', peers.map((p) => ({ key: p, label: p.slice(-8) })), points, { bars: true, stacked: true }),
    titled('every contribution with its verdict', 'contributions', columns.map((c) => c.key), rows), table('contributions', columns, rows))
}

function timelineSection (s: Snapshot): HTMLElement {
  const releaseTs = new Map((s.releases ?? []).map((r) => [r.round, r.ts]))
  const rows: Row[] = (s.rounds ?? []).map((r) => {
    const events = s.roundEvents.filter((e) => e.round === r.round)
    const at = (type: string): number | undefined => events.find((e) => e.type === type)?.ts
    const arrivals = events.filter((e) => e.type === 'rounds:contribution').map((e) => e.ts)
    const contributed = arrivals.length > 0 ? arrivals : r.contributions.map((c) => c.ts)
    const last = contributed.length > 0 ? Math.max(...contributed) : undefined
    const frozen = at('rounds:closing')
    const released = at('rounds:release') ?? releaseTs.get(r.round)
    const rel = (t: number | undefined): number | undefined => t === undefined ? undefined : seconds(t - r.openedAt)
    return {
      round: r.round, state: r.state, outcome: r.outcome, opened: new Date(r.openedAt).toISOString(), contributions: r.counts.contributions,
      firstContributionS: contributed.length > 0 ? rel(Math.min(...contributed)) : undefined, lastContributionS: rel(last),
      frozenS: rel(frozen), releaseS: rel(released), closedS: rel(r.closedAt),
      wallS: seconds(r.timing.wallMs), slowestTrainingS: seconds(r.timing.slowestTrainMs), overheadS: seconds(r.timing.overheadMs),
      freezeS: frozen === undefined || last === undefined ? undefined : seconds(frozen - last),
      mergeS: frozen === undefined || released === undefined ? undefined : seconds(released - frozen),
      closeS: released === undefined || r.closedAt === undefined ? undefined : seconds(r.closedAt - released),
      bytes: r.timing.bytes
    }
  })
  const columns: Column[] = [
    { key: 'round' }, { key: 'state' }, { key: 'outcome' }, { key: 'opened' }, { key: 'contributions' },
    { key: 'firstContributionS', label: 'first contribution s' }, { key: 'lastContributionS', label: 'last contribution s' }, { key: 'frozenS', label: 'frozen s' },
    { key: 'releaseS', label: 'release s' }, { key: 'closedS', label: 'closed s' }, { key: 'wallS', label: 'wall s' }, { key: 'slowestTrainingS', label: 'slowest training s' },
    { key: 'overheadS', label: 'overhead s' }, { key: 'freezeS', label: 'last arrival → frozen s' }, { key: 'mergeS', label: 'frozen → release s' },
    { key: 'closeS', label: 'release → close s' }, { key: 'bytes', label: 'delta bytes sent' }
  ]
  return section('timeline', 'Round timelines (open → contributions → freeze → release → close, seconds after the open)',
    titled('every round', 'timeline', columns.map((c) => c.key), rows), table('timeline', columns, rows))
}

function ledgerSection (s: Snapshot): HTMLElement {
  const rows: Row[] = (s.heads ?? []).map((h) => ({ peer: peerName(h.author), key: h.author, entries: h.length, seq: h.seq, head: h.id }))
  const columns: Column[] = [{ key: 'peer', mono: true }, { key: 'key', mono: true }, { key: 'entries' }, { key: 'seq' }, { key: 'head', mono: true }]
  const v = s.verify
  const verify: Row[] = v === undefined
    ? []
    : [{ status: v.error === undefined ? 'ok' : 'failed', ranAt: new Date(v.ranAt).toISOString(), entries: v.report?.entries as number | undefined, authors: v.report?.authors as number | undefined, code: v.error?.code, message: v.error?.message }]
  const vColumns: Column[] = [{ key: 'status', status: true }, { key: 'ranAt', label: 'last ran' }, { key: 'entries' }, { key: 'authors' }, { key: 'code' }, { key: 'message' }]
  return section('ledger', 'Ledger',
    titled('ledger verify', 'verify', vColumns.map((c) => c.key), verify), table('verify', vColumns, verify),
    titled('entries per author chain', 'chains', columns.map((c) => c.key), rows), table('chains', columns, rows))
}

function peersSection (s: Snapshot): HTMLElement {
  const keyOf = new Map(s.identities.map((i) => [i.peerId, i.key]))
  const rows: Row[] = (s.peers ?? []).map((p) => ({ peer: p.peerId, key: keyOf.get(p.peerId), direction: p.direction, rttMs: p.rttMs, gossipScore: p.gossipScore, penalty: p.penalty, addresses: p.addresses }))
  const columns: Column[] = [{ key: 'peer', mono: true }, { key: 'key', mono: true }, { key: 'direction' }, { key: 'rttMs', label: 'rtt ms' }, { key: 'gossipScore', label: 'gossip score', digits: 3 }, { key: 'penalty', digits: 3 }, { key: 'addresses', mono: true }]
  const ids: Row[] = s.identities.map((i) => ({ peer: i.peerId, key: i.key }))
  const idColumns: Column[] = [{ key: 'peer', mono: true }, { key: 'key', mono: true }]
  return section('peers', 'Peers and identities',
    titled('connected peers and their scores', 'peers', columns.map((c) => c.key), rows), table('peers', columns, rows),
    titled('identities: peer id ↔ raw Ed25519 key (the ledger\'s author)', 'identities', idColumns.map((c) => c.key), ids), table('identities', idColumns, ids))
}

function render (s: Snapshot): void {
  peerOfKey = new Map(s.identities.map((i) => [i.key, i.peerId]))
  for (const p of plots) p.destroy()
  plots = []
  const community = document.getElementById('community') as HTMLElement
  community.textContent = `${s.community?.name ?? 'no community'} · this daemon ${s.status?.peerId ?? '?'} · updated ${new Date(s.generatedAt).toISOString()}`
  const problems = Object.entries(s.errors).map(([part, e]) => `${part}: ${e.code} ${e.message}`)
  notice.hidden = problems.length === 0
  notice.textContent = problems.join('\n')
  main.replaceChildren(notice, releasesSection(s), contributionsSection(s), timelineSection(s), ledgerSection(s), peersSection(s))
  document.body.dataset.generatedAt = String(s.generatedAt)
  document.body.dataset.rounds = String(s.rounds?.length ?? 0)
}

let timer: ReturnType<typeof setTimeout> | undefined
async function refresh (): Promise<void> {
  const res = await fetch(SNAPSHOT_URL, { credentials: 'same-origin', cache: 'no-store' })
  if (!res.ok) {
    const body = await res.json().catch(() => ({})) as { code?: string, message?: string }
    notice.hidden = false
    notice.textContent = `${res.status} ${body.code ?? ''}: ${body.message ?? res.statusText}`
    return
  }
  render(await res.json() as Snapshot)
}
const later = (): void => {
  if (timer !== undefined) clearTimeout(timer)
  timer = setTimeout(() => { void refresh() }, REFRESH_DEBOUNCE_MS)
}

const source = new EventSource(EVENTS_URL)
source.onopen = () => {
  live.dataset.state = 'live'
  live.textContent = 'live'
  later()
}
source.onerror = () => {
  live.dataset.state = 'down'
  live.textContent = 'event stream lost; retrying'
}
source.onmessage = () => { later() }
void refresh()
