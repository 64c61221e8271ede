/**
 * Reachability checks for `swarmtune doctor`: which listen addresses accept TCP connections, whether any is
 * public, and whether the bootstrap peers answer. Plain TCP connects — they show the port is open, not that
 * the peer behind it speaks libp2p (the daemon's own connections show that).
 */
import { BlockList, connect, createServer, isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

/** Where an address is routable. */
export type AddressScope = 'loopback' | 'private' | 'public' | 'unspecified'

export interface AddressCheck {
  address: string
  scope: AddressScope
  /** true/false after a TCP connect; null when not checked (unspecified host, or not a TCP address). */
  reachable: boolean | null
  /** Connect time in ms. */
  ms?: number
  error?: string
}

export interface ReachabilityReport {
  listen: AddressCheck[]
  bootstrap: AddressCheck[]
  /** At least one listen or announce address is public (peers on the internet could dial it). */
  publicAddress: boolean
  /** One line for humans. */
  summary: string
}

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')
const privateNets = new BlockList()
for (const [net, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10]] as const) privateNets.addSubnet(net, prefix, 'ipv4')
privateNets.addSubnet('fc00::', 7, 'ipv6')
privateNets.addSubnet('fe80::', 10, 'ipv6')

/** Classifies an IP address (RFC 1918, RFC 6598, RFC 4193, link-local). */
export function scopeOf (ip: string): AddressScope {
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4'
  if (ip === '0.0.0.0' || ip === '::') return 'unspecified'
  if (loopback.check(ip, family)) return 'loopback'
  if (privateNets.check(ip, family)) return 'private'
  return 'public'
}

/** TCP host and port of a multiaddr, or null for other transports. */
export function tcpTarget (addr: string): { host: string, port: number } | null {
  try {
    const parts = multiaddr(addr).getComponents()
    const ip = parts.find((c) => c.name === 'ip4' || c.name === 'ip6')
    const tcp = parts.find((c) => c.name === 'tcp')
    if (ip?.value == null || tcp?.value == null) return null
    return { host: ip.value, port: Number(tcp.value) }
  } catch {
    return null
  }
}

/** Opens and closes a TCP connection. */
export async function probeTcp (host: string, port: number, timeoutMs: number): Promise<{ ok: boolean, ms: number, error?: string }> {
  const started = Date.now()
  return await new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean, error?: string): void => {
      socket.destroy()
      resolve({ ok, ms: Date.now() - started, error })
    }
    socket.setTimeout(timeoutMs, () => { done(false, `no answer within ${timeoutMs} ms`) })
    socket.once('connect', () => { done(true) })
    socket.once('error', (err) => { done(false, err.message) })
  })
}

/** true when nothing listens on host:port yet (so the daemon could bind it). */
export async function portFree (host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen({ host, port }, () => { server.close(() => { resolve(true) }) })
  })
}

/** How a node without bootstrap peers can still find peers, from its mDNS and DHT settings. */
function discoveryWithout (mdns: boolean, dht: boolean): string {
  if (mdns && dht) return 'mDNS and the DHT only'
  if (mdns) return 'mDNS only, the DHT is off'
  // the DHT needs a first peer to walk from: without mDNS nothing gives it one
  return `mDNS is off${dht ? ' and the DHT has no first peer to start from' : ' and the DHT is off'}: this node finds no peer unless one dials it; add one with \`swarmtune init -d <folder> --bootstrap <address>\``
}

/**
 * Checks the listen addresses (of a running daemon: its dialable addresses) and the bootstrap peers.
 *
 * @param init.timeoutMs - per-connect timeout in ms
 * @param init.mdns, init.dht - the configured discovery, so that the summary names only what is on (default: both on)
 */
export async function checkReachability (init: { listen: string[], announce?: string[], bootstrap: string[], timeoutMs?: number, mdns?: boolean, dht?: boolean }): Promise<ReachabilityReport> {
  const timeoutMs = init.timeoutMs ?? 3_000
  const check = async (address: string): Promise<AddressCheck> => {
    const t = tcpTarget(address)
    if (t == null) return { address, scope: 'unspecified', reachable: null, error: 'not a TCP address' }
    const scope = scopeOf(t.host)
    if (scope === 'unspecified') return { address, scope, reachable: null }
    const r = await probeTcp(t.host, t.port, timeoutMs)
    return { address, scope, reachable: r.ok, ms: r.ms, error: r.error }
  }
  const [listen, bootstrap] = await Promise.all([
    Promise.all(init.listen.map(check)),
    Promise.all(init.bootstrap.map(check))
  ])
  const announced = (init.announce ?? []).map((a) => tcpTarget(a)).filter((t) => t != null)
  const publicAddress = listen.some((l) => l.scope === 'public') || announced.some((t) => scopeOf(t.host) === 'public')
  const reachableBootstrap = bootstrap.filter((b) => b.reachable === true).length
  const summary = [
    publicAddress ? 'a public address is configured: peers on the internet can dial this node if no firewall blocks it'
      : 'no public address: peers outside this network cannot dial in (outbound connections still work; forward a port and set "announce" to accept them)',
    init.bootstrap.length === 0 ? `no bootstrap peers configured (${discoveryWithout(init.mdns ?? true, init.dht ?? true)})` : `${reachableBootstrap} of ${init.bootstrap.length} bootstrap peers answer`
  ].join('; ')
  return { listen, bootstrap, publicAddress, summary }
}
