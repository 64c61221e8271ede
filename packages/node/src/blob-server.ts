/**
 * The provider side of the blob protocol: answers chunk-table and chunk requests from a {@link BlobSource}
 * (normally the daemon's verified {@link BlobStore}), in order, one stream at a time per request sequence.
 *
 * Every inbound stream is bounded (doc/daemon.md, "Blob serving limits"):
 * - **length prefixes** are checked byte by byte ({@link boundedFrames}): a request prefix of more than
 *   2 bytes, or announcing more than {@link BLOB_MAX_REQUEST_BYTES}, resets the stream at once;
 * - **read buffer**: more than {@link BLOB_SERVER_BUFFER_BYTES} unread bytes reset it (`ERR_NODE_BLOB_FLOOD`);
 * - **request deadline**: a whole request must arrive within `requestTimeoutMs` of the stream's start or of
 *   the previous answer, else the stream is reset (`ERR_NODE_BLOB_REQUEST_TIMEOUT`);
 * - **send deadline**: each answer (a chunk of up to 2 MiB) must be taken by the reader within
 *   `chunkSendTimeoutMs` (`ERR_NODE_BLOB_SEND_TIMEOUT`) — writes wait for the stream to drain, so a slow
 *   reader slows the provider instead of growing its buffers, but only this long;
 * - **slots**: at most `maxServing` streams at once, at most `maxServingPerPeer` of one peer (libp2p's
 *   `maxInboundStreams` caps one connection). When every slot is taken, a new stream takes the slot of
 *   the stream that has waited longest for a request among those of the peer holding the most slots,
 *   provided that peer holds more than the newcomer (`ERR_NODE_BLOB_EVICTED`); otherwise the newcomer gets
 *   `busy` (`ERR_NODE_BLOB_BUSY`). Idle streams therefore never keep a peer with fewer streams out.
 */
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import type { CID } from '@swarmtune/wire'
import type { ChunkTable } from './blob-store.js'
import { decodeRequest, encodeChunkHeader, encodeError, encodeTable, type BlobErrorCode } from './blob-protocol.js'
import { boundedFrames, type BoundedFrames } from './bounded-frame.js'
import {
  BLOB_CHUNK_SEND_TIMEOUT_MS, BLOB_MAX_REQUEST_BYTES, BLOB_MAX_SERVING_PER_PEER, BLOB_MAX_SERVING_STREAMS,
  BLOB_REQUEST_TIMEOUT_MS, BLOB_SERVER_BUFFER_BYTES
} from './constants.js'
import { BlobStreamError, FrameLengthError, FrameTruncatedError } from './errors.js'
import { arrivalClock, elapsedMs } from './handling-time.js'

/** Where a provider reads blobs from. `BlobStore` is one; tests and tools may wrap it. */
export interface BlobSource {
  /** @throws an error with `code` `ERR_NODE_BLOB_NOT_FOUND` or `ERR_NODE_BLOB_CORRUPT` */
  chunkTable(cid: CID): Promise<ChunkTable>
  /** @throws as {@link chunkTable}, or RangeError for an index outside the blob */
  readChunk(cid: CID, index: number): Promise<Uint8Array>
}

/** An inbound stream refused or ended by a limit; `code` is one of the codes of {@link BlobStreamError} or `ERR_NODE_FRAME_LENGTH` / `ERR_NODE_BLOB_PROTOCOL`. */
export interface BlobStreamRejection {
  peer: string
  /** libp2p connection id. */
  connection: string
  /** The stream's id on its connection (the muxer's stream id, the same at both ends for yamux). */
  stream: string
  code: string
  reason: string
  /**
   * ms from the latest input of the stream (bytes, or the client's end of writing) to this decision, on the
   * daemon's monotonic clock; absent when a deadline or another stream decided (request or send timeout,
   * eviction).
   */
  handlingMs?: number
}

/** Codes decided by a clock or by another stream, not by what this stream sent: they carry no handling time. */
const UNTIMED_CODES = new Set(['ERR_NODE_BLOB_REQUEST_TIMEOUT', 'ERR_NODE_BLOB_SEND_TIMEOUT', 'ERR_NODE_BLOB_EVICTED'])

export interface BlobServerInit {
  /** Streams served at once (default {@link BLOB_MAX_SERVING_STREAMS}). */
  maxServing?: number
  /** Streams of one peer served at once (default {@link BLOB_MAX_SERVING_PER_PEER}). */
  maxServingPerPeer?: number
  /** ms a whole request may take to arrive, from the stream's start or the previous answer (default {@link BLOB_REQUEST_TIMEOUT_MS}). */
  requestTimeoutMs?: number
  /** ms the reader may take to accept one answer (default {@link BLOB_CHUNK_SEND_TIMEOUT_MS}). */
  chunkSendTimeoutMs?: number
  /** Called after each chunk sent (for metrics and events). */
  onChunkServed?(peer: string, cid: CID, bytes: number): void
  /** Called when a request could not be served (blob missing or corrupt, stream broken). */
  onError?(peer: string, err: unknown): void
  /** Called for every stream refused or ended by a limit, with its code. */
  onRejected?(rejection: BlobStreamRejection): void
}

