/**
 * Bounds protocol negotiation on inbound streams. libp2p answers every new inbound stream with
 * `@libp2p/multistream-select`'s `handle`, which reads length-prefixed messages through `lpStream` of
 * `@libp2p/utils` (7.x): that reader keeps reading prefix bytes while the varint is incomplete and checks the
 * prefix's length only once it decodes, so `ff ff ff …` sent on a fresh stream grows a buffer one byte at a
 * time until libp2p's negotiation timeout (10 s) — tens of megabytes and seconds of CPU for a few hundred
 * KiB. Neither libp2p 3.3.x, its connection manager nor its registrar has a limit on those bytes (its
 * options bound the time, `inboundStreamProtocolNegotiationTimeout`, and streams per protocol only after
 * negotiation), and no newer release changes this.
 *
 * {@link guardNegotiation} wraps a stream muxer factory: every inbound stream gets a listener, ahead of
 * libp2p's own, that follows the negotiation byte by byte as `handle` does — a message is a varint length of
 * at most 2 bytes and at most {@link NEGOTIATION_MAX_MESSAGE_BYTES} bytes; `/multistream/1.0.0` and `ls`
 * and unknown proposals continue; a proposal of a registered protocol ends it — and resets the stream the
 * moment a prefix runs long ({@link FrameLengthError}) or more than {@link NEGOTIATION_MAX_MESSAGES}
 * messages arrive without agreement ({@link NegotiationError}). Once a protocol is agreed the listener is
 * gone, before the protocol's handler reads; a stream libp2p then resets for exceeding the protocol's
 * `maxInboundStreams` on its connection is reported too (`ERR_NODE_STREAM_LIMIT`).
 */
