/**
 * Ledger import benchmark (`npm run bench -- ledger-import`): `importEntries` of a JSON Lines export whose
 * lines hold every field (each checked against the entry its `bytes` decode to) against the same entries as
 * lines holding only `bytes` (nothing to check), both into fresh in-memory stores. The bytes-only import is
 * measured right before and right after the full one; the mean of the two is the reference, so load from other
 * processes moves figure and reference alike. Set SWARMTUNE_BENCH_ENTRIES to change the 5,000 entries.
 */
import { createMemoryDb, exportEntries, importEntries, openLedger } from '@swarmtune/ledger'
import { bodies, fakeCid, keyFor, makeCommunity } from '../../packages/ledger/test/fixtures.js'

const ENTRIES = Number(process.env.SWARMTUNE_BENCH_ENTRIES ?? 5_000)
const AUTHORS = 20

const fmt = (x: number, digits = 3): string => Number(x.toPrecision(digits)).toLocaleString('en-US')

async function exported (): Promise<string[]> {
  const ledger = await openLedger({ db: createMemoryDb() })
  const { genesis } = await makeCommunity()
  await ledger.append(genesis)
  const keys = await Promise.all(Array.from({ length: AUTHORS }, async (_, i) => await keyFor(i + 1)))
  for (let i = 0; i < ENTRIES; i++) {
    await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`blob-${i}`), 10 + i) }, keys[i % AUTHORS])
  }
  let text = ''
  await exportEntries(ledger, 'jsonl', (t) => { text += t })
  await ledger.close()
  return text.trimEnd().split('\n')
}

/** Entries imported per second from `lines` into a fresh store. */
async function rate (lines: string[]): Promise<number> {
  const target = await openLedger({ db: createMemoryDb() })
  const t0 = process.hrtime.bigint()
  const report = await importEntries(target, lines)
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  await target.close()
  if (report.appended !== lines.length) throw new Error(`imported ${report.appended} of ${lines.length}: ${JSON.stringify(report.rejected[0])}`)
  return lines.length / s
}

const full = await exported()
const bare = full.map((l) => JSON.stringify({ bytes: (JSON.parse(l) as { bytes: string }).bytes }))
await rate(bare.slice(0, 500)) // warm-up
const before = await rate(bare)
const checked = await rate(full)
const after = await rate(bare)
const reference = (before + after) / 2
process.stdout.write(`ledger import: ${fmt(full.length)} full export lines, fields checked = ${fmt(checked)} entries/s  (vs the same entries as bytes-only lines = ${fmt(reference)} entries/s, ratio ${fmt(checked / reference, 2)})\n`)