interface Slot {
  peer: string
  /** When the stream started waiting for its next request (ms since the epoch), or null while serving one. */
  waitingSince: number | null
  /** Aborts the read in progress (deadline or eviction). */
  read?: AbortController
}

/** Serving slots: a global cap, a per-peer cap, and eviction of the longest-waiting stream of the peer holding most. */
class Slots {
  private readonly slots = new Set<Slot>()
  private readonly perPeer = new Map<string, number>()

  constructor (private readonly max: number, private readonly maxPerPeer: number) {}

  /** A slot for `peer`, or why there is none. The evicted stream, if any, has its read aborted. */
  admit (peer: string): Slot | BlobStreamError {
    const held = this.perPeer.get(peer) ?? 0
    if (held >= this.maxPerPeer) {
      return new BlobStreamError('ERR_NODE_BLOB_BUSY', `serving ${held} blob streams of this peer already (at most ${this.maxPerPeer} per peer); finish or close one, or try again later`)
    }
    if (this.slots.size >= this.max) {
      const victim = this.victim()
      if (victim == null || (this.perPeer.get(victim.peer) ?? 0) <= held) {
        return new BlobStreamError('ERR_NODE_BLOB_BUSY', `serving ${this.max} blob streams already; try another provider or again later`)
      }
      this.release(victim)
      victim.read?.abort(new BlobStreamError('ERR_NODE_BLOB_EVICTED', `this stream waited ${Date.now() - (victim.waitingSince ?? 0)} ms without a request while every one of the ${this.max} serving slots was taken; its slot went to a peer holding fewer streams. Open a stream when there is a request to send.`))
    }
    const slot: Slot = { peer, waitingSince: Date.now() }
    this.slots.add(slot)
    this.perPeer.set(peer, held + 1)
    return slot
  }

  release (slot: Slot): void {
    if (!this.slots.delete(slot)) return
    const n = (this.perPeer.get(slot.peer) ?? 1) - 1
    if (n === 0) this.perPeer.delete(slot.peer)
    else this.perPeer.set(slot.peer, n)
  }

  /** The waiting stream of the peer holding most slots that has waited longest. */
  private victim (): Slot | undefined {
    let best: Slot | undefined
    let bestHeld = 0
    for (const s of this.slots) {
      if (s.waitingSince == null) continue
      const held = this.perPeer.get(s.peer) ?? 0
      if (best == null || held > bestHeld || (held === bestHeld && s.waitingSince < (best.waitingSince as number))) {
        best = s
        bestHeld = held
      }
    }
    return best
  }
}

/** A libp2p stream handler serving blobs from `source`. Register it with `libp2p.handle(BLOB_PROTOCOL, …)`. */
export function blobServer (source: BlobSource, init: BlobServerInit = {}): StreamHandler {
  const slots = new Slots(init.maxServing ?? BLOB_MAX_SERVING_STREAMS, init.maxServingPerPeer ?? BLOB_MAX_SERVING_PER_PEER)
  const requestTimeoutMs = init.requestTimeoutMs ?? BLOB_REQUEST_TIMEOUT_MS
  const sendTimeoutMs = init.chunkSendTimeoutMs ?? BLOB_CHUNK_SEND_TIMEOUT_MS

  return async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString()
    const lp = boundedFrames(stream, BLOB_SERVER_BUFFER_BYTES)
    const clock = arrivalClock(stream)
    const reject = (code: string, reason: string): void => init.onRejected?.({
      peer, connection: connection.id, stream: stream.id, code, reason, ...(UNTIMED_CODES.has(code) ? {} : { handlingMs: elapsedMs(clock.last()) })
    })
    const slot = slots.admit(peer)
    if (slot instanceof BlobStreamError) {
      reject(slot.code, slot.message)
      await send(stream, sendTimeoutMs, async (signal) => { await lp.write(encodeError('busy', slot.message), { signal }) })
        .then(async () => { await endStream(stream, requestTimeoutMs) }, (err: Error) => { stream.abort(err) })
      return
    }
    try {
      while (true) {
        const frame = await readRequest(lp, slot, requestTimeoutMs)
        if (frame == null) break // the client is done
        let req
        try {
          req = decodeRequest(frame.subarray())
        } catch (err) {
          reject((err as { code: string }).code, (err as Error).message)
          await send(stream, sendTimeoutMs, async (signal) => { await lp.write(encodeError('bad-request', (err as Error).message), { signal }) })
          break
        }
        if (req.op === 'table') {
          let answer: Uint8Array
          try {
            const t = await source.chunkTable(req.cid)
            answer = encodeTable(t.size, t.chunkBytes, t.hashes)
          } catch (err) {
            init.onError?.(peer, err)
            answer = encodeError(errorCodeOf(err), (err as Error).message)
          }
          await send(stream, sendTimeoutMs, async (signal) => { await lp.write(answer, { signal }) })
        } else {
          let data: Uint8Array
          try {
            data = await source.readChunk(req.cid, req.index)
          } catch (err) {
            init.onError?.(peer, err)
            await send(stream, sendTimeoutMs, async (signal) => { await lp.write(encodeError(errorCodeOf(err), (err as Error).message), { signal }) })
            continue
          }
          const index = req.index
          await send(stream, sendTimeoutMs, async (signal) => { await lp.writeV([encodeChunkHeader(index, data.length), data], { signal }) })
          init.onChunkServed?.(peer, req.cid, data.length)
        }
      }
      slots.release(slot)
      await endStream(stream, requestTimeoutMs)
    } catch (caught) {
      slots.release(slot)
      const err = (caught as Error).name === 'StreamBufferError'
        ? new BlobStreamError('ERR_NODE_BLOB_FLOOD', `the client sent more than the ${BLOB_SERVER_BUFFER_BYTES} bytes a provider buffers ahead of its answers (a client pipelines a few requests of under 100 bytes)`)
        : caught
      if (err instanceof BlobStreamError || err instanceof FrameLengthError || err instanceof FrameTruncatedError) reject(err.code, err.message)
      else init.onError?.(peer, err)
      stream.abort(err as Error)
    }
  }
}

