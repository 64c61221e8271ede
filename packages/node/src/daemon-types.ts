/**
 * The daemon's public shapes: its components, the services plugged into it (the js-libp2p service-map
 * pattern), its options, and what its status, peers and `daemon.json` report.
 */
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'
import type { FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import type { BlobExchange } from './blob-exchange.js'
import type { BlobStore } from './blob-store.js'
import type { DaemonConfig, DaemonConfigInit } from './config.js'
import type { ControlApi } from './control-api.js'
import type { DataDir } from './data-dir.js'
import type { EventBus } from './events.js'
import type { Gossip } from './gossip.js'
import type { Host } from './host.js'
import type { ReachabilityStatus } from './nat.js'
import type { PeerReputation } from './reputation.js'

/** A daemon's services by name (e.g. `{ ledger: LedgerService, rounds: RoundsService }`). */
export type ServiceMap = Record<string, DaemonService>

/**
 * Everything a service may use. Services get this object in their factory; a service declares the part it
 * needs as its own components type (e.g. `Pick<DaemonComponents, 'gossip' | 'events'> & { services: { ledger?: LedgerService } }`),
 * as js-libp2p services declare their `…Components`.
 * @typeParam S the daemon's services (`services` holds those built so far: factories run in listed order, so a
 *   factory sees only the services listed before it; when its `start()` runs, every service is built and those
 *   listed before it are started).
 */
export interface DaemonComponents<S extends ServiceMap = ServiceMap> {
  dataDir: DataDir
  config: DaemonConfig
  peerId: PeerId
  privateKey: Ed25519PrivateKey
  libp2p: Host
  gossip: Gossip
  blobs: BlobStore
  exchange: BlobExchange
  control: ControlApi
  events: EventBus
  reputation: PeerReputation
  log: Logger
  /** The other services, by name (e.g. `components.services.ledger` in a service listed after `ledger`). */
  services: Partial<S>
}

/**
 * A plugged-in part of the daemon (ledger, coordinator, volunteer …). All members are optional.
 * `start` runs after the libp2p host, gossip and blob exchange are up and before the control API listens;
 * `stop` runs in reverse order of start.
 */
export interface DaemonService {
  start?(): void | Promise<void>
  stop?(): void | Promise<void>
  /** Routes mounted under `/v1/<service name>` of the control API. */
  routes?: FastifyPluginAsync
  /** A JSON-serialisable summary included in `GET /v1/status` under `services.<name>`. */
  status?(): unknown
}

/**
 * Builds a service from the components it declares; called once, in the order services are listed.
 * @typeParam T the service built; @typeParam C the components it needs (default all of {@link DaemonComponents}).
 */
export type ServiceFactory<T extends DaemonService = DaemonService, C = DaemonComponents> = (components: C) => T | Promise<T>

/** The factories of a daemon's services, by name (the js-libp2p `ServiceFactoryMap` pattern). */
export type ServiceFactoryMap<S extends ServiceMap = ServiceMap> = { [K in keyof S]: ServiceFactory<S[K], DaemonComponents<S>> }

export interface DaemonInit<S extends ServiceMap = ServiceMap> {
  /** The data folder (created by `initDataDir` / `swarmtune init`). */
  dataDir: string
  /** Settings that replace those of config.json for this run. */
  config?: DaemonConfigInit
  /** Logger to use (default: pino to stdout at `config.log.level`). */
  logger?: Logger
  /** Services by name, built and started in this order. */
  services?: ServiceFactoryMap<S>
  /** How often the connection target is checked, in ms (default {@link RECONNECT_INTERVAL_MS}). */
  maintenanceIntervalMs?: number
  /** ms after start at which a daemon without peers warns, with the reason (default {@link NO_PEER_WARNING_MS}). */
  noPeerWarningMs?: number
}

export interface DaemonStatus {
  peerId: string
  version: string
  protocolVersion: number
  pid: number
  /** ms since the Unix epoch. */
  startedAt: number
  uptimeMs: number
  /** Multiaddrs peers can dial, each ending in /p2p/<peer id>. */
  addresses: string[]
  connections: number
  peers: number
  communities: Array<{ id: string, topic: string, peers: number }>
  dht: { mode: 'off' | 'client' | 'server', routingTable: number }
  mdns: boolean
  /** How peers can reach this node: public, behind NAT with a mapped port, relayed only … (doc/daemon.md, "Reachability"). */
  reachability: ReachabilityStatus
  blobs: { count: number, bytes: number, fetching: string[] }
  control: string | undefined
  /**
   * The daemon process's memory, bytes (`process.memoryUsage()` of Node.js): resident set, V8's heap
   * (allocated and used), memory of C++ objects bound to JavaScript (`external`, which includes
   * `arrayBuffers`: Buffers and typed arrays outside the heap). Absent from daemons older than this field.
   */
  memory?: { rssBytes: number, heapTotalBytes: number, heapUsedBytes: number, externalBytes: number, arrayBuffersBytes: number }
  services: Record<string, unknown>
}

export interface PeerStatus {
  peerId: string
  /** Remote addresses of the open connections. */
  addresses: string[]
  direction: 'inbound' | 'outbound'
  /**
   * `direct` when some connection to the peer is direct; `relayed` when all go through a relay (circuit relay
   * v2: limited in time and bytes, so no blob is transferred over them).
   */
  path: 'direct' | 'relayed'
  /** ms the oldest connection has been open. */
  connectedMs: number
  /** Round-trip time measured by the last ping, ms. */
  rttMs?: number
  /** This node's gossipsub score of the peer. */
  gossipScore: number
  /** Current blob-exchange penalty (decaying). */
  penalty: number
  agent?: string
  protocols: string[]
}

/** Contents of `daemon.json`, written while the daemon runs so the CLI can find it. */
export interface DaemonInfo {
  pid: number
  peerId: string
  control: string
  addresses: string[]
  startedAt: number
}
