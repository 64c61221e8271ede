/**
 * The bounds of a daemon's inbound streams, against raw libp2p peers on 127.0.0.1 that send exactly the bytes
 * of an attack: length prefixes that never end (on the blob protocol and before protocol negotiation), too
 * many negotiation proposals, 64 idle blob streams holding every serving slot, one peer taking more than its
 * share, and a reader that never reads. Each is refused with a code, the daemon's memory stays bounded, and
 * an honest peer is served afterwards — or meanwhile.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream, StreamMuxer } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { BLOB_PROTOCOL, blobCid, encodeCanonical, type CID } from '@swarmtune/wire'
import { createLibp2p } from 'libp2p'
import { afterAll, describe, expect, it } from 'vitest'
import { boundedFrames, constants, type DaemonConfigInit, type DaemonEvent } from '@swarmtune/node'
import type { KadDHT } from '@libp2p/kad-dht'
import { seededBytes, testSeed, waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'

const MiB = 1024 * 1024
/** The smallest input of the attack: a 10-byte varint whose continuation bits never stop at a bound. */
const ENDLESS_PREFIX = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
/** Half a blob request: a length prefix of 30 and the first byte of a two-entry msgpack map. */
const HALF_REQUEST = Uint8Array.from([0x1e, 0x82])

