/**
 * Bounds what the daemon keeps about peers that have left. Left alone, libp2p and gossipsub keep something
 * for every identity that ever connected, so memory grows with fresh identities, honest or hostile:
 *
 * - libp2p's **peer store** (in memory) keeps each peer's record — addresses, protocols, identify metadata,
 *   tags — for as long as the process runs. Each record's bytes are a view into an 8 KiB pooled buffer, so
 *   a record holds on to several KiB (measured: ~7.5 KiB per departed identity after a forced GC);
 * - **gossipsub** keeps the score record of every departed peer whose score is not positive — a fresh peer
 *   that sent nothing scores 0 — for `retainScore` (1 h), with its IPs.
 *
 * {@link PeerRetention} keeps in the peer store at most `departedPeers` disconnected peers (the most recently
 * departed) besides those with a reason to stay — a tag other than gossipsub's mesh tags (libp2p keep-alive,
 * bootstrap, the DHT's routing table and closest peers), a bootstrap address, or {@link PeerRetention.keep}
 * — and deletes the rest; a sweep every {@link PEER_STORE_SWEEP_INTERVAL_MS} also deletes disconnected peers
 * that never connected (discovered, dialled in vain) while the store holds more than
 * {@link MAX_STORED_PEERS}. It keeps gossipsub's retained scores for at most `departedScores` departed peers,
 * and remembers the graylisted among them (score below the graylist threshold) in a map of its own —
 * peer id → score and expiry, at most {@link GRAYLIST_MEMORY_MAX_PEERS} — so that they stay refused for the
 * whole retention time when gossipsub's record is gone.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { GRAYLIST_MEMORY_MAX_PEERS, MAX_STORED_PEERS, PEER_STORE_SWEEP_INTERVAL_MS } from './constants.js'
import { GossipError } from './errors.js'

/** The members of gossipsub 17's `PeerScore` (private in its types) that retention works on. */
export interface GossipScoreInternals {
  peerStats: Map<string, { connected: boolean, expire: number, knownIPs: Set<string> }>
  scoreCache: Map<string, unknown>
  score(id: string): number
  addPeer(id: string): void
  removePeer(id: string): void
  removeIPsForPeer(id: string, ips: Set<string>): void
}

export interface PeerRetentionInit {
  /** false: keep libp2p's and gossipsub's own behaviour (no pruning; the graylist memory still works). */
  prune: boolean
  /** Disconnected peers kept in the peer store beyond those with a reason to stay (`connections.departedPeers`). */
  departedPeers: number
  /** Departed peers whose gossipsub score record is retained (`gossip.departedScores`). */
  departedScores: number
  /** Gossipsub's graylist threshold: departed peers scoring below it are remembered. */
  graylistThreshold: number
  /** How long a departed peer's score counts, ms (gossipsub `retainScore`). */
  retainScoreMs: number
  /** Peer ids of the bootstrap list: always kept. */
  bootstrap: string[]
  log: Logger
  now?: () => number
}

/** What retention holds at one moment (for tests, benchmarks and status). */
export interface RetentionStats {
  /** Records in libp2p's peer store. */
  storedPeers: number
  /** Departed peers tracked for the peer store cap. */
  departedPeers: number
  /** Score records gossipsub holds (connected and retained). */
  scoreRecords: number
  /** Graylisted departed peers remembered. */
  graylisted: number
  /** Peer store records deleted since start. */
  pruned: number
  /** Gossipsub score records dropped since start. */
  scoresDropped: number
}

type RetainedHost = Pick<Libp2p, 'peerId' | 'peerStore' | 'getConnections' | 'addEventListener' | 'removeEventListener'> & {
  services: { pubsub: unknown }
}

/** Deletes `key` and re-inserts it, so that a Map's iteration order is least recently touched first. */
function touch<K, V> (map: Map<K, V>, key: K, value: V): void {
  map.delete(key)
  map.set(key, value)
}

