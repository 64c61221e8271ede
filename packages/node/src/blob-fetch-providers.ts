/**
 * The providers of one blob download (blob-fetch.ts): finding them (hints first, then connected peers, then
 * DHT provider records), probing each with a chunk-table request, opening and reusing their blob streams,
 * penalising them, and picking the chunk table to download by majority. Also says why no provider was
 * found.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { BLOB_PROTOCOL, type CID } from '@swarmtune/wire'
import { chunkTableKey, type ChunkTable } from './blob-store.js'
import { BlobProtocolError, decodeTableResponse, encodeRequest } from './blob-protocol.js'
import { boundedFrames, readFrame, type BoundedFrames } from './bounded-frame.js'
import {
  BLOB_MAX_CHUNK_BYTES, BLOB_MAX_CHUNK_HEADER_BYTES, BLOB_MAX_HEADER_BYTES, FETCH_PIPELINE_DEPTH, FETCH_PROBE_CONCURRENCY,
  FETCH_DIRECT_WAIT_MS, FETCH_STALL_TIMEOUT_MS, FETCH_STREAM_REUSE_MS, PENALTY_BAD_BYTES
} from './constants.js'
import { BlobFetchError, BlobTooLargeError, FrameLengthError } from './errors.js'
import type { FetchWake } from './blob-fetch-wake.js'
import type { BlobFetchComponents, FetchOptions, FetchPenalty, FetchResult, PenaltyReason } from './blob-fetch-types.js'

/** One peer asked for the blob, and how far it got. */
export interface Provider {
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
  /** true when it stayed connected through relays only (no blob is transferred over a relayed connection). */
  relayedOnly?: boolean
  chunks: number
  bytes: number
}

/** How often {@link ProviderSet.awaitDirect} looks for a direct connection, in ms. */
const DIRECT_POLL_MS = 250
/** How long to wait for more chunk tables after the first, before picking the majority table. */
export const TABLE_QUORUM_WAIT_MS = 200
/** Most bytes a client may buffer on one stream: the pipelined chunks plus their headers. */
const CLIENT_BUFFER_BYTES = FETCH_PIPELINE_DEPTH * (BLOB_MAX_CHUNK_BYTES + BLOB_MAX_CHUNK_HEADER_BYTES) + BLOB_MAX_HEADER_BYTES

export class ProviderPool {
  /** Every peer named or found, by peer id string. */
  readonly providers = new Map<string, Provider>()
  /** Keys of chunk tables whose chunks did not hash to the CID. */
  readonly excludedTables = new Set<string>()
  /** Penalties given during this fetch, in order. */
  readonly penalties: FetchPenalty[] = []
  private probesPending = 0
  private discoveryDone = false
  private firstTableAt = 0

  constructor (
    private readonly components: BlobFetchComponents,
    private readonly cid: CID,
    private readonly maxBytes: number,
    private readonly options: FetchOptions,
    private readonly signal: AbortSignal,
    private readonly wake: FetchWake
  ) {}

  /** True once discovery ended and every probe answered: no provider is still to come. */
  get settled (): boolean {
    return this.discoveryDone && this.probesPending === 0
  }

  /** Names and probes candidates until they run out or the fetch ends; never throws. */
  async discover (): Promise<void> {
    try {
      const hints = this.options.providers ?? []
      const discovered = this.options.discover === false ? [] : this.components.candidates(this.cid, this.signal)
      for await (const peer of concat(hints, discovered)) {
        if (this.signal.aborted) break
        const id = peer.toString()
        if (this.providers.has(id) || this.components.excluded(id)) continue
        const p: Provider = { id, peer, state: 'probing', chunks: 0, bytes: 0, idleSince: 0 }
        this.providers.set(id, p)
        while (this.probesPending >= FETCH_PROBE_CONCURRENCY && !this.signal.aborted) await this.wake.changed()
        this.probesPending++
        void this.probe(p).finally(() => {
          this.probesPending--
          this.wake.notify()
        })
      }
    } catch {
      // discovery errors (DHT unreachable …) only mean fewer candidates
    } finally {
      this.discoveryDone = true
      this.wake.notify()
    }
  }

  /**
   * Returns once `p` has a direct connection, or none at all (the dial then makes one); while it is connected
   * through relays only, waits up to {@link FETCH_DIRECT_WAIT_MS} for DCUtR to open a direct one.
   *
   * @throws BlobFetchError (`ERR_NODE_BLOB_RELAYED_ONLY`) when the wait ends with relayed connections only
   */
  private async awaitDirect (p: Provider): Promise<void> {
    const libp2p = this.components.libp2p
    if (libp2p.getConnections == null) return
    const deadline = Date.now() + FETCH_DIRECT_WAIT_MS
    for (;;) {
      const open = libp2p.getConnections(p.peer).filter((c) => c.status === 'open')
      if (open.length === 0 || open.some((c) => c.limits == null)) return
      if (Date.now() >= deadline || this.signal.aborted) {
        p.relayedOnly = true
        throw new BlobFetchError('ERR_NODE_BLOB_RELAYED_ONLY', `peer ${p.id} is connected through a relay only, and no direct connection opened within ${FETCH_DIRECT_WAIT_MS} ms: blobs are not transferred over relays. The fetch goes on with other providers; see doc/daemon.md, "Reachability"`)
      }
      await new Promise((resolve) => setTimeout(resolve, DIRECT_POLL_MS))
    }
  }

