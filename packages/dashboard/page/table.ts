/**
 * Table cells and CSV of the dashboard's rows, written as `swarmtune ledger export` writes them
 * (doc/ledger-format.md, "Values"): RFC 4180, CRLF, a header line, lists joined with `;`, no value → empty field.
 */

/** One row a table or plot draws: column → value (number, string, boolean, list; undefined for none). */
export type Row = Record<string, unknown>

/** A column: its row key, header label, and how its cells show. */
export interface Column {
  key: string
  label?: string
  /** Significant digits shown for a number (the exact value stays in `data-value` and the title). */
  digits?: number
  mono?: boolean
  /** Colour the cell by its accepted / rejected / pending / ok / failed value. */
  status?: boolean
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; lists joined with ';'. */
export function csvField (value: unknown): string {
  const s = value === undefined || value === null ? '' : Array.isArray(value) ? value.join(';') : String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** CSV text of `rows` under `columns`: a header line, then one CRLF-terminated line per row. */
export function csvOf (columns: readonly string[], rows: readonly Row[]): string {
  return [columns, ...rows.map((r) => columns.map((c) => r[c]))].map((line) => line.map(csvField).join(',')).join('\r\n') + '\r\n'
}

/** The `<td>` of one value: the shown text, and the exact value in `data-value` (lists joined with ';'). */
export function cell (column: Column, value: unknown): HTMLTableCellElement {
  const td = document.createElement('td')
  const exact = value === undefined || value === null ? '' : Array.isArray(value) ? value.join(';') : String(value)
  td.dataset.col = column.key
  td.dataset.value = exact
  if (typeof value === 'number') {
    td.className = 'num'
    td.textContent = column.digits === undefined || Number.isInteger(value) ? String(value) : value.toPrecision(column.digits)
    td.title = exact
  } else if (Array.isArray(value)) {
    td.textContent = value.join(', ')
  } else {
    td.textContent = exact
  }
  if (column.mono === true) td.classList.add('mono')
  if (column.status === true) td.classList.add(exact)
  return td
}
