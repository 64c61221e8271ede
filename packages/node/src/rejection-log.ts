/**
 * A rate-limited log of what the daemon refused from peers (gossip rejections, refused and dropped
 * connections): at most one line per key (a peer and a code, or an address and a code) per interval, each
 * line carrying how many were `suppressed` since the previous line of that key. A flood of bad messages thus
 * costs a few log lines, and the log still says who sent what and how often.
 */
import type { Logger } from 'pino'
import { REJECTION_LOG_MAX_KEYS } from './constants.js'

export type RejectionLevel = 'warn' | 'info' | 'debug'

interface Entry { at: number, suppressed: number }

export interface RejectionLogInit {
  log: Logger
  /** At most one line per key per this many ms (0: every rejection is logged). */
  intervalMs: number
  /** Keys remembered; the least recently logged is forgotten beyond this (default {@link REJECTION_LOG_MAX_KEYS}). */
  maxKeys?: number
  now?: () => number
}

export class RejectionLog {
  private readonly entries = new Map<string, Entry>()
  private readonly log: Logger
  private readonly intervalMs: number
  private readonly maxKeys: number
  private readonly now: () => number
  /** Suppressed counts lost because their key was forgotten (memory bound). */
  forgotten = 0

  constructor (init: RejectionLogInit) {
    this.log = init.log
    this.intervalMs = init.intervalMs
    this.maxKeys = init.maxKeys ?? REJECTION_LOG_MAX_KEYS
    this.now = init.now ?? Date.now
  }

  /**
   * Logs `msg` with `fields` (which should hold `peer` and `code`) unless a line of the same `key` was written
   * less than the interval ago; then only counts it.
   *
   * @returns true when a line was written
   */
  record (key: string, level: RejectionLevel, fields: Record<string, unknown>, msg: string): boolean {
    const now = this.now()
    const entry = this.entries.get(key)
    if (entry != null && now - entry.at < this.intervalMs) {
      entry.suppressed++
      return false
    }
    this.entries.delete(key)
    this.entries.set(key, { at: now, suppressed: 0 })
    if (this.entries.size > this.maxKeys) {
      const [oldest, dropped] = this.entries.entries().next().value as [string, Entry]
      this.entries.delete(oldest)
      this.forgotten += dropped.suppressed
    }
    this.log[level]({ ...fields, suppressed: entry?.suppressed ?? 0 }, msg)
    return true
  }
}
