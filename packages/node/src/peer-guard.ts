/**
 * Bounds the work one peer or one address can make the daemon do, beyond gossipsub's own scoring:
 *
 * - **graylisted peers** (score below gossipsub's graylist threshold, which gossipsub retains for an hour after
 *   a disconnect) are disconnected within a second and refused when they dial in or when we would dial them
 *   (`ERR_NODE_PEER_GRAYLISTED`);
 * - **identity churn**: a non-exempt address that presented `identitiesPerAddress` distinct peer ids within
 *   `identityWindowMs` gets no connection for a further new id (`ERR_NODE_IDENTITY_CHURN`); ids it already
 *   used keep working;
 * - **gossip rate**: messages validated per peer, and per non-exempt address, per window
 *   (`ERR_NODE_GOSSIP_RATE_LIMITED`, an `ignore`);
 * - **framing**: a peer that broke gossip framing is disconnected and refused for {@link GOSSIP_FRAME_BAN_MS};
 * - **weak identity keys**: a peer whose Ed25519 identity key has small order or a non-canonical encoding is
 *   refused (`ERR_NODE_WEAK_PEER_KEY`). libp2p checks the noise handshake's and gossipsub's signatures with
 *   node:crypto's cofactorless verify, under which such a key "signs" any message (protocol/signing.md,
 *   "Keys and R of small order"): anyone could speak as that peer id.
 *
 * It is the libp2p connection gater of the host (`gater`), and logs what it refuses through a
 * {@link RejectionLog}, with `peer`, `ip` and `code`, besides a `peer:refused` / `peer:dropped` event.
 */
import { BlockList } from 'node:net'
import type { Connection, ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import { RateLimiter } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isCanonicalEncoding, isSmallOrderEncoding } from '@swarmtune/wire'
import type { Logger } from 'pino'
import { ipNetOf } from './config.js'
import { GOSSIP_FRAME_BAN_MS, GRAYLIST_SWEEP_INTERVAL_MS, IDENTITY_TRACKED_ADDRESSES } from './constants.js'
import type { EventBus } from './events.js'
import { RejectionLog, type RejectionLevel } from './rejection-log.js'

export interface PeerGuardInit {
  /** Multiaddr networks exempt from the per-address limits (`connections.exempt`). */
  exempt: string[]
  identitiesPerAddress: number
  identityWindowMs: number
  peerMessagesPerWindow: number
  addressMessagesPerWindow: number
  rateWindowMs: number
  rejectionLogIntervalMs: number
  /** Gossipsub's graylist threshold (a score below it is graylisted). */
  graylistThreshold: number
  log: Logger
  events: EventBus
  now?: () => number
}

/** What the guard needs of the host once it exists. */
export interface GuardedHost {
  /** The peer's standing: its gossipsub score (with the application score folded in). */
  score(peer: string): number
  /** Open connections, all or to one peer. */
  connections(peer?: PeerId): Connection[]
  /** Closes every connection to the peer. */
  hangUp(peer: PeerId): Promise<void>
}

/** A refusal: a stable code and what happened. */
export interface Refusal { code: string, reason: string }

/** The IP of a TCP/UDP multiaddr, or undefined (e.g. a relayed or memory address). */
export function ipOf (addr: Multiaddr): string | undefined {
  const ip = addr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')
  return ip?.value
}

export class PeerGuard {
  private readonly exemptNets = new BlockList()
  /** address → (peer id → last seen, ms) within the identity window, least recently seen address first. */
  private readonly identities = new Map<string, Map<string, number>>()
  /** peer id → refused until (ms). */
  private readonly bans = new Map<string, number>()
  private readonly peerRate: RateLimiter
  private readonly addressRate: RateLimiter
  private readonly rejections: RejectionLog
  /** Peers whose hang-up is in flight (not dropped again by the next sweep). */
  private readonly hangingUp = new Set<string>()
  private readonly now: () => number
  private host?: GuardedHost
  private timer?: NodeJS.Timeout

  /** The libp2p connection gater that applies these limits. */
  readonly gater: ConnectionGater = {
    denyDialPeer: (peer) => this.refuse(peer, undefined, 'outbound', this.refusalOf(peer)),
    denyInboundEncryptedConnection: (peer, maConn) => this.refuse(peer, maConn, 'inbound', this.refusalOf(peer) ?? this.churn(peer, maConn)),
    denyOutboundEncryptedConnection: (peer, maConn) => this.refuse(peer, maConn, 'outbound', this.refusalOf(peer) ?? this.churn(peer, maConn))
  }

