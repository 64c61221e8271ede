/**
 * The daemon: composes the data folder, the libp2p host, community gossip, the blob store and exchange, the
 * event bus and the control API, and starts and stops plugged-in services in order.
 */
import { rm } from 'node:fs/promises'
import type { Connection, Ed25519PrivateKey, PeerId } from '@libp2p/interface'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { PROTOCOL_VERSION, communityTopic, parseCid } from '@swarmtune/wire'
import type { Logger } from 'pino'
import { BlobExchange } from './blob-exchange.js'
import { BlobStore } from './blob-store.js'
import type { DaemonConfig } from './config.js'
import { BOOTSTRAP_WARN_INTERVAL_MS, DIAL_TIMEOUT_MS, NO_PEER_WARNING_MS, RECONNECT_INTERVAL_MS } from './constants.js'
import { ControlApi } from './control-api.js'
import { coreRoutes } from './core-routes.js'
import { openDataDir, writeFileAtomic, type DataDir } from './data-dir.js'
import type { DaemonComponents, DaemonInfo, DaemonInit, DaemonStatus, PeerStatus, ServiceFactory, ServiceMap } from './daemon-types.js'
import { DaemonLockedError, PortInUseError, errorRecord } from './errors.js'
import { EventBus } from './events.js'
import { Gossip } from './gossip.js'
import { createHost, type Host } from './host.js'
import { acquireLock, type DataDirLock } from './lock.js'
import { reachabilityOf, type NodeAddressInfo, type ReachabilityStatus } from './nat.js'
import { createLogger } from './logger.js'
import { PeerReputation } from './reputation.js'

/** Version of the daemon, reported by status. */
export const DAEMON_VERSION = '0.1.0'

/** Why a bootstrap dial failed: `ERR_NODE_BOOTSTRAP_WRONG_PEER` (another peer id answered) or `ERR_NODE_BOOTSTRAP_UNREACHABLE`. */
export function bootstrapDialCode (err: unknown): { code: 'ERR_NODE_BOOTSTRAP_WRONG_PEER' | 'ERR_NODE_BOOTSTRAP_UNREACHABLE', reason: string } {
  const seen: string[] = []
  for (let e = err as { code?: unknown, name?: unknown, message?: unknown, cause?: unknown, errors?: unknown } | undefined, depth = 0; e != null && depth < 8; depth++) {
    const text = `${String(e.name ?? '')} ${String(e.code ?? '')} ${String(e.message ?? '')}`
    if (/UnexpectedPeer|InvalidPeerId|unexpected peer|does not match expected remote identity|peer id.*(mismatch|does not match)/i.test(text)) {
      return { code: 'ERR_NODE_BOOTSTRAP_WRONG_PEER', reason: `the address answers with another peer id than the one after /p2p/ (${String(e.message ?? e.name)}): the peer id is wrong, or another node now listens there` }
    }
    seen.push(typeof e.code === 'string' ? e.code : String(e.message ?? e.name ?? ''))
    const next = e.cause ?? (Array.isArray(e.errors) ? e.errors[0] : undefined)
    e = next as typeof e
  }
  const refused = seen.find((s) => /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|ETIMEDOUT|abort|timeout/i.test(s))
  return { code: 'ERR_NODE_BOOTSTRAP_UNREACHABLE', reason: `${refused ?? seen.filter((x) => x !== '').at(-1) ?? 'the dial failed'}: nothing that speaks libp2p answers there; check the address and port, and that the peer's daemon runs` }
}

/**
 * libp2p could not listen (its "transportManager.faultTolerance" error, or EADDRINUSE somewhere in the causes):
 * a `PortInUseError` naming the listen addresses and how to change them; any other error is returned as is.
 */
