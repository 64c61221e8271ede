/**
 * Reachability of a daemon behind a home router: which libp2p parts it runs for that (AutoNAT v2, UPnP port
 * mapping, circuit relay v2 as a server or a client, DCUtR hole punching), decided from its configuration and
 * its addresses, and what its address manager says now (public, behind NAT with a mapped port, relayed only).
 * doc/daemon.md, "Reachability", says what each state means for the user.
 */
import { networkInterfaces } from 'node:os'
import { isPrivateIp } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { DaemonConfig } from './config.js'
import { scopeOf, type AddressScope } from './reachability.js'

/** Where this node's own addresses are routable, from its listen and announce addresses. */
export interface AddressScopes {
  /** Some address is outside the private, loopback and link-local ranges. */
  public: boolean
  /** Some address is in a private range (RFC 1918, RFC 6598, RFC 4193, link-local). */
  private: boolean
}

/**
 * Scope of an IP as libp2p itself judges it (`isPrivateIp` of `@libp2p/utils`: RFC 1918, RFC 6598, link-local,
 * and also the documentation and benchmarking ranges), so that what this module calls public is what AutoNAT
 * checks and DCUtR dials.
 */
export function natScope (ip: string): AddressScope {
  const scope = scopeOf(ip)
  if (scope === 'loopback' || scope === 'unspecified') return scope
  return isPrivateIp(ip) === false ? 'public' : 'private'
}

/** The IP of a multiaddr's first component, or undefined (dns, a relay address …). */
function ipOf (addr: string): string | undefined {
  try {
    const c = multiaddr(addr).getComponents()[0]
    return c != null && (c.name === 'ip4' || c.name === 'ip6') ? c.value : undefined
  } catch {
    return undefined
  }
}

/** The interface IPs a wildcard listen address (0.0.0.0, ::) stands for; the address itself otherwise. */
function expandWildcard (ip: string, interfaces: NodeJS.Dict<Array<{ address: string, family: string }>>): string[] {
  if (ip !== '0.0.0.0' && ip !== '::') return [ip]
  const family = ip === '0.0.0.0' ? 'IPv4' : 'IPv6'
  return Object.values(interfaces).flatMap((list) => (list ?? []).filter((i) => i.family === family).map((i) => i.address))
}

/**
 * Scopes of the listen addresses (wildcards expanded to the interfaces' addresses) and the announce addresses.
 *
 * @param interfaces - the machine's interfaces (default `os.networkInterfaces()`; tests pass their own)
 */
export function addressScopes (listen: readonly string[], announce: readonly string[], interfaces: NodeJS.Dict<Array<{ address: string, family: string }>> = networkInterfaces()): AddressScopes {
  const ips = [...listen.flatMap((a) => { const ip = ipOf(a); return ip === undefined ? [] : expandWildcard(ip, interfaces) }), ...announce.map(ipOf).filter((ip) => ip !== undefined)]
  const scopes = new Set<AddressScope>(ips.map(natScope))
  return { public: scopes.has('public'), private: scopes.has('private') }
}

/** Which reachability parts a daemon runs. */
export interface NatPlan {
  autonat: boolean
  /** UPnP port mapping: only with a private address to map (never on a loopback-only or public node). */
  upnp: boolean
  holePunching: boolean
  /** Serve circuit relay v2 reservations. */
  relayServer: boolean
  /** Relays to reserve a slot on (0: none); each is one `/p2p-circuit` listen address. */
  reservations: number
}

/**
 * Decides the parts from the configuration and the node's address scopes: `relay.serve: auto` serves when a
 * public address exists, `relay.reserve: auto` reserves when a private address and no public one exist.
 *
 * @param wanted - relays to reserve on when reserving ({@link RELAY_RESERVATIONS_WANTED})
 */
export function planNat (config: Pick<DaemonConfig, 'nat' | 'relay'>, scopes: AddressScopes, wanted: number): NatPlan {
  const serve = config.relay.serve === 'on' || (config.relay.serve === 'auto' && scopes.public)
  const reserve = config.relay.reserve === 'on' || (config.relay.reserve === 'auto' && scopes.private && !scopes.public)
  return {
    autonat: config.nat.autonat,
    upnp: config.nat.upnp && scopes.private,
    holePunching: config.nat.holePunching,
    relayServer: serve,
    reservations: reserve ? wanted : 0
  }
}

/** What the address manager holds about one address (the shape of `@libp2p/interface-internal`'s NodeAddress). */
export interface NodeAddressInfo {
  multiaddr: { toString: () => string }
  verified: boolean
  type: string
}

