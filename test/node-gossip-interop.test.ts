/**
 * Interoperability of the daemon's gossip with a third-party peer built on the previous major versions:
 * libp2p 2.9 with @chainsafe/libp2p-gossipsub 14.1.2 (and @libp2p/tcp 10, @chainsafe/libp2p-noise 16,
 * @chainsafe/libp2p-yamux 7, @libp2p/identify 3), configured exactly as protocol/network.md, "Settings for
 * third-party peers", says. Two daemons and that peer share a community topic; the peer keeps a mesh of one, so
 * the other daemon reaches it by IHAVE/IWANT gossip as well as by mesh forwarding. Messages go both ways and
 * the peer is never penalised. A peer that keeps that library's default message id (from + seqno) is the
 * counter-example: its IHAVE ids never match ours, so the promises of its IWANT answers break.
 */
import type { PeerId } from '@libp2p/interface'
import { type DaemonEvent, type GossipMessage } from '@swarmtune/node'
import { multiaddr } from '@multiformats/multiaddr'
import { communityTopic, type SignedEntry } from '@swarmtune/wire'
import { gossipsub } from 'gossipsub-v14'
import { identify } from 'identify-v3'
import { createLibp2p } from 'libp2p-v2'
import { noise } from 'noise-v16'
import { tcp } from 'tcp-v10'
import { yamux } from 'yamux-v7'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'
import { communityWithCheckpoints } from './gossip-entries.js'
import { loopbackPeerInit, THIRD_PARTY_GOSSIP_OPTIONS } from './gossip-peers.js'

/** The message id protocol/network.md requires: the SHA-256 digest of the message data. */
const sha256MsgId = THIRD_PARTY_GOSSIP_OPTIONS.msgIdFn

/** What the test reads of the 2.x peer (its own types come from @libp2p/interface 2, not the daemon's 3). */
interface ThirdParty {
  peerId: PeerId
  getMultiaddrs: () => Array<{ toString: () => string }>
  stop: () => Promise<void>
  services: {
    pubsub: {
      subscribe: (topic: string) => void
      publish: (topic: string, data: Uint8Array) => Promise<{ recipients: unknown[] }>
      getSubscribers: (topic: string) => Array<{ toString: () => string }>
      getMeshPeers: (topic: string) => string[]
      getScore: (peer: string) => number
      addEventListener: (type: 'message', listener: (evt: CustomEvent<{ topic: string, data: Uint8Array }>) => void) => void
    }
  }
}

/**
 * A libp2p 2.9 + gossipsub 14.1.2 peer with the settings of protocol/network.md, except `msgIdFn` when
 * `defaultMsgId` is set. Its mesh is kept at one peer (D = Dlo = Dhi = 1) so that its other neighbours
 * exchange IHAVE/IWANT with it.
 */
async function thirdParty (options: { defaultMsgId?: boolean } = {}): Promise<ThirdParty> {
  const { msgIdFn, ...rest } = THIRD_PARTY_GOSSIP_OPTIONS
  const settings = options.defaultMsgId === true ? rest : { ...rest, msgIdFn }
  const pubsub = gossipsub({ ...settings, allowPublishToZeroTopicPeers: true, D: 1, Dlo: 1, Dhi: 1, Dout: 0, Dscore: 0 })
  const node = await createLibp2p(loopbackPeerInit({ tcp, noise, yamux, identify }, pubsub))
  return node as unknown as ThirdParty
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface Swarm {
  daemons: TestNode[]
  peer: ThirdParty
  received: Map<string, GossipMessage[]>
  peerReceived: string[]
  refusals: DaemonEvent[]
  topic: string
  stop: () => Promise<void>
}

/** Two daemons (connected to each other) and a third-party peer dialling both, all on the community topic. */
async function swarm (community: SignedEntry, peerOptions: { defaultMsgId?: boolean }): Promise<Swarm> {
  const communities = [community.id.toString()]
  const daemons = await Promise.all([startNode({ config: { communities } }), startNode({ config: { communities } })])
  const topic = communityTopic(community.id)
  const received = new Map<string, GossipMessage[]>()
  const refusals: DaemonEvent[] = []
  for (const d of daemons) {
    const list: GossipMessage[] = []
    received.set(d.daemon.peerId.toString(), list)
    d.daemon.gossip.subscribe(community.id, (m) => { list.push(m) })
    d.daemon.events.subscribe((e) => { if (e.type === 'gossip:rejected' || e.type === 'peer:refused' || e.type === 'peer:dropped') refusals.push(e) })
  }
  await daemons[0].daemon.libp2p.dial(daemons[1].daemon.libp2p.getMultiaddrs()[0])
  const peer = await thirdParty(peerOptions)
  const peerReceived: string[] = []
  peer.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === topic) peerReceived.push(hex(evt.detail.data)) })
  peer.services.pubsub.subscribe(topic)
  // the daemons dial it (its multiaddr objects are of @multiformats/multiaddr 12, the daemon's of 13)
  const address = multiaddr(peer.getMultiaddrs()[0].toString())
  for (const d of daemons) await d.daemon.libp2p.dial(address, { signal: AbortSignal.timeout(5_000) })
  await waitFor(() => daemons.every((d) =>
    peer.services.pubsub.getSubscribers(topic).some((p) => p.toString() === d.daemon.peerId.toString()) &&
    d.daemon.gossip.peers(community.id).some((p) => p.equals(peer.peerId))), 10_000, 'the topic on every side')
  // the peer's mesh settles at one daemon (heartbeats prune the other)
  await waitFor(() => peer.services.pubsub.getMeshPeers(topic).length === 1, 10_000, 'the third-party mesh of one')
  return {
    daemons,
    peer,
    received,
    peerReceived,
    refusals,
    topic,
    stop: async () => {
      await peer.stop()
      await Promise.all(daemons.map(async (d) => { await d.destroy() }))
    }
  }
}

