import type { Command } from 'commander'
import { ControlClient, defaultDataDir, type PeerStatus } from '@swarmtune/node'
import { count } from '../options.js'
import { show } from './round.js'

interface PeersFlags {
  dataDir: string
  json?: boolean
  connect?: string
}

/** The peers as a table with lower-case headers (as the other tables), then the count. */
export function render (peers: PeerStatus[], dataDir: string): string {
  if (peers.length === 0) return `No peers connected. Check \`swarmtune doctor -d ${dataDir}\` (bootstrap peers, reachability).\n`
  const rows = peers.map((p) => [
    p.peerId,
    p.direction === 'inbound' ? 'in' : 'out',
    p.rttMs != null ? `${p.rttMs} ms` : '-',
    p.gossipScore.toFixed(2),
    p.penalty > 0 ? p.penalty.toFixed(1) : '-',
    p.addresses.join(' '),
    p.agent ?? ''
  ])
  const header = ['peer', 'dir', 'rtt', 'score', 'penalty', 'address', 'agent']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + `\n${count(peers.length, 'peer')}\n`
}

/** Adds `swarmtune peers` to the program. */
export function register (program: Command): void {
  program
    .command('peers')
    .description('list connected peers with direction, round-trip time, gossip score and blob-exchange penalty')
    .option('-d, --data-dir <path>', 'data folder of the daemon (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--connect <multiaddr>', 'first dial this peer (an address ending in /p2p/<peer id>)')
    .option('--json', 'print the list as JSON')
    .action(async (flags: PeersFlags) => {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      if (flags.connect != null) {
        const r = await client.connect(flags.connect)
        if (flags.json !== true) process.stdout.write(`Connected to ${r.peerId} at ${r.address}\n`)
      }
      const peers = await client.peers()
      show(flags.json, peers, (v) => render(v, flags.dataDir))
    })
}
