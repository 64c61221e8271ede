/**
 * node benchmark: blob transfer and gossip delivery between real daemons on 127.0.0.1, each figure beside a
 * reference measured in the same run.
 *
 *   blob: a 128 MiB blob fetched store-to-store (noise + yamux + blob protocol, every chunk and the whole
 *         blob hashed, written to disk) from 1 and from 3 providers, vs the same bytes over a raw TCP socket
 *         on loopback (memory to memory, no encryption); goal ratio ≥ 0.5. The libp2p stream alone (noise +
 *         yamux, no blob protocol, no hashing, no disk) is printed too, to show where the time goes. The
 *         providers (and the raw TCP sender) run in a child process, the fetcher in this one.
 *   gossip: delivery latency of signed entries published by one node to 10, 30 and 50 subscribers
 *         (each validates: decode, schema, Ed25519 signature), p50 and p99, vs the p50 latency to the
 *         publisher's direct neighbours (one hop); goal p99 < 1 s at 50. All nodes share this process, so
 *         one core does the work of 51.
 * Run: `npm run bench -- node`.
 */
import { spawn } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { blobCid, parseCid, signEntry, type SignedEntry } from '@swarmtune/wire'
import { seededBytes, waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'

const MiB = 1024 * 1024
const BLOB_BYTES = 128 * MiB
const REPS = 3
const MB = 1e6

function line (area: string, figure: string, value: number, unit: string, ref: string, refValue: number, refUnit: string, goal?: string, ratio = value / refValue): void {
  process.stdout.write(`${area}: ${figure} = ${value.toFixed(1)} ${unit}  (vs ${ref} = ${refValue.toFixed(1)} ${refUnit}, ratio ${ratio.toFixed(2)}${goal !== undefined ? `; goal ${goal}` : ''})\n`)
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]
}

const SOURCE_PROTOCOL = '/swarmtune-bench/source/1.0.0'

/**
 * Provider side, run as a child process (`node.bench.ts --providers`) so that, as in a real swarm, the
 * providers' work (disk reads, hashing, encryption) runs beside the fetcher's instead of on its thread.
 * Serves the blob from 3 daemons, the same bytes over a raw TCP socket, and over a bare libp2p stream.
 */
