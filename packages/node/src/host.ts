/**
 * The libp2p host of the daemon: TCP, noise, yamux, identify, ping; discovery by bootstrap list, mDNS and
 * the Kademlia DHT; gossipsub with StrictSign and swarmtune's peer scoring.
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
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { LIMITS } from '@swarmtune/wire'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import type { DaemonConfig } from './config.js'
import { BOOTSTRAP_DELAY_MS, DHT_PROTOCOL, DIAL_TIMEOUT_MS, GOSSIP_RPC_OVERHEAD_BYTES } from './constants.js'
import { PEER_SCORE_THRESHOLDS, peerScoreParams } from './peer-score.js'
import { sha256Of } from './cid.js'

/** The libp2p services the daemon runs. `dht` is absent when `config.dht.mode` is `off`. */
export interface HostServices {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht?: KadDHT
  [key: string]: unknown
}

export type Host = Libp2p<HostServices>

export interface HostInit {
  privateKey: PrivateKey
  config: DaemonConfig
  /** gossipsub P5 input (minus the peer's blob-exchange penalty). */
  appSpecificScore(peer: string): number
  /** Topics to score from the start (the communities of the configuration). */
  topics: string[]
}

/**
 * Largest gossipsub RPC frame accepted, in bytes: one entry frame at the protocol's cap (`LIMITS.maxFrameBytes`)
 * plus {@link GOSSIP_RPC_OVERHEAD_BYTES} of envelope and control messages. Larger frames are dropped before
 * they are decoded.
 */
export const GOSSIP_MAX_INBOUND_BYTES = LIMITS.maxFrameBytes + GOSSIP_RPC_OVERHEAD_BYTES

/** Builds (does not start) the libp2p node. */
export async function createHost (init: HostInit): Promise<Host> {
  const { config } = init
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (config.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: config.bootstrap, timeout: BOOTSTRAP_DELAY_MS }))
  if (config.mdns) peerDiscovery.push(mdns())

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
        topics: init.topics
      }),
      scoreThresholds: PEER_SCORE_THRESHOLDS
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
    addresses: { listen: config.listen, announce: config.announce },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    connectionManager: { maxConnections: config.connections.max, dialTimeout: DIAL_TIMEOUT_MS, allow: config.connections.allow },
    services: services as Libp2pOptions<HostServices>['services']
  }
  return await createLibp2p<HostServices>(options)
}
