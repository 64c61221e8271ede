/**
 * What a daemon keeps of peers that left, against real libp2p peers on 127.0.0.1: fresh identities that
 * connect, join the community topic and leave leave at most `connections.departedPeers` records in libp2p's
 * peer store and `gossip.departedScores` score records in gossipsub (without the bound: one of each per
 * identity, for hours); a graylisted peer whose score record was dropped is still refused when it comes back;
 * and a peer that left with a negative score comes back with it (gossipsub 17 would start it afresh).
 */
import { randomBytes } from 'node:crypto'
import { createDaemon, initDataDir, type Daemon, type DaemonConfigInit, type DaemonEvent } from '@swarmtune/node'
import { communityTopic, type SignedEntry } from '@swarmtune/wire'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { testConfig } from '@swarmtune/test-support/daemons'
import { communityWithCheckpoints } from './gossip-entries.js'
import { gossipPeer, type GossipPeer } from './gossip-peers.js'

interface Target { daemon: Daemon, events: DaemonEvent[], topic: string, destroy: () => Promise<void> }

async function target (community: SignedEntry, config: DaemonConfigInit): Promise<Target> {
  const dir = await tempDir()
  await initDataDir(dir.path, { config: testConfig({ communities: [community.id.toString()], ...config }) })
  const daemon = await createDaemon({ dataDir: dir.path, logger: pino({ level: 'silent' }), maintenanceIntervalMs: 60_000 })
  const events: DaemonEvent[] = []
  daemon.events.subscribe((e) => { events.push(e) })
  await daemon.start()
  return { daemon, events, topic: communityTopic(community.id), destroy: async () => { await daemon.stop().catch(() => {}); await dir.cleanup() } }
}

/** Dials the target and waits until each side sees the other on the topic. @returns false when refused */
async function join (a: GossipPeer, t: Target): Promise<boolean> {
  a.services.pubsub.subscribe(t.topic)
  try {
    await a.dial(t.daemon.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })
    await waitFor(() => a.getConnections().length === 0 ||
      (a.services.pubsub.getSubscribers(t.topic).some((p) => p.equals(t.daemon.peerId)) && t.daemon.libp2p.services.pubsub.getSubscribers(t.topic).some((p) => p.equals(a.peerId))), 5_000, 'the topic on both sides')
  } catch {
    return false
  }
  return a.getConnections().length > 0
}

/** `count` fresh identities, `parallel` at a time, each joining the topic and leaving without a word. */
async function churn (t: Target, count: number, parallel = 8): Promise<number> {
  let joined = 0
  for (let i = 0; i < count; i += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, async () => {
      const a = await gossipPeer()
      await a.start()
      if (await join(a, t)) joined++
      await a.stop()
    }))
  }
  await waitFor(() => t.daemon.libp2p.getConnections().length === 0, 10_000, 'every churned identity to be gone')
  return joined
}

const retention = (t: Target): Target['daemon']['libp2p']['services']['retention'] => t.daemon.libp2p.services.retention

describe('what a daemon keeps of departed peers', () => {
  let community: SignedEntry
  const cleanup: Array<() => Promise<void>> = []
  const start = async (config: DaemonConfigInit): Promise<Target> => {
    const t = await target(community, config)
    cleanup.push(t.destroy)
    return t
  }
  beforeAll(async () => { community = (await communityWithCheckpoints('retention-test', 0)).genesis })
  afterAll(async () => { for (const c of cleanup.reverse()) await c() })

  it('keeps at most departedPeers peer-store records and departedScores score records of identities that joined the topic and left', async () => {
    const K = 48
    const bounded = await start({ connections: { departedPeers: 12 }, gossip: { departedScores: 20 } })
    const unbounded = await start({ connections: { pruneDeparted: false } })
    for (const t of [bounded, unbounded]) expect(await churn(t, K)).toBe(K)
    // deletions run after each disconnect; wait for the last of them
    await waitFor(async () => (await retention(bounded).stats()).storedPeers <= 12, 5_000, 'the peer store to be pruned')
    const b = await retention(bounded).stats()
    const u = await retention(unbounded).stats()
    console.log(`peer retention: after ${K} departed identities, peer store ${b.storedPeers} (unbounded ${u.storedPeers}), score records ${b.scoreRecords} (unbounded ${u.scoreRecords}), pruned ${b.pruned}, scores dropped ${b.scoresDropped}`)
    expect(b.storedPeers).toBeLessThanOrEqual(12)
    expect(b.departedPeers).toBeLessThanOrEqual(12)
    expect(b.scoreRecords).toBeLessThanOrEqual(20)
    expect(b.pruned).toBeGreaterThanOrEqual(K - 12)
    // without the bound every identity stays in both: what the bound is for
    expect(u.storedPeers).toBeGreaterThanOrEqual(K)
    expect(u.scoreRecords).toBeGreaterThanOrEqual(K)
  })

  it('still refuses a graylisted peer that left once its score record was dropped for newer departures', async () => {
    const t = await start({ connections: { departedPeers: 4 }, gossip: { departedScores: 4 } })
    const a = await gossipPeer()
    cleanup.push(async () => { await a.stop() })
    await a.start()
    expect(await join(a, t)).toBe(true)
    // two invalid entries: −30 × 2² = −120, below the graylist threshold (−80)
    await a.services.pubsub.publish(t.topic, randomBytes(40))
    await a.services.pubsub.publish(t.topic, randomBytes(40))
    await waitFor(() => t.daemon.libp2p.getConnections(a.peerId).length === 0, 10_000, 'the graylisted peer to be dropped')
    // newer departures push its record out of gossipsub's retained scores
    expect(await churn(t, 12)).toBe(12)
    const stats = await retention(t).stats()
    expect(stats.scoresDropped).toBeGreaterThan(0)
    expect(stats.scoreRecords).toBeLessThanOrEqual(4)
    expect(t.daemon.gossip.score(a.peerId)).toBe(0)
    expect(stats.graylisted).toBe(1)
    expect(await join(a, t)).toBe(false)
    expect(t.events.filter((e) => e.type === 'peer:refused' && e.peer === a.peerId.toString()).map((e) => e.code)).toContain('ERR_NODE_PEER_GRAYLISTED')
  })

  it('gives a peer that left with a negative score the same score when it comes back', async () => {
    const t = await start({})
    const a = await gossipPeer()
    cleanup.push(async () => { await a.stop() })
    await a.start()
    expect(await join(a, t)).toBe(true)
    // one invalid entry: −30, below the gossip threshold but not graylisted
    await a.services.pubsub.publish(t.topic, randomBytes(40))
    await waitFor(() => t.daemon.gossip.score(a.peerId) < -10, 10_000, 'the invalid entry to count')
    const left = t.daemon.gossip.score(a.peerId)
    await a.hangUp(t.daemon.peerId)
    await waitFor(() => t.daemon.libp2p.getConnections(a.peerId).length === 0, 5_000, 'the peer to leave')
    expect(await join(a, t)).toBe(true)
    // gossipsub caches a score for one heartbeat (1 s): read it once the cache of the first visit has lapsed
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(t.daemon.gossip.score(a.peerId)).toBeLessThanOrEqual(left + 1)
    expect(t.daemon.gossip.score(a.peerId)).toBeLessThan(-10)
  })
})
