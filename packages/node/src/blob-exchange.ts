/**
 * Blob exchange: serves the local store over the blob protocol, fetches blobs from peers
 * ({@link BlobFetch}), and says who has what — DHT provider records for stored blobs, plus a Bitswap-style
 * probe of connected peers when fetching.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import { BLOB_PROTOCOL, type CID } from '@swarmtune/wire'
import type { Logger } from 'pino'
import { BlobFetch, type FetchOptions, type FetchResult, type PenaltyReason } from './blob-fetch.js'
import { blobServer, type BlobStreamRejection } from './blob-server.js'
import type { BlobStat, BlobStore } from './blob-store.js'
import {
  BLOB_CHUNK_SEND_TIMEOUT_MS, BLOB_MAX_INBOUND_STREAMS, BLOB_MAX_SERVING_PER_PEER, BLOB_MAX_SERVING_STREAMS, BLOB_REQUEST_TIMEOUT_MS,
  DEFAULT_REJECTION_LOG_INTERVAL_MS, FIND_PROVIDERS_TIMEOUT_MS
} from './constants.js'
import { AbortedError } from './errors.js'
import type { EventBus } from './events.js'
import { RejectionLog } from './rejection-log.js'
import type { PeerReputation } from './reputation.js'

export interface BlobExchangeComponents {
  libp2p: Libp2p
  store: BlobStore
  reputation: PeerReputation
  events: EventBus
  log: Logger
}

export interface BlobExchangeInit {
  /** Providers one fetch downloads from at once. */
  fetchProviders: number
  /** Fetches run at once; more wait in a queue. */
  concurrentFetches: number
  /** Publish and look up DHT provider records. */
  dht: boolean
  /** Limits of serving (doc/daemon.md, "Blob serving limits"); each defaults to its constant. */
  serving?: Partial<BlobServingLimits>
}

/** Limits on inbound blob streams (config `blobs.*`; blob-server.ts). */
export interface BlobServingLimits {
  /** Streams served at once. */
  maxServing: number
  /** Streams of one peer served at once. */
  maxServingPerPeer: number
  /** Inbound blob streams one connection may have open (libp2p `maxInboundStreams`). */
  maxStreamsPerConnection: number
  /** ms a whole request may take to arrive. */
  requestTimeoutMs: number
  /** ms the reader may take to accept one answer. */
  chunkSendTimeoutMs: number
}

/** Minimum interval between `blob:fetch:progress` events of one fetch on the event bus. */
const PROGRESS_EVENT_INTERVAL_MS = 250

export class BlobExchange {
  private readonly running = new Map<string, Promise<FetchResult>>()
  private readonly queue: Array<() => void> = []
  private readonly stopController = new AbortController()
  private active = 0

  constructor (private readonly components: BlobExchangeComponents, private readonly init: BlobExchangeInit) {}

