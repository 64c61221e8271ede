/**
 * `<store>/lengths.json`: a lower bound of every author's chain length, kept beside LevelDB so that an open can
 * tell a store that lost entries (a restored backup, a truncated copy) from one that never had them.
 */
import { readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { LEDGER_SCHEMA_VERSION } from './constants.js'
import { LedgerCorruptError } from './errors.js'
import { writeSynced } from './files.js'
import { isAuthorHex } from './keys.js'
import type { Head } from './records.js'

/**
 * The chain lengths recorded in `<dir>/lengths.json` (author hex → length), or undefined without the file.
 * @throws LedgerCorruptError `ERR_LEDGER_CORRUPT` for a malformed file
 */
export async function readLengths (dir: string): Promise<Map<string, number> | undefined> {
  let text: string
  try {
    text = await readFile(join(dir, 'lengths.json'), 'utf8')
  } catch {
    return undefined
  }
  try {
    const parsed = JSON.parse(text) as { version?: number, authors?: Record<string, number> }
    const map = new Map<string, number>()
    for (const [author, length] of Object.entries(parsed.authors ?? {})) {
      if (!isAuthorHex(author) || !Number.isSafeInteger(length) || length < 0) throw new Error('bad record')
      map.set(author, length)
    }
    return map
  } catch (err) {
    throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', dir, 'lengths.json is malformed', { key: 'lengths.json' }, { cause: err })
  }
}

/**
 * Writes `<dir>/lengths.json` (tmp file, fsync, rename) from the heads. One writer at a time: the caller
 * serialises calls (two writers of the temporary file would fail the second rename or leave a torn file).
 */
export async function writeLengths (dir: string, entries: number, heads: Map<string, Head>): Promise<void> {
  const authors: Record<string, number> = {}
  for (const [author, head] of heads) authors[author] = head.seq + 1
  const text = JSON.stringify({ version: LEDGER_SCHEMA_VERSION, entries, authors }) + '\n'
  const tmp = join(dir, 'lengths.json.tmp')
  await writeSynced(tmp, text, { flag: 'w', mode: 0o600 })
  await rename(tmp, join(dir, 'lengths.json'))
}