function listenFailure (err: unknown, listen: readonly string[], root: string): unknown {
  let inUse = false
  for (let e = err as { code?: unknown, message?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.code === 'EADDRINUSE' || (typeof e.message === 'string' && /EADDRINUSE|faultTolerance|address already in use/i.test(e.message))) inUse = true
  }
  if (!inUse) return err
  return new PortInUseError('ERR_NODE_LISTEN_PORT_IN_USE', `libp2p cannot listen on ${listen.join(', ')}: the port is in use by another program (or another daemon). ` +
    `Stop it, or choose another port: \`--listen /ip4/0.0.0.0/tcp/<port>\` for this run, or for good \`swarmtune init -d ${root} --listen /ip4/0.0.0.0/tcp/<port>\` ` +
    '(changes only "listen" in config.json; tcp/0 picks a free port).', { cause: err })
}

export class Daemon<S extends ServiceMap = ServiceMap> implements DaemonComponents<S> {
  readonly services: S = {} as S
  startedAt = 0
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private readonly cleanup: Array<() => void> = []
  private started = false
  private stopped = false
  /** Per bootstrap address: the last failure, when it was last logged, and the failures not logged since. */
  private readonly bootstrapFailures = new Map<string, { code: string, reason: string, loggedAt: number, suppressed: number }>()

  private constructor (
    readonly dataDir: DataDir,
    readonly config: DaemonConfig,
    readonly libp2p: Host,
    readonly gossip: Gossip,
    readonly blobs: BlobStore,
    readonly exchange: BlobExchange,
    readonly control: ControlApi,
    readonly events: EventBus,
    readonly reputation: PeerReputation,
    readonly log: Logger,
    private readonly lock: DataDirLock,
    private readonly maintenanceIntervalMs: number,
    private readonly noPeerWarningMs: number
  ) {}

  get peerId (): PeerId { return this.dataDir.peerId }
  get privateKey (): Ed25519PrivateKey { return this.dataDir.privateKey }

