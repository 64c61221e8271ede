/**
 * The content-addressed blob store on disk: verified on read, tamper-evident, size-limited.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { blobCid } from '@swarmtune/wire'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlobStore, chunkCount, constants } from '@swarmtune/node'
import { seededBytes, tempDir, testSeed, waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'

const MiB = 1024 * 1024

describe('blob store', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: BlobStore

  beforeEach(async () => {
    dir = await tempDir()
    store = new BlobStore({ root: join(dir.path, 'blobs'), maxBlobBytes: 8 * MiB })
    await store.open()
  })
  afterEach(async () => { await dir.cleanup() })

  it('stores bytes under their CID and reads them back verified, across reopening', async () => {
    const data = seededBytes(testSeed('store round trip'), 2 * MiB + 333)
    const cid = await store.put(data)
    expect(cid.equals(blobCid(data))).toBe(true)
    expect((await store.put(data)).toString()).toBe(cid.toString()) // idempotent
    const reopened = new BlobStore({ root: join(dir.path, 'blobs'), maxBlobBytes: 8 * MiB })
    await reopened.open()
    expect(Buffer.compare(await reopened.get(cid), data)).toBe(0)
    const table = await reopened.chunkTable(cid)
    expect(table.size).toBe(data.length)
    expect(table.hashes.length).toBe(32 * chunkCount(data.length, constants.BLOB_CHUNK_BYTES))
    expect(await reopened.usage()).toEqual({ blobs: 1, bytes: data.length })
    const empty = await store.put(new Uint8Array(0))
    expect((await store.get(empty)).length).toBe(0)
  })

  it('streams a put, and keeps nothing when the bytes do not hash to the expected CID', async () => {
    const data = seededBytes(3, 3 * MiB)
    async function * pieces (): AsyncGenerator<Uint8Array> { for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000) }
    const stat = await store.putStream(pieces(), { expected: blobCid(data) })
    expect(stat.cid.toString()).toBe(blobCid(data).toString())
    expect(stat.size).toBe(data.length)
    await expect(store.putStream(pieces(), { expected: blobCid(new Uint8Array([1])) })).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_CORRUPT' })
    expect(await readdir(join(dir.path, 'blobs', 'tmp'))).toEqual([])
  })

  it('accepts a blob at the size limit and refuses one byte more, streamed or not', async () => {
    const small = new BlobStore({ root: join(dir.path, 'small'), maxBlobBytes: 1000 })
    await small.open()
    expect((await small.put(new Uint8Array(1000))).toString()).toBe(blobCid(new Uint8Array(1000)).toString())
    expect(await small.has(blobCid(new Uint8Array(1000)))).toBe(true)
    await expect(small.put(new Uint8Array(1001))).rejects.toMatchObject({ name: 'BlobTooLargeError', code: 'ERR_NODE_BLOB_TOO_LARGE' })
    async function * big (): AsyncGenerator<Uint8Array> { yield new Uint8Array(600); yield new Uint8Array(401) }
    await expect(small.putStream(big())).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_TOO_LARGE' })
    expect(await readdir(join(dir.path, 'small', 'tmp'))).toEqual([])
  })

  it('detects a blob tampered with on disk, moves it aside and never returns its bytes', async () => {
    const data = seededBytes(5, 3 * MiB)
    const cid = await store.put(data)
    const file = store.pathOf(cid)
    const bytes = await readFile(file)
    bytes[MiB + 7] ^= 0x01
    await writeFile(file, bytes)
    await expect(store.get(cid)).rejects.toMatchObject({ name: 'BlobCorruptError', code: 'ERR_NODE_BLOB_CORRUPT' })
    expect(await store.has(cid)).toBe(false)
    const corrupt = await readdir(join(dir.path, 'blobs', 'corrupt'))
    expect(corrupt).toHaveLength(1)
    expect(corrupt[0]).toMatch(new RegExp(`^${cid.toString()}\\.\\d+$`))
    await expect(store.get(cid)).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_NOT_FOUND' })
  })

  it('detects a chunk changed after the blob was verified', async () => {
    const data = seededBytes(6, 2 * MiB + 10)
    const cid = await store.put(data)
    await store.chunkTable(cid) // verified and cached
    const file = store.pathOf(cid)
    const bytes = await readFile(file)
    bytes[10] ^= 0x80
    await writeFile(file, bytes)
    // the file changed (mtime), so the next read verifies the whole blob again
    await expect(store.readChunk(cid, 1)).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_CORRUPT' })
  })

  it('refuses a chunk index outside the blob', async () => {
    const cid = await store.put(new Uint8Array(10))
    await expect(store.readChunk(cid, 1)).rejects.toBeInstanceOf(RangeError)
    await expect(store.readChunk(cid, -1)).rejects.toBeInstanceOf(RangeError)
  })
})

describe('a provider whose stored copy was tampered with', () => {
  const nodes: TestNode[] = []
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async (n) => { await n.destroy() })) })

  it('does not serve it: the fetch goes to an intact provider', async () => {
    const [tampered, intact, fetcher] = await Promise.all([startNode(), startNode(), startNode()])
    nodes.push(tampered, intact, fetcher)
    const data = seededBytes(8, 3 * MiB)
    const cid = await tampered.daemon.exchange.put(data)
    await intact.daemon.exchange.put(data)
    const file = tampered.daemon.blobs.pathOf(cid)
    const bytes = await readFile(file)
    bytes[0] ^= 0xff
    await writeFile(file, bytes)
    await fetcher.daemon.libp2p.dial(tampered.daemon.libp2p.getMultiaddrs()[0])
    await waitFor(() => fetcher.daemon.libp2p.getPeers().length === 1, 5_000, 'connection')
    await expect(fetcher.daemon.exchange.fetch(cid)).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_NO_PROVIDERS' })
    expect(await tampered.daemon.blobs.has(cid)).toBe(false)

    await fetcher.daemon.libp2p.dial(intact.daemon.libp2p.getMultiaddrs()[0])
    const result = await fetcher.daemon.exchange.fetch(cid, { providers: [intact.daemon.peerId] })
    expect(result.providers.map((p) => p.peer)).toEqual([intact.daemon.peerId.toString()])
    expect(Buffer.compare(await fetcher.daemon.blobs.get(cid), data)).toBe(0)
  })
})
