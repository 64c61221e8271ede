/**
 * Export formats (doc/ledger-format.md, "Export formats"): an entry as a JSON object, JSON Lines and CSV
 * (RFC 4180) of entries and of every query's rows.
 */
import { decodeEntryUnverified, type EntryKind, type SignedEntry } from '@swarmtune/wire'
import { bodyOf, cidString, toHex } from './records.js'
import type { EntryFilter, Ledger } from './store.js'

/** Body fields that hold CID bytes (rendered as CID strings), per kind; other bytes are rendered as hex. */
const CID_FIELDS: Record<EntryKind, readonly string[]> = {
  genesis: ['release'],
  'round-open': ['base'],
  contribution: ['roundOpen', 'base', 'blob'],
  verdict: ['contribution'],
  release: ['parent', 'manifest', 'contributions'],
  'round-close': ['roundOpen', 'release'],
  checkpoint: ['head']
}

/** An entry as JSON (the jsonl export line): every byte field readable, the exact frame in `bytes`. */
export interface EntryJson {
  /** Entry CID string (CIDv1, raw, sha2-256, base32). */
  id: string
  /** Author's Ed25519 public key, 64 hex. */
  author: string
  seq: number
  /** CID string of the previous entry of the author, null for seq 0. */
  prev: string | null
  /** ms since Unix epoch (author's clock). */
  ts: number
  /** `ts` as ISO 8601 UTC. */
  time: string
  kind: EntryKind
  /** Community id (CID string of the genesis entry); '' for the genesis itself. */
  community: string
  /** The body: CID fields as CID strings, public keys and other bytes as hex. */
  body: Record<string, unknown>
  /** Ed25519 signature, 128 hex. */
  sig: string
  /** The exact signed frame, base64: re-verifiable with any protocol v1 implementation. */
  bytes: string
}

function jsonValue (value: unknown, asCid: boolean): unknown {
  if (value instanceof Uint8Array) return asCid ? (cidString(value) ?? toHex(value)) : toHex(value)
  if (Array.isArray(value)) return value.map((v) => jsonValue(v, asCid))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v, false)]))
  }
  return value
}

/** The JSON form of an entry. */
export function entryToJson (signed: SignedEntry): EntryJson {
  const { entry } = signed
  const cids = CID_FIELDS[entry.kind]
  const body = Object.fromEntries(Object.entries(bodyOf(entry)).map(([k, v]) => [k, jsonValue(v, cids.includes(k))]))
  return {
    id: signed.id.toString(),
    author: toHex(entry.author),
    seq: entry.seq,
    prev: entry.prev === null ? null : (cidString(entry.prev) ?? toHex(entry.prev)),
    ts: entry.ts,
    time: new Date(entry.ts).toISOString(),
    kind: entry.kind,
    community: entry.community.length === 0 ? '' : (cidString(entry.community) ?? toHex(entry.community)),
    body,
    sig: toHex(entry.sig),
    bytes: Buffer.from(signed.bytes).toString('base64')
  }
}

/** Columns of the entries CSV, in order. */
export const ENTRY_CSV_COLUMNS = ['id', 'author', 'seq', 'prev', 'ts', 'time', 'kind', 'round', 'subject', 'accepted', 'code', 'reason', 'samples', 'norm', 'body'] as const

/** The main CID an entry is about (see doc/ledger-format.md): what a reader of one CSV row wants to join on. */
const SUBJECT: Record<EntryKind, string> = {
  genesis: 'release',
  'round-open': 'base',
  contribution: 'blob',
  verdict: 'contribution',
  release: 'manifest',
  'round-close': 'release',
  checkpoint: 'head'
}