  /** @internal use {@link createDaemon} */
  static async create<S extends ServiceMap = ServiceMap> (init: DaemonInit<S>): Promise<Daemon<S>> {
    const dataDir = await openDataDir(init.dataDir, init.config)
    const { config } = dataDir
    const log = init.logger ?? createLogger({ level: config.log.level })
    const lock = await acquireLock(dataDir.paths.lock, { dataDir: dataDir.paths.root })
    try {
      const blobs = new BlobStore({ root: dataDir.paths.blobs, maxBlobBytes: config.blobs.maxBlobBytes })
      await blobs.open()
      const reputation = new PeerReputation()
      const events = new EventBus()
      const libp2p = await createHost({
        privateKey: dataDir.privateKey,
        config,
        appSpecificScore: (peer) => reputation.appSpecificScore(peer),
        topics: config.communities.map((c) => communityTopic(parseCid(c))),
        log: log.child({ part: 'peers' }),
        events
      })
      const gossip = new Gossip({ pubsub: libp2p.services.pubsub, guard: libp2p.services.guard, peerId: libp2p.peerId, events, log: log.child({ part: 'gossip' }) })
      const exchange = new BlobExchange({ libp2p, store: blobs, reputation, events, log: log.child({ part: 'blobs' }) }, {
        fetchProviders: config.blobs.fetchProviders,
        concurrentFetches: config.blobs.concurrentFetches,
        dht: config.dht.mode !== 'off',
        serving: config.blobs
      })
      const control = new ControlApi({ host: config.control.host, port: config.control.port, token: dataDir.token, events, log: log.child({ part: 'control' }) })
      const daemon = new Daemon<S>(dataDir, config, libp2p, gossip, blobs, exchange, control, events, reputation, log, lock, init.maintenanceIntervalMs ?? RECONNECT_INTERVAL_MS, init.noPeerWarningMs ?? NO_PEER_WARNING_MS)
      for (const [name, factory] of Object.entries(init.services ?? {}) as Array<[keyof S, ServiceFactory<S[keyof S], DaemonComponents<S>>]>) {
        daemon.services[name] = await factory(daemon)
      }
      return daemon
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  /**
   * Starts the host, gossip, blob exchange, services and the control API, then writes `daemon.json`.
   * On failure everything started is stopped again and the lock released.
   */
  async start (): Promise<void> {
    if (this.started) return
    if (this.stopped) throw new DaemonLockedError('this daemon was stopped and released its data folder; create a new one with createDaemon() to run again')
    this.started = true
    this.startedAt = Date.now()
    try {
      this.watchPeers()
      try {
        await this.libp2p.start()
      } catch (err) {
        throw listenFailure(err, this.config.listen, this.dataDir.paths.root)
      }
      await this.exchange.start()
      this.gossip.start()
      for (const c of this.config.communities) this.gossip.join(c)
      for (const service of Object.values(this.services)) await service?.start?.()
      this.control.register('', coreRoutes(this))
      this.control.mountDashboard()
      for (const [name, service] of Object.entries(this.services)) {
        if (service?.routes != null) this.control.register(name, service.routes)
      }
      const url = await this.control.listen()
      const info: DaemonInfo = { pid: process.pid, peerId: this.peerId.toString(), control: url, addresses: this.addresses(), startedAt: this.startedAt }
      await writeFileAtomic(this.dataDir.paths.daemonInfo, JSON.stringify(info, null, 2) + '\n')
      this.timers.push(setInterval(() => { void this.maintain() }, this.maintenanceIntervalMs))
      void this.dialBootstrap()
      const noPeers = setTimeout(() => { this.warnIfAlone() }, this.noPeerWarningMs)
      noPeers.unref()
      this.cleanup.push(() => { clearTimeout(noPeers) })
      this.events.emit('daemon:started', { peerId: info.peerId, addresses: info.addresses, control: url })
      this.log.info({ peerId: info.peerId, addresses: info.addresses, control: url }, 'daemon started')
    } catch (err) {
      await this.stop().catch(() => {})
      throw err
    }
  }

  /** Stops everything in reverse order, removes `daemon.json` and releases the data folder. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.events.emit('daemon:stopping', {})
    for (const t of this.timers.splice(0)) clearInterval(t)
    for (const f of this.cleanup.splice(0)) f()
    await this.control.close().catch((err: unknown) => this.log.warn({ err }, 'control API close failed'))
    for (const [name, service] of Object.entries(this.services).reverse()) {
      try {
        await service?.stop?.()
      } catch (err) {
        this.log.error({ err, service: name }, 'service failed to stop')
      }
    }
    this.gossip.stop()
    await this.exchange.stop().catch((err: unknown) => this.log.warn({ err }, 'blob exchange stop failed'))
    await this.libp2p.stop()
    await rm(this.dataDir.paths.daemonInfo, { force: true })
    await this.lock.release()
    if (this.started) this.log.info('daemon stopped')
    this.started = false
  }

  /** Dialable addresses of this node, each ending in `/p2p/<peer id>`. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map((a) => a.toString())
  }

  /** How peers can reach this node, from the address manager ({@link reachabilityOf}). */
  reachability (): ReachabilityStatus {
    const components = (this.libp2p as unknown as { components: { addressManager: { getAddressesWithMetadata: () => NodeAddressInfo[] } } }).components
    const plan = this.libp2p.natPlan ?? { autonat: false, upnp: false, holePunching: false, relayServer: false, reservations: 0 }
    return reachabilityOf(components.addressManager.getAddressesWithMetadata(), plan)
  }

  async status (): Promise<DaemonStatus> {
    const usage = await this.blobs.usage()
    const services: Record<string, unknown> = {}
    for (const [name, s] of Object.entries(this.services)) {
      if (s?.status != null) {
        try {
          services[name] = await s.status()
        } catch (err) {
          services[name] = { error: errorRecord(err) }
        }
      }
    }
    const dht = this.libp2p.services.dht
    return {
      peerId: this.peerId.toString(),
      version: DAEMON_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      pid: process.pid,
      startedAt: this.startedAt,
      uptimeMs: Date.now() - this.startedAt,
      addresses: this.addresses(),
      connections: this.libp2p.getConnections().length,
      peers: this.libp2p.getPeers().length,
      communities: this.gossip.communities().map((c) => ({ id: c.toString(), topic: communityTopic(c), peers: this.gossip.peers(c).length })),
      dht: dht == null ? { mode: 'off', routingTable: 0 } : { mode: dht.getMode(), routingTable: 'routingTable' in dht ? (dht as SingleKadDHT).routingTable.size : 0 },
      mdns: this.config.mdns,
      reachability: this.reachability(),
      blobs: { count: usage.blobs, bytes: usage.bytes, fetching: this.exchange.fetching },
      control: this.control.baseUrl,
      memory: memoryFigures(),
      services
    }
  }

  async peers (): Promise<PeerStatus[]> {
    const byPeer = new Map<string, PeerStatus>()
    const now = Date.now()
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      let p = byPeer.get(id)
      if (p == null) {
        const stored = await this.libp2p.peerStore.get(conn.remotePeer).catch(() => null)
        const agent = stored?.metadata.get('AgentVersion')
        p = {
          peerId: id,
          addresses: [],
          direction: conn.direction,
          path: 'relayed',
          connectedMs: 0,
          gossipScore: this.gossip.score(id),
          penalty: this.reputation.penalty(id),
          agent: agent != null ? new TextDecoder().decode(agent) : undefined,
          protocols: stored?.protocols ?? []
        }
        byPeer.set(id, p)
      }
      p.addresses.push(conn.remoteAddr.toString())
      if (conn.limits == null) p.path = 'direct'
      p.connectedMs = Math.max(p.connectedMs, now - conn.timeline.open)
      if (conn.rtt != null) p.rttMs = conn.rtt
    }
    return [...byPeer.values()].sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  private watchPeers (): void {
    const onConnect = (evt: CustomEvent<PeerId>): void => { this.events.emit('peer:connect', { peer: evt.detail.toString() }) }
    // each connection with its path: a relayed one (limited by the relay) and the direct one DCUtR may open after it
    const onOpen = (evt: CustomEvent<Connection>): void => {
      const c = evt.detail
      const fields = { peer: c.remotePeer.toString(), path: c.limits == null ? 'direct' : 'relayed', direction: c.direction, remoteAddr: c.remoteAddr.toString() }
      this.events.emit('connection:open', fields)
      this.log.info(fields, 'connection opened')
    }
    let lastState: string | undefined
    const onSelfUpdate = (): void => {
      const r = this.reachability()
      if (r.state === lastState) return
      lastState = r.state
      this.events.emit('reachability:changed', { state: r.state, relays: r.relays })
      this.log.info({ reachability: r.state, relays: r.relays }, 'reachability')
    }
    this.libp2p.addEventListener('connection:open', onOpen)
    this.libp2p.addEventListener('self:peer:update', onSelfUpdate)
    this.cleanup.push(() => {
      this.libp2p.removeEventListener('connection:open', onOpen)
      this.libp2p.removeEventListener('self:peer:update', onSelfUpdate)
    })
    const onDisconnect = (evt: CustomEvent<PeerId>): void => { this.events.emit('peer:disconnect', { peer: evt.detail.toString() }) }
    const onDiscovery = (evt: CustomEvent<{ id: PeerId }>): void => { void this.dialIfWanted(evt.detail.id) }
    this.libp2p.addEventListener('peer:connect', onConnect)
    this.libp2p.addEventListener('peer:disconnect', onDisconnect)
    this.libp2p.addEventListener('peer:discovery', onDiscovery)
    this.cleanup.push(() => {
      this.libp2p.removeEventListener('peer:connect', onConnect)
      this.libp2p.removeEventListener('peer:disconnect', onDisconnect)
      this.libp2p.removeEventListener('peer:discovery', onDiscovery)
    })
  }

  /** Dials a discovered peer while below the connection target (libp2p 3 does not auto-dial). */
  private async dialIfWanted (peer: PeerId): Promise<void> {
    if (peer.equals(this.peerId) || this.libp2p.getConnections(peer).length > 0) return
    if (this.libp2p.getConnections().length >= this.config.connections.target) return
    try {
      await this.libp2p.dial(peer, { signal: AbortSignal.timeout(this.maintenanceIntervalMs) })
    } catch (err) {
      this.log.debug({ peer: peer.toString(), err }, 'dial of a discovered peer failed')
    }
  }

  /**
   * Dials each bootstrap address whose peer is not connected. A failure is logged at warn with the address, a code
   * ({@link bootstrapDialCode}) and the reason — at most once per {@link BOOTSTRAP_WARN_INTERVAL_MS} per address,
   * counting the others in `suppressed`; a success after failures is logged at info.
   */
  private async dialBootstrap (): Promise<void> {
    await Promise.all(this.config.bootstrap.map(async (addr) => {
      const id = addr.slice(addr.lastIndexOf('/p2p/') + 5)
      if (this.libp2p.getPeers().some((p) => p.toString() === id)) return
      try {
        await this.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(Math.min(this.maintenanceIntervalMs, DIAL_TIMEOUT_MS)) })
        if (this.bootstrapFailures.delete(addr)) this.log.info({ addr }, 'bootstrap peer reached')
      } catch (err) {
        if (this.stopped) return
        const { code, reason } = bootstrapDialCode(err)
        const now = Date.now()
        const last = this.bootstrapFailures.get(addr)
        if (last !== undefined && now - last.loggedAt < BOOTSTRAP_WARN_INTERVAL_MS) {
          this.bootstrapFailures.set(addr, { ...last, code, reason, suppressed: last.suppressed + 1 })
          return
        }
        this.bootstrapFailures.set(addr, { code, reason, loggedAt: now, suppressed: 0 })
        this.log.warn({ addr, code, reason, suppressed: last?.suppressed ?? 0 }, 'bootstrap dial failed')
      }
    }))
  }