export class PeerRetention {
  /**
   * Departed peers in the peer store, least recently departed first. Ids, not PeerIds: a PeerId's bytes are
   * a view into an 8 KiB pooled buffer, which it would keep alive.
   */
  private readonly departed = new Set<string>()
  /** Departed peers whose gossipsub score is retained, least recently departed first. */
  private readonly scored = new Set<string>()
  /** Graylisted departed peers: id → score and until when it counts (ms), least recently departed first. */
  private readonly graylist = new Map<string, { score: number, until: number }>()
  private readonly protectedPeers = new Set<string>()
  private readonly now: () => number
  private host?: RetainedHost
  private score?: GossipScoreInternals
  private timer?: NodeJS.Timeout
  private sweeping = false
  private pruned = 0
  private scoresDropped = 0
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => { this.departure(evt.detail) }
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => { this.departed.delete(evt.detail.toString()) }

  constructor (private readonly init: PeerRetentionInit) {
    this.now = init.now ?? Date.now
    for (const id of init.bootstrap) this.protectedPeers.add(id)
  }

  /**
   * Connects retention to the host once it exists and hooks gossipsub's score bookkeeping: a departing peer's
   * retained record is counted (and remembered when graylisted); a returning peer keeps its retained record
   * instead of starting afresh, as the gossipsub v1.1 spec's `RetainScore` means.
   *
   * @throws GossipError `ERR_NODE_GOSSIP_UNSUPPORTED` when `score` lacks the members of `@libp2p/gossipsub` 17's PeerScore used here
   */
  attach (host: RetainedHost, score: GossipScoreInternals): void {
    if (!(score?.peerStats instanceof Map) || !(score.scoreCache instanceof Map) || typeof score.addPeer !== 'function' ||
      typeof score.removePeer !== 'function' || typeof score.removeIPsForPeer !== 'function' || typeof score.score !== 'function') {
      throw new GossipError('ERR_NODE_GOSSIP_UNSUPPORTED', "gossipsub's peer score exposes no peerStats, scoreCache, addPeer, removePeer or removeIPsForPeer; use the @libp2p/gossipsub version in package.json (17)")
    }
    this.host = host
    this.score = score
    this.protectedPeers.add(host.peerId.toString())
    const removePeer = score.removePeer.bind(score)
    score.removePeer = (id) => {
      removePeer(id)
      this.scoreDeparture(id)
    }
    const addPeer = score.addPeer.bind(score)
    score.addPeer = (id) => {
      const retained = score.peerStats.get(id)
      this.scored.delete(id)
      if (retained != null && !retained.connected) {
        retained.connected = true
        retained.expire = 0
        return
      }
      addPeer(id)
    }
  }

  start (): void {
    if (this.host == null || !this.init.prune) return
    this.host.addEventListener('peer:disconnect', this.onDisconnect)
    this.host.addEventListener('peer:connect', this.onConnect)
    this.timer ??= setInterval(() => { void this.sweep() }, PEER_STORE_SWEEP_INTERVAL_MS)
    this.timer.unref()
  }

