/**
 * @packageDocumentation
 *
 * The swarmtune daemon: a libp2p host (TCP, noise, yamux, identify, ping; bootstrap, mDNS and Kademlia
 * discovery), one gossipsub topic per community with a validator and peer scoring, a content-addressed blob
 * store with a multi-provider blob exchange, an event bus, and a control API on 127.0.0.1 — plus the ledger
 * service.
 *
 * ```ts
 * import { initDataDir, createDaemon, ControlClient } from '@swarmtune/node'
 *
 * await initDataDir('/tmp/st', { config: { listen: ['/ip4/127.0.0.1/tcp/0'], control: { port: 0 }, mdns: false } })
 * const daemon = await createDaemon({ dataDir: '/tmp/st' })
 * await daemon.start()
 * const cid = await daemon.exchange.put(new TextEncoder().encode('hello'))
 * const client = await ControlClient.fromDataDir('/tmp/st')
 * console.log((await client.status()).peerId, cid.toString())
 * await daemon.stop()
 * ```
 *
 * ## Composition: plugging services in
 *
 * `createDaemon({ dataDir, services: { ledger: (components) => service } })` builds each service from the
 * {@link DaemonComponents} — `libp2p` (register stream protocols with `libp2p.handle`), `gossip` (join a
 * community, install a validator, subscribe to validated messages, publish), `blobs` and `exchange`
 * (store, fetch, announce), `events` (emit `<service>:<what>` events onto the live stream), `control`,
 * `dataDir.paths` (e.g. `paths.ledger` for a LevelDB store), `privateKey` (sign entries), `log`, and
 * `services` — the other services by name, typed by the daemon's {@link ServiceMap} (`createDaemon<S>` infers it from
 * the factories: e.g. `components.services.ledger` is the {@link LedgerService} of a service listed before it).
 * A service declares the components it needs as its own type (the js-libp2p `…Components` pattern; e.g.
 * {@link LedgerComponents}), so a service can be built from anything that provides those.
 * A {@link DaemonService} may have `start()` / `stop()` (called after the core is up, stopped in reverse
 * order), `routes` (a fastify plugin mounted at `/v1/<name>` of the control API, behind the bearer token)
 * and `status()` (shown under `services.<name>` of `GET /v1/status`).
 *
 * ## The ledger service
 *
 * `ledger` ({@link ledgerService}): the community's signed ledger in `<data>/ledger` (`@swarmtune/ledger`),
 * fed by the community topic (its validator is the ledger's ingest, so what the chain rules refuse — a
 * forged entry, a round-open or verdict a non-maintainer signed — is a gossip reject), ledger sync with
 * each peer on connect, on a gap and every 30 s with a random peer (anti-entropy), and `/v1/ledger/…`.
 * Training rounds are a service of their own package, `@swarmtune/rounds`, built on this package's public
 * contract; its `defaultServices()` gives the ledger and rounds services `swarmtune daemon` runs.
 *
 * ```ts
 * import { createDaemon, ledgerService } from '@swarmtune/node'
 *
 * const daemon = await createDaemon({ dataDir: '/tmp/st', services: { ledger: ledgerService() } })
 * await daemon.start()
 * console.log(daemon.services.ledger.ledger.size)
 * await daemon.stop()
 * ```
 *
 * Gossip validators return `{ status: 'accept' | 'ignore' | 'reject', code?, reason?, value? }`; the
 * default is `validateEntry` of `@swarmtune/wire`. `reject` lowers the forwarding peer's gossipsub score.
 * The `value` of an accepted message reaches handlers as `GossipMessage.value`.
 *
 * The CLI talks to a running daemon through {@link ControlClient}; doc/daemon.md documents the data
 * folder, configuration, control API and peer-score parameters, doc/rounds.md the rounds, doc/errors.md
 * (`## node`) the error codes.
 */

export { createDaemon, Daemon, DAEMON_VERSION } from './daemon.js'
export { ledgerService, type LedgerService, type LedgerServiceInit, type LedgerComponents, type SyncTrigger } from './ledger-service.js'
export type { DaemonComponents, DaemonService, ServiceMap, ServiceFactory, ServiceFactoryMap, DaemonInit, DaemonStatus, PeerStatus, DaemonInfo } from './daemon-types.js'

export { createConfig, mergeConfig, validateConfig, isLoopbackHost, multiaddrProblem, bootstrapAddrProblem, DEFAULT_CONFIG } from './config.js'
export type { AutoSwitch, DaemonConfig, DaemonConfigInit, DhtMode } from './config.js'

