/**
 * The daemon's event bus: every part of the daemon (and every plugged-in service) emits JSON-serialisable
 * events here; the control API streams them live (`GET /v1/events`, NDJSON) and the logger records them.
 */
import { EVENT_QUEUE_LENGTH } from './constants.js'

/** One event. `type` is `<area>:<what>` (e.g. `peer:connect`, `blob:fetch:progress`, `ledger:append`). */
export interface DaemonEvent {
  type: string
  /** Milliseconds since the Unix epoch. */
  ts: number
  [field: string]: unknown
}

/** Event types the daemon itself emits; services add their own under their own prefix. */
export type CoreEventType =
  | 'daemon:started' | 'daemon:stopping'
  | 'peer:connect' | 'peer:disconnect' | 'peer:refused' | 'peer:dropped' | 'connection:open' | 'reachability:changed'
  | 'gossip:message' | 'gossip:rejected' | 'gossip:ignored'
  | 'blob:stored' | 'blob:fetch:start' | 'blob:fetch:progress' | 'blob:fetch:done' | 'blob:fetch:failed'
  | 'blob:provider:penalised' | 'blob:corrupt' | 'blob:stream:rejected' | 'stream:rejected'

export type EventListener = (event: DaemonEvent) => void

export interface StreamOptions {
  signal?: AbortSignal
  /** Only events whose type starts with one of these prefixes (e.g. `blob:`). */
  prefixes?: string[]
  /** Events held for a slow reader before the oldest are dropped (default {@link EVENT_QUEUE_LENGTH}). */
  queueLength?: number
}

export class EventBus {
  private readonly listeners = new Set<EventListener>()

  /** Emits an event to every listener; a throwing listener does not stop the others. */
  emit (type: string, fields: Record<string, unknown> = {}): DaemonEvent {
    const event: DaemonEvent = { ...fields, type, ts: Date.now() }
    for (const listener of this.listeners) {
      try {
        listener(event)
      } catch {
        // a listener's failure is its own; the bus keeps going
      }
    }
    return event
  }

  /** Calls `listener` for each event until the returned function is called. */
  subscribe (listener: EventListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  get listenerCount (): number {
    return this.listeners.size
  }

  /**
   * Events as an async iterable, until `signal` aborts or the consumer stops. A consumer slower than the
   * events loses the oldest ones: it then receives an `events:dropped` event with the count.
   */
  async * stream (options: StreamOptions = {}): AsyncGenerator<DaemonEvent> {
    const max = options.queueLength ?? EVENT_QUEUE_LENGTH
    const queue: DaemonEvent[] = []
    let dropped = 0
    let wake: (() => void) | undefined
    const matches = (e: DaemonEvent): boolean => options.prefixes == null || options.prefixes.some((p) => e.type.startsWith(p))
    const unsubscribe = this.subscribe((e) => {
      if (!matches(e)) return
      if (queue.length >= max) {
        queue.shift()
        dropped++
      }
      queue.push(e)
      wake?.()
    })
    const onAbort = (): void => wake?.()
    options.signal?.addEventListener('abort', onAbort)
    try {
      while (options.signal?.aborted !== true) {
        if (dropped > 0) {
          yield { type: 'events:dropped', ts: Date.now(), count: dropped }
          dropped = 0
        }
        const next = queue.shift()
        if (next != null) {
          yield next
          continue
        }
        await new Promise<void>((resolve) => { wake = resolve })
        wake = undefined
      }
    } finally {
      unsubscribe()
      options.signal?.removeEventListener('abort', onAbort)
    }
  }
}