/**
 * The next request frame, or null when the client closed its end between requests.
 * @throws BlobStreamError `ERR_NODE_BLOB_REQUEST_TIMEOUT` / `ERR_NODE_BLOB_EVICTED`, FrameLengthError, FrameTruncatedError, stream errors
 */
async function readRequest (lp: BoundedFrames, slot: Slot, timeoutMs: number): Promise<{ subarray: () => Uint8Array } | null> {
  slot.waitingSince = Date.now()
  const read = new AbortController()
  slot.read = read
  const timer = setTimeout(() => {
    read.abort(new BlobStreamError('ERR_NODE_BLOB_REQUEST_TIMEOUT', `no whole blob request arrived within ${timeoutMs} ms; a client sends its request as soon as the stream is open, and the next one before the previous answer is read`))
  }, timeoutMs)
  let frame
  try {
    frame = await lp.read(BLOB_MAX_REQUEST_BYTES, 'blob request', { signal: read.signal })
  } catch (err) {
    if (read.signal.aborted) throw read.signal.reason
    throw err
  } finally {
    clearTimeout(timer)
    slot.read = undefined
    slot.waitingSince = null
  }
  // evicted in the same tick the request arrived: the slot is gone already
  if (read.signal.aborted) throw read.signal.reason
  return frame
}

/**
 * Runs one write and waits until the stream's write buffer is handed to the muxer, within `timeoutMs`.
 * @throws BlobStreamError `ERR_NODE_BLOB_SEND_TIMEOUT`
 */
async function send (stream: Stream, timeoutMs: number, write: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController()
  const timer = setTimeout(() => {
    controller.abort(new BlobStreamError('ERR_NODE_BLOB_SEND_TIMEOUT', `the reader did not take an answer within ${timeoutMs} ms; a client reads each answer it asked for`))
  }, timeoutMs)
  try {
    await write(controller.signal)
    if (stream.writeBufferLength > 0) await idle(stream, controller.signal)
  } catch (err) {
    throw controller.signal.aborted ? controller.signal.reason : err
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves when the stream's write buffer is empty; rejects on close or abort of `signal`. */
async function idle (stream: Stream, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      stream.removeEventListener('idle', onIdle)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onIdle = (): void => { done() }
    const onClose = (): void => { done(new Error('the stream closed before its answer was sent')) }
    const onAbort = (): void => { done(signal.reason) }
    stream.addEventListener('idle', onIdle)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}

/** Closes our end; a remote that keeps its own end open longer than `graceMs` gets a reset. */
async function endStream (stream: Stream, graceMs: number): Promise<void> {
  try {
    await stream.close({ signal: AbortSignal.timeout(graceMs) })
  } catch (err) {
    stream.abort(err as Error)
    return
  }
  if (stream.status !== 'open') return
  const timer = setTimeout(() => { stream.abort(new BlobStreamError('ERR_NODE_BLOB_REQUEST_TIMEOUT', `the client kept its end open ${graceMs} ms after the provider closed`)) }, graceMs)
  timer.unref?.()
  stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
}

function errorCodeOf (err: unknown): BlobErrorCode {
  const code = (err as { code?: string }).code
  if (code === 'ERR_NODE_BLOB_NOT_FOUND') return 'not-found'
  if (code === 'ERR_NODE_BLOB_CORRUPT') return 'corrupt'
  if (err instanceof RangeError) return 'bad-request'
  return 'not-found'
}