export { initDataDir, openDataDir, readConfig, dataDirPaths, defaultDataDir, writeFileAtomic } from './data-dir.js'
export type { ConfigChange, DataDir, DataDirPaths, InitDataDirOptions, InitDataDirResult } from './data-dir.js'
export { openBoundedFile, readBoundedFile } from './bounded-file.js'
export type { BoundedFileFailure, BoundedFileErrorFactory } from './bounded-file.js'

export { createHost } from './host.js'
export { addressScopes, describeReachability, planNat, reachabilityOf } from './nat.js'
export type { AddressScopes, NatPlan, NodeAddressInfo, ReachabilityState, ReachabilityStatus } from './nat.js'
export { GOSSIP_MAX_INBOUND_BYTES } from './constants.js'
export type { Host, HostInit, HostServices } from './host.js'

export { Gossip, entryValidator } from './gossip.js'
export type { GossipValidator, GossipVerdict, GossipMessage, GossipHandler, ScoredGossipSub } from './gossip.js'
export { PEER_SCORE_THRESHOLDS, RETAIN_SCORE_MS, communityTopicScoreParams, peerScoreParams, decayFor } from './peer-score.js'

export { BlobStore, chunkCount, chunkRange, chunkHash } from './blob-store.js'
export type { BlobStat, ChunkTable, BlobStoreInit } from './blob-store.js'
export { BlobExchange } from './blob-exchange.js'
export type { BlobExchangeInit, BlobExchangeComponents, BlobServingLimits } from './blob-exchange.js'
export type { FetchOptions, FetchResult, FetchPenalty, PenaltyReason, BlobFetchProgressEvents } from './blob-fetch.js'
export { blobServer } from './blob-server.js'
export type { BlobSource, BlobServerInit, BlobStreamRejection } from './blob-server.js'
export { boundedFrames, decodeLengthPrefix, varintBytes } from './bounded-frame.js'
export type { BoundedFrames, Frame } from './bounded-frame.js'
export { guardNegotiation } from './negotiation-guard.js'
export type { NegotiationGuardInit, NegotiationRejection } from './negotiation-guard.js'
export { blobCidFromDigest } from './cid.js'

export { PeerReputation } from './reputation.js'
export { PeerGuard, ipOf, weakKeyRefusal } from './peer-guard.js'
export type { PeerGuardInit, GuardedHost, Refusal } from './peer-guard.js'
export { PeerRetention } from './peer-retention.js'
export type { PeerRetentionInit, RetentionStats, GossipScoreInternals } from './peer-retention.js'
export { RejectionLog } from './rejection-log.js'
export type { RejectionLogInit, RejectionLevel } from './rejection-log.js'
export { EventBus } from './events.js'
export type { DaemonEvent, CoreEventType, EventListener, StreamOptions } from './events.js'
export { ControlApi } from './control-api.js'
export { DASHBOARD_PREFIX, DASHBOARD_COOKIE, DASHBOARD_CSP, DASHBOARD_SOURCES, identityOfKey, identityOfPeer, type DashboardIdentity } from './dashboard.js'
export { CONTROL_STATUS_OF_CODE, controlStatusOf } from './control-status.js'
export { ControlClient } from './control-client.js'
export type { CallOptions, ControlClientInit, FetchLine, FetchSummary, LedgerClient, RouteArgs, ServiceClient } from './control-client.js'
export { defineProtocol, issuesText, routeUrl, serveProtocol } from './control-protocol.js'
export type { BadRequest, JsonRouteName, RouteHandlers, RouteInput, RouteMap, RouteOutput, RouteRequest, RouteSpec, ServeOptions, ServiceProtocol } from './control-protocol.js'
export { coreProtocol } from './core-protocol.js'
export { ledgerProtocol } from './ledger-protocol.js'
export { createLogger } from './logger.js'
export type { Logger } from './logger.js'
export { checkReachability, probeTcp, portFree, scopeOf, tcpTarget } from './reachability.js'
export type { ReachabilityReport, AddressCheck, AddressScope } from './reachability.js'
export { acquireLock } from './lock.js'

export {
  NodeError, ConfigError, DataDirError, DaemonLockedError, BlobNotFoundError, BlobCorruptError,
  BlobTooLargeError, BlobFetchError, BlobProtocolError, AbortedError, ControlError, GossipError, DialError, PortInUseError,
  FrameLengthError, FrameTruncatedError, BlobStreamError, NegotiationError
} from './errors.js'
export * as constants from './constants.js'
