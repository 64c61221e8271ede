/**
 * Waiting for a round to close, on the daemon's events: subscribe first, then read the round, then read it again
 * on each event that may close it, so a close that lands between the read and the subscription is not missed.
 * `roundsClient(client).waitClosed` follows the control API's event stream with it, `RoundsService.waitClosed`
 * the daemon's event bus in-process. No polling: a round is read once, and again only after such an event.
 */
import type { DaemonEvent, EventBus } from '@swarmtune/node'

/** What a wait reads of a round (a `RoundDetail`). */
export interface FollowedRound {
  state: 'open' | 'closed'
  /** The coordinator's phase, on its own daemon. */
  phase?: string
}

/** Options of a wait for a round's close. */
export interface WaitClosedOptions {
  /** Stops waiting: the wait rejects with the signal's reason. */
  signal?: AbortSignal
  /** Waits at most this long, ms, then resolves to the round as it is (maybe still open); default no limit. */
  timeoutMs?: number
  /**
   * Called with each event followed, in order, before the wait reads the round again on it; with it,
   * `roundsClient(…).waitClosed` follows every `rounds:` event of the daemon ({@link FOLLOW_EVENT_PREFIXES}), not only the close,
   * and on the coordinator's daemon (a round with a `phase`) ends only once the round's `rounds:close` was passed.
   */
  onEvent?: (event: DaemonEvent) => void
}

/** The event types a round's close shows as: its `rounds:close` (on its coordinator's daemon), a stored `round-close` entry. */
export const CLOSE_EVENT_PREFIXES = ['rounds:close', 'ledger:append'] as const

/** The event types a wait with `onEvent` follows: every rounds event, and the stored entries. */
export const FOLLOW_EVENT_PREFIXES = ['rounds:', 'ledger:append'] as const

/** Events after which round `round` may have closed: its close, a stored round-close entry, or events the stream dropped. */
function mayClose (e: DaemonEvent, round: number): boolean {
  return (e.type === 'rounds:close' && e.round === round) || (e.type === 'ledger:append' && e.kind === 'round-close') || e.type === 'events:dropped'
}

/**
 * A round is closed once the ledger holds its round-close and, on its coordinator's daemon (which shows the
 * coordinator's `phase`), once the coordinator has finished closing it (`rounds:close` follows).
 */
function closed (r: FollowedRound): boolean {
  return r.state === 'closed' && (r.phase === undefined || r.phase === 'closed')
}

/**
 * Round `round` once it is closed (see {@link closed}): `subscribe` resolves once it follows the events (until its signal aborts),
 * `read` reads the round.
 * @throws what `read` and `subscribe` throw; `ended()` when the events end before the round closes; the
 *   signal's reason when it aborts
 */
export async function followRound<R extends FollowedRound> (
  subscribe: (signal: AbortSignal) => Promise<AsyncIterable<DaemonEvent>>,
  read: () => Promise<R>,
  round: number,
  options: WaitClosedOptions,
  ended: () => Error
): Promise<R> {
  options.signal?.throwIfAborted()
  const following = new AbortController()
  const stop = (): void => { following.abort() }
  options.signal?.addEventListener('abort', stop)
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(stop, options.timeoutMs)
  try {
    const events = await subscribe(following.signal)
    let r = await read()
    if (closed(r)) return r
    let closeSeen = false
    for await (const e of events) {
      options.onEvent?.(e)
      if (e.type === 'rounds:close' && e.round === round) closeSeen = true
      if (!mayClose(e, round)) continue
      r = await read()
      if (closed(r) && (options.onEvent === undefined || r.phase === undefined || closeSeen)) return r
    }
    options.signal?.throwIfAborted()
    if (following.signal.aborted) return await read()
    throw ended()
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', stop)
    following.abort()
  }
}

/**
 * The close events of a daemon's event bus, subscribed at once (before this returns), until `signal` aborts.
 */
export function busCloseEvents (events: EventBus, signal: AbortSignal): AsyncIterable<DaemonEvent> {
  const stream = events.stream({ signal, prefixes: [...CLOSE_EVENT_PREFIXES] })
  // an async generator runs to its first wait on its first next(): the bus's stream has subscribed by then
  const first = stream.next()
  return (async function * () {
    const r = await first
    if (r.done === true) return
    yield r.value
    yield * stream
  })()
}
