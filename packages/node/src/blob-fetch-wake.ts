/**
 * Wake-ups of one blob download (blob-fetch.ts): whatever changes the download's state (a probe or a worker
 * ending, discovery finishing) calls {@link FetchWake.notify}; a loop waiting for such a change awaits
 * {@link FetchWake.changed}, which also returns on abort or after a timeout.
 */
export class FetchWake {
  private waiters: Array<() => void> = []

  constructor (private readonly signal: AbortSignal) {}

  /** Wakes every waiter. */
  notify (): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** Resolves on the next state change, on abort, or after `timeoutMs`. */
  async changed (timeoutMs?: number): Promise<void> {
    if (this.signal.aborted) return
    await new Promise<void>((resolve) => {
      const timer = timeoutMs != null ? setTimeout(done, timeoutMs) : undefined
      const signal = this.signal
      function done (): void {
        if (timer != null) clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
      this.waiters.push(done)
    })
  }
}