/**
 * How peers can reach this node:
 * - `public`: an address outside the private ranges is confirmed (by AutoNAT, or configured in `announce`);
 * - `mapped`: the router mapped a port (UPnP) and the mapped address is confirmed;
 * - `relayed`: only addresses through relays (`/p2p-circuit`): peers reach it through a relay, and DCUtR
 *   upgrades their connections to direct ones where the routers allow it;
 * - `private`: no confirmed public address and no relay yet (behind NAT: this node dials out only);
 * - `local`: loopback addresses only (a test or a single machine).
 */
export type ReachabilityState = 'public' | 'mapped' | 'relayed' | 'private' | 'local'

export interface ReachabilityStatus {
  state: ReachabilityState
  /** Every address the node knows of itself, with its source and whether it is confirmed. */
  addresses: Array<{ address: string, type: string, verified: boolean, scope: AddressScope | 'relay' }>
  /** The relays this node holds a reservation on (peer ids). */
  relays: string[]
  /** This node offers relay reservations. */
  relayServer: boolean
  /** What the parts are doing, for `doctor`: AutoNAT, UPnP, hole punching on or off. */
  autonat: boolean
  upnp: boolean
  holePunching: boolean
}

/** Classifies the address manager's view ({@link ReachabilityState}). */
export function reachabilityOf (addresses: readonly NodeAddressInfo[], plan: NatPlan): ReachabilityStatus {
  const listed = addresses.map((a) => {
    const address = a.multiaddr.toString()
    const ip = ipOf(address)
    const scope: AddressScope | 'relay' = address.includes('/p2p-circuit') ? 'relay' : ip === undefined ? 'unspecified' : natScope(ip)
    return { address, type: a.type, verified: a.verified, scope }
  })
  const confirmedPublic = listed.filter((a) => a.verified && a.scope === 'public')
  const relays = [...new Set(listed.filter((a) => a.scope === 'relay').map((a) => /\/p2p\/([^/]+)\/p2p-circuit/.exec(a.address)?.[1]).filter((p) => p !== undefined))]
  let state: ReachabilityState
  if (confirmedPublic.some((a) => a.type !== 'ip-mapping')) state = 'public'
  else if (confirmedPublic.length > 0) state = 'mapped'
  else if (relays.length > 0) state = 'relayed'
  else if (listed.some((a) => a.scope === 'private' || a.scope === 'public')) state = 'private'
  else state = 'local'
  return { state, addresses: listed, relays, relayServer: plan.relayServer, autonat: plan.autonat, upnp: plan.upnp, holePunching: plan.holePunching }
}

/** One line on a {@link ReachabilityStatus} for `status`, and what the user can do about it for `doctor`. */
export function describeReachability (r: ReachabilityStatus): { summary: string, advice?: string } {
  const relayText = r.relayServer ? '; relays for unreachable peers' : ''
  switch (r.state) {
    case 'public':
      return { summary: `public: peers on the internet dial this node directly${relayText}` }
    case 'mapped':
      return { summary: `behind NAT with a mapped port: the router forwards ${r.addresses.filter((a) => a.type === 'ip-mapping' && a.verified).map((a) => a.address).join(', ')}${relayText}` }
    case 'relayed':
      return {
        summary: `relayed only: peers reach this node through ${r.relays.length === 1 ? 'relay' : 'relays'} ${r.relays.join(', ')}${r.holePunching ? ', and hole punching upgrades their connections to direct ones where the routers allow it' : ''}`,
        advice: 'shards and deltas never travel over a relay (it carries 128 KiB per connection): they wait for a direct connection or go through a reachable peer. ' +
          `To be dialled directly, ${r.upnp ? 'enable UPnP on the router (this daemon asks for a mapping; the router refused or has none)' : 'turn UPnP on (`nat.upnp` in config.json)'}, or forward the TCP port of "listen" on the router and put the router's public address in "announce"`
      }
    case 'private':
      return {
        summary: 'behind NAT, no relay yet: this node dials out only',
        advice: `peers outside this network cannot dial in until ${r.upnp ? 'the router maps a port (UPnP) or ' : ''}this node holds a reservation on a relay (a reachable daemon, e.g. a maintainer's; \`relay.reserve\` is "auto" or "on"); ` +
          'to be dialled directly, forward the TCP port of "listen" on the router and put the router\'s public address in "announce"'
      }
    case 'local':
      return { summary: 'loopback only: only processes on this machine can dial this node' }
  }
}
