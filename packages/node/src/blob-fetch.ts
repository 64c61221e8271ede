/**
 * One blob download: from many providers at once, chunk by chunk, every chunk checked against the chunk
 * table and the whole blob against its CID, resumable after an abort or a restart.
 *
 * 1. Providers are probed with a chunk-table request (hints first, then connected peers, then DHT provider
 *    records). Providers are grouped by the table they announce; the largest group's table is used (a
 *    partial download keeps the table it started with).
 * 2. Up to `fetchProviders` providers of that group download chunks in parallel, lowest missing index first,
 *    {@link FETCH_PIPELINE_DEPTH} requests in flight each. A chunk that does not hash to its table entry
 *    gets its provider penalised ({@link PENALTY_BAD_BYTES}) and dropped for this blob; the chunk goes back
 *    to the queue for another provider. A stalled or failed transfer costs {@link PENALTY_FAILED}.
 * 3. Verified chunks are written at their offset in `partial/<cid>.part`; `partial/<cid>.json` records the
 *    table and which chunks are done, so an aborted fetch (or a restarted daemon) resumes where it stopped.
 *    On resume, the recorded chunks are re-hashed first.
 * 4. When every chunk is in, the whole file is hashed. If it does not match the CID, the table was a lie:
 *    every provider of that table is penalised ({@link PENALTY_BAD_TABLE}) and the fetch starts over with
 *    the next group. Otherwise the file is moved into the store.
 */
import { constants as fsConstants } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import type { PeerId, Stream } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { BLOB_PROTOCOL, type CID } from '@swarmtune/wire'
import { chunkCount, chunkHash, chunkRange, chunkTableKey, type ChunkTable } from './blob-store.js'
import { BlobProtocolError, decodeChunkHeader, decodeTableResponse, encodeRequest } from './blob-protocol.js'
import { boundedFrames, readFrame, type BoundedFrames } from './bounded-frame.js'
import { bytesEqual, digestOf, sha256, sha256Of, sha256OfParts } from './cid.js'
import {
  BLOB_MAX_CHUNK_BYTES, BLOB_MAX_CHUNK_HEADER_BYTES, BLOB_MAX_HEADER_BYTES, FETCH_PIPELINE_DEPTH, FETCH_PROBE_CONCURRENCY,
  FETCH_STALL_TIMEOUT_MS, FETCH_STREAM_REUSE_MS, PARTIAL_STATE_FLUSH_MS, PENALTY_BAD_BYTES, PENALTY_BAD_TABLE, PENALTY_FAILED
} from './constants.js'
import { readPartialState, writePartialState } from './blob-partial.js'
import { AbortedError, BlobFetchError, BlobTooLargeError, FrameLengthError } from './errors.js'

import type { BlobFetchComponents, BlobFetchInit, FetchOptions, FetchPenalty, FetchResult, PenaltyReason } from './blob-fetch-types.js'
export type { BlobFetchComponents, BlobFetchInit, BlobFetchProgressEvents, FetchOptions, FetchPenalty, FetchResult, PenaltyReason } from './blob-fetch-types.js'

interface Provider {
  id: string
  peer: PeerId
  state: 'probing' | 'ready' | 'active' | 'absent' | 'dropped'
  stream?: Stream
  lp?: BoundedFrames
  /** When the stream last finished an exchange (ms since the epoch): a stream idle for long is not reused. */
  idleSince: number
  table?: ChunkTable
  tableKey?: string
  tooLarge?: boolean
  /** true once a blob stream to it opened and the table request was sent: the peer was asked, not only named. */
  asked?: boolean
  chunks: number
  bytes: number
}

/** Ends a worker: the provider is dropped for this blob, with a penalty when it misbehaved. */
class DropProvider extends Error {
  constructor (readonly reason: PenaltyReason | null, message: string) { super(message) }
}

/** Verified chunks held in memory while they wait for their turn in the whole-blob hash. */
const HELD_CHUNK_BYTES = 32 * 1024 * 1024
/** How long to wait for more chunk tables after the first, before picking the majority table. */
const TABLE_QUORUM_WAIT_MS = 200
/** Most bytes a client may buffer on one stream: the pipelined chunks plus their headers. */
const CLIENT_BUFFER_BYTES = FETCH_PIPELINE_DEPTH * (BLOB_MAX_CHUNK_BYTES + BLOB_MAX_CHUNK_HEADER_BYTES) + BLOB_MAX_HEADER_BYTES