  constructor (private readonly init: PeerGuardInit) {
    for (const net of init.exempt) {
      const { address, family, prefix } = ipNetOf(net)
      this.exemptNets.addSubnet(address, prefix, family)
    }
    const duration = init.rateWindowMs / 1000
    this.peerRate = new RateLimiter({ points: init.peerMessagesPerWindow, duration, keyPrefix: 'peer' })
    this.addressRate = new RateLimiter({ points: init.addressMessagesPerWindow, duration, keyPrefix: 'ip' })
    this.rejections = new RejectionLog({ log: init.log, intervalMs: init.rejectionLogIntervalMs, now: init.now })
    this.now = init.now ?? Date.now
  }

  /** Connects the guard to the host it gates (the host is built after its gater). */
  attach (host: GuardedHost): void {
    this.host = host
  }

  /** Starts the graylist sweep (a libp2p service lifecycle hook). */
  start (): void {
    this.timer ??= setInterval(() => { this.sweep() }, GRAYLIST_SWEEP_INTERVAL_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** true when `ip` lies in a `connections.exempt` network. */
  exempt (ip: string): boolean {
    return this.exemptNets.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4')
  }

  /**
   * Charges one gossip message to the peer it came through and to its address.
   *
   * @returns undefined when the message may be validated, else the refusal (`ERR_NODE_GOSSIP_RATE_LIMITED`)
   */
  admitMessage (peer: PeerId): Refusal | undefined {
    const id = peer.toString()
    const windowS = this.init.rateWindowMs / 1000
    try {
      this.peerRate.consume(id)
    } catch {
      return { code: 'ERR_NODE_GOSSIP_RATE_LIMITED', reason: `peer ${id} sent more than ${this.init.peerMessagesPerWindow} gossip messages in ${windowS} s (gossip.peerMessagesPerWindow)` }
    }
    const ip = this.addressOf(peer)
    if (ip === undefined || this.exempt(ip)) return undefined
    try {
      this.addressRate.consume(ip)
    } catch {
      return { code: 'ERR_NODE_GOSSIP_RATE_LIMITED', reason: `the peers of ${ip} sent more than ${this.init.addressMessagesPerWindow} gossip messages in ${windowS} s (gossip.addressMessagesPerWindow)` }
    }
    return undefined
  }

  /**
   * Disconnects a peer that broke the protocol and refuses it for `banMs`; logs and emits `peer:dropped`.
   */
  drop (peer: PeerId, refusal: Refusal, banMs = GOSSIP_FRAME_BAN_MS): void {
    const id = peer.toString()
    this.bans.delete(id)
    this.bans.set(id, this.now() + banMs)
    if (this.bans.size > IDENTITY_TRACKED_ADDRESSES) this.bans.delete(this.bans.keys().next().value as string)
    this.hangUp(peer, refusal)
  }

  /** Logs a rejection of something `peer` sent, rate-limited per peer and code (see {@link RejectionLog}). */
  report (level: RejectionLevel, fields: { peer: string, code: string, [key: string]: unknown }, msg: string): void {
    this.rejections.record(`${fields.peer}\u0000${fields.code}`, level, fields, msg)
  }

  /** The IP of the peer's first open connection. */
  addressOf (peer: PeerId): string | undefined {
    const conn = this.host?.connections(peer)[0]
    return conn == null ? undefined : ipOf(conn.remoteAddr)
  }

  /** Why a peer is refused whatever its address: a framing ban, or a graylisted score. */
  private refusalOf (peer: PeerId): Refusal | undefined {
    const id = peer.toString()
    const weak = weakKeyRefusal(peer)
    if (weak !== undefined) return weak
    const until = this.bans.get(id)
    if (until !== undefined) {
      if (this.now() < until) return { code: 'ERR_NODE_PEER_BANNED', reason: `peer ${id} broke the gossip framing and is refused for ${Math.ceil((until - this.now()) / 1000)} s more` }
      this.bans.delete(id)
    }
    const score = this.host?.score(id) ?? 0
    if (score < this.init.graylistThreshold) return { code: 'ERR_NODE_PEER_GRAYLISTED', reason: `peer ${id} has gossip score ${score.toFixed(1)}, below the graylist threshold ${this.init.graylistThreshold}` }
    return undefined
  }

  /** Records the peer id against its address; refuses a new id beyond the address's allowance. */
  private churn (peer: PeerId, maConn: MultiaddrConnection): Refusal | undefined {
    const ip = ipOf(maConn.remoteAddr)
    if (ip === undefined || this.exempt(ip)) return undefined
    const now = this.now()
    const id = peer.toString()
    const seen = this.identities.get(ip) ?? new Map<string, number>()
    for (const [other, at] of seen) if (now - at > this.init.identityWindowMs) seen.delete(other)
    this.identities.delete(ip)
    this.identities.set(ip, seen)
    if (this.identities.size > IDENTITY_TRACKED_ADDRESSES) this.identities.delete(this.identities.keys().next().value as string)
    if (!seen.has(id) && seen.size >= this.init.identitiesPerAddress) {
      return { code: 'ERR_NODE_IDENTITY_CHURN', reason: `${ip} presented ${seen.size} peer ids in the last ${this.init.identityWindowMs / 1000} s (connections.identitiesPerAddress ${this.init.identitiesPerAddress}); a new one is refused` }
    }
    seen.set(id, now)
    return undefined
  }

  private refuse (peer: PeerId, maConn: MultiaddrConnection | undefined, direction: 'inbound' | 'outbound', refusal: Refusal | undefined): boolean {
    if (refusal === undefined) return false
    const ip = maConn == null ? undefined : ipOf(maConn.remoteAddr)
    const fields = { peer: peer.toString(), ip, direction, code: refusal.code, reason: refusal.reason }
    this.init.events.emit('peer:refused', fields)
    // identity churn is logged per address: every refused connection brings another peer id
    const key = refusal.code === 'ERR_NODE_IDENTITY_CHURN' ? `${ip ?? ''}\u0000${refusal.code}` : `${fields.peer}\u0000${refusal.code}`
    this.rejections.record(key, 'warn', fields, `refused ${direction === 'inbound' ? 'a connection from' : 'to dial'} a peer`)
    return true
  }

  private hangUp (peer: PeerId, refusal: Refusal): void {
    const id = peer.toString()
    if (this.hangingUp.has(id) || this.host == null) return
    this.hangingUp.add(id)
    const fields = { peer: id, ip: this.addressOf(peer), code: refusal.code, reason: refusal.reason }
    this.init.events.emit('peer:dropped', fields)
    this.report('warn', fields, 'disconnected a peer')
    this.host.hangUp(peer)
      .catch((err: unknown) => { this.init.log.debug({ err, peer: id }, 'hang-up failed') })
      .finally(() => { this.hangingUp.delete(id) })
  }

  /** Disconnects every connected peer whose score fell below the graylist threshold. */
  private sweep (): void {
    if (this.host == null) return
    const seen = new Set<string>()
    for (const conn of this.host.connections()) {
      const id = conn.remotePeer.toString()
      if (seen.has(id)) continue
      seen.add(id)
      const score = this.host.score(id)
      if (score < this.init.graylistThreshold) {
        this.hangUp(conn.remotePeer, { code: 'ERR_NODE_PEER_GRAYLISTED', reason: `gossip score ${score.toFixed(1)} fell below the graylist threshold ${this.init.graylistThreshold}` })
      }
    }
  }
}

/**
 * The refusal of a peer whose Ed25519 identity key (32 bytes, carried in its peer id) has small order or is not
 * canonically encoded (`ERR_NODE_WEAK_PEER_KEY`), else undefined; other key types pass.
 */
export function weakKeyRefusal (peer: PeerId): Refusal | undefined {
  if (peer.type !== 'Ed25519') return undefined
  const raw = peer.publicKey.raw
  if (isCanonicalEncoding(raw) && !isSmallOrderEncoding(raw)) return undefined
  return { code: 'ERR_NODE_WEAK_PEER_KEY', reason: `peer ${peer.toString()} has an Ed25519 identity key of small order or in a non-canonical encoding, under which anyone can sign as it` }
}