async function providersProcess (): Promise<void> {
  const data = seededBytes(0x5eed, BLOB_BYTES)
  const providers = await Promise.all([startNode(), startNode(), startNode()])
  let cid
  for (const p of providers) {
    cid = await p.daemon.exchange.put(data)
    await p.daemon.blobs.chunkTable(cid) // verification happens once per provider, not per fetch
  }
  await providers[0].daemon.libp2p.handle(SOURCE_PROTOCOL, async (stream: Stream) => {
    for (let i = 0; i < data.length; i += 256 * 1024) {
      if (!stream.send(data.subarray(i, Math.min(i + 256 * 1024, data.length)))) await stream.onDrain()
    }
    await stream.close()
  })
  const server = createServer((socket) => {
    let i = 0
    const pump = (): void => {
      while (i < data.length) {
        const end = Math.min(i + MiB, data.length)
        const ok = socket.write(data.subarray(i, end))
        i = end
        if (!ok) { socket.once('drain', pump); return }
      }
      socket.end()
    }
    pump()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.stdout.write(JSON.stringify({
    cid: String(cid),
    providers: providers.map((p) => p.daemon.addresses()[0]),
    tcpPort: (server.address() as { port: number }).port
  }) + '\n')
  // run until the parent closes stdin
  await new Promise<void>((resolve) => { process.stdin.on('end', resolve).on('close', resolve).resume() })
  server.close()
  await Promise.all(providers.map(async (p) => { await p.destroy() }))
}

/** MB/s of receiving the blob's bytes over a raw TCP socket on loopback, memory to memory. */
async function rawTcpMBps (port: number): Promise<number> {
  const start = performance.now()
  const received = await new Promise<number>((resolve, reject) => {
    let n = 0
    const s = connect({ host: '127.0.0.1', port })
    s.on('data', (d: Buffer) => { n += d.length })
    s.on('end', () => { resolve(n) })
    s.on('error', reject)
  })
  if (received !== BLOB_BYTES) throw new Error(`raw TCP received ${received} of ${BLOB_BYTES} bytes`)
  return BLOB_BYTES / MB / ((performance.now() - start) / 1000)
}

/** MB/s of receiving the blob's bytes through one libp2p stream (noise + yamux), no protocol on top. */
async function libp2pStreamMBps (fetcher: TestNode, provider: string): Promise<number> {
  const start = performance.now()
  const stream = await fetcher.daemon.libp2p.dialProtocol(multiaddr(provider), SOURCE_PROTOCOL)
  let n = 0
  for await (const piece of stream) n += piece.byteLength
  await stream.close()
  if (n !== BLOB_BYTES) throw new Error(`libp2p stream received ${n} of ${BLOB_BYTES} bytes`)
  return BLOB_BYTES / MB / ((performance.now() - start) / 1000)
}

async function blobBench (): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--providers'], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const info = await new Promise<{ cid: string, providers: string[], tcpPort: number }>((resolve, reject) => {
      let buffered = ''
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString()
        if (buffered.includes('\n')) resolve(JSON.parse(buffered.slice(0, buffered.indexOf('\n'))))
      })
      child.once('exit', (code) => { reject(new Error(`provider process exited with ${String(code)}`)) })
    })
    const cid = parseCid(info.cid)
    const providerIds = info.providers.map((a) => peerIdFromString(a.slice(a.lastIndexOf('/p2p/') + 5)))
    const raw: number[] = []
    const stream: number[] = []
    const one: number[] = []
    const three: number[] = []
    for (let r = 0; r < REPS; r++) {
      const fetcher = await startNode()
      try {
        for (const a of info.providers) await fetcher.daemon.libp2p.dial(multiaddr(a))
        raw.push(await rawTcpMBps(info.tcpPort))
        stream.push(await libp2pStreamMBps(fetcher, info.providers[0]))

        let start = performance.now()
        await fetcher.daemon.exchange.fetch(cid, { providers: [providerIds[0]], discover: false })
        one.push(BLOB_BYTES / MB / ((performance.now() - start) / 1000))
        await fetcher.daemon.blobs.delete(cid)

        start = performance.now()
        const result = await fetcher.daemon.exchange.fetch(cid)
        three.push(BLOB_BYTES / MB / ((performance.now() - start) / 1000))
        if (result.providers.length !== 3) process.stdout.write(`# note: the 3-provider fetch used ${result.providers.length} provider(s)\n`)
      } finally {
        await fetcher.destroy()
      }
    }
    const rawMBps = median(raw)
    line('blob', `fetch ${BLOB_BYTES / MiB} MiB from 1 provider (verified, to disk)`, median(one), 'MB/s', 'raw TCP loopback', rawMBps, 'MB/s', '≥ 0.5')
    line('blob', `fetch ${BLOB_BYTES / MiB} MiB from 3 providers (verified, to disk)`, median(three), 'MB/s', 'raw TCP loopback', rawMBps, 'MB/s', '≥ 0.5')
    line('blob', 'libp2p stream alone (noise + yamux)', median(stream), 'MB/s', 'raw TCP loopback', rawMBps, 'MB/s')
    // what the blob protocol, hashing and disk cost on top of the transport
    line('blob', 'fetch from 1 provider', median(one), 'MB/s', 'libp2p stream alone', median(stream), 'MB/s')
  } finally {
    child.stdin.end()
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

async function signedEntries (count: number): Promise<{ community: SignedEntry, entries: SignedEntry[] }> {
  const key = await generateKeyPair('Ed25519')
  const genesis = await signEntry({
    v: 1, community: new Uint8Array(0), author: key.publicKey.raw, seq: 0, prev: null, ts: Date.now(), kind: 'genesis',
    body: { name: 'gossip-bench', task: { id: 'mnist-cnn' }, maintainers: [key.publicKey.raw], release: blobCid(new Uint8Array([1])).bytes, policy: { maxDeltaNorm: 10, maxRoundMs: 600_000 } }
  }, key)
  const entries: SignedEntry[] = []
  let prev: SignedEntry = genesis
  for (let i = 1; i <= count; i++) {
    prev = await signEntry({
      v: 1, community: genesis.id.bytes, author: key.publicKey.raw, seq: i, prev: prev.id.bytes, ts: Date.now(), kind: 'checkpoint',
      body: { length: i, head: prev.id.bytes }
    }, key)
    entries.push(prev)
  }
  return { community: genesis, entries }
}

/** Gossip delivery latency from one publisher to `n` subscribers, each connected to ~6 random others. */
async function gossipBench (n: number, messages: number): Promise<{ p50: number, p99: number, oneHopP50: number }> {
  const { community, entries } = await signedEntries(messages)
  const communities = [community.id.toString()]
  const nodes: TestNode[] = []
  try {
    for (let i = 0; i <= n; i++) nodes.push(await startNode({ config: { communities } }))
    // a sparse random graph: a ring plus random chords, ~6 links per node (gossipsub's D)
    let rng = 12345
    const rand = (k: number): number => { rng = (rng * 1103515245 + 12345) >>> 0; return rng % k }
    const dials: Array<Promise<unknown>> = []
    for (let i = 0; i < nodes.length; i++) {
      const targets = new Set([(i + 1) % nodes.length, rand(nodes.length), rand(nodes.length)])
      targets.delete(i)
      for (const t of targets) dials.push(nodes[i].daemon.libp2p.dial(nodes[t].daemon.libp2p.getMultiaddrs()[0]))
    }
    await Promise.all(dials)
    await waitFor(() => nodes.every((x) => x.daemon.gossip.peers(community.id).length >= 2), 30_000, 'topic peers')
    await new Promise((resolve) => setTimeout(resolve, 3_000)) // a few heartbeats for the mesh to settle

    const publisher = nodes[0]
    const sentAt = new Map<string, number>()
    const latencies: number[] = []
    // the publisher's direct neighbours get each entry in one hop: their latency is the per-hop reference
    const oneHop: number[] = []
    let delivered = 0
    for (const x of nodes.slice(1)) {
      const neighbour = x.daemon.libp2p.getConnections(publisher.daemon.peerId).length > 0
      x.daemon.gossip.subscribe(community.id, (m) => {
        const t = sentAt.get(Buffer.from(m.data).toString('base64'))
        if (t != null) latencies.push(performance.now() - t)
        if (t != null && neighbour) oneHop.push(performance.now() - t)
        delivered++
      })
    }
    for (const e of entries) {
      sentAt.set(Buffer.from(e.bytes).toString('base64'), performance.now())
      await publisher.daemon.gossip.publish(community.id, e.bytes)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await waitFor(() => delivered >= n * messages, 10_000, 'all deliveries').catch(() => {})
    if (delivered < n * messages) process.stdout.write(`# note: ${delivered} of ${n * messages} deliveries within 10 s\n`)
    return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), oneHopP50: percentile(oneHop, 0.5) }
  } finally {
    await Promise.all(nodes.map(async (x) => { await x.destroy() }))
  }
}

if (process.argv.includes('--providers')) {
  await providersProcess()
  process.exit(0)
}

const started = Date.now()
const load = (): string => `load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores`
process.stdout.write(`# ${load()} at start (other work on the machine lowers every figure; compare ratios)\n`)
await blobBench()
for (const n of [10, 30, 50]) {
  const r = await gossipBench(n, 20)
  line('gossip', `delivery p50 to ${n} peers`, r.p50, 'ms', 'one hop p50', r.oneHopP50, 'ms')
  line('gossip', `delivery p99 to ${n} peers`, r.p99, 'ms', 'one hop p50', r.oneHopP50, 'ms', n === 50 ? 'p99 < 1000 ms' : undefined)
}
process.stdout.write(`# node bench took ${((Date.now() - started) / 1000).toFixed(0)} s; ${load()} at the end\n`)
