/**
 * The provider side of the blob protocol: answers chunk-table and chunk requests from a {@link BlobSource}
 * (normally the daemon's verified {@link BlobStore}), in order, one stream at a time per request sequence.
 * Writes wait for the stream to drain, so a slow reader slows the provider instead of growing its buffers.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import type { CID } from '@swarmtune/wire'
import type { ChunkTable } from './blob-store.js'
import { decodeRequest, encodeChunkHeader, encodeError, encodeTable, type BlobErrorCode } from './blob-protocol.js'
import { BLOB_MAX_REQUEST_BYTES, BLOB_MAX_SERVING_STREAMS } from './constants.js'

/** Where a provider reads blobs from. `BlobStore` is one; tests and tools may wrap it. */
export interface BlobSource {
  /** @throws an error with `code` `ERR_NODE_BLOB_NOT_FOUND` or `ERR_NODE_BLOB_CORRUPT` */
  chunkTable(cid: CID): Promise<ChunkTable>
  /** @throws as {@link chunkTable}, or RangeError for an index outside the blob */
  readChunk(cid: CID, index: number): Promise<Uint8Array>
}

export interface BlobServerInit {
  /** Streams served at once; further ones get `busy` (default {@link BLOB_MAX_SERVING_STREAMS}). */
  maxServing?: number
  /** Called after each chunk sent (for metrics and events). */
  onChunkServed?(peer: string, cid: CID, bytes: number): void
  /** Called when a request could not be served. */
  onError?(peer: string, err: unknown): void
}

/** A libp2p stream handler serving blobs from `source`. Register it with `libp2p.handle(BLOB_PROTOCOL, …)`. */
export function blobServer (source: BlobSource, init: BlobServerInit = {}): StreamHandler {
  const maxServing = init.maxServing ?? BLOB_MAX_SERVING_STREAMS
  let serving = 0
  return async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: BLOB_MAX_REQUEST_BYTES })
    serving++
    try {
      if (serving > maxServing) {
        await lp.write(encodeError('busy', `serving ${maxServing} blob streams already; try another provider or again later`))
        await stream.close()
        return
      }
      while (true) {
        let frame
        try {
          frame = await lp.read()
        } catch (err) {
          if ((err as Error).name === 'UnexpectedEOFError') break // the client is done
          throw err
        }
        let req
        try {
          req = decodeRequest(frame.subarray())
        } catch (err) {
          await lp.write(encodeError('bad-request', (err as Error).message))
          break
        }
        if (req.op === 'table') {
          try {
            const t = await source.chunkTable(req.cid)
            await lp.write(encodeTable(t.size, t.chunkBytes, t.hashes))
          } catch (err) {
            init.onError?.(peer, err)
            await lp.write(encodeError(errorCodeOf(err), (err as Error).message))
          }
        } else {
          let data: Uint8Array
          try {
            data = await source.readChunk(req.cid, req.index)
          } catch (err) {
            init.onError?.(peer, err)
            await lp.write(encodeError(errorCodeOf(err), (err as Error).message))
            continue
          }
          await lp.writeV([encodeChunkHeader(req.index, data.length), data])
          init.onChunkServed?.(peer, req.cid, data.length)
        }
      }
      await stream.close()
    } catch (err) {
      init.onError?.(peer, err)
      stream.abort(err as Error)
    } finally {
      serving--
    }
  }
}

function errorCodeOf (err: unknown): BlobErrorCode {
  const code = (err as { code?: string }).code
  if (code === 'ERR_NODE_BLOB_NOT_FOUND') return 'not-found'
  if (code === 'ERR_NODE_BLOB_CORRUPT') return 'corrupt'
  if (err instanceof RangeError) return 'bad-request'
  return 'not-found'
}
