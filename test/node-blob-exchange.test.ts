/**
 * Blob exchange between real daemons on 127.0.0.1: a 64 MiB blob from three providers at once, one of which
 * serves flipped bytes; an aborted fetch that resumes from its verified chunks; a provider whose chunk table
 * lies; and no provider at all.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BLOB_PROTOCOL, blobCid, type CID } from '@swarmtune/wire'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blobServer, type BlobSource, type BlobStore, type FetchResult } from '@swarmtune/node'
import { seededBytes, tempDir, testSeed, waitFor } from '@swarmtune/test-support'
import { runDaemon, startNode, testDataDir, type TestNode } from '@swarmtune/test-support/daemons'

const MiB = 1024 * 1024

/** A source that reads the real store but flips one byte of every chunk it serves. */
function flippingSource (store: BlobStore): BlobSource {
  return {
    chunkTable: async (cid) => await store.chunkTable(cid),
    readChunk: async (cid, index) => {
      const chunk = new Uint8Array(await store.readChunk(cid, index))
      chunk[chunk.length >> 1] ^= 0xff
      return chunk
    }
  }
}

/** A source that serves other bytes of the same size, with a chunk table matching those bytes. */
function lyingSource (store: BlobStore, fake: CID): BlobSource {
  return {
    chunkTable: async () => await store.chunkTable(fake),
    readChunk: async (_cid, index) => await store.readChunk(fake, index)
  }
}

async function serveFrom (node: TestNode, source: BlobSource): Promise<void> {
  await node.daemon.libp2p.unhandle(BLOB_PROTOCOL)
  await node.daemon.libp2p.handle(BLOB_PROTOCOL, blobServer(source))
}

async function connectAll (from: TestNode, to: TestNode[]): Promise<void> {
  for (const t of to) await from.daemon.libp2p.dial(t.daemon.libp2p.getMultiaddrs()[0])
  await waitFor(() => to.every((t) => from.daemon.libp2p.getConnections(t.daemon.peerId).length > 0), 5_000, 'connections to providers')
}

