/**
 * Per-round figures as the demo and the rounds benchmark print them, computed from the rounds the
 * maintainer's ledger records (`GET /v1/rounds`, {@link RoundView}).
 */
import type { RoundView } from '@swarmtune/rounds'

/** One round's figures. Times in ms, sizes in bytes, accuracy in [0, 1]. */
export interface RoundRow {
  round: number
  outcome: string
  /** Contributions received and accepted. */
  contributions: number
  accepted: number
  /** Test accuracy of the round's release (undefined without a release). */
  accuracy?: number
  /** Encoded delta bytes the contributors sent, in total and per contributor (mean). */
  bytes: number
  bytesPerContributor: number
  /** Round-open to round-close (the ledger entries' timestamps). */
  wallMs?: number
  /** Largest local training time among the accepted contributions (as the contributors report it). */
  slowestTrainMs?: number
  /** Coordination overhead: wall time − slowest training time. */
  overheadMs?: number
}

/** The figures of a recorded round. */
export function roundRow (r: RoundView): RoundRow {
  const acc = r.release?.metrics.accuracy
  return {
    round: r.round,
    outcome: r.outcome ?? r.state,
    contributions: r.counts.contributions,
    accepted: r.counts.accepted,
    ...(typeof acc === 'number' ? { accuracy: acc } : {}),
    bytes: r.timing.bytes,
    bytesPerContributor: r.counts.contributions === 0 ? 0 : r.timing.bytes / r.counts.contributions,
    ...(r.timing.wallMs === undefined ? {} : { wallMs: r.timing.wallMs }),
    ...(r.timing.slowestTrainMs === undefined ? {} : { slowestTrainMs: r.timing.slowestTrainMs }),
    ...(r.timing.overheadMs === undefined ? {} : { overheadMs: r.timing.overheadMs })
  }
}

/** Bytes in SI units (kB = 1,000 bytes). */
export function formatBytes (n: number): string {
  if (n < 1e3) return `${Math.round(n)} B`
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`
  return `${(n / 1e6).toFixed(2)} MB`
}

/** ms as seconds with one decimal, `-` when unknown. */
export const seconds = (ms: number | undefined): string => ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`

/** A share in [0, 1] as a percentage with `digits` decimals, `-` when unknown. */
export const percent = (x: number | undefined, digits = 2): string => x === undefined ? '-' : `${(100 * x).toFixed(digits)} %`

/** Aligned text columns, numbers right-aligned. */
export function table (columns: string[], rows: string[][], rightAligned: boolean[] = columns.map((_, i) => i > 0)): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((cell, i) => rightAligned[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])).join('  ').trimEnd()
  return [line(columns), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
}

/** Median of a non-empty list. */
export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
