/**
 * Bounded length prefixes for frames read from peers. A frame is an unsigned varint (multiformats
 * unsigned-varint: 7 bits per byte, least significant group first, high bit set on every byte but the last,
 * minimal) and that many bytes. `lpStream` of `@libp2p/utils` keeps reading prefix bytes for as long as the
 * decoder says "incomplete" and checks the prefix only once it decodes, so an endless run of `0xff` grows its
 * buffer without end; here every prefix byte is checked as it arrives: a prefix with more bytes than the
 * limit needs, a non-minimal one, or one announcing more than the limit, is a {@link FrameLengthError} at
 * once.
 */
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { AbortOptions, Stream } from '@libp2p/interface'
import { FrameLengthError, FrameTruncatedError } from './errors.js'

/** Bytes of the unsigned varint of `n` (1 for n < 2^7, 2 for n < 2^14, …). */
export function varintBytes (n: number): number {
  let bytes = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    bytes++
  }
  return bytes
}

/**
 * Decodes the length prefix held in bytes `[0, count)` (read through `byteAt`).
 *
 * @param maxBytes - largest length accepted; the prefix may have at most {@link varintBytes}(maxBytes) bytes
 * @param what - names the frame in messages ("blob request", "multistream-select message" …)
 * @returns the length, or `undefined` while the prefix is incomplete and within its bound
 * @throws FrameLengthError (`ERR_NODE_FRAME_LENGTH`) for a prefix longer than needed, non-minimal, or above `maxBytes`
 */
export function decodeLengthPrefix (byteAt: (i: number) => number, count: number, maxBytes: number, what: string): number | undefined {
  const limitBytes = varintBytes(maxBytes)
  let value = 0
  for (let i = 0; i < count && i < limitBytes; i++) {
    const b = byteAt(i)
    value += (b & 0x7f) * 2 ** (7 * i)
    if (b < 0x80) {
      if (i > 0 && b === 0) {
        throw new FrameLengthError(`the length prefix of a ${what} is not minimal (${hex(byteAt, i + 1)}: a zero last byte); expected the shortest unsigned varint of the length. The stream is reset.`)
      }
      if (value > maxBytes) {
        throw new FrameLengthError(`a ${what} announces ${value} bytes; at most ${maxBytes} are accepted. The stream is reset.`)
      }
      return value
    }
  }
  if (count >= limitBytes) {
    throw new FrameLengthError(`the length prefix of a ${what} (${hex(byteAt, count)} …) runs past the ${limitBytes} byte(s) a length of at most ${maxBytes} needs; expected an unsigned varint of at most ${limitBytes} byte(s). The stream is reset.`)
  }
  return undefined
}

function hex (byteAt: (i: number) => number, n: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(byteAt(i).toString(16).padStart(2, '0'))
  return out.join(' ')
}

type Lp = LengthPrefixedStream<Stream>
/** A frame as read (a list of the buffers it arrived in). */
export type Frame = Awaited<ReturnType<Lp['read']>>
type Writable = Parameters<Lp['write']>[0]

/** A length-prefixed stream whose every read names its own limit. */
export interface BoundedFrames {
  /**
   * Reads one frame of at most `maxBytes` bytes; null when the stream ended cleanly before the frame's first byte.
   * @throws FrameLengthError as soon as the prefix breaks the bound; FrameTruncatedError when the stream ends
   *   inside the frame; the signal's reason when it aborts; the stream's own error when it was aborted or reset
   *   (`StreamBufferError` for more than `maxBufferBytes` unread, `StreamResetError` …), even between frames
   */
  read(maxBytes: number, what: string, options?: AbortOptions): Promise<Frame | null>
  write(data: Writable, options?: AbortOptions): Promise<void>
  writeV(data: Writable[], options?: AbortOptions): Promise<void>
}

/**
 * Wraps `stream` in a length-prefixed reader and writer whose prefixes are checked byte by byte
 * ({@link decodeLengthPrefix}).
 *
 * @param maxBufferBytes - most unread bytes buffered from the stream (more aborts it: `lpStream`'s `maxBufferSize`)
 */
export function boundedFrames (stream: Stream, maxBufferBytes: number): BoundedFrames {
  let limit = 0
  let what = 'frame'
  /** Prefix bytes of the frame being read (lpStream calls the decoder once per byte). */
  let prefixBytes = 0
  /**
   * The error the stream was aborted or reset with. `byteStream` of `@libp2p/utils` empties its buffer on an
   * overflow and aborts the stream in a microtask; a read in flight whose wait had already been settled by
   * an earlier chunk of the same tick then wakes to an ended stream and reports an `UnexpectedEOFError` at
   * the first prefix byte, which is not the clean end it looks like.
   */
  let closedWith: Error | undefined
  stream.addEventListener('close', (evt) => { closedWith = (evt as Event & { error?: Error }).error }, { once: true })
  const lp: Lp = lpStream(stream, {
    maxBufferSize: maxBufferBytes,
    lengthDecoder: (prefix) => {
      prefixBytes = prefix.byteLength
      const n = decodeLengthPrefix((i) => prefix.get(i), prefix.byteLength, limit, what)
      // lpStream reads one more prefix byte on a RangeError
      if (n === undefined) throw new RangeError('incomplete length prefix')
      return n
    }
  })
  return {
    read: async (maxBytes, name, options) => {
      limit = maxBytes
      what = name
      prefixBytes = 0
      try {
        return await lp.read(options)
      } catch (err) {
        if ((err as Error).name !== 'UnexpectedEOFError') throw err
        if (closedWith !== undefined) throw closedWith
        if (prefixBytes === 0) return null
        throw new FrameTruncatedError(`the stream ended inside a ${what} (${(err as Error).message}); a frame is sent whole`)
      }
    },
    write: async (data, options) => { await lp.write(data, options) },
    writeV: async (data, options) => { await lp.writeV(data, options) }
  }
}

/**
 * The peer's next frame, which it must send: a stream it ended instead is a failed exchange.
 * @throws FrameTruncatedError when the stream ended cleanly before the frame; what {@link BoundedFrames.read} throws
 */
export async function readFrame (lp: BoundedFrames, maxBytes: number, what: string, signal: AbortSignal): Promise<Frame> {
  const frame = await lp.read(maxBytes, what, { signal })
  if (frame == null) throw new FrameTruncatedError(`the peer ended the stream instead of sending a ${what}`)
  return frame
}