export class BlobFetch {
  private readonly cid: CID
  private readonly maxBytes: number
  private readonly options: FetchOptions
  private readonly controller = new AbortController()
  private readonly signal: AbortSignal
  private readonly providers = new Map<string, Provider>()
  private readonly excludedTables = new Set<string>()
  private readonly pending = new Set<number>()
  private readonly workers = new Set<Promise<void>>()
  private readonly penalties: FetchPenalty[] = []
  private readonly paths: { data: string, state: string }
  private waiters: Array<() => void> = []
  private probesPending = 0
  private discoveryDone = false
  private firstTableAt = 0
  private table?: ChunkTable
  private tableKey?: string
  private done = new Uint8Array(0)
  private doneCount = 0
  private bytesDone = 0
  private resumedBytes = 0
  private fetchedBytes = 0
  private fh?: FileHandle
  /** sha2-256 of chunks [0, hashedChunks), toward the CID check. */
  private wholeHash = sha256()
  private hashedChunks = 0
  private readonly held = new Map<number, Uint8Array[]>()
  private heldBytes = 0
  private flushTimer?: ReturnType<typeof setTimeout>
  private stateDirty = false
  /** The state write in progress, if any. */
  private flushing: Promise<void> = Promise.resolve()

  constructor (private readonly components: BlobFetchComponents, private readonly init: BlobFetchInit, cid: CID, options: FetchOptions = {}) {
    this.cid = cid
    this.options = options
    this.maxBytes = Math.min(options.maxBytes ?? components.store.maxBlobBytes, components.store.maxBlobBytes)
    this.signal = options.signal != null ? AbortSignal.any([options.signal, this.controller.signal]) : this.controller.signal
    this.paths = components.store.partialPaths(cid)
  }

  /**
   * Runs the fetch to completion.
   *
   * @throws AbortedError (`ERR_NODE_ABORTED`) when the signal aborts — verified chunks are kept
   * @throws BlobFetchError `ERR_NODE_BLOB_NO_PROVIDERS` when no (remaining) provider has the blob
   * @throws BlobTooLargeError when the providers announce a blob larger than `maxBytes`
   * @throws BlobCorruptError never for network data: bad bytes are retried elsewhere
   */
  async run (): Promise<FetchResult> {
    const { store } = this.components
    if (await store.has(this.cid)) {
      const s = await store.stat(this.cid)
      return this.result(s.size)
    }
    try {
      await this.loadPartial()
      void this.discover()
      while (true) {
        await this.chooseTable()
        await this.download()
        if (await this.verifyWhole()) break
      }
      // complete: no more state writes (a pending one would re-create the file removed below)
      if (this.flushTimer != null) clearTimeout(this.flushTimer)
      this.flushTimer = undefined
      this.stateDirty = false
      await this.flushing
      await this.fh?.close()
      this.fh = undefined
      await store.moveIn(this.paths.data, this.cid)
      await rm(this.paths.state, { force: true })
      return this.result(this.table?.size ?? 0)
    } catch (err) {
      if (this.options.signal?.aborted === true) {
        throw new AbortedError(`fetch of blob ${this.cid.toString()} was aborted after ${this.bytesDone} of ${this.table?.size ?? '?'} bytes; the verified chunks are kept and a new fetch resumes from them`, { cause: this.options.signal.reason })
      }
      throw err
    } finally {
      this.controller.abort()
      this.notify()
      await Promise.allSettled([...this.workers])
      for (const p of this.providers.values()) {
        if (p.stream != null && p.stream.status === 'open') {
          await p.stream.close().catch((e: Error) => p.stream?.abort(e))
        }
      }
      if (this.flushTimer != null) clearTimeout(this.flushTimer)
      await this.flushing
      if (this.fh != null) {
        await this.flushState().catch(() => {})
        await this.fh.close().catch(() => {})
      }
    }
  }

  // --- providers --------------------------------------------------------------------------------------

  private async discover (): Promise<void> {
    try {
      const hints = this.options.providers ?? []
      const discovered = this.options.discover === false ? [] : this.components.candidates(this.cid, this.signal)
      for await (const peer of concat(hints, discovered)) {
        if (this.signal.aborted) break
        const id = peer.toString()
        if (this.providers.has(id) || this.components.excluded(id)) continue
        const p: Provider = { id, peer, state: 'probing', chunks: 0, bytes: 0, idleSince: 0 }
        this.providers.set(id, p)
        while (this.probesPending >= FETCH_PROBE_CONCURRENCY && !this.signal.aborted) await this.changed()
        this.probesPending++
        void this.probe(p).finally(() => {
          this.probesPending--
          this.notify()
        })
      }
    } catch {
      // discovery errors (DHT unreachable …) only mean fewer candidates
    } finally {
      this.discoveryDone = true
      this.notify()
    }
  }

