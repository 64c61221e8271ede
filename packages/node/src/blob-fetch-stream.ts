/**
 * The chunk read from one provider of a blob download (blob-fetch.ts): requests pipelined
 * {@link FETCH_PIPELINE_DEPTH} deep on the provider's blob stream, each answer's header and length checked
 * and its bytes hashed against the chunk table before they are written. A provider that answers wrongly
 * is dropped for this blob, with a penalty when it misbehaved; chunks it still owed go back to the queue.
 */
import type { CID } from '@swarmtune/wire'
import { chunkHash, chunkRange, type ChunkTable } from './blob-store.js'
import { BlobProtocolError, decodeChunkHeader, encodeRequest } from './blob-protocol.js'
import { readFrame, type BoundedFrames } from './bounded-frame.js'
import { bytesEqual, sha256OfParts } from './cid.js'
import { BLOB_MAX_CHUNK_HEADER_BYTES, FETCH_PIPELINE_DEPTH, FETCH_STALL_TIMEOUT_MS, PENALTY_BAD_BYTES, PENALTY_FAILED } from './constants.js'
import { FrameLengthError } from './errors.js'
import type { Provider } from './blob-fetch-providers.js'
import type { PenaltyReason } from './blob-fetch-types.js'

/** What a chunk read needs from the download it serves. */
export interface ChunkReadHost {
  readonly cid: CID
  /** Aborts when the download ends. */
  readonly signal: AbortSignal
  /** The provider's blob stream, reused or new. */
  stream: (p: Provider) => Promise<BoundedFrames>
  /** The next chunk index to request, or undefined when none is left. */
  take: () => number | undefined
  /** Puts a chunk that was requested but not delivered back in the queue. */
  giveBack: (index: number) => void
  /** Counts bytes received from the network (`fetchedBytes`), verified or not. */
  received: (bytes: number) => void
  /** Writes a verified chunk's buffers at byte offset `start` of the partial file. */
  write: (data: Uint8Array[], start: number, length: number) => Promise<void>
  /** Records a verified, written chunk delivered by `p`. */
  verified: (index: number, bytes: number, p: Provider, data: Uint8Array[]) => void
  penalise: (p: Provider, reason: PenaltyReason, points: number, detail: string) => void
}

/** Ends a worker: the provider is dropped for this blob, with a penalty when it misbehaved. */
class DropProvider extends BlobProtocolError {
  constructor (readonly reason: PenaltyReason | null, message: string) { super(message) }
}

/**
 * Reads chunks from `p` until none is left to take or the download ends; `p` goes back to `ready`, or to
 * `dropped` (its stream aborted) when the read fails. Never throws.
 */
export async function readChunks (p: Provider, table: ChunkTable, host: ChunkReadHost): Promise<void> {
  const inflight: number[] = []
  try {
    const lp = await host.stream(p)
    while (!host.signal.aborted) {
      while (inflight.length < FETCH_PIPELINE_DEPTH) {
        const i = host.take()
        if (i === undefined) break
        inflight.push(i)
        await lp.write(encodeRequest({ op: 'chunk', cid: host.cid, index: i }), { signal: host.signal })
      }
      if (inflight.length === 0) break
      const i = inflight[0]
      const [start, end] = chunkRange(table, i)
      const signal = AbortSignal.any([host.signal, AbortSignal.timeout(FETCH_STALL_TIMEOUT_MS)])
      const header = decodeChunkHeader((await readFrame(lp, BLOB_MAX_CHUNK_HEADER_BYTES, 'chunk header', signal)).subarray())
      if (!header.ok) throw new DropProvider(null, `provider answered '${header.code}' for chunk ${i}: ${header.reason}`)
      if (header.index !== i || header.length !== end - start) {
        throw new DropProvider('protocol', `provider announced chunk ${header.index} of ${header.length} bytes, expected chunk ${i} of ${end - start} bytes`)
      }
      // the chunk stays in the buffers it arrived in: hashed and written without a copy
      const data = [...await readFrame(lp, end - start, 'chunk', signal)]
      const length = data.reduce((n, b) => n + b.length, 0)
      host.received(length)
      if (length !== end - start || !bytesEqual(sha256OfParts(data), chunkHash(table, i))) {
        throw new DropProvider('bad-bytes', `chunk ${i} does not hash to its chunk-table entry`)
      }
      await host.write(data, start, length)
      inflight.shift()
      p.idleSince = Date.now()
      host.verified(i, length, p, data)
    }
    if (p.state === 'active') p.state = 'ready'
  } catch (err) {
    p.state = 'dropped'
    p.stream?.abort(err as Error)
    if (!host.signal.aborted) {
      if (err instanceof DropProvider) {
        if (err.reason === 'bad-bytes' || err.reason === 'protocol') host.penalise(p, err.reason, PENALTY_BAD_BYTES, err.message)
      } else if (err instanceof BlobProtocolError || err instanceof FrameLengthError) {
        host.penalise(p, 'protocol', PENALTY_BAD_BYTES, err.message)
      } else {
        host.penalise(p, 'failed', PENALTY_FAILED, (err as Error).message)
      }
    }
  } finally {
    for (const i of inflight) host.giveBack(i)
  }
}