  private async probe (p: Provider): Promise<void> {
    try {
      await this.awaitDirect(p)
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
  async usableStream (p: Provider): Promise<BoundedFrames> {
    const s = p.stream
    if (p.lp != null && s != null && s.status === 'open' && s.writeStatus === 'writable' && s.remoteWriteStatus === 'writable' &&
      Date.now() - p.idleSince <= FETCH_STREAM_REUSE_MS) return p.lp
    return await this.openStream(p, AbortSignal.any([this.signal, AbortSignal.timeout(FETCH_STALL_TIMEOUT_MS)]))
  }

  /** Records a penalty against `p` (this fetch's list, the node's reputation) and reports it as progress. */
  penalise (p: Provider, reason: PenaltyReason, points: number, detail: string): void {
    const penalty: FetchPenalty = { peer: p.id, reason, points, detail }
    this.penalties.push(penalty)
    this.components.penalise(p.id, points, reason, this.cid, detail)
    this.options.onProgress?.(new CustomProgressEvent('blob:fetch:penalty', { ...penalty, cid: this.cid }))
  }

  /**
   * The chunk table announced by the largest group of ready providers (tables excluded for a false CID left
   * out), once every probe answered or {@link TABLE_QUORUM_WAIT_MS} passed since the first table came;
   * undefined while it is too early to pick.
   *
   * @throws BlobTooLargeError when no provider offers a table, none is still to come, and some announced the
   *   blob as larger than the limit
   * @throws BlobFetchError `ERR_NODE_BLOB_NO_PROVIDERS` when no provider offers a table and none is still to come
   */
  pickTable (): ChunkTable | undefined {
    const groups = new Map<string, Provider[]>()
    for (const p of this.providers.values()) {
      if (p.state !== 'ready' || p.tableKey == null || this.excludedTables.has(p.tableKey)) continue
      groups.set(p.tableKey, [...(groups.get(p.tableKey) ?? []), p])
    }
    if (groups.size > 0 && (this.probesPending === 0 || Date.now() - this.firstTableAt >= TABLE_QUORUM_WAIT_MS)) {
      const best = [...groups.values()].sort((a, b) => b.length - a.length)[0]
      return best[0].table as ChunkTable
    }
    if (groups.size === 0 && this.settled) {
      if ([...this.providers.values()].some((p) => p.tooLarge === true)) {
        throw new BlobTooLargeError(`providers announce blob ${this.cid.toString()} as larger than the limit of ${this.maxBytes} bytes; raise blobs.maxBlobBytes (or the fetch's maxBytes) to fetch it`)
      }
      throw new BlobFetchError('ERR_NODE_BLOB_NO_PROVIDERS', this.noProvidersMessage())
    }
    return undefined
  }

  /** Providers announcing the table of `tableKey` that are ready or downloading. */
  groupSize (tableKey: string | undefined): number {
    let n = 0
    for (const p of this.providers.values()) if (p.tableKey === tableKey && (p.state === 'ready' || p.state === 'active')) n++
    return n
  }

  /** Closes every provider's open stream (aborting one that does not close cleanly). */
  async closeStreams (): Promise<void> {
    for (const p of this.providers.values()) {
      if (p.stream != null && p.stream.status === 'open') {
        await p.stream.close().catch((e: Error) => p.stream?.abort(e))
      }
    }
  }

  /** The providers that delivered verified chunks, as {@link FetchResult} lists them. */
  delivered (): FetchResult['providers'] {
    return [...this.providers.values()].filter((p) => p.chunks > 0).map((p) => ({ peer: p.id, chunks: p.chunks, bytes: p.bytes }))
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
    const relayed = all.filter((p) => p.relayedOnly === true).length
    const counts = `asked ${asked} peer(s)${unreachable > 0 ? `; ${unreachable} peer(s) named or found could not be reached` : ''}${relayed > 0 ? ` (${relayed} through a relay only: blobs wait for a direct connection, see doc/daemon.md, "Reachability")` : ''}${this.excludedTables.size > 0 ? '; their chunk tables did not match the CID' : ''}`
    if (connections === 0) return `no reachable peer has blob ${this.cid.toString()}: this node has no connected peer (${counts}); ${connect}.`
    return `no reachable peer has blob ${this.cid.toString()} (${counts}). Check that a peer holding it is connected (\`swarmtune peers\`; to add one, ${connect}), or pass its peer id as a provider.`
  }
}

async function * concat<T> (first: Iterable<T>, rest: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  yield * first
  yield * rest
}