import type { ComponentLogger, Connection, Stream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import { decodeLengthPrefix } from './bounded-frame.js'
import { NEGOTIATION_MAX_MESSAGE_BYTES, NEGOTIATION_MAX_MESSAGES } from './constants.js'
import { FrameLengthError, NegotiationError } from './errors.js'
import { elapsedMs } from './handling-time.js'

/** The multistream-select header (multistream-select spec; `PROTOCOL_ID` of `@libp2p/multistream-select`). */
const MULTISTREAM_ID = '/multistream/1.0.0'

/** An inbound stream reset during negotiation (or, for a framed protocol, in a frame's prefix). */
export interface NegotiationRejection {
  /** Remote peer id, when its connection is known. */
  peer?: string
  /** The agreed protocol, for a rejection after negotiation. */
  protocol?: string
  /** The stream's id on its connection (the muxer's stream id, the same at both ends for yamux). */
  stream: string
  code: string
  reason: string
  /**
   * ms from the arrival of the chunk that broke the bound to the reset (the checks run on each chunk as the
   * muxer hands it over); absent for `ERR_NODE_STREAM_LIMIT`, which libp2p decides.
   */
  handlingMs?: number
}

export interface NegotiationGuardInit {
  /** Called for each stream reset, with its code (`ERR_NODE_FRAME_LENGTH`, `ERR_NODE_NEGOTIATION_LIMIT`, `ERR_NODE_STREAM_LIMIT`). */
  onRejected?(rejection: NegotiationRejection): void
  /**
   * Length-prefixed protocols served by libraries whose readers have the same unbounded prefix (e.g. the
   * Kademlia DHT's `pbStream`, which sets no limit at all), by protocol id, with their largest frame in bytes:
   * after negotiation the guard keeps checking each frame's prefix on those streams (bodies are skipped, not
   * scanned) and resets a stream whose prefix breaks the bound.
   */
  framedProtocols?: Record<string, number>
}

/** What the guard needs from libp2p's components (they are passed to every muxer factory). */
interface GuardComponents {
  registrar: { getProtocols(): string[] }
  connectionManager: { getConnections(): Connection[] }
  logger?: ComponentLogger
}

/**
 * Wraps a stream muxer factory (e.g. `yamux()`) so that every inbound stream's negotiation is bounded.
 * Use as `streamMuxers: [guardNegotiation(yamux(), { onRejected })]`.
 */
export function guardNegotiation<C> (
  factory: (components: C) => StreamMuxerFactory,
  init: NegotiationGuardInit = {}
): (components: C) => StreamMuxerFactory {
  return (components: C) => {
    const inner = factory(components)
    const parts = components as unknown as GuardComponents
    return {
      protocol: inner.protocol,
      createStreamMuxer (maConn) {
        const muxer = inner.createStreamMuxer(maConn)
        hookStreams(muxer, parts, init)
        return muxer
      }
    }
  }
}

/** Adds the guard's 'stream' listener just before the first other one (libp2p's connection), so it runs first. */
function hookStreams (muxer: StreamMuxer, components: GuardComponents, init: NegotiationGuardInit): void {
  const add = muxer.addEventListener.bind(muxer) as (type: string, listener: unknown, options?: unknown) => void
  let hooked = false
  let peer: string | undefined
  /** The remote peer of this muxer's connection (a connection's `streams` is its muxer's list). */
  const peerOf = (): string | undefined => {
    peer ??= components.connectionManager.getConnections().find((c) => c.streams === muxer.streams)?.remotePeer.toString()
    return peer
  }
  const onStream = (evt: CustomEvent<Stream>): void => {
    const stream = evt.detail
    if (stream.protocol !== '' && stream.protocol != null) return // negotiated by the muxer itself
    watch(stream, components, peerOf, init)
  }
  ;(muxer as { addEventListener: typeof add }).addEventListener = (type: string, listener: unknown, options?: unknown) => {
    if (type === 'stream' && !hooked) {
      hooked = true
      add('stream', onStream)
    }
    add(type, listener, options)
  }
}

/** Follows one stream's negotiation; resets it when it breaks a bound. */
function watch (stream: Stream, components: GuardComponents, peerOf: () => string | undefined, init: NegotiationGuardInit): void {
  const prefix: number[] = []
  let body: Uint8Array | null = null
  let filled = 0
  let messages = 0

  const stop = (): void => { stream.removeEventListener('message', onMessage) }
  const report = (code: string, reason: string, protocol?: string, handlingMs?: number): void => { init.onRejected?.({ peer: peerOf(), protocol, stream: stream.id, code, reason, handlingMs }) }
  const fail = (err: FrameLengthError | NegotiationError, arrived: number): void => {
    stop()
    report(err.code, err.message, undefined, elapsedMs(arrived))
    stream.abort(err)
  }
  /**
   * @returns true when a protocol is agreed: the rest of the chunk is the protocol's
   * @throws NegotiationError past {@link NEGOTIATION_MAX_MESSAGES}
   */
  const message = (bytes: Uint8Array): boolean => {
    messages++
    const text = new TextDecoder().decode(bytes).trimEnd()
    if (text !== MULTISTREAM_ID && bytes[bytes.length - 1] === 0x0a && components.registrar.getProtocols().includes(text)) {
      stop()
      // libp2p then resets a stream beyond the protocol's maxInboundStreams of one connection: say so with a code
      stream.addEventListener('close', (evt) => {
        const error = (evt as Event & { error?: Error }).error
        if (error?.name === 'TooManyInboundProtocolStreamsError') report('ERR_NODE_STREAM_LIMIT', `${error.message}; the stream is reset. Close finished streams before opening more`, text)
      }, { once: true })
      const max = init.framedProtocols?.[text]
      if (max !== undefined) watchFrames(stream, text, max, (err, arrived) => { report(err.code, err.message, text, elapsedMs(arrived)) })
      return true
    }
    if (messages > NEGOTIATION_MAX_MESSAGES) {
      throw new NegotiationError(`${messages} multistream-select messages arrived on a stream without agreeing on a protocol this node speaks (at most ${NEGOTIATION_MAX_MESSAGES}); the stream is reset. Propose one of the protocols \`ls\` lists.`)
    }
    return false
  }
  const onMessage = (evt: Event & { data: Uint8Array | Iterable<Uint8Array> }): void => {
    const arrived = performance.now()
    const parts = evt.data instanceof Uint8Array ? [evt.data] : evt.data
    try {
      for (const part of parts) {
        for (let i = 0; i < part.length; i++) {
          const b = part[i]
          if (body == null) {
            prefix.push(b)
            const n = decodeLengthPrefix((k) => prefix[k], prefix.length, NEGOTIATION_MAX_MESSAGE_BYTES, 'multistream-select message')
            if (n === undefined) continue
            prefix.length = 0
            body = new Uint8Array(n)
            filled = 0
            if (n > 0) continue
          } else {
            body[filled++] = b
            if (filled < body.length) continue
          }
          const done = body
          body = null
          if (message(done)) return
        }
      }
    } catch (err) {
      if (!(err instanceof FrameLengthError || err instanceof NegotiationError)) throw err
      // the rest of this chunk is not for libp2p's reader either
      evt.stopImmediatePropagation()
      fail(err, arrived)
    }
  }
  stream.addEventListener('message', onMessage as unknown as (evt: Event) => void)
  stream.addEventListener('close', stop, { once: true })
}

/**
 * Checks the length prefix of every frame of an agreed, length-prefixed protocol. The watcher joins when
 * the protocol's handler adds its own 'message' listener, just ahead of it (a listener of ours alone would
 * take the bytes multistream-select hands back to the stream before the handler reads), so both see the same
 * bytes from the protocol's first, and a chunk that breaks the bound never reaches the handler.
 */
function watchFrames (stream: Stream, protocol: string, maxBytes: number, onFail: (err: FrameLengthError, arrived: number) => void): void {
  const target = stream as unknown as { addEventListener: (type: string, listener: unknown, options?: unknown) => void }
  const original = target.addEventListener
  const prefix: number[] = []
  let skip = 0
  const onMessage = (evt: Event & { data: Uint8Array | Iterable<Uint8Array> }): void => {
    const arrived = performance.now()
    const parts = evt.data instanceof Uint8Array ? [evt.data] : evt.data
    try {
      for (const part of parts) {
        let i = 0
        while (i < part.length) {
          if (skip > 0) {
            const n = Math.min(skip, part.length - i)
            skip -= n
            i += n
            continue
          }
          prefix.push(part[i++])
          const n = decodeLengthPrefix((k) => prefix[k], prefix.length, maxBytes, `${protocol} frame`)
          if (n === undefined) continue
          prefix.length = 0
          skip = n
        }
      }
    } catch (err) {
      if (!(err instanceof FrameLengthError)) throw err
      // the handler's reader would go on reading what it was given byte by byte: it gets none of this chunk
      evt.stopImmediatePropagation()
      stream.removeEventListener('message', onMessage as unknown as (evt: Event) => void)
      onFail(err, arrived)
      stream.abort(err)
    }
  }
  target.addEventListener = function (this: unknown, type: string, listener: unknown, options?: unknown) {
    if (type === 'message') {
      delete (target as { addEventListener?: unknown }).addEventListener
      // ours first, so that it sees each chunk before the handler does; both are in place before the first dispatch
      original.call(stream, 'message', onMessage)
    }
    original.call(stream, type, listener, options)
  }
  stream.addEventListener('close', () => { delete (target as { addEventListener?: unknown }).addEventListener }, { once: true })
}
