/**
 * Handling time of what peers send: from the moment a frame's bytes reach the daemon's code to the moment the
 * daemon decides about it (accept, reject, ignore, reset). It is reported as `handlingMs` on the events of
 * those decisions (`gossip:message`, `gossip:rejected`, `gossip:ignored`, `blob:stream:rejected`,
 * `stream:rejected`, `ledger:sync`) and on the log line of a failed inbound sync session, so that the cost of
 * hostile input is read from the daemon itself rather than through transport, the event stream and the
 * load of whoever watches it.
 *
 * Clock: `performance.now()` (monotonic, sub-millisecond; Node's `perf_hooks`). Figures are rounded to µs.
 */
import type { Stream } from '@libp2p/interface'

/** Milliseconds since `start` (a `performance.now()` reading), rounded to 0.001 ms. */
export function elapsedMs (start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000
}

/** When bytes of one stream last reached this process. */
export interface ArrivalClock {
  /** `performance.now()` of the latest 'message' or 'remoteCloseWrite' event (or of the clock's creation, before any). */
  last: () => number
  /** Removes the clock's listeners. */
  stop: () => void
}

/**
 * Follows `stream`'s 'message' events (each chunk the muxer hands over) and its 'remoteCloseWrite' (the
 * remote's end of writing, which is input too: a session that ends early is decided on it). Add it in the
 * same synchronous step as the protocol's own reader: a libp2p stream hands the bytes it buffered before its
 * first 'message' listener to the listeners present one microtask later, so a reader attached after an
 * await would miss them. Bytes that arrived before the clock (during protocol negotiation) count from its
 * creation, the start of the protocol's handler.
 */
export function arrivalClock (stream: Pick<Stream, 'addEventListener' | 'removeEventListener'>): ArrivalClock {
  let at = performance.now()
  const mark = (): void => { at = performance.now() }
  stream.addEventListener('message', mark)
  stream.addEventListener('remoteCloseWrite', mark)
  const stop = (): void => {
    stream.removeEventListener('message', mark)
    stream.removeEventListener('remoteCloseWrite', mark)
  }
  stream.addEventListener('close', stop, { once: true })
  return { last: () => at, stop }
}