  private async probe (p: Provider): Promise<void> {
    try {
      const signal = AbortSignal.any([this.signal, AbortSignal.timeout(FETCH_STALL_TIMEOUT_MS)])
      const lp = await this.openStream(p, signal)
      await lp.write(encodeRequest({ op: 'table', cid: this.cid }), { signal })
      p.asked = true
      const resp = decodeTableResponse((await readFrame(lp, BLOB_MAX_HEADER_BYTES, 'chunk table', signal)).subarray())
      p.idleSince = Date.now()
      if (!resp.ok) {
        p.state = 'absent'
        await p.stream?.close().catch(() => {})
        return
      }
      if (resp.size > this.maxBytes) {
        p.state = 'absent'
        p.tooLarge = true
        await p.stream?.close().catch(() => {})
        return
      }
      p.table = { size: resp.size, chunkBytes: resp.chunkBytes, hashes: resp.hashes }
      p.tableKey = chunkTableKey(p.table)
      p.state = 'ready'
      if (this.firstTableAt === 0) this.firstTableAt = Date.now()
    } catch (err) {
      p.state = 'absent'
      p.stream?.abort(err as Error)
      if ((err instanceof BlobProtocolError || err instanceof FrameLengthError) && !this.signal.aborted) this.penalise(p, 'protocol', PENALTY_BAD_BYTES, err.message)
    }
  }

  /** Opens a new blob stream to `p` (closing its previous one). */
  private async openStream (p: Provider, signal: AbortSignal): Promise<BoundedFrames> {
    const old = p.stream
    if (old != null && old.status === 'open') await old.close({ signal }).catch((e: Error) => { old.abort(e) })
    p.stream = await this.components.libp2p.dialProtocol(p.peer, BLOB_PROTOCOL, { signal })
    p.lp = boundedFrames(p.stream, CLIENT_BUFFER_BYTES)
    return p.lp
  }

  /**
   * The provider's stream if it is open and was idle for at most {@link FETCH_STREAM_REUSE_MS} (the provider
   * resets streams that wait too long for a request), else a new one.
   */
  private async usableStream (p: Provider): Promise<BoundedFrames> {
    const s = p.stream
    if (p.lp != null && s != null && s.status === 'open' && s.writeStatus === 'writable' && s.remoteWriteStatus === 'writable' &&
      Date.now() - p.idleSince <= FETCH_STREAM_REUSE_MS) return p.lp
    return await this.openStream(p, AbortSignal.any([this.signal, AbortSignal.timeout(FETCH_STALL_TIMEOUT_MS)]))
  }

  private penalise (p: Provider, reason: PenaltyReason, points: number, detail: string): void {
    const penalty: FetchPenalty = { peer: p.id, reason, points, detail }
    this.penalties.push(penalty)
    this.components.penalise(p.id, points, reason, this.cid, detail)
    this.options.onProgress?.(new CustomProgressEvent('blob:fetch:penalty', { ...penalty, cid: this.cid }))
  }

  /**
   * Why no provider was found, with true counts: the peers asked (a blob stream opened) beside those named or
   * found but not reachable, and, when this node has no connected peer at all, that and how to connect one.
   */
  private noProvidersMessage (): string {
    const all = [...this.providers.values()]
    const asked = all.filter((p) => p.asked === true).length
    const unreachable = all.length - asked
    const connections = this.components.libp2p.getConnections?.().length
    const connect = 'connect one with `swarmtune peers --connect <address> -d <folder>`, or save a bootstrap peer with `swarmtune init -d <folder> --bootstrap <address>` and restart the daemon'
    const counts = `asked ${asked} peer(s)${unreachable > 0 ? `; ${unreachable} peer(s) named or found could not be reached` : ''}${this.excludedTables.size > 0 ? '; their chunk tables did not match the CID' : ''}`
    if (connections === 0) return `no reachable peer has blob ${this.cid.toString()}: this node has no connected peer (${counts}); ${connect}.`
    return `no reachable peer has blob ${this.cid.toString()} (${counts}). Check that a peer holding it is connected (\`swarmtune peers\`; to add one, ${connect}), or pass its peer id as a provider.`
  }