/** One entries-CSV row as column → value, from an entry or its JSON form. */
export function entryCsvRow (entry: SignedEntry | EntryJson): Record<(typeof ENTRY_CSV_COLUMNS)[number], unknown> {
  const json = 'entry' in entry ? entryToJson(entry) : entry
  const b = json.body
  return {
    id: json.id,
    author: json.author,
    seq: json.seq,
    prev: json.prev ?? '',
    ts: json.ts,
    time: json.time,
    kind: json.kind,
    round: typeof b.round === 'number' ? b.round : '',
    subject: b[SUBJECT[json.kind]] ?? '',
    accepted: json.kind === 'verdict' ? b.accepted : '',
    code: json.kind === 'verdict' ? b.code : '',
    reason: json.kind === 'verdict' || json.kind === 'round-close' ? b.reason : '',
    samples: json.kind === 'contribution' ? b.samples : '',
    norm: json.kind === 'contribution' ? b.norm : '',
    body: JSON.stringify(b)
  }
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; arrays joined with ';'. */
export function csvField (value: unknown): string {
  const s = value === undefined || value === null
    ? ''
    : Array.isArray(value) ? value.join(';') : typeof value === 'object' ? JSON.stringify(value) : String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** One CSV line (CRLF-terminated, RFC 4180) of `columns` taken from `row`. */
export function csvLine (columns: readonly string[], row: Record<string, unknown>): string {
  return columns.map((c) => csvField(row[c])).join(',') + '\r\n'
}

/** CSV text of rows: a header line of `columns`, then one line per row. */
export function toCsv (columns: readonly string[], rows: Iterable<Record<string, unknown>>): string {
  let out = csvLine(columns, Object.fromEntries(columns.map((c) => [c, c])))
  for (const row of rows) out += csvLine(columns, row)
  return out
}

/** JSON Lines text: one JSON object per line, LF-terminated. */
export function toJsonl (rows: Iterable<unknown>): string {
  let out = ''
  for (const row of rows) out += JSON.stringify(row) + '\n'
  return out
}

/**
 * Streams the entries matching `filter` (time order) to `write` as JSON Lines ({@link EntryJson} per line)
 * or CSV ({@link ENTRY_CSV_COLUMNS}). Resolves with the number of entries written.
 */
export async function exportEntries (ledger: Ledger, format: 'jsonl' | 'csv', write: (text: string) => void | Promise<void>, filter: EntryFilter = {}): Promise<number> {
  let n = 0
  if (format === 'csv') await write(csvLine(ENTRY_CSV_COLUMNS, Object.fromEntries(ENTRY_CSV_COLUMNS.map((c) => [c, c]))))
  for await (const e of ledger.entries(filter)) {
    await write(format === 'csv' ? csvLine(ENTRY_CSV_COLUMNS, entryCsvRow(e)) : JSON.stringify(entryToJson(e)) + '\n')
    n++
  }
  return n
}

/** What {@link importEntries} did. */
export interface ImportReport {
  /** Lines read (blank lines skipped). */
  lines: number
  appended: number
  duplicates: number
  /**
   * Lines whose entry was refused or unreadable, with the code (first 100 kept); `id` is the entry id its
   * `bytes` decode to and `field` the first field that disagrees with them (`ERR_LEDGER_IMPORT_MISMATCH`).
   */
  rejected: ImportRejection[]
  rejectedCount: number
}

/** One refused line of an import. */
export interface ImportRejection {
  /** 1-based line number, blank lines counted. */
  line: number
  code: string
  reason?: string
  /** Entry CID string of the line's `bytes`, when they decode. */
  id?: string
  /** The field (a dotted path such as `body.samples`) whose value disagrees with the bytes. */
  field?: string
}

/** The fields of an {@link EntryJson}: what an import line may hold besides `bytes`. */
const ENTRY_JSON_FIELDS: ReadonlySet<string> = new Set(['id', 'author', 'seq', 'prev', 'ts', 'time', 'kind', 'community', 'body', 'sig', 'bytes'])

/** The dotted path of the first place `given` differs from `derived` (values as JSON.parse gives them), or undefined. */
function firstDifference (given: unknown, derived: unknown, path: string): string | undefined {
  if (Array.isArray(derived)) {
    if (!Array.isArray(given) || given.length !== derived.length) return path
    for (let i = 0; i < derived.length; i++) {
      const d = firstDifference(given[i], derived[i], `${path}[${i}]`)
      if (d !== undefined) return d
    }
    return undefined
  }
  if (typeof derived === 'object' && derived !== null) {
    if (typeof given !== 'object' || given === null || Array.isArray(given)) return path
    const keys = new Set([...Object.keys(derived), ...Object.keys(given)])
    for (const k of [...keys].sort()) {
      const d = firstDifference((given as Record<string, unknown>)[k], (derived as Record<string, unknown>)[k], `${path}.${k}`)
      if (d !== undefined) return d
    }
    return undefined
  }
  return Object.is(given, derived) ? undefined : path
}

/**
 * The first field of an import line that disagrees with its `bytes` (fields left out are fine; a field an
 * export line never has is a disagreement), or undefined when all agree or the bytes do not decode (ingest
 * then names what is wrong with them).
 */
function mismatchOf (line: Record<string, unknown>, bytes: Uint8Array): { id: string, field: string } | undefined {
  if (Object.keys(line).length === 1) return undefined // only `bytes`: nothing to disagree with them
  let derived: EntryJson
  try {
    derived = entryToJson(decodeEntryUnverified(bytes))
  } catch {
    return undefined
  }
  const fields = derived as unknown as Record<string, unknown>
  for (const key of Object.keys(line)) {
    if (!ENTRY_JSON_FIELDS.has(key)) return { id: derived.id, field: key }
    if (key === 'bytes') continue
    // compare as the JSON text round-trips: the derived values through stringify/parse like the line's
    const field = firstDifference(line[key], JSON.parse(JSON.stringify(fields[key])), key)
    if (field !== undefined) return { id: derived.id, field }
  }
  return undefined
}

/**
 * Imports a JSON Lines export (its `bytes` field) into a ledger: every entry is validated and chained as
 * if it came from the network. The other fields of a line are what the export derived from `bytes`; a line
 * where one of them disagrees (an edited `body.samples`, a `seq` or `author` not the frame's) or that holds
 * a field no export line has is refused with `ERR_LEDGER_IMPORT_MISMATCH`, naming the line, the entry id and
 * the field, and its entry is not stored. Entries are taken in file order per author, as exports list them in time
 * order; an entry whose predecessor (or, for a maintainer-only kind, the genesis) comes later in the file is
 * retried at the end until no more can be stored. This is also how a store is migrated to a new schema
 * version.
 */
export async function importEntries (ledger: Ledger, lines: AsyncIterable<string> | Iterable<string>): Promise<ImportReport> {
  const report: ImportReport = { lines: 0, appended: 0, duplicates: 0, rejected: [], rejectedCount: 0 }
  const reject = (line: number, code: string, reason?: string, about: { id?: string, field?: string } = {}): void => {
    report.rejectedCount++
    if (report.rejected.length < 100) report.rejected.push({ line, code, reason, ...about })
  }
  let batch: Array<{ line: number, bytes: Uint8Array, code?: string, reason?: string }> = []
  let retry: typeof batch = []
  const flush = async (items: typeof batch, final: boolean): Promise<void> => {
    const results = await ledger.ingest(items.map((i) => i.bytes))
    results.forEach((r, i) => {
      if (r.status === 'accept') report.appended++
      else if (r.code === 'ERR_LEDGER_DUPLICATE') report.duplicates++
      else if ((r.code === 'ERR_LEDGER_GAP' || r.code === 'ERR_LEDGER_NO_GENESIS') && !final) retry.push({ ...items[i], code: r.code, reason: r.reason })
      else reject(items[i].line, r.code ?? 'ERR_LEDGER_INVALID_ENTRY', r.reason)
    })
  }
  for await (const text of lines) {
    if (text.trim() === '') continue
    report.lines++
    let bytes: Uint8Array | undefined
    let parsed: Record<string, unknown> | undefined
    try {
      const value = JSON.parse(text) as unknown
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>
      if (typeof parsed?.bytes === 'string') bytes = Uint8Array.from(Buffer.from(parsed.bytes, 'base64'))
    } catch {
      bytes = undefined
    }
    if (bytes === undefined || parsed === undefined) {
      reject(report.lines, 'ERR_LEDGER_BAD_ARGUMENT', 'not a JSON object with a base64 `bytes` field')
      continue
    }
    const mismatch = mismatchOf(parsed, bytes)
    if (mismatch !== undefined) {
      reject(report.lines, 'ERR_LEDGER_IMPORT_MISMATCH', `line ${report.lines}: entry ${mismatch.id}'s field \`${mismatch.field}\` ` +
        (ENTRY_JSON_FIELDS.has(mismatch.field.split(/[.[]/)[0]) ? 'disagrees with the entry\'s signed `bytes`' : 'is not a field of an exported entry') +
        '; the entry was not imported. Export the entry again from a store that holds it, or remove the field from the line', mismatch)
      continue
    }
    batch.push({ line: report.lines, bytes })
    if (batch.length >= 256) {
      await flush(batch, false)
      batch = []
    }
  }
  await flush(batch, false)
  // Entries that arrived before their predecessors or the genesis: retry until no progress.
  while (retry.length > 0) {
    const pending = retry
    retry = []
    const before = report.appended
    await flush(pending, false)
    if (report.appended === before) {
      for (const item of retry) {
        reject(item.line, item.code ?? 'ERR_LEDGER_GAP', item.code === 'ERR_LEDGER_NO_GENESIS' ? 'the community\'s genesis is not in the file or the store' : 'its predecessor is not in the file or the store')
      }
      retry = []
    }
  }
  return report
}
