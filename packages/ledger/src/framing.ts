/**
 * Length-prefixed frames over any byte stream: each frame is an unsigned LEB128 varint length (at most
 * 5 bytes) followed by that many bytes — the framing of libp2p stream protocols (it-length-prefixed), so
 * the sync protocol runs unchanged over a libp2p stream, a socket or an in-memory pair.
 */
import { LedgerSyncError } from './errors.js'

/**
 * The byte stream a sync session runs on: structurally a libp2p (v3) `Stream`, which satisfies it as is.
 * `send` returns false when the write buffer is full; the session then waits for `onDrain()`.
 */
export interface ByteStream extends AsyncIterable<Uint8Array | { subarray: () => Uint8Array }> {
  send: (data: Uint8Array) => boolean | undefined
  onDrain?: (options?: { signal?: AbortSignal }) => Promise<void>
  /** Closes the writing side once everything was sent. */
  close: (options?: { signal?: AbortSignal }) => Promise<void>
  /** Tears the stream down at once. */
  abort?: (err: Error) => void
}

/** The varint length prefix followed by the payload. */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const prefix: number[] = []
  let n = payload.length
  while (n >= 0x80) {
    prefix.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  prefix.push(n)
  const out = new Uint8Array(prefix.length + payload.length)
  out.set(prefix, 0)
  out.set(payload, prefix.length)
  return out
}

/**
 * Splits a stream of chunks into frames. The declared length is checked against `maxFrameBytes` before
 * any byte of the frame is buffered.
 * @throws LedgerSyncError `ERR_LEDGER_SYNC_FRAME_TOO_LARGE` for a longer frame, `ERR_LEDGER_SYNC_PROTOCOL`
 *   for a malformed prefix or a stream that ends inside a frame.
 */
export async function * decodeFrames (source: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>, maxFrameBytes: number): AsyncGenerator<Uint8Array> {
  let buffer: Uint8Array = new Uint8Array(0)
  for await (const chunk of source) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    buffer = buffer.length === 0 ? bytes : concat(buffer, bytes)
    while (true) {
      const header = readVarint(buffer)
      if (header === undefined) break
      const [length, used] = header
      if (length > maxFrameBytes) {
        throw new LedgerSyncError('ERR_LEDGER_SYNC_FRAME_TOO_LARGE', `the peer announced a frame of ${length} bytes; at most ${maxFrameBytes} are accepted`)
      }
      if (buffer.length < used + length) break
      yield buffer.slice(used, used + length)
      buffer = buffer.subarray(used + length)
    }
  }
  if (buffer.length > 0) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', `the stream ended inside a frame (${buffer.length} bytes left over)`)
}

/** [value, bytes used], or undefined when more bytes are needed. */
function readVarint (buffer: Uint8Array): [number, number] | undefined {
  let value = 0
  for (let i = 0; i < buffer.length; i++) {
    if (i >= 5) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'a frame length prefix is longer than 5 bytes')
    value += (buffer[i] & 0x7f) * 2 ** (7 * i)
    if ((buffer[i] & 0x80) === 0) {
      if (i > 0 && buffer[i] === 0) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'a frame length prefix is not minimally encoded')
      return [value, i + 1]
    }
  }
  return undefined
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
