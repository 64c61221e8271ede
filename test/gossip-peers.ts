/**
 * Plain libp2p 3 peers for gossip tests and benchmarks: TCP on 127.0.0.1, noise, yamux, identify and
 * gossipsub set as protocol/network.md, "Settings for third-party peers", says (StrictSign, message id =
 * sha256 of the data), with no validator of their own, so they publish whatever they are given.
 */
import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, StrictSign, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { GOSSIP_MAX_INBOUND_BYTES } from '@swarmtune/node'
import { createLibp2p } from 'libp2p'

/**
 * The gossipsub options protocol/network.md, "Settings for third-party peers", gives, in the form both
 * `@libp2p/gossipsub` 17 and `@chainsafe/libp2p-gossipsub` 14 take.
 */
export const THIRD_PARTY_GOSSIP_OPTIONS = Object.freeze({
  globalSignaturePolicy: StrictSign,
  /** The message id: SHA-256 of the data (a MUST). */
  msgIdFn: (msg: { data: Uint8Array }): Uint8Array => createHash('sha256').update(msg.data).digest(),
  maxInboundDataLength: GOSSIP_MAX_INBOUND_BYTES,
  fallbackToFloodsub: false,
  doPX: false,
  emitSelf: false
})

export type GossipPeer = Libp2p<{ pubsub: GossipSub, identify: unknown }>

/**
 * The `createLibp2p` options of a plain peer on 127.0.0.1 (an ephemeral TCP port, noise, yamux, identify) whose
 * gossip service is `pubsub`, from the modules of whichever libp2p major version the caller brings.
 */
export function loopbackPeerInit<T, E, M, I, P> (modules: { tcp: () => T, noise: () => E, yamux: () => M, identify: () => I }, pubsub: P): {
  addresses: { listen: string[] }, transports: T[], connectionEncrypters: E[], streamMuxers: M[], services: { identify: I, pubsub: P }
} {
  return {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [modules.tcp()],
    connectionEncrypters: [modules.noise()],
    streamMuxers: [modules.yamux()],
    services: { identify: modules.identify(), pubsub }
  }
}

/** A started peer with a fresh identity; `signaturePolicy` StrictNoSign makes one that breaks StrictSign. */
export async function gossipPeer (signaturePolicy: typeof StrictSign | typeof StrictNoSign = StrictSign): Promise<GossipPeer> {
  const pubsub = gossipsub({ ...THIRD_PARTY_GOSSIP_OPTIONS, globalSignaturePolicy: signaturePolicy, allowPublishToZeroTopicPeers: false })
  const node = await createLibp2p(loopbackPeerInit({ tcp, noise, yamux, identify }, pubsub))
  return node as unknown as GossipPeer
}
