/** The per-round table of a simulation as CSV (RFC 4180: comma-separated, header row, `\n` line ends). */
import type { RoundRecord } from './engine.js'

export const CSV_COLUMNS = [
  'round', 'accuracy', 'test_loss', 'train_loss', 'selected', 'accepted', 'rejected', 'rejection_codes',
  'status', 'upload_bytes', 'seconds'
] as const

function cell (v: string | number | undefined): string {
  if (v === undefined) return ''
  const s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : v
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** CSV text of the rounds: one header row, then one row per round. */
export function roundsToCsv (rounds: readonly RoundRecord[]): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const r of rounds) {
    const codes = Object.entries(r.rejectionCodes).map(([c, n]) => `${c}:${n}`).join(' ')
    lines.push([
      r.round, r.accuracy, r.testLoss, r.trainLoss, r.selected, r.accepted, r.rejected, codes, r.status,
      r.uploadBytes, r.seconds
    ].map(cell).join(','))
  }
  return lines.join('\n') + '\n'
}
