/**
 * On real LevelDB stores in a temporary folder: `importEntries` refuses a JSON Lines line whose fields disagree
 * with its signed `bytes` (naming the line, the entry id and the field), and a store with a shortened chain
 * fails to open with `ERR_LEDGER_TRUNCATED` naming the author (peer id and key) and the missing seqs.
 */
import { join } from 'node:path'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import { entryKey } from '../src/keys.js'
import { exportEntries, importEntries, openLedger, peerIdOfAuthor, type LedgerCorruptError } from '../src/index.js'
import { bodies, fakeCid, keyFor, makeCommunity } from './fixtures.js'

let dir: string
let removeDir: () => Promise<void>
beforeEach(async () => { ({ path: dir, cleanup: removeDir } = await tempDir('swarmtune-ledger-import-')) })
afterEach(async () => { await removeDir() })

/** A store at `<dir>/<name>` holding a genesis and `n` contributions of volunteer 1 (samples 10, 20, …); its JSON Lines export. */
async function exported (name: string, n: number): Promise<{ path: string, lines: string[], volunteer: string }> {
  const path = join(dir, name)
  const ledger = await openLedger({ path })
  const { genesis } = await makeCommunity()
  await ledger.append(genesis)
  const volunteer = await keyFor(1)
  for (let i = 0; i < n; i++) await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`blob-${i}`), 10 * (i + 1)) }, volunteer)
  let text = ''
  await exportEntries(ledger, 'jsonl', (t) => { text += t })
  await ledger.close()
  return { path, lines: text.trimEnd().split('\n'), volunteer: Buffer.from(volunteer.publicKey.raw).toString('hex') }
}

describe('ledger import', () => {
  it('refuses a line whose decoded fields disagree with its bytes, naming the line, the entry id and the field', async () => {
    const { lines } = await exported('source', 3)
    interface Line { id: string, seq: number, body: { samples: number, metrics: { lossAfter: number } }, note?: string }
    const edits: Array<[number, (e: Line) => void, string]> = [
      [2, (e) => { e.body.samples = 5 * e.body.samples }, 'body.samples'],
      [3, (e) => { e.seq = 7 }, 'seq'],
      [4, (e) => { e.body.metrics.lossAfter = 0.01 }, 'body.metrics.lossAfter'],
      [1, (e) => { e.note = 'added' }, 'note']
    ]
    for (const [line, edit, field] of edits) {
      const copy = [...lines]
      const entry = JSON.parse(copy[line - 1]) as Line
      edit(entry)
      copy[line - 1] = JSON.stringify(entry)
      const target = await openLedger({ path: join(dir, `target-${field}`) })
      try {
        const report = await importEntries(target, copy)
        expect(report.rejected[0], field).toMatchObject({ line, code: 'ERR_LEDGER_IMPORT_MISMATCH', id: entry.id, field })
        expect(report.rejected[0].reason).toContain(entry.id)
        // the refused entry is not stored; the lines before it are
        expect(await target.get(entry.id), field).toBeUndefined()
        for (const before of copy.slice(0, line - 1)) expect(await target.get((JSON.parse(before) as { id: string }).id), field).toBeDefined()
      } finally {
        await target.close()
      }
    }
  })

  it('imports lines holding only the bytes, or every field unchanged', async () => {
    const { lines } = await exported('source', 2)
    const target = await openLedger({ path: join(dir, 'target') })
    try {
      const bare = lines.map((l) => JSON.stringify({ bytes: (JSON.parse(l) as { bytes: string }).bytes }))
      expect(await importEntries(target, [bare[0], lines[1], bare[2]])).toMatchObject({ lines: 3, appended: 3, rejectedCount: 0 })
    } finally {
      await target.close()
    }
  })
})

describe('a truncated chain on open', () => {
  it('names the author by peer id and key, the missing seqs, and what to do', async () => {
    const { path, volunteer } = await exported('truncated', 5)
    const db = new Level<string, Uint8Array>(join(path, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    await db.batch([2, 3].map((seq) => ({ type: 'del' as const, key: entryKey(volunteer, seq) })))
    await db.close()
    const peerId = peerIdFromPublicKey(publicKeyFromRaw((await keyFor(1)).publicKey.raw)).toString()
    expect(peerIdOfAuthor(volunteer)).toBe(peerId)
    const err = await openLedger({ path }).then(async (l) => { await l.close(); throw new Error('opened') }, (e: unknown) => e as LedgerCorruptError)
    expect(err).toMatchObject({ name: 'LedgerCorruptError', code: 'ERR_LEDGER_TRUNCATED', detail: { author: volunteer, missing: { from: 2, to: 3 } } })
    expect(err.message).toContain(peerId)
    expect(err.message).toContain(volunteer)
    expect(err.message).toContain('swarmtune ledger import')
  })
})