  // --- table ------------------------------------------------------------------------------------------

  private async chooseTable (): Promise<void> {
    while (this.table == null) {
      this.throwIfAborted()
      const groups = new Map<string, Provider[]>()
      for (const p of this.providers.values()) {
        if (p.state !== 'ready' || p.tableKey == null || this.excludedTables.has(p.tableKey)) continue
        groups.set(p.tableKey, [...(groups.get(p.tableKey) ?? []), p])
      }
      if (groups.size > 0 && (this.probesPending === 0 || Date.now() - this.firstTableAt >= TABLE_QUORUM_WAIT_MS)) {
        const best = [...groups.values()].sort((a, b) => b.length - a.length)[0]
        await this.startTable(best[0].table as ChunkTable)
        break
      }
      if (groups.size === 0 && this.discoveryDone && this.probesPending === 0) {
        if ([...this.providers.values()].some((p) => p.tooLarge === true)) {
          throw new BlobTooLargeError(`providers announce blob ${this.cid.toString()} as larger than the limit of ${this.maxBytes} bytes; raise blobs.maxBlobBytes (or the fetch's maxBytes) to fetch it`)
        }
        throw new BlobFetchError('ERR_NODE_BLOB_NO_PROVIDERS', this.noProvidersMessage())
      }
      await this.changed(TABLE_QUORUM_WAIT_MS)
    }
    const table = this.table as ChunkTable
    this.options.onProgress?.(new CustomProgressEvent('blob:fetch:table', {
      cid: this.cid, size: table.size, chunks: this.done.length, resumedBytes: this.resumedBytes, providers: this.groupSize()
    }))
  }

  private groupSize (): number {
    let n = 0
    for (const p of this.providers.values()) if (p.tableKey === this.tableKey && (p.state === 'ready' || p.state === 'active')) n++
    return n
  }

  private async startTable (table: ChunkTable): Promise<void> {
    this.table = table
    this.tableKey = chunkTableKey(table)
    const n = chunkCount(table.size, table.chunkBytes)
    this.done = new Uint8Array(n)
    this.doneCount = 0
    this.bytesDone = 0
    this.resetWholeHash()
    this.pending.clear()
    for (let i = 0; i < n; i++) this.pending.add(i)
    await rm(this.paths.data, { force: true })
    this.fh = await open(this.paths.data, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644)
    this.stateDirty = true
    await this.flushState()
  }

  // --- download ---------------------------------------------------------------------------------------

  private async download (): Promise<void> {
    const table = this.table as ChunkTable
    const n = this.done.length
    let active = 0
    while (this.doneCount < n) {
      this.throwIfAborted()
      active = 0
      for (const p of this.providers.values()) if (p.state === 'active') active++
      for (const p of this.providers.values()) {
        if (active >= this.init.fetchProviders || this.pending.size === 0) break
        if (p.state === 'ready' && p.tableKey === this.tableKey) {
          active++
          this.startWorker(p, table)
        }
      }
      if (active === 0 && this.discoveryDone && this.probesPending === 0 && this.doneCount < n) {
        throw new BlobFetchError('ERR_NODE_BLOB_NO_PROVIDERS', `fetched ${this.doneCount} of ${n} chunks of blob ${this.cid.toString()}, then every provider failed or was dropped for bad bytes (${this.penalties.length} penalties). The verified chunks are kept: fetch again once other providers are connected.`)
      }
      await this.changed()
    }
    await Promise.allSettled([...this.workers])
  }

  private startWorker (p: Provider, table: ChunkTable): void {
    p.state = 'active'
    const w = this.work(p, table).finally(() => {
      this.workers.delete(w)
      this.notify()
    })
    this.workers.add(w)
  }

