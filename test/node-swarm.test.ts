/**
 * Six real daemons on 127.0.0.1 (one bootstrap node and five that know only it): discovery through the
 * bootstrap list and through the DHT, gossip reaching every node, and invalid gossip rejected and scored.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { blobCid, communityTopic, signEntry, type SignedEntry } from '@swarmtune/wire'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DaemonEvent, GossipMessage } from '@swarmtune/node'
import { waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'

const NODES = 5

async function makeCommunity (): Promise<{ genesis: SignedEntry, checkpoint: SignedEntry, foreign: SignedEntry }> {
  const key = await generateKeyPair('Ed25519')
  const genesisOf = async (name: string): Promise<SignedEntry> => await signEntry({
    v: 1, community: new Uint8Array(0), author: key.publicKey.raw, seq: 0, prev: null, ts: Date.now(), kind: 'genesis',
    body: { name, task: { id: 'mnist-cnn' }, maintainers: [key.publicKey.raw], release: blobCid(new TextEncoder().encode(name)).bytes, policy: { maxDeltaNorm: 10, maxRoundMs: 600_000 } }
  }, key)
  const genesis = await genesisOf('swarm-test')
  const other = await genesisOf('another-community')
  const checkpointOf = async (g: SignedEntry): Promise<SignedEntry> => await signEntry({
    v: 1, community: g.id.bytes, author: key.publicKey.raw, seq: 1, prev: g.id.bytes, ts: Date.now(), kind: 'checkpoint',
    body: { length: 1, head: g.id.bytes }
  }, key)
  return { genesis, checkpoint: await checkpointOf(genesis), foreign: await checkpointOf(other) }
}

describe('a swarm of daemons on loopback', () => {
  let boot: TestNode
  let nodes: TestNode[] = []
  let all: TestNode[] = []
  let community: Awaited<ReturnType<typeof makeCommunity>>
  const received = new Map<string, GossipMessage[]>()
  const rejected = new Map<string, DaemonEvent[]>()

  beforeAll(async () => {
    community = await makeCommunity()
    const communities = [community.genesis.id.toString()]
    const dht = { mode: 'server' as const, privateAddresses: true }
    boot = await startNode({ config: { dht, communities } })
    const bootstrap = [boot.daemon.addresses()[0]]
    nodes = await Promise.all(Array.from({ length: NODES }, async () => await startNode({ config: { dht, communities, bootstrap } })))
    all = [boot, ...nodes]
    for (const n of all) {
      const id = n.daemon.peerId.toString()
      received.set(id, [])
      rejected.set(id, [])
      n.daemon.gossip.subscribe(community.genesis.id, (m) => { received.get(id)?.push(m) })
      n.daemon.events.subscribe((e) => { if (e.type === 'gossip:rejected') rejected.get(id)?.push(e) })
    }
  })

  afterAll(async () => {
    await Promise.all(all.map(async (n) => { await n.destroy() }))
  })

  const connected = (a: TestNode, b: PeerId): boolean => a.daemon.libp2p.getConnections(b).length > 0

  it('every node connects to the bootstrap node', async () => {
    await waitFor(() => nodes.every((n) => connected(n, boot.daemon.peerId)) && boot.daemon.libp2p.getPeers().length === NODES, 10_000, 'bootstrap connections')
    expect(new Set(boot.daemon.libp2p.getPeers().map(String))).toEqual(new Set(nodes.map((n) => n.daemon.peerId.toString())))
  })

  it('nodes that know only the bootstrap node find each other through the DHT', async () => {
    // no node's bootstrap list names another, mDNS is off and peer exchange is off: only DHT queries
    // (self-lookups and the daemon's walk) can have led one node to another
    await waitFor(() => nodes.every((a) => nodes.every((b) => a === b || connected(a, b.daemon.peerId))), 20_000, 'a full mesh of DHT-found connections')
    for (const n of all) expect((await n.daemon.status()).dht.mode).toBe('server')
    // a DHT lookup for a peer returns its dialable address
    const [first, , , , last] = nodes
    const found = await first.daemon.libp2p.peerRouting.findPeer(last.daemon.peerId, { signal: AbortSignal.timeout(5_000) })
    expect(found.multiaddrs.map((a) => a.toString())).toEqual(expect.arrayContaining([last.daemon.addresses()[0].replace(/\/p2p\/.*$/, '')]))
  })

  it('a blob provider record published by one node is found by another through the DHT', async () => {
    const [first, , , , last] = nodes
    const cid = await first.daemon.exchange.put(new TextEncoder().encode('provider record test'))
    await first.daemon.exchange.provide(cid)
    const providers: string[] = []
    for await (const p of last.daemon.libp2p.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
      providers.push(p.id.toString())
      if (p.id.equals(first.daemon.peerId)) break
    }
    expect(providers).toContain(first.daemon.peerId.toString())
  })

  it('a gossip message reaches every node', async () => {
    await waitFor(() => all.every((n) => n.daemon.gossip.peers(community.genesis.id).length >= 1), 10_000, 'topic subscriptions')
    const publisher = nodes[0]
    const { recipients } = await publisher.daemon.gossip.publish(community.genesis.id, community.genesis.bytes)
    expect(recipients).toBeGreaterThan(0)
    const others = all.filter((n) => n !== publisher)
    await waitFor(() => others.every((n) => (received.get(n.daemon.peerId.toString()) ?? []).length === 1), 10_000, 'delivery to all nodes')
    for (const n of others) {
      const [m] = received.get(n.daemon.peerId.toString()) ?? []
      expect(m.author.equals(publisher.daemon.peerId)).toBe(true)
      expect(Buffer.compare(m.data, community.genesis.bytes)).toBe(0)
      // the validator's value (the decoded, signature-checked entry) reaches the handler
      expect((m.value as SignedEntry).id.equals(community.genesis.id)).toBe(true)
    }
    expect(received.get(publisher.daemon.peerId.toString())).toHaveLength(0)
  })

  it('the daemon refuses to publish what its peers would reject', async () => {
    await expect(nodes[1].daemon.gossip.publish(community.genesis.id, new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: 'ERR_NODE_GOSSIP_INVALID' })
  })

  it('invalid messages are rejected, not delivered, and lower the sender\'s score', async () => {
    const bad = nodes[NODES - 1]
    const badId = bad.daemon.peerId.toString()
    const neighbours = all.filter((n) => n !== bad && connected(n, bad.daemon.peerId))
    expect(neighbours.length).toBeGreaterThanOrEqual(1)
    const before = new Map(neighbours.map((n) => [n.daemon.peerId.toString(), n.daemon.gossip.score(badId)]))
    const deliveredBefore = new Map(neighbours.map((n) => [n.daemon.peerId.toString(), received.get(n.daemon.peerId.toString())?.length ?? 0]))
    // a misbehaving peer: publishes straight through gossipsub, skipping the daemon's own check
    const topic = communityTopic(community.genesis.id)
    await bad.daemon.libp2p.services.pubsub.publish(topic, new TextEncoder().encode('not an entry'))
    await bad.daemon.libp2p.services.pubsub.publish(topic, community.foreign.bytes)
    await waitFor(() => neighbours.every((n) => (rejected.get(n.daemon.peerId.toString()) ?? []).filter((e) => e.from === badId).length === 2), 10_000, 'rejections by every neighbour')
    // gossipsub caches a computed score for up to one heartbeat (1 s)
    await waitFor(() => neighbours.every((n) => n.daemon.gossip.score(badId) < -80), 5_000, 'the sender\'s score to fall')
    for (const n of neighbours) {
      const id = n.daemon.peerId.toString()
      const codes = (rejected.get(id) ?? []).filter((e) => e.from === badId).map((e) => e.code).sort()
      expect(codes).toContain('ERR_WIRE_WRONG_COMMUNITY')
      for (const code of codes) expect(code).toMatch(/^ERR_WIRE_/)
      expect(received.get(id)?.length).toBe(deliveredBefore.get(id))
      const after = n.daemon.gossip.score(badId)
      expect(after).toBeLessThan(before.get(id) as number)
      // two invalid entries: −30 × 2² = −120, beyond what good behaviour can offset (+20 cap)
      expect(after).toBeLessThan(-80)
    }
    // a well-behaved peer keeps a non-negative score
    const good = nodes[0].daemon.peerId.toString()
    expect(boot.daemon.gossip.score(good)).toBeGreaterThanOrEqual(0)
  })
})
