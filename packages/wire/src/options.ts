/**
 * The options every long operation of swarmtune takes: `signal` cancels it, `onProgress` receives its typed
 * progress events (`CustomProgressEvent<detail, type>` of the `progress-events` package, as js-libp2p and
 * Helia report progress). A package names its events as a union, e.g.
 * `LongOperationOptions<CustomProgressEvent<VerifyProgress, 'ledger:verify'>>`.
 */
import type { ProgressEvent, ProgressOptions } from 'progress-events'

/** Cancellation of a long operation (the js-libp2p `AbortOptions` shape). */
export interface AbortOptions {
  signal?: AbortSignal
}

/** `signal` and typed progress events: the options of every long operation. */
export type LongOperationOptions<E extends ProgressEvent = ProgressEvent> = AbortOptions & ProgressOptions<E>
