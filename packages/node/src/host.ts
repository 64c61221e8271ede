/**
 * The libp2p host of the daemon: TCP and WebSockets, noise, yamux, identify, ping; discovery by bootstrap list,
 * mDNS and the Kademlia DHT; gossipsub with StrictSign and swarmtune's peer scoring; a {@link PeerGuard} as the
 * connection gater (graylisted peers, identity churn per address) and as the `guard` service; for nodes behind
 * home routers AutoNAT v2, UPnP port mapping, circuit relay v2 (client, and server on reachable nodes) and DCUtR
 * as {@link planNat} decides.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, StrictSign, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { uPnPNAT } from '@libp2p/upnp-nat'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import type { Logger } from 'pino'
import type { DaemonConfig } from './config.js'
import {
  BOOTSTRAP_DELAY_MS, DHT_MAX_MESSAGE_BYTES, DHT_PROTOCOL, DIAL_TIMEOUT_MS, GOSSIP_MAX_INBOUND_BYTES, RELAY_RESERVATION_TTL_MS,
  RELAY_RESERVATIONS_WANTED
} from './constants.js'
import { addressScopes, planNat, type NatPlan } from './nat.js'
import { PEER_SCORE_THRESHOLDS, peerScoreParams, RETAIN_SCORE_MS } from './peer-score.js'
import { PeerRetention, type GossipScoreInternals } from './peer-retention.js'
import { sha256Of } from './cid.js'
import type { EventBus } from './events.js'
import type { ScoredGossipSub } from './gossip.js'
import { PeerGuard } from './peer-guard.js'
import { guardNegotiation } from './negotiation-guard.js'

/** The libp2p services the daemon runs. `dht` is absent when `config.dht.mode` is `off`. */
export interface HostServices {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  /** Connection gating and per-peer / per-address gossip limits (see {@link PeerGuard}). */
  guard: PeerGuard
  /** The bound on what is kept of departed peers (see {@link PeerRetention}). */
  retention: PeerRetention
  dht?: KadDHT
  [key: string]: unknown
}

/** The libp2p node and the reachability parts it was built with ({@link planNat}). */
export type Host = Libp2p<HostServices> & { natPlan?: NatPlan }

export interface HostInit {
  privateKey: PrivateKey
  config: DaemonConfig
  /** gossipsub P5 input (minus the peer's blob-exchange penalty). */
  appSpecificScore(peer: string): number
  /** Topics to score from the start (the communities of the configuration). */
  topics: string[]
  /** Where refused peers and connections are logged (rate-limited) and emitted (`peer:refused`, `peer:dropped`). */
  log: Logger
  events: EventBus
}


