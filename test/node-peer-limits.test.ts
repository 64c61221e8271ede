/**
 * The limits on what one peer or one address can make a daemon do, against real libp2p peers on 127.0.0.1:
 * identities rotated from one address, per-peer and per-address gossip rates, graylisted peers, gossip
 * frames above the inbound cap and envelopes gossipsub refuses — each refused with a code that the event
 * stream and the daemon's (rate-limited) log both carry.
 *
 * Every daemon and attacker here shares 127.0.0.1, which the defaults exempt from the per-address limits
 * (so that a demo's daemons on one machine are not taken for one address); the target daemons set
 * `connections.exempt: []` to be held to them.
 */
import { Writable } from 'node:stream'
import { StrictNoSign, type StrictSign } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import type { PeerId, Stream } from '@libp2p/interface'
import { createDaemon, createLogger, GOSSIP_MAX_INBOUND_BYTES, initDataDir, type Daemon, type DaemonConfigInit, type DaemonEvent } from '@swarmtune/node'
import { communityTopic, LIMITS, type SignedEntry } from '@swarmtune/wire'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { testConfig } from '@swarmtune/test-support/daemons'
import { communityWithCheckpoints } from './gossip-entries.js'
import { gossipPeer, type GossipPeer } from './gossip-peers.js'

type Attacker = GossipPeer

interface Target {
  daemon: Daemon
  events: DaemonEvent[]
  logs: Array<Record<string, unknown>>
  community: SignedEntry
  topic: string
  destroy: () => Promise<void>
}

/** A daemon whose events and JSON log lines (level info) are kept. */
async function target (community: SignedEntry, config: DaemonConfigInit): Promise<Target> {
  const dir = await tempDir()
  await initDataDir(dir.path, { config: testConfig({ communities: [community.id.toString()], ...config }) })
  const logs: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const daemon = await createDaemon({ dataDir: dir.path, logger: createLogger({ level: 'info', destination }), maintenanceIntervalMs: 60_000 })
  const events: DaemonEvent[] = []
  daemon.events.subscribe((e) => { events.push(e) })
  await daemon.start()
  return {
    daemon,
    events,
    logs,
    community,
    topic: communityTopic(community.id),
    destroy: async () => {
      await daemon.stop().catch(() => {})
      await dir.cleanup()
    }
  }
}

/** Dials the target and waits until each side sees the other on the topic. @returns false if the target refused the connection */
async function join (a: Attacker, t: Target): Promise<boolean> {
  a.services.pubsub.subscribe(t.topic)
  try {
    await a.dial(t.daemon.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })
  } catch {
    return false
  }
  try {
    await waitFor(() => a.getConnections().length === 0 ||
      (a.services.pubsub.getSubscribers(t.topic).some((p) => p.equals(t.daemon.peerId)) && t.daemon.gossip.peers(t.community.id).some((p) => p.equals(a.peerId))), 5_000, 'the topic on both sides')
  } catch {
    return false
  }
  return a.getConnections().length > 0
}

/** An unsigned LEB128 varint (the length prefix of gossipsub frames, it-length-prefixed). */
function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80) }
  out.push(n)
  return Uint8Array.from(out)
}

/** Sends one length-prefixed gossipsub RPC that subscribes to `topic` (RPC.subscriptions: subscribe true, topic). */
function sendSubscription (stream: Stream, topic: string): void {
  const name = new TextEncoder().encode(topic)
  const subOpts = [0x08, 0x01, 0x12, name.length, ...name]
  const rpc = Uint8Array.from([0x0a, subOpts.length, ...subOpts])
  stream.send(varint(rpc.length))
  stream.send(rpc)
}

const eventsOf = (t: Target, type: string, peer: PeerId): DaemonEvent[] =>
  t.events.filter((e) => e.type === type && (e.from === peer.toString() || e.peer === peer.toString()))
const logsOf = (t: Target, peer: PeerId, code: string): Array<Record<string, unknown>> =>
  t.logs.filter((l) => l.peer === peer.toString() && l.code === code)