/** A bare libp2p peer (TCP, noise, yamux; no services) to send raw bytes from. */
async function rawPeer (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

/** Resolves with the stream's close event (remote reset, local abort or graceful close). */
function closed (stream: Stream): Promise<Event & { error?: Error, local?: boolean }> {
  return new Promise((resolve) => {
    if (stream.status !== 'open') resolve(new Event('close'))
    else stream.addEventListener('close', (evt) => { resolve(evt as Event & { error?: Error }) }, { once: true })
  })
}

/** Events of `types` emitted by a daemon from now on. */
function record (node: TestNode, ...types: string[]): DaemonEvent[] {
  const out: DaemonEvent[] = []
  node.daemon.events.subscribe((e) => { if (types.includes(e.type)) out.push(e) })
  return out
}

function flood (head: Uint8Array, bytes: number): Uint8Array {
  const out = new Uint8Array(head.length + bytes).fill(0xff)
  out.set(head)
  return out
}

/** Resident memory now, after a collection when the process allows it (`--expose-gc`). */
function rss (): number {
  ;(globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().rss
}

/** CPU time (user + system) of this process since `start`, in ms — printed only, never asserted. */
function cpuMsSince (start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1000
}

/**
 * Sends an endless length prefix and 1 MiB of 0xff on the stream `open` makes; checks that the daemon resets it
 * (not this end), that its rejection number `index` in `rejected` matches `expected`, and that it cost under 10 MiB
 * of memory. Prints what it cost: `label` names the input, `unbounded` what it cost before the bound.
 */
async function endlessPrefix (open: () => Promise<Stream>, rejected: DaemonEvent[], index: number, expected: Record<string, unknown>, label: string, unbounded: string): Promise<void> {
  const before = rss()
  const cpu = process.cpuUsage()
  const stream = await open()
  const end = closed(stream)
  stream.send(flood(ENDLESS_PREFIX, MiB))
  expect((await end).local).toBe(false)
  await waitFor(() => rejected.length > index, 5_000, 'the rejection event')
  expect(rejected[index]).toMatchObject(expected)
  const growth = rss() - before
  console.log(`${label} + 1 MiB of 0xff: RSS growth ${(growth / MiB).toFixed(1)} MiB, CPU ${cpuMsSince(cpu).toFixed(0)} ms (before the bound, the same input: ${unbounded})`)
  expect(growth).toBeLessThan(10 * MiB)
}

/** An honest daemon fetches `cid` from `provider` and gets `data`. */
async function honestFetch (nodes: TestNode[], provider: TestNode, cid: CID, data: Uint8Array): Promise<void> {
  const fetcher = await startNode()
  nodes.push(fetcher)
  await fetcher.daemon.libp2p.dial(provider.daemon.libp2p.getMultiaddrs()[0])
  await fetcher.daemon.exchange.fetch(cid, { providers: [provider.daemon.peerId] })
  expect(Buffer.compare(await fetcher.daemon.blobs.get(cid), data)).toBe(0)
}

function inboundBlobStreams (node: TestNode): number {
  return node.daemon.libp2p.getConnections().flatMap((c) => c.streams).filter((s) => s.protocol === BLOB_PROTOCOL && s.direction === 'inbound').length
}

const TEST_PROTOCOL = '/swarmtune-test/frames/1.0.0'

/*
 * A blob request's first bytes and a flood behind them, delivered to the provider's stream in one tick.
 *
 * yamux hands each DATA frame of a socket read to its stream synchronously (`onData`), so a frame that
 * ends a read in flight and a frame that overflows the read buffer can arrive before the read continues.
 * The overflow empties the buffer and aborts the stream in a microtask; the read then found an ended
 * stream with no byte of a frame and took it for a client that finished cleanly, so the stream was reset
 * with no code, no event and no log line. These tests deliver the two frames exactly so — through the
 * stream's own `onData`, on a real libp2p stream between two nodes on 127.0.0.1 — because which socket
 * read a frame lands in cannot be chosen from outside.
 */

/** What yamux does with two DATA frames of one socket read: both pushed to the stream in the same tick. */
function deliverInOneTick (stream: Stream, ...chunks: Uint8Array[]): void {
  const muxed = stream as unknown as { onData: (data: Uint8Array) => void }
  for (const chunk of chunks) muxed.onData(chunk)
}

describe('inbound stream limits', () => {
  const nodes: TestNode[] = []
  const peers: Libp2p[] = []

  afterAll(async () => {
    await Promise.all(peers.map(async (p) => { await p.stop() }))
    await Promise.all(nodes.map(async (n) => { await n.destroy() }))
  })

  /** A daemon holding one blob of `size` seeded bytes, recording its rejections of `type`. */
  async function provider (name: string, size: number, type: string, blobs?: DaemonConfigInit['blobs']): Promise<{ target: TestNode, data: Uint8Array, cid: CID, rejected: DaemonEvent[] }> {
    const seed = testSeed(name)
    const target = await startNode(blobs == null ? {} : { config: { blobs } })
    nodes.push(target)
    const data = seededBytes(seed, size)
    const cid = await target.daemon.exchange.put(data)
    return { target, data, cid, rejected: record(target, type) }
  }

  async function attackers (n: number): Promise<Libp2p[]> {
    const out = await Promise.all(Array.from({ length: n }, async () => await rawPeer()))
    peers.push(...out)
    return out
  }

  it('a blob stream whose length prefix never ends is reset at once, with ERR_NODE_FRAME_LENGTH, and a flood of it costs no memory', async () => {
    const { target, data, cid, rejected } = await provider('endless blob prefix', 3 * MiB + 7, 'blob:stream:rejected')
    const [attacker] = await attackers(1)
    const addr = target.daemon.libp2p.getMultiaddrs()[0]

    // the prefix alone, and with 4 KiB more of it: the third prefix byte ends the stream
    for (const [i, bytes] of [ENDLESS_PREFIX, flood(ENDLESS_PREFIX, 4096)].entries()) {
      const stream = await attacker.dialProtocol(addr, BLOB_PROTOCOL)
      const end = closed(stream)
      stream.send(bytes)
      const evt = await end
      // reset by the daemon (before the bound the stream stayed open, answering nothing)
      expect(evt.local).toBe(false)
      await waitFor(() => rejected.length > i, 5_000, 'the rejection event')
      expect(rejected[i]).toMatchObject({ peer: attacker.peerId.toString(), code: 'ERR_NODE_FRAME_LENGTH' })
    }

    // 1 MiB of it in one go overflows the provider's read buffer first
    await endlessPrefix(async () => await attacker.dialProtocol(addr, BLOB_PROTOCOL), rejected, 2, { peer: attacker.peerId.toString(), code: 'ERR_NODE_BLOB_FLOOD' },
      'endless blob prefix', '+129 MiB, 4.4 s within 15 s')

    await honestFetch(nodes, target, cid, data)
  })

  it('a request cut short by the end of the stream is refused with ERR_NODE_FRAME_TRUNCATED; a clean end between requests is not', async () => {
    const { target, data, cid, rejected } = await provider('truncated request', MiB, 'blob:stream:rejected')
    const [attacker] = await attackers(1)
    const addr = target.daemon.libp2p.getMultiaddrs()[0]
    const cut = await attacker.dialProtocol(addr, BLOB_PROTOCOL)
    const end = closed(cut)
    cut.send(HALF_REQUEST)
    await cut.close()
    expect((await end).local).toBe(false)
    await waitFor(() => rejected.length > 0, 5_000, 'the rejection event')
    expect(rejected[0]).toMatchObject({ peer: attacker.peerId.toString(), code: 'ERR_NODE_FRAME_TRUNCATED' })
    // a whole request, then a clean close: answered, and nothing rejected
    const whole = await attacker.dialProtocol(addr, BLOB_PROTOCOL)
    const req = encodeCanonical({ op: 'table', cid: cid.bytes })
    const answer = new Promise<number>((resolve) => { whole.addEventListener('message', (evt) => { resolve(evt.data.byteLength) }, { once: true }) })
    whole.send(Uint8Array.from([req.length, ...req]))
    await whole.close()
    expect(await answer).toBeGreaterThan(32 * Math.ceil(data.length / MiB))
    await closed(whole)
    expect(rejected).toHaveLength(1)
  })

  it('a provider answering with a length prefix that never ends is penalised for breaking the protocol', async () => {
    const [liar] = await attackers(1)
    await liar.handle(BLOB_PROTOCOL, (stream) => { stream.send(flood(ENDLESS_PREFIX, 64 * 1024)) })
    const fetcher = await startNode()
    nodes.push(fetcher)
    await fetcher.daemon.libp2p.dial(liar.getMultiaddrs()[0])
    const cid = blobCid(new TextEncoder().encode('asked of a liar'))
    await expect(fetcher.daemon.exchange.fetch(cid, { providers: [liar.peerId], discover: false })).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_NO_PROVIDERS' })
    expect(fetcher.daemon.reputation.penalty(liar.peerId.toString())).toBeGreaterThan(0)
  })

  it('an endless length prefix before protocol negotiation is reset at once, with ERR_NODE_FRAME_LENGTH, and costs no memory', async () => {
    const { target, data, cid, rejected } = await provider('endless negotiation prefix', 2 * MiB + 3, 'stream:rejected')
    const [attacker] = await attackers(1)
    const conn = await attacker.dial(target.daemon.libp2p.getMultiaddrs()[0])
    // a raw yamux stream: no multistream-select from our side, the bytes go to the daemon's negotiation
    const muxer = (conn as unknown as { muxer: StreamMuxer }).muxer

    await endlessPrefix(async () => await muxer.createStream(), rejected, 0, { peer: attacker.peerId.toString(), code: 'ERR_NODE_FRAME_LENGTH' },
      'endless negotiation prefix', '+129 MiB, 4.7 s within 9 s')

    // too many proposals, each well-formed: reset after the allowance
    const proposals = await muxer.createStream()
    const ended = closed(proposals)
    const proposal = new TextEncoder().encode('/not/a/protocol/1.0.0\n')
    for (let i = 0; i < 12; i++) proposals.send(Uint8Array.from([proposal.length, ...proposal]))
    expect((await ended).local).toBe(false)
    await waitFor(() => rejected.length > 1, 5_000, 'the second rejection event')
    expect(rejected[1]).toMatchObject({ code: 'ERR_NODE_NEGOTIATION_LIMIT' })

    // the connection and the daemon still serve honest requests
    await honestFetch(nodes, target, cid, data)
  })

  it('a DHT stream whose message prefix never ends is reset at once, with ERR_NODE_FRAME_LENGTH, and the DHT still answers', async () => {
    const dht = { mode: 'server' as const, privateAddresses: true }
    const target = await startNode({ config: { dht } })
    const honest = await startNode({ config: { dht } })
    nodes.push(target, honest)
    const rejected = record(target, 'stream:rejected')
    const [attacker] = await attackers(1)
    const addr = target.daemon.libp2p.getMultiaddrs()[0]

    await endlessPrefix(async () => await attacker.dialProtocol(addr, constants.DHT_PROTOCOL), rejected, 0, { peer: attacker.peerId.toString(), protocol: constants.DHT_PROTOCOL, code: 'ERR_NODE_FRAME_LENGTH' },
      'endless DHT prefix', '+128 MiB, 4.7 s CPU')

    // an honest DHT query is answered by the target
    await honest.daemon.libp2p.dial(addr)
    await waitFor(async () => (await honest.daemon.status()).dht.routingTable > 0, 10_000, 'the target in the routing table')
    const from = new Set<string>()
    for await (const evt of (honest.daemon.libp2p.services.dht as KadDHT).getClosestPeers(new TextEncoder().encode('a key'), { signal: AbortSignal.timeout(10_000) })) {
      if (evt.name === 'PEER_RESPONSE') from.add(evt.from.toString())
    }
    expect(from.has(target.daemon.peerId.toString())).toBe(true)
    expect(rejected).toHaveLength(1)
  })

  it('64 idle blob streams from attacker peers do not keep an honest 64 MiB fetch out, and are closed by the request deadline', async () => {
    const { target, data, cid, rejected } = await provider('idle streams', 64 * MiB + 12_345, 'blob:stream:rejected', { requestTimeoutMs: 8_000 })
    const addr = target.daemon.libp2p.getMultiaddrs()[0]

    // 8 peers × 8 streams (the per-connection limit), each sending half a request and then nothing
    const streams: Stream[] = []
    for (const a of await attackers(8)) {
      for (let i = 0; i < 8; i++) {
        const s = await a.dialProtocol(addr, BLOB_PROTOCOL)
        s.send(HALF_REQUEST)
        streams.push(s)
      }
    }
    const ends = streams.map(closed)
    await waitFor(() => inboundBlobStreams(target) === 64, 10_000, '64 idle streams on the daemon')

    await honestFetch(nodes, target, cid, data)
    const attackerIds = new Set(peers.map((p) => p.peerId.toString()))
    // every slot was taken: the honest probe took the slot of an idle stream
    expect(rejected.some((e) => e.code === 'ERR_NODE_BLOB_EVICTED' && attackerIds.has(String(e.peer)))).toBe(true)

    // the rest are reset by the request deadline, each with a code
    const all = await Promise.all(ends)
    expect(all.every((e) => e.local === false)).toBe(true)
    await waitFor(() => rejected.filter((e) => attackerIds.has(String(e.peer))).length === 64, 5_000, '64 rejection events')
    const codes = new Set(rejected.filter((e) => attackerIds.has(String(e.peer))).map((e) => e.code))
    expect([...codes].sort()).toEqual(['ERR_NODE_BLOB_EVICTED', 'ERR_NODE_BLOB_REQUEST_TIMEOUT'])
    expect(rejected.filter((e) => !attackerIds.has(String(e.peer)))).toEqual([])
  })

  it('one peer gets at most its share of the serving slots; the rest of its streams are answered busy', async () => {
    const { target, data, cid, rejected } = await provider('per-peer share', MiB + 1, 'blob:stream:rejected', { maxServingPerPeer: 3 })
    const [greedy] = await attackers(1)
    const streams: Stream[] = []
    for (let i = 0; i < 8; i++) {
      const s = await greedy.dialProtocol(target.daemon.libp2p.getMultiaddrs()[0], BLOB_PROTOCOL)
      s.send(HALF_REQUEST)
      streams.push(s)
    }
    await waitFor(() => rejected.length >= 5, 10_000, 'five busy answers')
    expect(rejected.map((e) => e.code)).toEqual(Array(5).fill('ERR_NODE_BLOB_BUSY'))
    // a ninth stream on the connection is past libp2p's per-connection limit (blobs.maxStreamsPerConnection, 8)
    const overLimit = record(target, 'stream:rejected')
    const ninth = await greedy.dialProtocol(target.daemon.libp2p.getMultiaddrs()[0], BLOB_PROTOCOL)
    await closed(ninth)
    await waitFor(() => overLimit.length > 0, 5_000, 'the stream-limit event')
    expect(overLimit[0]).toMatchObject({ peer: greedy.peerId.toString(), code: 'ERR_NODE_STREAM_LIMIT' })
    // another peer is served meanwhile
    await honestFetch(nodes, target, cid, data)
    for (const s of streams) s.abort(new Error('test done'))
  })

  it('a reader that stops reading a chunk is reset by the send deadline, with ERR_NODE_BLOB_SEND_TIMEOUT', async () => {
    const { target, data, cid, rejected } = await provider('stalled reader', 3 * MiB, 'blob:stream:rejected', { chunkSendTimeoutMs: 2_000 })
    const [slow] = await attackers(1)
    const stream = await slow.dialProtocol(target.daemon.libp2p.getMultiaddrs()[0], BLOB_PROTOCOL)
    const end = closed(stream)
    // no more window updates: the daemon's chunk write cannot drain
    stream.pause()
    const req = encodeCanonical({ op: 'chunk', cid: cid.bytes, index: 0 })
    stream.send(Uint8Array.from([req.length, ...req]))
    expect((await end).local).toBe(false)
    await waitFor(() => rejected.length > 0, 5_000, 'the rejection event')
    expect(rejected[0]).toMatchObject({ peer: slow.peerId.toString(), code: 'ERR_NODE_BLOB_SEND_TIMEOUT' })
    await honestFetch(nodes, target, cid, data)
  })

  it('a read in flight when a flood overflows the read buffer rejects with the overflow (StreamBufferError), not as a clean end', async () => {
    // boundedFrames alone, on a protocol of its own
    const [server, client] = await Promise.all([rawPeer(), rawPeer()])
    peers.push(server, client)
    let accept: (stream: Stream) => void = () => {}
    const inbound = new Promise<Stream>((resolve) => { accept = resolve })
    await server.handle(TEST_PROTOCOL, (stream) => { accept(stream) })
    const outbound = await client.dialProtocol(server.getMultiaddrs()[0], TEST_PROTOCOL)
    const stream = await inbound
    const lp = boundedFrames(stream, 16 * 1024)
    // with a signal, as the blob server reads: the abort's microtask runs before the read wakes
    const read = lp.read(1024, 'test frame', { signal: new AbortController().signal }).then((frame) => ({ frame }), (err: Error) => ({ err }))
    await new Promise((resolve) => setImmediate(resolve)) // the read waits for its first byte
    deliverInOneTick(stream, ENDLESS_PREFIX, flood(new Uint8Array(0), 64 * 1024))
    const result = await read
    expect(result).toMatchObject({ err: { name: 'StreamBufferError' } })
    expect(stream.status).toBe('aborted')
    outbound.abort(new Error('test done'))
  })

  it('a blob stream whose flood overflows the read buffer while a read is in flight is refused with ERR_NODE_BLOB_FLOOD and a blob:stream:rejected event', async () => {
    const node = await startNode()
    nodes.push(node)
    const rejected = record(node, 'blob:stream:rejected')
    const [attacker] = await attackers(1)
    const outbound = await attacker.dialProtocol(node.daemon.libp2p.getMultiaddrs()[0], BLOB_PROTOCOL)
    const end = closed(outbound)

    // the provider's side of the stream, once its handler waits for the first request
    let inbound: Stream | undefined
    await waitFor(() => {
      const conn = node.daemon.libp2p.getConnections(attacker.peerId)[0]
      inbound = conn?.streams.find((s) => s.protocol === BLOB_PROTOCOL && s.direction === 'inbound')
      return inbound !== undefined && (inbound as unknown as { listenerCount: (t: string) => number }).listenerCount('message') > 0
    }, 5_000, "the blob server's read")
    await new Promise((resolve) => setImmediate(resolve))
    deliverInOneTick(inbound as Stream, ENDLESS_PREFIX, flood(new Uint8Array(0), constants.BLOB_SERVER_BUFFER_BYTES + 1))

    // reset by the daemon, and refused with a code (before the fix: reset, no event, no log line)
    expect((await end).local).toBe(false)
    await waitFor(() => rejected.length > 0, 5_000, 'the rejection event')
    expect(rejected[0]).toMatchObject({ peer: attacker.peerId.toString(), code: 'ERR_NODE_BLOB_FLOOD' })
  })
})