/** Builds (does not start) the libp2p node. */
export async function createHost (init: HostInit): Promise<Host> {
  const { config } = init
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (config.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: config.bootstrap, timeout: BOOTSTRAP_DELAY_MS }))
  if (config.mdns) peerDiscovery.push(mdns())
  const guard = new PeerGuard({
    exempt: config.connections.exempt,
    identitiesPerAddress: config.connections.identitiesPerAddress,
    identityWindowMs: config.connections.identityWindowMs,
    peerMessagesPerWindow: config.gossip.peerMessagesPerWindow,
    addressMessagesPerWindow: config.gossip.addressMessagesPerWindow,
    rateWindowMs: config.gossip.rateWindowMs,
    rejectionLogIntervalMs: config.gossip.rejectionLogIntervalMs,
    graylistThreshold: PEER_SCORE_THRESHOLDS.graylistThreshold,
    log: init.log,
    events: init.events
  })

  const retention = new PeerRetention({
    prune: config.connections.pruneDeparted,
    departedPeers: config.connections.departedPeers,
    departedScores: config.gossip.departedScores,
    graylistThreshold: PEER_SCORE_THRESHOLDS.graylistThreshold,
    retainScoreMs: RETAIN_SCORE_MS,
    bootstrap: config.bootstrap.map((a) => /\/p2p\/([^/]+)$/.exec(a)?.[1]).filter((id): id is string => id !== undefined),
    log: init.log
  })

  const services: Record<string, unknown> = {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub({
      globalSignaturePolicy: StrictSign,
      // a lone maintainer may publish; peers catch up through ledger sync
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // floodsub peers bypass scoring
      fallbackToFloodsub: false,
      // peer exchange hands out addresses of unscored peers: off unless we run trusted bootstrappers
      doPX: false,
      maxInboundDataLength: GOSSIP_MAX_INBOUND_BYTES,
      // message id = the entry id's digest (protocol/network.md): the same entry published twice, by
      // anyone, is one message
      msgIdFn: (msg) => sha256Of(msg.data),
      scoreParams: peerScoreParams({
        appSpecificScore: init.appSpecificScore,
        ipColocationWhitelist: config.gossip.ipColocationWhitelist,
        ipColocationThreshold: config.gossip.ipColocationThreshold,
        topics: init.topics
      }),
      scoreThresholds: PEER_SCORE_THRESHOLDS
    }),
    guard: () => guard,
    retention: () => retention
  }
  const plan = planNat(config, addressScopes(config.listen, config.announce), RELAY_RESERVATIONS_WANTED)
  if (plan.autonat) services.autonat = autoNATv2()
  // a mapping the router made, to a public external address (upnp-nat refuses a private one: double NAT), is
  // taken as reachable at once: AutoNAT v2 checks addresses only on new connections, and the mapping comes
  // after the first ones
  if (plan.upnp) services.upnp = uPnPNAT({ autoConfirmAddress: true })
  if (plan.holePunching) services.dcutr = dcutr()
  if (plan.relayServer) {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: config.relay.maxReservations,
        reservationTtl: RELAY_RESERVATION_TTL_MS,
        applyDefaultLimit: true,
        defaultDurationLimit: config.relay.durationLimitMs,
        defaultDataLimit: BigInt(config.relay.dataLimitBytes)
      }
    })
  }
  if (config.dht.mode !== 'off') {
    services.dht = kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: config.dht.mode === 'client' ? true : config.dht.mode === 'server' ? false : undefined,
      peerInfoMapper: config.dht.privateAddresses ? passthroughMapper : removePrivateAddressesMapper
    })
  }

  const options: Libp2pOptions<HostServices> = {
    start: false,
    privateKey: init.privateKey,
    // each `/p2p-circuit` listen address is one reservation on a relay found among the peers
    addresses: { listen: [...config.listen, ...Array.from({ length: plan.reservations }, () => '/p2p-circuit')], announce: config.announce },
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    // multistream-select on inbound streams is bounded by bytes and messages, not only by libp2p's 10 s timeout
    streamMuxers: [guardNegotiation(yamux(), {
      onRejected: (r) => {
        init.events.emit('stream:rejected', { ...r })
        guard.report('warn', { peer: r.peer ?? 'unknown', code: r.code, reason: r.reason, protocol: r.protocol }, 'inbound stream reset by its bounds')
      },
      // the DHT's reader sets no bound on a message's length prefix
      framedProtocols: { [DHT_PROTOCOL]: DHT_MAX_MESSAGE_BYTES }
    })],
    peerDiscovery,
    connectionManager: { maxConnections: config.connections.max, dialTimeout: DIAL_TIMEOUT_MS, allow: config.connections.allow },
    connectionGater: guard.gater,
    services: services as Libp2pOptions<HostServices>['services']
  }
  const host: Host = await createLibp2p<HostServices>(options)
  host.natPlan = plan
  const pubsub = host.services.pubsub as ScoredGossipSub
  retention.attach(host, (pubsub as unknown as { score: GossipScoreInternals }).score)
  guard.attach({
    // gossipsub knows no score for a peer it never saw: the application score (blob penalties) still counts,
    // and so does the score a graylisted peer left with once gossipsub dropped its record
    score: (peer) => Math.min(pubsub.getScore(peer), init.appSpecificScore(peer), retention.rememberedScore(peer) ?? Number.POSITIVE_INFINITY),
    connections: (peer) => host.getConnections(peer),
    hangUp: async (peer) => { await host.hangUp(peer) }
  })
  return host
}
