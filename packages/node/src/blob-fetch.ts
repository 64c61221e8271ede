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
 *
 * This module runs those steps. The providers (discovery, probes, streams, penalties, the majority table)
 * are in blob-fetch-providers.ts, the chunk read from one provider in blob-fetch-stream.ts, the chunks done
 * and pending, the partial file, its resume record and the whole-blob hash in blob-fetch-chunks.ts.
 */
import { rm } from 'node:fs/promises'
import { CustomProgressEvent } from 'progress-events'
import type { CID } from '@swarmtune/wire'
import type { ChunkTable } from './blob-store.js'
import { PENALTY_BAD_TABLE } from './constants.js'
import { AbortedError, BlobFetchError } from './errors.js'
import { ChunkBook } from './blob-fetch-chunks.js'
import { ProviderPool, TABLE_QUORUM_WAIT_MS, type Provider } from './blob-fetch-providers.js'
import { readChunks, type ChunkReadHost } from './blob-fetch-stream.js'
import { FetchWake } from './blob-fetch-wake.js'

import type { BlobFetchComponents, BlobFetchInit, FetchOptions, FetchResult } from './blob-fetch-types.js'
export type { BlobFetchComponents, BlobFetchInit, BlobFetchProgressEvents, FetchOptions, FetchPenalty, FetchResult, PenaltyReason } from './blob-fetch-types.js'

export class BlobFetch {
  private readonly cid: CID
  private readonly options: FetchOptions
  private readonly controller = new AbortController()
  private readonly signal: AbortSignal
  private readonly wake: FetchWake
  /** The providers: discovery, probes, streams, penalties, the table picked by majority. */
  private readonly pool: ProviderPool
  /** The chunks: table in use, done and pending, the partial file and its resume record, the whole hash. */
  private readonly book: ChunkBook
  private readonly workers = new Set<Promise<void>>()
  /** What a provider's chunk read needs from this download. */
  private readonly host: ChunkReadHost
  private fetchedBytes = 0

  constructor (private readonly components: BlobFetchComponents, private readonly init: BlobFetchInit, cid: CID, options: FetchOptions = {}) {
    this.cid = cid
    this.options = options
    const maxBytes = Math.min(options.maxBytes ?? components.store.maxBlobBytes, components.store.maxBlobBytes)
    this.signal = options.signal != null ? AbortSignal.any([options.signal, this.controller.signal]) : this.controller.signal
    this.wake = new FetchWake(this.signal)
    this.pool = new ProviderPool(components, cid, maxBytes, options, this.signal, this.wake)
    this.book = new ChunkBook(cid, maxBytes, components.store.partialPaths(cid))
    this.host = {
      cid,
      signal: this.signal,
      stream: async (p) => await this.pool.usableStream(p),
      take: () => this.book.take(),
      giveBack: (i) => { this.book.pending.add(i) },
      received: (bytes) => { this.fetchedBytes += bytes },
      write: async (data, start, length) => { await this.book.write(data, start, length) },
      verified: (i, bytes, p, data) => { this.markDone(i, bytes, p, data) },
      penalise: (p, reason, points, detail) => { this.pool.penalise(p, reason, points, detail) }
    }
  }

  /**
   * Runs the fetch to completion.
   *
   * @throws AbortedError (`ERR_ABORTED`) when the signal aborts — verified chunks are kept
   * @throws BlobFetchError `ERR_NODE_BLOB_NO_PROVIDERS` when no (remaining) provider has the blob
   * @throws BlobTooLargeError when the providers announce a blob larger than `maxBytes`
   * @throws BlobCorruptError never for network data: bad bytes are retried elsewhere
   */
  async run (): Promise<FetchResult> {
    const { store } = this.components
    const book = this.book
    if (await store.has(this.cid)) {
      const s = await store.stat(this.cid)
      return this.result(s.size)
    }
    try {
      await book.load()
      void this.pool.discover()
      while (true) {
        await this.chooseTable()
        await this.download()
        if (await this.verifyWhole()) break
      }
      // complete: no more state writes (a pending one would re-create the file removed below)
      await book.complete()
      await store.moveIn(book.paths.data, this.cid)
      await rm(book.paths.state, { force: true })
      return this.result(book.table?.size ?? 0)
    } catch (err) {
      if (this.options.signal?.aborted === true) {
        throw new AbortedError(`fetch of blob ${this.cid.toString()} was aborted after ${book.bytesDone} of ${book.table?.size ?? '?'} bytes; the verified chunks are kept and a new fetch resumes from them`, { cause: this.options.signal.reason })
      }
      throw err
    } finally {
      this.controller.abort()
      this.wake.notify()
      await Promise.allSettled([...this.workers])
      await this.pool.closeStreams()
      await book.close()
    }
  }