  async start (): Promise<void> {
    const { libp2p, store, events, log } = this.components
    const limits = this.init.serving ?? {}
    const rejections = new RejectionLog({ log, intervalMs: DEFAULT_REJECTION_LOG_INTERVAL_MS })
    await libp2p.handle(BLOB_PROTOCOL, blobServer(store, {
      maxServing: limits.maxServing ?? BLOB_MAX_SERVING_STREAMS,
      maxServingPerPeer: limits.maxServingPerPeer ?? BLOB_MAX_SERVING_PER_PEER,
      requestTimeoutMs: limits.requestTimeoutMs ?? BLOB_REQUEST_TIMEOUT_MS,
      chunkSendTimeoutMs: limits.chunkSendTimeoutMs ?? BLOB_CHUNK_SEND_TIMEOUT_MS,
      onError: (peer, err) => {
        const code = (err as { code?: string }).code
        if (code === 'ERR_NODE_BLOB_CORRUPT') events.emit('blob:corrupt', { peer, message: (err as Error).message })
        log.debug({ peer, err }, 'blob request not served')
      },
      onRejected: (r: BlobStreamRejection) => {
        events.emit('blob:stream:rejected', { ...r })
        rejections.record(`${r.peer}\u0000${r.code}`, 'warn', { peer: r.peer, code: r.code, reason: r.reason }, 'blob stream rejected')
      }
    }), { maxInboundStreams: limits.maxStreamsPerConnection ?? BLOB_MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    this.stopController.abort(new AbortedError('the daemon is stopping'))
    await Promise.allSettled([...this.running.values()])
    await this.components.libp2p.unhandle(BLOB_PROTOCOL)
  }

  /**
   * Stores bytes locally and announces them (DHT provider record when the DHT is on).
   *
   * @throws BlobTooLargeError
   */
  async put (bytes: Uint8Array): Promise<CID> {
    const cid = await this.components.store.put(bytes)
    this.stored(cid, bytes.length)
    return cid
  }

  /** Like {@link put} for a stream of bytes (see `BlobStore.putStream`). */
  async putStream (source: AsyncIterable<Uint8Array>, options: { expected?: CID, maxBytes?: number, signal?: AbortSignal } = {}): Promise<BlobStat> {
    const stat = await this.components.store.putStream(source, options)
    this.stored(stat.cid, stat.size)
    return stat
  }

  /**
   * Fetches a blob from peers into the local store (no-op if present). Concurrent calls for one CID share
   * one download (the first call's options and signal drive it); at most `concurrentFetches` downloads run
   * at once.
   *
   * @throws AbortedError, BlobFetchError (`ERR_NODE_BLOB_NO_PROVIDERS`), BlobTooLargeError — see {@link BlobFetch.run}
   */
  async fetch (cid: CID, options: FetchOptions = {}): Promise<FetchResult> {
    const key = cid.toString()
    let run = this.running.get(key)
    if (run == null) {
      run = this.runFetch(cid, options).finally(() => this.running.delete(key))
      this.running.set(key, run)
    }
    return await run
  }

  /** Fetches several blobs in parallel (bounded by `concurrentFetches`). */
  async fetchMany (cids: CID[], options: FetchOptions = {}): Promise<FetchResult[]> {
    return await Promise.all(cids.map(async (cid) => await this.fetch(cid, options)))
  }

  /** Announces a stored blob in the DHT (no-op when the DHT is off or has no peers yet). */
  async provide (cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.init.dht) return
    try {
      await this.components.libp2p.contentRouting.provide(cid, { signal: options.signal ?? this.stopController.signal })
    } catch (err) {
      this.components.log.debug({ cid: cid.toString(), err }, 'could not publish a DHT provider record')
    }
  }

  /** Fetches currently running (CIDs as strings). */
  get fetching (): string[] {
    return [...this.running.keys()]
  }

  private stored (cid: CID, size: number): void {
    this.components.events.emit('blob:stored', { cid: cid.toString(), size })
    void this.provide(cid)
  }

  private async runFetch (cid: CID, options: FetchOptions): Promise<FetchResult> {
    const { events, log, reputation, libp2p, store } = this.components
    const signal = options.signal != null ? AbortSignal.any([options.signal, this.stopController.signal]) : this.stopController.signal
    await this.acquire(signal)
    const started = Date.now()
    let lastEvent = 0
    events.emit('blob:fetch:start', { cid: cid.toString() })
    try {
      const fetch = new BlobFetch({
        libp2p,
        store,
        candidates: (c, s) => this.candidates(c, s),
        excluded: (peer) => reputation.excluded(peer),
        penalise: (peer, points, reason: PenaltyReason, c, detail) => {
          const total = reputation.penalise(peer, points)
          events.emit('blob:provider:penalised', { peer, cid: c.toString(), reason, points, total, detail })
          log.warn({ peer, cid: c.toString(), reason, points, total }, 'blob provider penalised')
        }
      }, { fetchProviders: this.init.fetchProviders }, cid, {
        ...options,
        signal,
        onProgress: (evt) => {
          options.onProgress?.(evt)
          if (evt.type === 'blob:fetch:chunk' && Date.now() - lastEvent >= PROGRESS_EVENT_INTERVAL_MS) {
            lastEvent = Date.now()
            events.emit('blob:fetch:progress', { cid: cid.toString(), bytesDone: evt.detail.bytesDone, bytesTotal: evt.detail.bytesTotal })
          }
        }
      })
      const result = await fetch.run()
      events.emit('blob:fetch:done', { cid: cid.toString(), size: result.size, fetchedBytes: result.fetchedBytes, resumedBytes: result.resumedBytes, ms: Date.now() - started })
      void this.provide(cid)
      return result
    } catch (err) {
      events.emit('blob:fetch:failed', { cid: cid.toString(), code: (err as { code?: string }).code, message: (err as Error).message })
      throw err
    } finally {
      this.release()
    }
  }

  /** Connected peers that speak the blob protocol, then DHT provider records. */
  private async * candidates (cid: CID, signal: AbortSignal): AsyncGenerator<PeerId> {
    const { libp2p } = this.components
    const seen = new Set<string>()
    for (const peer of libp2p.getPeers()) {
      const protocols = await libp2p.peerStore.get(peer).then((p) => p.protocols, () => [] as string[])
      // before identify completes the protocol list is empty: ask anyway, a "no" costs one round trip
      if (protocols.length > 0 && !protocols.includes(BLOB_PROTOCOL)) continue
      seen.add(peer.toString())
      yield peer
    }
    if (!this.init.dht || signal.aborted) return
    const dhtSignal = AbortSignal.any([signal, AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT_MS)])
    try {
      for await (const provider of libp2p.contentRouting.findProviders(cid, { signal: dhtSignal })) {
        if (provider.id.equals(libp2p.peerId) || seen.has(provider.id.toString())) continue
        seen.add(provider.id.toString())
        if (provider.multiaddrs.length > 0) await libp2p.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
        yield provider.id
      }
    } catch {
      // timeout or no DHT peers: no more candidates
    }
  }

  private async acquire (signal: AbortSignal): Promise<void> {
    if (this.active < this.init.concurrentFetches) {
      this.active++
      return
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const i = this.queue.indexOf(go)
        if (i >= 0) this.queue.splice(i, 1)
        reject(new AbortedError('the fetch was aborted while waiting for a download slot', { cause: signal.reason }))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.queue.push(go)
    })
  }

  /** Hands the slot to the next waiting fetch, or frees it. */
  private release (): void {
    const next = this.queue.shift()
    if (next != null) next()
    else this.active--
  }
}
