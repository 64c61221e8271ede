import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import { ControlClient, describeReachability, type DaemonStatus } from '@swarmtune/node'
import { count } from '../options.js'
import { common, show } from './round.js'

interface StatusFlags {
  dataDir: string
  json?: boolean
  watch?: boolean
}

/** Bytes as B / KiB / MiB / GiB with one decimal. */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`
}

/** A duration in ms as e.g. `2h 3m 4s`. */
export function formatDuration (ms: number): string {
  const s = Math.floor(ms / 1000)
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']] as const
  const shown = parts.filter(([v], i) => v > 0 || i === parts.length - 1)
  return shown.map(([v, unit]) => `${v}${unit}`).join(' ')
}

/** Field names whose numbers are times as ms since the Unix epoch (`at`, `startedAt`, `lastSyncAt` …). */
const TIME_FIELD = /^(at|time)$|At$/

/**
 * A value of a service's status as short text: scalars as is (a time field, {@link TIME_FIELD}, as an ISO 8601
 * UTC time), arrays by their items, objects as `key value` pairs.
 */
function inline (v: unknown, key = ''): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'number' && TIME_FIELD.test(key) && Number.isFinite(v) && v > 0) return new Date(v).toISOString()
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.map((x) => inline(x, key)).join(', ')
  if (typeof v === 'object') return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k} ${inline(x, k)}`).join(', ')
  return String(v)
}

/** A service's status (e.g. ledger, rounds) as readable lines: one `key  value` line per field. */
export function serviceLines (value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [inline(value)]
  const entries = Object.entries(value as Record<string, unknown>)
  const width = Math.max(0, ...entries.map(([k]) => k.length))
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${inline(v, k)}`)
}

/** The daemon's status as aligned `label  value` lines. */
export function render (s: DaemonStatus): string {
  const row = (label: string, value: string): string => `${label.padEnd(12)} ${value}`
  const lines = [
    row('peer id', s.peerId),
    row('version', `${s.version} (protocol ${s.protocolVersion}), pid ${s.pid}, up ${formatDuration(s.uptimeMs)}`),
    ...s.addresses.map((a, i) => row(i === 0 ? 'addresses' : '', a)),
    row('connections', `${s.connections} to ${count(s.peers, 'peer')}`),
    row('dht', s.dht.mode === 'off' ? 'off' : `${s.dht.mode}, ${count(s.dht.routingTable, 'peer')} in the routing table`),
    row('mdns', s.mdns ? 'on' : 'off'),
    row('reachable', describeReachability(s.reachability).summary),
    ...(s.communities.length === 0 ? [row('communities', 'none joined')] : s.communities.map((c, i) => row(i === 0 ? 'communities' : '', `${c.id} (${count(c.peers, 'peer')} on its topic)`))),
    row('blobs', `${s.blobs.count} stored, ${formatBytes(s.blobs.bytes)}; ${s.blobs.fetching.length === 0 ? 'no fetches running' : `fetching ${s.blobs.fetching.join(', ')}`}`),
    row('control', s.control ?? '-')
  ]
  for (const [name, value] of Object.entries(s.services)) {
    const fields = serviceLines(value)
    if (fields.length === 0) lines.push(row(name, '-'))
    fields.forEach((f, i) => lines.push(row(i === 0 ? name : '', f)))
  }
  return lines.join('\n') + '\n'
}

/** Follows the daemon's blob fetches with one progress bar each, until interrupted. */
async function watch (client: ControlClient): Promise<void> {
  const bars = new cliProgress.MultiBar({
    format: '{cid} [{bar}] {percentage}% | {done}/{size} | {status}',
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false
  }, cliProgress.Presets.shades_classic)
  const active = new Map<string, cliProgress.SingleBar>()
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  bars.log('Watching blob transfers (Ctrl-C to stop)\n')
  try {
    for await (const e of client.events({ signal: controller.signal, prefixes: ['blob:fetch:'] })) {
      const cid = String(e.cid)
      const short = cid.length > 16 ? `${cid.slice(0, 8)}…${cid.slice(-6)}` : cid
      let bar = active.get(cid)
      if (bar == null && e.type !== 'blob:fetch:failed' && e.type !== 'blob:fetch:done') {
        bar = bars.create(1, 0, { cid: short, done: '0 B', size: '?', status: 'finding providers' })
        active.set(cid, bar)
      }
      if (e.type === 'blob:fetch:progress' && bar != null) {
        const total = Number(e.bytesTotal)
        const done = Number(e.bytesDone)
        bar.setTotal(Math.max(total, 1))
        bar.update(done, { cid: short, done: formatBytes(done), size: formatBytes(total), status: 'downloading' })
      } else if (e.type === 'blob:fetch:done') {
        const size = Number(e.size)
        if (bar != null) {
          bar.setTotal(Math.max(size, 1))
          bar.update(Math.max(size, 1), { cid: short, done: formatBytes(size), size: formatBytes(size), status: `done in ${formatDuration(Number(e.ms))}` })
        }
        active.delete(cid)
      } else if (e.type === 'blob:fetch:failed') {
        bar?.update({ cid: short, done: '-', size: '-', status: `failed: ${String(e.code)}` })
        active.delete(cid)
      }
    }
  } finally {
    process.off('SIGINT', onSignal)
    bars.stop()
  }
}

/** Adds `swarmtune status` to the program. */
export function register (program: Command): void {
  common(program.command('status'), { dataDir: 'data folder of the daemon (env SWARMTUNE_HOME)', json: 'print the status as JSON' })
    .description('show the running daemon: peer id, addresses, connections, DHT, communities, blobs')
    .option('--watch', 'then follow blob transfers with progress bars until Ctrl-C')
    .action(async (flags: StatusFlags) => {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      const status = await client.status()
      show(flags.json, status, render)
      if (flags.watch === true) await watch(client)
    })
}