  /** Waits until the providers' tables allow a pick (see {@link ProviderPool.pickTable}) and starts on it. */
  private async chooseTable (): Promise<void> {
    while (this.book.table == null) {
      this.throwIfAborted()
      const table = this.pool.pickTable()
      if (table !== undefined) {
        await this.book.start(table)
        break
      }
      await this.wake.changed(TABLE_QUORUM_WAIT_MS)
    }
    const table = this.book.table as ChunkTable
    this.options.onProgress?.(new CustomProgressEvent('blob:fetch:table', {
      cid: this.cid, size: table.size, chunks: this.book.done.length, resumedBytes: this.book.resumedBytes, providers: this.pool.groupSize(this.book.tableKey)
    }))
  }

  /** Keeps up to `fetchProviders` providers of the table reading chunks until every chunk is done. */
  private async download (): Promise<void> {
    const book = this.book
    const table = book.table as ChunkTable
    const n = book.done.length
    let active = 0
    while (book.doneCount < n) {
      this.throwIfAborted()
      active = 0
      for (const p of this.pool.providers.values()) if (p.state === 'active') active++
      for (const p of this.pool.providers.values()) {
        if (active >= this.init.fetchProviders || book.pending.size === 0) break
        if (p.state === 'ready' && p.tableKey === book.tableKey) {
          active++
          this.startWorker(p, table)
        }
      }
      if (active === 0 && this.pool.settled && book.doneCount < n) {
        throw new BlobFetchError('ERR_NODE_BLOB_NO_PROVIDERS', `fetched ${book.doneCount} of ${n} chunks of blob ${this.cid.toString()}, then every provider failed or was dropped for bad bytes (${this.pool.penalties.length} penalties). The verified chunks are kept: fetch again once other providers are connected.`)
      }
      await this.wake.changed()
    }
    await Promise.allSettled([...this.workers])
  }

  private startWorker (p: Provider, table: ChunkTable): void {
    p.state = 'active'
    const w = readChunks(p, table, this.host).finally(() => {
      this.workers.delete(w)
      this.wake.notify()
    })
    this.workers.add(w)
  }

  private markDone (i: number, bytes: number, p: Provider, data: Uint8Array[]): void {
    if (!this.book.markDone(i, bytes, data)) return
    p.chunks++
    p.bytes += bytes
    this.options.onProgress?.(new CustomProgressEvent('blob:fetch:chunk', {
      cid: this.cid, index: i, peer: p.id, bytesDone: this.book.bytesDone, bytesTotal: this.book.table?.size ?? 0
    }))
  }

  /**
   * True when the complete blob hashes to its CID. Otherwise every chunk matched the table, so the table
   * itself was false: its providers are penalised and dropped, the table excluded and its chunks discarded.
   */
  private async verifyWhole (): Promise<boolean> {
    if (await this.book.matchesCid()) return true
    for (const p of this.pool.providers.values()) {
      if (p.tableKey === this.book.tableKey) {
        this.pool.penalise(p, 'bad-table', PENALTY_BAD_TABLE, 'its chunk table does not hash to the CID')
        p.state = 'dropped'
        // its chunks are discarded with the table
        p.chunks = 0
        p.bytes = 0
        p.stream?.abort(new Error('bad chunk table'))
      }
    }
    this.pool.excludedTables.add(this.book.tableKey as string)
    await this.book.discard()
    return false
  }

  private result (size: number): FetchResult {
    return {
      cid: this.cid,
      size,
      fetchedBytes: this.fetchedBytes,
      resumedBytes: this.book.resumedBytes,
      providers: this.pool.delivered(),
      penalties: this.pool.penalties
    }
  }

  private throwIfAborted (): void {
    if (this.signal.aborted) throw this.signal.reason ?? new Error('aborted')
  }
}