describe('limits on what one peer or address can cause', () => {
  let community: Awaited<ReturnType<typeof communityWithCheckpoints>>
  const cleanup: Array<() => Promise<void>> = []
  const attackers = async (n: number, policy?: typeof StrictSign | typeof StrictNoSign): Promise<Attacker[]> => {
    const list = await Promise.all(Array.from({ length: n }, async () => await gossipPeer(policy)))
    for (const a of list) cleanup.push(async () => { await a.stop() })
    await Promise.all(list.map(async (a) => { await a.start() }))
    return list
  }
  const start = async (config: DaemonConfigInit): Promise<Target> => {
    const t = await target(community.genesis, config)
    cleanup.push(t.destroy)
    return t
  }
  /** A target with default limits and one attacker in its topic, with a raw gossipsub stream to it. */
  const rawGossip = async (): Promise<{ t: Target, a: Attacker, stream: Stream }> => {
    const t = await start({})
    const [a] = await attackers(1)
    expect(await join(a, t)).toBe(true)
    return { t, a, stream: await a.dialProtocol(t.daemon.peerId, '/meshsub/1.1.0') }
  }

  beforeAll(async () => { community = await communityWithCheckpoints('limits-test', 24) })
  afterAll(async () => { await Promise.all(cleanup.map(async (c) => { await c() })) })

  it('refuses a new peer id from an address that used up its identities, and still admits the ones it knows', async () => {
    const t = await start({ connections: { exempt: [], identitiesPerAddress: 3, identityWindowMs: 600_000 } })
    const [a1, a2, a3, a4, a5] = await attackers(5)
    for (const a of [a1, a2, a3]) expect(await join(a, t)).toBe(true)
    // rotated identities four and five from the same address: refused after the handshake, with a code
    for (const a of [a4, a5]) expect(await join(a, t)).toBe(false)
    for (const a of [a4, a5]) {
      expect(eventsOf(t, 'peer:refused', a.peerId).map((e) => e.code)).toContain('ERR_NODE_IDENTITY_CHURN')
      expect(t.daemon.libp2p.getConnections(a.peerId)).toHaveLength(0)
    }
    // logged once per address and code, the later refusal counted as suppressed
    const lines = t.logs.filter((l) => l.code === 'ERR_NODE_IDENTITY_CHURN')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ ip: '127.0.0.1', level: 40 })
    // an identity the address already used comes back
    await a1.hangUp(t.daemon.peerId)
    await waitFor(() => t.daemon.libp2p.getConnections(a1.peerId).length === 0, 5_000, 'the hang-up')
    expect(await join(a1, t)).toBe(true)
  })

  it('exempts configured addresses from the identity limit', async () => {
    // loopback is exempt by default
    const t = await start({ connections: { identitiesPerAddress: 1, identityWindowMs: 600_000 } })
    const list = await attackers(3)
    for (const a of list) expect(await join(a, t)).toBe(true)
    expect(t.events.filter((e) => e.type === 'peer:refused')).toHaveLength(0)
  })

  it('validates at most peerMessagesPerWindow messages of one peer per window and ignores the rest with a code', async () => {
    const t = await start({ gossip: { peerMessagesPerWindow: 5, rateWindowMs: 600_000 } })
    const [a] = await attackers(1)
    expect(await join(a, t)).toBe(true)
    const sent = community.entries.slice(0, 12)
    for (const e of sent) await a.services.pubsub.publish(t.topic, e.bytes)
    await waitFor(() => eventsOf(t, 'gossip:message', a.peerId).length + eventsOf(t, 'gossip:ignored', a.peerId).length === sent.length, 10_000, 'every message decided')
    expect(eventsOf(t, 'gossip:message', a.peerId)).toHaveLength(5)
    const ignored = eventsOf(t, 'gossip:ignored', a.peerId)
    expect(ignored).toHaveLength(7)
    for (const e of ignored) expect(e.code).toBe('ERR_NODE_GOSSIP_RATE_LIMITED')
    // one log line for the seven, with peer and code
    expect(logsOf(t, a.peerId, 'ERR_NODE_GOSSIP_RATE_LIMITED')).toHaveLength(1)
    // an ignore costs no score: the peer is not punished for a burst
    expect(t.daemon.gossip.score(a.peerId)).toBeGreaterThanOrEqual(0)
  })

  it('bounds the messages all peers of one non-exempt address may have validated', async () => {
    const t = await start({ connections: { exempt: [] }, gossip: { peerMessagesPerWindow: 100, addressMessagesPerWindow: 6, rateWindowMs: 600_000 } })
    const [a, b] = await attackers(2)
    for (const x of [a, b]) expect(await join(x, t)).toBe(true)
    const [first, second] = [community.entries.slice(0, 4), community.entries.slice(4, 8)]
    await Promise.all([
      (async () => { for (const e of first) await a.services.pubsub.publish(t.topic, e.bytes) })(),
      (async () => { for (const e of second) await b.services.pubsub.publish(t.topic, e.bytes) })()
    ])
    const decided = (): DaemonEvent[] => t.events.filter((e) => (e.type === 'gossip:message' || e.type === 'gossip:ignored') && (e.from === a.peerId.toString() || e.from === b.peerId.toString()))
    // each peer may also forward the other's message to the daemon: only first deliveries count
    await waitFor(() => decided().length === 8, 10_000, 'every message decided')
    expect(decided().filter((e) => e.type === 'gossip:message')).toHaveLength(6)
    const ignored = decided().filter((e) => e.type === 'gossip:ignored')
    expect(ignored.map((e) => e.code)).toEqual(['ERR_NODE_GOSSIP_RATE_LIMITED', 'ERR_NODE_GOSSIP_RATE_LIMITED'])
    expect(String(ignored[0].reason)).toMatch(/127\.0\.0\.1/)
  })

  it('disconnects a graylisted peer and refuses it when it comes back', async () => {
    const t = await start({})
    const [a] = await attackers(1)
    expect(await join(a, t)).toBe(true)
    // two invalid entries: −30 × 2² = −120, below the graylist threshold (−80)
    await a.services.pubsub.publish(t.topic, new TextEncoder().encode('not an entry'))
    await a.services.pubsub.publish(t.topic, new TextEncoder().encode('not an entry either'))
    await waitFor(() => eventsOf(t, 'peer:dropped', a.peerId).length > 0, 10_000, 'the graylisted peer to be dropped')
    expect(eventsOf(t, 'peer:dropped', a.peerId)[0].code).toBe('ERR_NODE_PEER_GRAYLISTED')
    await waitFor(() => t.daemon.libp2p.getConnections(a.peerId).length === 0, 5_000, 'the connection to close')
    expect(logsOf(t, a.peerId, 'ERR_NODE_PEER_GRAYLISTED')).toHaveLength(1)
    // the rejections themselves are logged at warn with peer and code, once per code
    const rejected = t.logs.filter((l) => l.peer === a.peerId.toString() && l.msg === 'gossip message rejected')
    expect(rejected.length).toBeGreaterThanOrEqual(1)
    expect(new Set(rejected.map((l) => l.code)).size).toBe(rejected.length)
    for (const l of rejected) expect(String(l.code)).toMatch(/^ERR_WIRE_/)
    // gossipsub keeps the score of a disconnected peer for an hour: it cannot come back under the same id
    expect(await join(a, t)).toBe(false)
    expect(eventsOf(t, 'peer:refused', a.peerId).map((e) => e.code)).toContain('ERR_NODE_PEER_GRAYLISTED')
  })

  it('disconnects a peer that sends a gossip frame above the inbound cap, with a logged code, and refuses it for a while', async () => {
    const t = await start({})
    const [a, honest] = await attackers(2)
    for (const x of [a, honest]) expect(await join(x, t)).toBe(true)
    // a frame whose length prefix is one byte above the cap, on a gossipsub stream of its own
    const protocol = '/meshsub/1.1.0'
    const stream = await a.dialProtocol(t.daemon.peerId, protocol)
    stream.send(varint(GOSSIP_MAX_INBOUND_BYTES + 1))
    stream.send(new Uint8Array(1024))
    await waitFor(() => eventsOf(t, 'gossip:rejected', a.peerId).length > 0, 10_000, 'the frame to be rejected')
    expect(eventsOf(t, 'gossip:rejected', a.peerId)[0].code).toBe('ERR_NODE_GOSSIP_FRAME_TOO_LARGE')
    await waitFor(() => t.daemon.libp2p.getConnections(a.peerId).length === 0, 5_000, 'the connection to close')
    expect(eventsOf(t, 'peer:dropped', a.peerId)[0].code).toBe('ERR_NODE_GOSSIP_FRAME_TOO_LARGE')
    expect(logsOf(t, a.peerId, 'ERR_NODE_GOSSIP_FRAME_TOO_LARGE')).toHaveLength(1)
    // it is not silently kept: coming back is refused with a code
    expect(await join(a, t)).toBe(false)
    expect(eventsOf(t, 'peer:refused', a.peerId).map((e) => e.code)).toContain('ERR_NODE_PEER_BANNED')
    // another peer is unaffected
    await honest.services.pubsub.publish(t.topic, community.entries[0].bytes)
    await waitFor(() => eventsOf(t, 'gossip:message', honest.peerId).length === 1, 10_000, 'the honest message')
  })

  it('a frame at the cap is read, not cut off', async () => {
    const t = await start({})
    const [a] = await attackers(1)
    expect(await join(a, t)).toBe(true)
    const protocol = '/meshsub/1.1.0'
    const stream = await a.dialProtocol(t.daemon.peerId, protocol)
    // an RPC of exactly the cap (padding in an unknown field 15, which the protobuf decoder skips), then an
    // RPC subscribing to a topic: the daemon seeing that subscription shows the first frame was read whole
    const padding = GOSSIP_MAX_INBOUND_BYTES - 1 - varint(GOSSIP_MAX_INBOUND_BYTES).length
    const frame = new Uint8Array(GOSSIP_MAX_INBOUND_BYTES)
    frame[0] = (15 << 3) | 2
    frame.set(varint(padding), 1)
    expect(1 + varint(padding).length + padding).toBe(GOSSIP_MAX_INBOUND_BYTES)
    stream.send(varint(frame.length))
    stream.send(frame)
    sendSubscription(stream, '/swarmtune/test/after-the-cap')
    const pubsub = t.daemon.libp2p.services.pubsub
    await waitFor(() => pubsub.getSubscribers('/swarmtune/test/after-the-cap').some((p) => p.equals(a.peerId)), 10_000, 'the subscription after the frame at the cap')
    expect(eventsOf(t, 'gossip:rejected', a.peerId)).toHaveLength(0)
    expect(t.daemon.libp2p.getConnections(a.peerId).length).toBeGreaterThan(0)
  })

  it('rejects an RPC frame that does not decode with a code, and keeps reading the peer', async () => {
    const { t, a, stream } = await rawGossip()
    // field 1 (subscriptions), length-delimited, claiming 2^28 − 1 bytes that are not there
    const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x7f, 0x01])
    stream.send(varint(garbage.length))
    stream.send(garbage)
    sendSubscription(stream, '/swarmtune/test/after-garbage')
    await waitFor(() => eventsOf(t, 'gossip:rejected', a.peerId).length > 0, 10_000, 'the frame to be rejected')
    expect(eventsOf(t, 'gossip:rejected', a.peerId).map((e) => e.code)).toEqual(['ERR_NODE_GOSSIP_RPC_MALFORMED'])
    expect(logsOf(t, a.peerId, 'ERR_NODE_GOSSIP_RPC_MALFORMED')).toHaveLength(1)
    // the next frame on the stream is read: the peer keeps its place
    const pubsub = t.daemon.libp2p.services.pubsub
    await waitFor(() => pubsub.getSubscribers('/swarmtune/test/after-garbage').some((p) => p.equals(a.peerId)), 10_000, 'the subscription after the bad frame')
    expect(t.daemon.libp2p.getConnections(a.peerId).length).toBeGreaterThan(0)
  })

  it('refuses a message above the entry frame cap before gossipsub checks its envelope, penalising the peer; one at the cap goes on to that check', async () => {
    const { t, a, stream } = await rawGossip()
    // unsigned messages written as raw RPCs: only the daemon's size check and gossipsub's envelope check can refuse them
    const sendMessage = async (bytes: number): Promise<void> => {
      const rpc = RPC.encode({ subscriptions: [], messages: [{ topic: t.topic, data: new Uint8Array(bytes).fill(7) }] })
      stream.maxWriteBufferLength = rpc.length + 1024
      stream.send(varint(rpc.length))
      if (!stream.send(rpc)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
    }
    await sendMessage(LIMITS.maxFrameBytes + 1)
    await waitFor(() => eventsOf(t, 'gossip:rejected', a.peerId).length === 1, 10_000, 'the message above the cap to be rejected')
    // gossipsub recomputes a score at most once per heartbeat (1 s)
    await waitFor(() => t.daemon.gossip.score(a.peerId) < 0, 5_000, 'the peer to be penalised')
    await sendMessage(LIMITS.maxFrameBytes)
    await waitFor(() => eventsOf(t, 'gossip:rejected', a.peerId).length === 2, 10_000, 'the message at the cap to be rejected')
    const [above, atCap] = eventsOf(t, 'gossip:rejected', a.peerId)
    expect(above.code).toBe('ERR_WIRE_FRAME_TOO_LARGE')
    expect(atCap.code).toBe('ERR_NODE_GOSSIP_BAD_ENVELOPE')
    // each decision carries the daemon's handling time, from the frame taken off the stream to the decision
    for (const e of [above, atCap]) expect(e.handlingMs).toBeGreaterThanOrEqual(0)
  })

  it('rejects a message gossipsub refuses under StrictSign with a code, event and log line', async () => {
    const t = await start({})
    const [a] = await attackers(1, StrictNoSign)
    expect(await join(a, t)).toBe(true)
    await a.services.pubsub.publish(t.topic, community.entries[1].bytes)
    await waitFor(() => eventsOf(t, 'gossip:rejected', a.peerId).length > 0, 10_000, 'the unsigned message to be rejected')
    expect(eventsOf(t, 'gossip:rejected', a.peerId)[0]).toMatchObject({ code: 'ERR_NODE_GOSSIP_BAD_ENVELOPE', community: community.genesis.id.toString() })
    expect(logsOf(t, a.peerId, 'ERR_NODE_GOSSIP_BAD_ENVELOPE')).toHaveLength(1)
    expect(eventsOf(t, 'gossip:message', a.peerId)).toHaveLength(0)
  })
})