describe('blob exchange', () => {
  const nodes: TestNode[] = []

  afterAll(async () => {
    await Promise.all(nodes.map(async (n) => { await n.destroy() }))
  })

  describe('a 64 MiB blob from three providers, one serving corrupted bytes', () => {
    let good1: TestNode, good2: TestNode, bad: TestNode, fetcher: TestNode
    let data: Uint8Array
    let cid: CID

    beforeAll(async () => {
      const seed = testSeed('64 MiB blob')
      data = seededBytes(seed, 64 * MiB + 12_345)
      ;[good1, good2, bad, fetcher] = await Promise.all([startNode(), startNode(), startNode(), startNode()])
      nodes.push(good1, good2, bad, fetcher)
      const cids = await Promise.all([good1, good2, bad].map(async (n) => await n.daemon.exchange.put(data)))
      cid = cids[0]
      expect(cids.every((c) => c.equals(cid))).toBe(true)
      await serveFrom(bad, flippingSource(bad.daemon.blobs))
      await connectAll(fetcher, [good1, good2, bad])
    })

    it('an aborted fetch keeps its verified chunks and the next fetch resumes from them, and the result is correct', async () => {
      const controller = new AbortController()
      let doneAtAbort = 0
      const first = fetcher.daemon.exchange.fetch(cid, {
        signal: controller.signal,
        onProgress: (evt) => {
          if (evt.type === 'blob:fetch:chunk' && evt.detail.bytesDone >= 20 * MiB && !controller.signal.aborted) {
            doneAtAbort = evt.detail.bytesDone
            controller.abort()
          }
        }
      })
      await expect(first).rejects.toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' })
      expect(doneAtAbort).toBeGreaterThanOrEqual(20 * MiB)
      expect(await fetcher.daemon.blobs.has(cid)).toBe(false)

      const progress: number[] = []
      const second: FetchResult = await fetcher.daemon.exchange.fetch(cid, {
        onProgress: (evt) => { if (evt.type === 'blob:fetch:chunk') progress.push(evt.detail.bytesDone) }
      })
      // resumed: the chunks verified before the abort were not fetched again
      expect(second.resumedBytes).toBeGreaterThanOrEqual(doneAtAbort)
      expect(progress[0]).toBeGreaterThan(doneAtAbort)
      // what crossed the network is the rest, plus at most the bad chunks the corrupting provider got in
      // before it was dropped (one per pipelined request)
      expect(second.fetchedBytes).toBeLessThanOrEqual(data.length - second.resumedBytes + 2 * MiB)
      expect(second.size).toBe(data.length)

      const stored = await fetcher.daemon.blobs.get(cid)
      expect(Buffer.compare(stored, data)).toBe(0)
      expect(blobCid(stored).equals(cid)).toBe(true)
    })

    it('downloaded from the good providers in parallel, and penalised the corrupting one', async () => {
      const badId = bad.daemon.peerId.toString()
      // fetch again from a fresh node to see one complete run
      const fresh = await startNode()
      nodes.push(fresh)
      await serveFrom(bad, flippingSource(bad.daemon.blobs))
      await connectAll(fresh, [good1, good2, bad])
      const penalised: string[] = []
      fresh.daemon.events.subscribe((e) => { if (e.type === 'blob:provider:penalised') penalised.push(`${String(e.peer)}:${String(e.reason)}`) })
      const result = await fresh.daemon.exchange.fetch(cid)
      expect(Buffer.compare(await fresh.daemon.blobs.get(cid), data)).toBe(0)

      const delivered = new Map(result.providers.map((p) => [p.peer, p.chunks]))
      expect(delivered.get(good1.daemon.peerId.toString())).toBeGreaterThan(0)
      expect(delivered.get(good2.daemon.peerId.toString())).toBeGreaterThan(0)
      expect(delivered.has(badId)).toBe(false)
      expect(result.penalties).toEqual([expect.objectContaining({ peer: badId, reason: 'bad-bytes' })])
      expect(penalised).toEqual([`${badId}:bad-bytes`])
      // the penalty is remembered and lowers the peer's gossipsub score (P5)
      expect(fresh.daemon.reputation.penalty(badId)).toBeGreaterThan(0)
      await waitFor(() => fresh.daemon.gossip.score(badId) < 0, 3_000, 'the gossip score to include the penalty')
      expect(fresh.daemon.gossip.score(good1.daemon.peerId)).toBeGreaterThanOrEqual(0)
      // the first fetcher penalised it too
      expect(fetcher.daemon.reputation.penalty(badId)).toBeGreaterThan(0)
    })
  })

  it('a fetch interrupted by a daemon restart resumes from the chunks on disk', async () => {
    const seed = testSeed('resume after restart')
    const data = seededBytes(seed, 12 * MiB + 99)
    const provider = await startNode()
    nodes.push(provider)
    const cid = await provider.daemon.exchange.put(data)
    const dir = await tempDir()
    try {
      await testDataDir(dir.path)
      const first = await runDaemon(dir.path)
      await first.libp2p.dial(provider.daemon.libp2p.getMultiaddrs()[0])
      const controller = new AbortController()
      let doneAtAbort = 0
      await expect(first.exchange.fetch(cid, {
        signal: controller.signal,
        onProgress: (evt) => {
          if (evt.type === 'blob:fetch:chunk' && evt.detail.bytesDone >= 5 * MiB && !controller.signal.aborted) {
            doneAtAbort = evt.detail.bytesDone
            controller.abort()
          }
        }
      })).rejects.toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' })
      await first.stop()

      const second = await runDaemon(dir.path)
      try {
        await second.libp2p.dial(provider.daemon.libp2p.getMultiaddrs()[0])
        const result = await second.exchange.fetch(cid)
        expect(result.resumedBytes).toBeGreaterThanOrEqual(doneAtAbort)
        expect(result.fetchedBytes).toBe(data.length - result.resumedBytes)
        expect(Buffer.compare(await second.blobs.get(cid), data)).toBe(0)
        expect(await readdir(join(dir.path, 'blobs', 'partial'))).toEqual([])
      } finally {
        await second.stop()
      }
    } finally {
      await dir.cleanup()
    }
  })

  it('a provider whose chunk table does not match the CID is penalised and the fetch completes from an honest one', async () => {
    const seed = testSeed('lying table')
    const real = seededBytes(seed, 3 * MiB + 5)
    const fake = seededBytes(seed + 1, real.length)
    const [honest, liar, fetcher] = await Promise.all([startNode(), startNode(), startNode()])
    nodes.push(honest, liar, fetcher)
    const cid = await honest.daemon.exchange.put(real)
    const fakeCid = await liar.daemon.exchange.put(fake)
    await serveFrom(liar, lyingSource(liar.daemon.blobs, fakeCid))

    // the liar alone: every chunk matches its table, the whole does not match the CID
    await connectAll(fetcher, [liar])
    await expect(fetcher.daemon.exchange.fetch(cid)).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_NO_PROVIDERS' })
    expect(fetcher.daemon.reputation.penalty(liar.daemon.peerId.toString())).toBeGreaterThan(0)
    expect(await fetcher.daemon.blobs.has(cid)).toBe(false)

    // with an honest provider connected, the fetch succeeds and the liar is not asked again for this blob
    await connectAll(fetcher, [honest])
    const result = await fetcher.daemon.exchange.fetch(cid, { providers: [honest.daemon.peerId] })
    expect(Buffer.compare(await fetcher.daemon.blobs.get(cid), real)).toBe(0)
    expect(result.providers.map((p) => p.peer)).toEqual([honest.daemon.peerId.toString()])
  })

  it('fetches many blobs from many providers at once, within the concurrent-fetch limit', async () => {
    const seed = testSeed('many blobs')
    const providers = await Promise.all([startNode(), startNode(), startNode()])
    const fetcher = await startNode({ config: { blobs: { concurrentFetches: 2 } } })
    nodes.push(...providers, fetcher)
    const blobs = Array.from({ length: 6 }, (_, i) => seededBytes(seed + i, (i === 0 ? 6 : 1) * MiB + i * 100_003))
    // each provider holds two of the blobs, and one blob is held by all three
    const cids = await Promise.all(blobs.map(async (b, i) => await providers[i % 3].daemon.exchange.put(b)))
    for (const p of providers) await p.daemon.exchange.put(blobs[0])
    await connectAll(fetcher, providers)
    let running = 0
    let maxRunning = 0
    fetcher.daemon.events.subscribe((e) => {
      if (e.type === 'blob:fetch:start') maxRunning = Math.max(maxRunning, ++running)
      if (e.type === 'blob:fetch:done' || e.type === 'blob:fetch:failed') running--
    })
    const results = await fetcher.daemon.exchange.fetchMany(cids)
    for (const [i, cid] of cids.entries()) {
      expect(Buffer.compare(await fetcher.daemon.blobs.get(cid), blobs[i])).toBe(0)
      expect(results[i].size).toBe(blobs[i].length)
    }
    // the blob every provider has came from more than one of them
    expect(results[0].providers.length).toBeGreaterThan(1)
    expect(maxRunning).toBe(2)
  })

  it('a fetch nobody can serve fails with ERR_NODE_BLOB_NO_PROVIDERS', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    nodes.push(a, b)
    await connectAll(a, [b])
    const missing = blobCid(new TextEncoder().encode('nobody has this'))
    await expect(a.daemon.exchange.fetch(missing)).rejects.toMatchObject({ name: 'BlobFetchError', code: 'ERR_NODE_BLOB_NO_PROVIDERS' })
  })
})