describe('gossip with a libp2p 2.9 + gossipsub 14.1.2 peer', () => {
  let community: Awaited<ReturnType<typeof communityWithCheckpoints>>
  beforeAll(async () => { community = await communityWithCheckpoints('interop-test', 24) })

  describe('configured as protocol/network.md says', () => {
    let s: Swarm
    beforeAll(async () => { s = await swarm(community.genesis, {}) })
    afterAll(async () => { await s?.stop() })

    it('delivers its messages to both daemons and theirs to it, and is never penalised', async () => {
      const [fromPeer, fromDaemon] = [community.entries.slice(0, 10), community.entries.slice(10, 20)]
      for (const e of fromPeer) {
        await s.peer.services.pubsub.publish(s.topic, e.bytes)
      }
      for (const e of fromDaemon) await s.daemons[0].daemon.gossip.publish(community.genesis.id, e.bytes)
      // each daemon gets the peer's ten and the other daemon's ten (the publisher not its own)
      const want = (d: TestNode): number => d === s.daemons[0] ? 10 : 20
      await waitFor(() => s.daemons.every((d) => s.received.get(d.daemon.peerId.toString())?.length === want(d)), 15_000, 'delivery to the daemons')
      await waitFor(() => s.peerReceived.length === 10, 15_000, 'delivery to the third-party peer')
      expect(new Set(s.peerReceived)).toEqual(new Set(fromDaemon.map((e) => hex(e.bytes))))
      for (const d of s.daemons) {
        const got = s.received.get(d.daemon.peerId.toString()) ?? []
        const fromThird = got.filter((m) => m.author.equals(s.peer.peerId)).map((m) => hex(m.data))
        expect(new Set(fromThird)).toEqual(new Set(fromPeer.map((e) => hex(e.bytes))))
        // the message id a daemon computes is the one the peer announces: sha256 of the data
        for (const m of got) expect(Buffer.from(m.msgId, 'base64').equals(Buffer.from(sha256MsgId(m)))).toBe(true)
      }
      // IHAVE for a message goes out in the 3 heartbeats (1 s each) after it, and an IWANT left unanswered
      // counts as a broken promise after 3 s (gossipsub's iwantFollowupTime): after 8 s either would show
      await new Promise((resolve) => setTimeout(resolve, 8_000))
      expect(s.refusals).toEqual([])
      for (const d of s.daemons) {
        expect(d.daemon.gossip.score(s.peer.peerId)).toBeGreaterThanOrEqual(0)
        expect(behaviourPenalty(d, s.peer)).toBe(0)
        expect(s.peer.services.pubsub.getScore(d.daemon.peerId.toString())).toBeGreaterThanOrEqual(0)
      }
    })
  })

  describe('with that library\'s default message id (from + seqno)', () => {
    let s: Swarm
    beforeAll(async () => { s = await swarm(community.genesis, { defaultMsgId: true }) })
    afterAll(async () => { await s?.stop() })

    it('breaks gossip promises, which the daemons count against it: why protocol/network.md makes sha256 of the data a MUST', async () => {
      for (const e of community.entries.slice(0, 10)) await s.peer.services.pubsub.publish(s.topic, e.bytes)
      // the daemon outside the peer's mesh is offered the messages by IHAVE under ids it never computes,
      // asks for them, gets messages whose id (sha256) differs, and records the promises as broken (P7)
      await waitFor(() => s.daemons.some((d) => behaviourPenalty(d, s.peer) > 0), 20_000, 'a broken-promise penalty')
    })
  })
})

/** The gossipsub behaviour penalty (P7 counter) a daemon holds against the peer. */
function behaviourPenalty (d: TestNode, peer: ThirdParty): number {
  const stats = (d.daemon.libp2p.services.pubsub as unknown as { dumpPeerScoreStats: () => Record<string, { behaviourPenalty: number } | undefined> }).dumpPeerScoreStats()
  return stats[peer.peerId.toString()]?.behaviourPenalty ?? 0
}
