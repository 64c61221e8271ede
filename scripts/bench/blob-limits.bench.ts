/**
 * blob-limits benchmark: an honest 64 MiB fetch from a provider whose 64 serving slots are all held by idle
 * streams (8 attacker peers × 8 streams, each sending half a request and then nothing), vs the same fetch
 * from the same provider with no idle streams, measured alternately in the same run (median of 4 each, in alternating order).
 * Before the serving limits every honest request was answered `busy` while the idle streams were open; now
 * the honest probe takes an idle stream's slot (`ERR_NODE_BLOB_EVICTED`) and the fetch runs at about the
 * speed of the quiet one. The provider's request deadline is raised to 60 s here so that the idle streams
 * stay open for the whole measured fetch. Run: `npm run bench -- blob-limits`.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { BLOB_PROTOCOL } from '@swarmtune/wire'
import { createLibp2p } from 'libp2p'
import { seededBytes, waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'

const MiB = 1024 * 1024
const BLOB_BYTES = 64 * MiB
const REPS = 4
const ATTACKERS = 8
const STREAMS_PER_ATTACKER = 8

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function rawPeer (): Promise<Libp2p> {
  return await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

function inboundBlobStreams (node: TestNode): number {
  return node.daemon.libp2p.getConnections().flatMap((c) => c.streams).filter((s) => s.protocol === BLOB_PROTOCOL && s.direction === 'inbound').length
}

async function main (): Promise<void> {
  const provider = await startNode({ config: { blobs: { requestTimeoutMs: 60_000 } } })
  const fetcher = await startNode()
  const attackers = await Promise.all(Array.from({ length: ATTACKERS }, async () => await rawPeer()))
  let evicted = 0
  provider.daemon.events.subscribe((e) => { if (e.type === 'blob:stream:rejected' && e.code === 'ERR_NODE_BLOB_EVICTED') evicted++ })
  try {
    const data = seededBytes(0x5eed, BLOB_BYTES)
    const cid = await provider.daemon.exchange.put(data)
    await provider.daemon.blobs.chunkTable(cid)
    await fetcher.daemon.libp2p.dial(provider.daemon.libp2p.getMultiaddrs()[0])

    const fetchOnce = async (): Promise<number> => {
      await fetcher.daemon.blobs.delete(cid)
      const t0 = performance.now()
      await fetcher.daemon.exchange.fetch(cid, { providers: [provider.daemon.peerId] })
      return performance.now() - t0
    }
    const openIdle = async (): Promise<Stream[]> => {
      const streams: Stream[] = []
      for (const a of attackers) {
        for (let i = 0; i < STREAMS_PER_ATTACKER; i++) {
          const s = await a.dialProtocol(provider.daemon.libp2p.getMultiaddrs()[0], BLOB_PROTOCOL)
          s.send(Uint8Array.from([0x1e, 0x82]))
          streams.push(s)
        }
      }
      await waitFor(() => inboundBlobStreams(provider) >= ATTACKERS * STREAMS_PER_ATTACKER, 10_000, 'the idle streams')
      return streams
    }

    await fetchOnce() // warm-up
    const quiet: number[] = []
    const attacked: number[] = []
    let openAtEnd = 0
    const attackedOnce = async (): Promise<void> => {
      const streams = await openIdle()
      attacked.push(await fetchOnce())
      openAtEnd += streams.filter((s) => s.status === 'open').length
      for (const s of streams) s.abort(new Error('benchmark repetition done'))
      await waitFor(() => inboundBlobStreams(provider) === 0, 10_000, 'the idle streams to close')
    }
    // alternate the order, so that neither kind always runs first
    for (let r = 0; r < REPS; r++) {
      if (r % 2 === 0) {
        quiet.push(await fetchOnce())
        await attackedOnce()
      } else {
        await attackedOnce()
        quiet.push(await fetchOnce())
      }
    }
    const q = median(quiet)
    const a = median(attacked)
    process.stdout.write(`blob-limits: 64 MiB fetch with 64 idle streams holding every slot = ${(a / 1000).toFixed(2)} s  (vs the same fetch with none = ${(q / 1000).toFixed(2)} s, ratio ${(a / q).toFixed(2)}; goal: completes)\n`)
    process.stdout.write(`blob-limits: runs with idle streams ${attacked.map((t) => (t / 1000).toFixed(2)).join(', ')} s; without ${quiet.map((t) => (t / 1000).toFixed(2)).join(', ')} s\n`)
    process.stdout.write(`blob-limits: idle streams still open when the attacked fetch ended = ${(openAtEnd / REPS).toFixed(1)} of ${ATTACKERS * STREAMS_PER_ATTACKER} per run; slots taken from idle streams = ${(evicted / REPS).toFixed(1)} per run\n`)
  } finally {
    await Promise.all(attackers.map(async (p) => { await p.stop() }))
    await fetcher.destroy()
    await provider.destroy()
  }
}

await main()
