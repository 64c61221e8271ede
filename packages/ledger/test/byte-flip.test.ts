/**
 * A byte flipped anywhere in the LevelDB files makes open fail with a stable code, or open with the whole
 * ledger intact — never a silently shorter or altered ledger. LevelDB drops a log record whose checksum
 * fails without reporting it, so this is what the heads / summary / lengths.json cross-checks are for.
 */
import { cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, testSeed } from '@swarmtune/test-support'
import { openLedger, type Ledger } from '../src/index.js'
import { bodies, fakeCid, keyFor, makeCommunity } from './fixtures.js'

const TRIALS = 60
let dir: string
let removeDir: () => Promise<void>
let pristine: string
let ids: string[]

async function allIds (ledger: Ledger): Promise<string[]> {
  const out: string[] = []
  for await (const e of ledger.entries()) out.push(e.id.toString())
  return out.sort()
}

async function appendRound (ledger: Ledger, round: number, volunteers: number): Promise<void> {
  const maintainer = await keyFor(0)
  const base = fakeCid(`release-${round - 1}`)
  const open = await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(round, base) }, maintainer)
  for (let v = 1; v <= volunteers; v++) {
    const c = await ledger.sign({ kind: 'contribution', body: bodies.contribution(round, open.id.bytes, base, fakeCid(`blob-${round}-${v}`), 10 * v) }, await keyFor(v))
    await ledger.sign({ kind: 'verdict', body: bodies.verdict(round, c.id.bytes, v % 3 !== 0) }, maintainer)
  }
}

beforeAll(async () => {
  ({ path: dir, cleanup: removeDir } = await tempDir('swarmtune-flip-'))
  pristine = join(dir, 'pristine')
  // Entries in both places LevelDB keeps them: table files (written when a log is recovered on reopen)
  // and the live write-ahead log.
  let ledger = await openLedger({ path: pristine, sync: false })
  await ledger.append((await makeCommunity()).genesis)
  for (let round = 1; round <= 12; round++) await appendRound(ledger, round, 8)
  await ledger.close()
  ledger = await openLedger({ path: pristine, sync: false })
  for (let round = 13; round <= 16; round++) await appendRound(ledger, round, 8)
  ids = await allIds(ledger)
  await ledger.close()
})
afterAll(async () => { await removeDir() })

describe('ledger store under byte flips', () => {
  it('fails closed with a code or serves the whole ledger, for flips anywhere in the LevelDB files', async () => {
    const seed = testSeed('ledger byte flip')
    const files = (await readdir(join(pristine, 'db'))).filter((f) => f !== 'LOCK' && f !== 'LOG' && f !== 'LOG.old')
    expect(files.some((f) => f.endsWith('.ldb'))).toBe(true)
    expect(files.some((f) => f.endsWith('.log'))).toBe(true)
    const sizes = await Promise.all(files.map(async (f) => (await stat(join(pristine, 'db', f))).size))
    const outcomes = new Map<string, number>()
    const count = (k: string): void => { outcomes.set(k, (outcomes.get(k) ?? 0) + 1) }
    await fc.assert(fc.asyncProperty(fc.nat(files.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 }),
      async (fileIndex, where, mask) => {
        const trial = join(dir, 'trial')
        await rm(trial, { recursive: true, force: true })
        await cp(pristine, trial, { recursive: true })
        const file = join(trial, 'db', files[fileIndex])
        const bytes = await readFile(file)
        const offset = Math.floor(where * sizes[fileIndex])
        bytes[offset] ^= mask
        await writeFile(file, bytes)
        let ledger: Ledger
        try {
          ledger = await openLedger({ path: trial })
        } catch (err) {
          const code = (err as { code?: string }).code
          expect(code, `${files[fileIndex]}@${offset}: ${String(err)}`).toMatch(/^ERR_LEDGER_(CORRUPT|TRUNCATED|IO)$/)
          count(code as string)
          return
        }
        try {
          expect(await allIds(ledger), `${files[fileIndex]}@${offset} opened with other entries`).toEqual(ids)
          expect((await ledger.verify()).entries).toBe(ids.length)
          count(ledger.openReport.indexesRebuilt ? 'opened whole, indexes rebuilt' : 'opened whole')
        } finally {
          await ledger.close()
        }
      }), { seed, numRuns: TRIALS })
    process.stdout.write(`ledger byte flip outcomes over ${TRIALS} flips: ${JSON.stringify(Object.fromEntries(outcomes))}\n`)
    // The flips must have hit something that matters at least once, or the test shows nothing.
    expect([...outcomes.keys()].some((k) => k.startsWith('ERR_'))).toBe(true)
  })
})