  /** Logs at warn, with the reason, when the daemon has no peer (called {@link NO_PEER_WARNING_MS} after start). */
  private warnIfAlone (): void {
    if (this.stopped || this.libp2p.getPeers().length > 0) return
    const s = Math.round(this.noPeerWarningMs / 1000)
    const failures = [...this.bootstrapFailures.entries()].map(([addr, f]) => `${addr}: ${f.code} (${f.reason})`)
    const reason = this.config.bootstrap.length === 0
      ? this.config.mdns
        ? 'no bootstrap peer is configured and mDNS found no peer on this local network; add one with `--bootstrap <address>` or `swarmtune init -d <folder> --bootstrap <address>` (an address `swarmtune status` prints on a member\'s node)'
        : 'no bootstrap peer is configured and mDNS is off, so this node has no way to find a peer; add one with `--bootstrap <address>` or `swarmtune init -d <folder> --bootstrap <address>`'
      : failures.length > 0
        ? `no bootstrap peer could be reached: ${failures.join('; ')}`
        : 'the bootstrap peers were reached but did not stay connected'
    this.log.warn({ code: 'ERR_NODE_NO_PEERS', reason, afterMs: this.noPeerWarningMs }, `no peer ${s} s after start`)
  }

  /** Keeps the connection count up: re-dials bootstrap peers, then asks the DHT for peers near us. */
  private async maintain (): Promise<void> {
    if (!this.started || this.libp2p.getConnections().length >= this.config.connections.target) return
    await this.dialBootstrap()
    if (this.libp2p.services.dht == null || this.libp2p.getPeers().length === 0) return
    try {
      const signal = AbortSignal.timeout(this.maintenanceIntervalMs)
      for await (const peer of this.libp2p.peerRouting.getClosestPeers(this.peerId.toMultihash().bytes, { signal })) {
        if (this.libp2p.getConnections().length >= this.config.connections.target) break
        await this.dialIfWanted(peer.id)
      }
    } catch (err) {
      this.log.debug({ err }, 'DHT walk failed')
    }
  }
}

/**
 * Opens the data folder (taking its lock) and builds a daemon; call `start()` to run it.
 *
 * @throws DataDirError, ConfigError, DaemonLockedError — see openDataDir and acquireLock
 */
export async function createDaemon<S extends ServiceMap = ServiceMap> (init: DaemonInit<S>): Promise<Daemon<S>> {
  return await Daemon.create<S>(init)
}

/** {@link DaemonStatus.memory} now. */
function memoryFigures (): NonNullable<DaemonStatus['memory']> {
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapTotalBytes: m.heapTotal, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers }
}