  private async work (p: Provider, table: ChunkTable): Promise<void> {
    const inflight: number[] = []
    try {
      const lp = await this.usableStream(p)
      while (!this.signal.aborted) {
        while (inflight.length < FETCH_PIPELINE_DEPTH) {
          const i = this.takeChunk()
          if (i === undefined) break
          inflight.push(i)
          await lp.write(encodeRequest({ op: 'chunk', cid: this.cid, index: i }), { signal: this.signal })
        }
        if (inflight.length === 0) break
        const i = inflight[0]
        const [start, end] = chunkRange(table, i)
        const signal = AbortSignal.any([this.signal, AbortSignal.timeout(FETCH_STALL_TIMEOUT_MS)])
        const header = decodeChunkHeader((await readFrame(lp, BLOB_MAX_CHUNK_HEADER_BYTES, 'chunk header', signal)).subarray())
        if (!header.ok) throw new DropProvider(null, `provider answered '${header.code}' for chunk ${i}: ${header.reason}`)
        if (header.index !== i || header.length !== end - start) {
          throw new DropProvider('protocol', `provider announced chunk ${header.index} of ${header.length} bytes, expected chunk ${i} of ${end - start} bytes`)
        }
        // the chunk stays in the buffers it arrived in: hashed and written without a copy
        const data = [...await readFrame(lp, end - start, 'chunk', signal)]
        const length = data.reduce((n, b) => n + b.length, 0)
        this.fetchedBytes += length
        if (length !== end - start || !bytesEqual(sha256OfParts(data), chunkHash(table, i))) {
          throw new DropProvider('bad-bytes', `chunk ${i} does not hash to its chunk-table entry`)
        }
        const { bytesWritten } = await (this.fh as FileHandle).writev(data, start)
        if (bytesWritten !== length) {
          const rest = Buffer.concat(data).subarray(bytesWritten)
          await (this.fh as FileHandle).write(rest, 0, rest.length, start + bytesWritten)
        }
        inflight.shift()
        p.idleSince = Date.now()
        this.markDone(i, length, p, data)
      }
      if (p.state === 'active') p.state = 'ready'
    } catch (err) {
      p.state = 'dropped'
      p.stream?.abort(err as Error)
      if (!this.signal.aborted) {
        if (err instanceof DropProvider) {
          if (err.reason === 'bad-bytes' || err.reason === 'protocol') this.penalise(p, err.reason, PENALTY_BAD_BYTES, err.message)
        } else if (err instanceof BlobProtocolError || err instanceof FrameLengthError) {
          this.penalise(p, 'protocol', PENALTY_BAD_BYTES, err.message)
        } else {
          this.penalise(p, 'failed', PENALTY_FAILED, (err as Error).message)
        }
      }
    } finally {
      for (const i of inflight) this.pending.add(i)
    }
  }

  private takeChunk (): number | undefined {
    for (const i of this.pending) {
      this.pending.delete(i)
      return i
    }
    return undefined
  }

  private markDone (i: number, bytes: number, p: Provider, data: Uint8Array[]): void {
    if (this.done[i] === 1) return
    this.done[i] = 1
    this.feedWholeHash(i, data)
    this.doneCount++
    this.bytesDone += bytes
    p.chunks++
    p.bytes += bytes
    this.scheduleFlush()
    this.options.onProgress?.(new CustomProgressEvent('blob:fetch:chunk', {
      cid: this.cid, index: i, peer: p.id, bytesDone: this.bytesDone, bytesTotal: this.table?.size ?? 0
    }))
  }

  /**
   * Feeds verified chunks into the whole-blob hash in index order, so the CID check at the end needs no
   * second pass over the file. A chunk that completes ahead of its turn is held in memory (up to
   * {@link HELD_CHUNK_BYTES}) or, past that, read back from the file when its turn comes.
   */
  private feedWholeHash (i: number, data: Uint8Array[] | null): void {
    if (i === this.hashedChunks && data != null) {
      for (const b of data) this.wholeHash.update(b)
      this.hashedChunks++
    } else if (data != null && this.heldBytes < HELD_CHUNK_BYTES) {
      this.held.set(i, data)
      this.heldBytes += data.reduce((n, b) => n + b.length, 0)
    }
    while (this.hashedChunks < this.done.length && this.done[this.hashedChunks] === 1) {
      const next = this.held.get(this.hashedChunks)
      if (next == null) break // read from the file in verifyWhole
      this.held.delete(this.hashedChunks)
      for (const b of next) {
        this.wholeHash.update(b)
        this.heldBytes -= b.length
      }
      this.hashedChunks++
    }
  }

  private resetWholeHash (): void {
    this.wholeHash = sha256()
    this.hashedChunks = 0
    this.held.clear()
    this.heldBytes = 0
  }