  stop (): void {
    this.host?.removeEventListener('peer:disconnect', this.onDisconnect)
    this.host?.removeEventListener('peer:connect', this.onConnect)
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Keeps a peer's record in the peer store whatever the caps (a maintainer, a provider being fetched from). */
  keep (peer: PeerId | string): void {
    this.protectedPeers.add(peer.toString())
  }

  /**
   * The score a departed graylisted peer left with, while it counts (undefined otherwise): below the graylist
   * threshold, so the connection gater goes on refusing the peer after gossipsub dropped its record.
   */
  rememberedScore (peer: string): number | undefined {
    const r = this.graylist.get(peer)
    if (r === undefined) return undefined
    if (this.now() >= r.until) {
      this.graylist.delete(peer)
      return undefined
    }
    return r.score
  }

  /** Sizes of what is held now. */
  async stats (): Promise<RetentionStats> {
    const stored = this.host == null ? 0 : (await this.host.peerStore.all()).length
    return {
      storedPeers: stored,
      departedPeers: this.departed.size,
      scoreRecords: this.score?.peerStats.size ?? 0,
      graylisted: this.graylist.size,
      pruned: this.pruned,
      scoresDropped: this.scoresDropped
    }
  }

  /** After gossipsub removed a peer: count its retained record, drop the oldest beyond the cap. */
  private scoreDeparture (id: string): void {
    const score = this.score
    const pstats = score?.peerStats.get(id)
    if (score == null || pstats == null || pstats.connected) return
    const value = score.score(id)
    if (value < this.init.graylistThreshold) {
      touch(this.graylist, id, { score: value, until: this.now() + this.init.retainScoreMs })
      if (this.graylist.size > GRAYLIST_MEMORY_MAX_PEERS) this.graylist.delete(this.graylist.keys().next().value as string)
    }
    if (!this.init.prune) return
    this.scored.delete(id)
    this.scored.add(id)
    while (this.scored.size > this.init.departedScores) {
      const oldest = this.scored.values().next().value as string
      this.scored.delete(oldest)
      const old = score.peerStats.get(oldest)
      if (old == null || old.connected) continue
      score.removeIPsForPeer(oldest, old.knownIPs)
      score.peerStats.delete(oldest)
      score.scoreCache.delete(oldest)
      this.scoresDropped++
    }
  }

  /** A peer's last connection closed: track it, and delete the least recently departed beyond the cap. */
  private departure (peer: PeerId): void {
    const id = peer.toString()
    if (this.protectedPeers.has(id)) return
    this.departed.delete(id)
    this.departed.add(id)
    while (this.departed.size > this.init.departedPeers) {
      const oldest = this.departed.values().next().value as string
      this.departed.delete(oldest)
      void this.forget(peerIdFromString(oldest))
    }
  }

  /** Deletes a disconnected peer's record unless it has a reason to stay. @returns whether it was deleted */
  private async forget (peer: PeerId): Promise<boolean> {
    const host = this.host
    if (host == null || this.protectedPeers.has(peer.toString()) || host.getConnections(peer).length > 0) return false
    try {
      const record = await host.peerStore.get(peer)
      if ([...record.tags.keys()].some((tag) => !isMeshTag(tag))) return false
      // the peer may have come back while the record was read
      if (host.getConnections(peer).length > 0) return false
      await host.peerStore.delete(peer)
      this.pruned++
      return true
    } catch (err) {
      // NotFoundError: nothing stored for it
      if ((err as { name?: string }).name !== 'NotFoundError') this.init.log.debug({ err, peer: peer.toString() }, 'could not prune a departed peer from the peer store')
      return false
    }
  }

  /** Deletes disconnected peers without a reason to stay while the store holds more than {@link MAX_STORED_PEERS}. */
  private async sweep (): Promise<void> {
    const host = this.host
    if (host == null || this.sweeping) return
    this.sweeping = true
    try {
      const all = await host.peerStore.all()
      let excess = all.length - MAX_STORED_PEERS
      for (const record of all) {
        if (excess <= 0) break
        // departed peers are bounded by their own cap; these are the ones that never connected
        if (this.departed.has(record.id.toString())) continue
        if (await this.forget(record.id)) excess--
      }
    } catch (err) {
      this.init.log.debug({ err }, 'peer store sweep failed')
    } finally {
      this.sweeping = false
    }
  }
}

/**
 * Gossipsub tags a mesh peer with the topic's name (value 100) and never removes the tag when the peer
 * disconnects, so it is no reason to keep a departed peer. Community topics are `/swarmtune/1/community/…`
 * (protocol/network.md).
 */
function isMeshTag (tag: string): boolean {
  return tag.startsWith('/swarmtune/')
}