  private async verifyWhole (): Promise<boolean> {
    const table = this.table as ChunkTable
    // chunks not yet in the hash (held back when memory was short) are read from the file
    const fh = this.fh as FileHandle
    while (this.hashedChunks < this.done.length) {
      const [start, end] = chunkRange(table, this.hashedChunks)
      const buf = Buffer.allocUnsafe(end - start)
      const { bytesRead } = await fh.read(buf, 0, buf.length, start)
      this.wholeHash.update(buf.subarray(0, bytesRead))
      this.hashedChunks++
    }
    if (bytesEqual(this.wholeHash.digest(), digestOf(this.cid))) return true
    this.resetWholeHash()
    // every chunk matched the table, so the table itself was false
    for (const p of this.providers.values()) {
      if (p.tableKey === this.tableKey) {
        this.penalise(p, 'bad-table', PENALTY_BAD_TABLE, 'its chunk table does not hash to the CID')
        p.state = 'dropped'
        // its chunks are discarded with the table
        p.chunks = 0
        p.bytes = 0
        p.stream?.abort(new Error('bad chunk table'))
      }
    }
    this.excludedTables.add(this.tableKey as string)
    this.table = undefined
    this.tableKey = undefined
    if (this.flushTimer != null) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    await this.flushing
    await this.fh?.close()
    this.fh = undefined
    await rm(this.paths.data, { force: true })
    await rm(this.paths.state, { force: true })
    return false
  }

  // --- partial state ----------------------------------------------------------------------------------

  private async loadPartial (): Promise<void> {
    try {
      const partial = await readPartialState(this.paths.state, this.cid, this.maxBytes)
      if (partial === undefined) return
      const { table, done } = partial
      const n = done.length
      this.table = table
      this.tableKey = chunkTableKey(table)
      this.done = new Uint8Array(n)
      this.fh = await open(this.paths.data, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644)
      // re-check what the file holds: the state may have been written before the data reached the disk
      for (let i = 0; i < n; i++) {
        if (done[i] !== 1) {
          this.pending.add(i)
          continue
        }
        const [start, end] = chunkRange(table, i)
        const buf = Buffer.allocUnsafe(end - start)
        const { bytesRead } = await this.fh.read(buf, 0, buf.length, start)
        if (bytesRead === buf.length && bytesEqual(sha256Of(buf), chunkHash(table, i))) {
          this.done[i] = 1
          this.doneCount++
          this.bytesDone += buf.length
          // only an unbroken prefix can go into the whole hash now; the rest is read back at the end
          if (this.hashedChunks === i) this.feedWholeHash(i, [buf])
        } else {
          this.pending.add(i)
        }
      }
      this.resumedBytes = this.bytesDone
    } catch {
      // unusable partial state: start over
      await this.fh?.close().catch(() => {})
      this.fh = undefined
      this.table = undefined
      this.tableKey = undefined
      this.pending.clear()
      this.doneCount = 0
      this.bytesDone = 0
      this.resetWholeHash()
      await rm(this.paths.data, { force: true })
      await rm(this.paths.state, { force: true })
    }
  }

  private scheduleFlush (): void {
    this.stateDirty = true
    if (this.flushTimer != null) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.flushing = this.flushState().catch(() => {})
    }, PARTIAL_STATE_FLUSH_MS)
  }

  private async flushState (): Promise<void> {
    if (!this.stateDirty || this.table == null) return
    this.stateDirty = false
    await writePartialState(this.paths.state, this.cid, this.table, this.done)
  }

  // --- plumbing ---------------------------------------------------------------------------------------

  private result (size: number): FetchResult {
    return {
      cid: this.cid,
      size,
      fetchedBytes: this.fetchedBytes,
      resumedBytes: this.resumedBytes,
      providers: [...this.providers.values()].filter((p) => p.chunks > 0).map((p) => ({ peer: p.id, chunks: p.chunks, bytes: p.bytes })),
      penalties: this.penalties
    }
  }

  private throwIfAborted (): void {
    if (this.signal.aborted) throw this.signal.reason ?? new Error('aborted')
  }

  private notify (): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** Resolves on the next state change, on abort, or after `timeoutMs`. */
  private async changed (timeoutMs?: number): Promise<void> {
    if (this.signal.aborted) return
    await new Promise<void>((resolve) => {
      const timer = timeoutMs != null ? setTimeout(done, timeoutMs) : undefined
      const signal = this.signal
      function done (): void {
        if (timer != null) clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
      this.waiters.push(done)
    })
  }
}

async function * concat<T> (first: Iterable<T>, rest: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  yield * first
  yield * rest
}
