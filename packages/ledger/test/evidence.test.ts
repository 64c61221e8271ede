/**
 * Equivocation evidence within caps: one record per author and seq, a per-author and a total cap (maintainers
 * exempt from the total), every conflicting entry not kept counted — in the ingest result, the
 * `evidence-dropped` event, `evidenceDropped` (kept across reopen) and ledgerStats — and not asked for by sync.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SignedEntry, SigningKey } from '@swarmtune/wire'
import { tempDir } from '@swarmtune/test-support'
import {
  createMemoryDb, EVIDENCE_MAX_RECORDS_PER_AUTHOR, ledgerStats, openLedger, syncLedger, type EvidenceDrop, type IngestResult, type Ledger
} from '../src/index.js'
import { bodies, ChainSigner, fakeCid, keyFor, makeCommunity } from './fixtures.js'
import { duplexPair } from './helpers.js'

let dir: string
let removeDir: () => Promise<void>
beforeEach(async () => { ({ path: dir, cleanup: removeDir } = await tempDir('swarmtune-evidence-')) })
afterEach(async () => { await removeDir() })

async function folderBytes (path: string): Promise<number> {
  let total = 0
  for (const name of await readdir(path)) total += (await stat(join(path, name))).size
  return total
}

/** A contribution of `key` at `seq` (after `prev`), different from every other one by its blob. */
async function contributionAt (signer: ChainSigner, key: SigningKey, seq: number, prev: Uint8Array | null, label: string): Promise<SignedEntry> {
  return await signer.sign(key, 'contribution', bodies.contribution(1, fakeCid('round-open'), fakeCid('release-0'), fakeCid(label), 10), { seq, prev })
}

function dropsOf (ledger: Ledger): EvidenceDrop[] {
  const drops: EvidenceDrop[] = []
  ledger.addEventListener('evidence-dropped', (evt) => { drops.push((evt as CustomEvent<EvidenceDrop>).detail) })
  return drops
}

describe('equivocation evidence', () => {
  it('hands an ingest its results as soon as they are known, before the batch that stores the entry or the evidence is written', async () => {
    const { genesis, signer } = await makeCommunity()
    const ledger = await openLedger({ path: join(dir, 'ledger') })
    await ledger.append(genesis)
    const key = await keyFor(1)
    const first = await contributionAt(signer, key, 0, null, 'first')
    const twin = await contributionAt(signer, key, 0, null, 'twin')
    const order: string[] = []
    ledger.addEventListener('entry', () => { order.push('entry written') })
    ledger.addEventListener('equivocation', () => { order.push('evidence written') })
    const told: IngestResult[][] = []
    const onDecided = (r: IngestResult[]): void => { order.push('decided'); told.push(r) }
    const results = [
      await ledger.ingest([first.bytes], { onDecided }),
      await ledger.ingest([twin.bytes], { onDecided }),
      // a replay of the evidence kept: nothing to write, so the final results are handed over
      await ledger.ingest([twin.bytes], { onDecided })
    ]
    expect(order).toEqual(['decided', 'entry written', 'decided', 'evidence written', 'decided'])
    expect(told).toEqual(results)
    expect(results.map(([r]) => [r.status, r.code, r.evidence])).toEqual([['accept', undefined, undefined], ['reject', 'ERR_LEDGER_EQUIVOCATION', true], ['reject', 'ERR_LEDGER_EQUIVOCATION', false]])
    await ledger.close()
  })

  it('keeps one pair per author and seq: of 150 conflicting seq-0 contributions from one key, one is stored and one kept as evidence', async () => {
    const path = join(dir, 'ledger')
    const { genesis, signer } = await makeCommunity()
    let ledger = await openLedger({ path })
    await ledger.append(genesis)
    const key = await keyFor(1)
    const conflicting = await Promise.all(Array.from({ length: 150 }, async (_, i) => await contributionAt(signer, key, 0, null, `twin-${i}`)))
    const before = await folderBytes(join(path, 'db'))
    const drops = dropsOf(ledger)
    const results = []
    for (const e of conflicting) results.push((await ledger.ingest([e.bytes]))[0]) // one by one, as gossip delivers them
    expect(results[0]).toMatchObject({ status: 'accept' })
    expect(results[1]).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_EQUIVOCATION', evidence: true })
    for (const r of results.slice(2)) expect(r).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_EQUIVOCATION', evidence: false, evidenceDropped: 'pair-held' })
    expect(ledger.evidenceCount).toBe(1)
    expect(ledger.evidenceDropped).toBe(148)
    expect(drops.map((d) => d.reason)).toEqual(Array(148).fill('pair-held'))
    expect(drops.map((d) => d.entry.id.toString())).toEqual(conflicting.slice(2).map((e) => e.id.toString()))
    // a replay of the record kept is neither stored again nor counted
    expect((await ledger.ingest([conflicting[1].bytes]))[0]).toMatchObject({ evidence: false })
    expect(ledger.evidenceDropped).toBe(148)
    const offered = conflicting.slice(1).reduce((n, e) => n + e.bytes.length, 0)
    await ledger.close()
    const after = await folderBytes(join(path, 'db'))
    process.stdout.write(`evidence flood: 149 conflicting frames (${offered} bytes) offered, 1 kept, 148 dropped; LevelDB folder ${before} -> ${after} bytes\n`)

    ledger = await openLedger({ path })
    try {
      expect(ledger.openReport).toMatchObject({ evidence: 1, evidenceDropped: 148 })
      expect(ledger.evidenceDropped).toBe(148)
      expect(await ledgerStats(ledger)).toMatchObject({ equivocations: 1, evidenceDropped: 148 })
      const kept = []
      for await (const e of ledger.equivocations()) kept.push(e)
      expect(kept).toHaveLength(1)
      expect(kept[0]).toMatchObject({ seq: 0, type: 'same-seq' })
      expect(kept[0].conflicting.id.toString()).toBe(conflicting[1].id.toString())
    } finally {
      await ledger.close()
    }
  })

  it(`keeps at most ${EVIDENCE_MAX_RECORDS_PER_AUTHOR} records of one author, one per seq`, async () => {
    const { genesis, signer } = await makeCommunity()
    const ledger = await openLedger({ db: createMemoryDb() })
    await ledger.append(genesis)
    const key = await keyFor(1)
    const chain: SignedEntry[] = []
    for (let seq = 0; seq <= EVIDENCE_MAX_RECORDS_PER_AUTHOR + 2; seq++) {
      chain.push(await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('round-open'), fakeCid('release-0'), fakeCid(`own-${seq}`), 10) }, key))
    }
    const twins = await Promise.all(chain.map(async (e, seq) => await contributionAt(signer, key, seq, e.entry.prev, `twin-${seq}`)))
    const results = await ledger.ingest(twins.map((e) => e.bytes))
    expect(results.map((r) => r.evidence)).toEqual(twins.map((_, seq) => seq < EVIDENCE_MAX_RECORDS_PER_AUTHOR))
    expect(results.slice(EVIDENCE_MAX_RECORDS_PER_AUTHOR).map((r) => r.evidenceDropped)).toEqual(['author-cap', 'author-cap', 'author-cap'])
    expect(ledger.evidenceCount).toBe(EVIDENCE_MAX_RECORDS_PER_AUTHOR)
    expect(ledger.evidenceDropped).toBe(3)
    // another author is not held to this one's cap
    const other = await keyFor(2)
    const first = await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('round-open'), fakeCid('release-0'), fakeCid('other'), 10) }, other)
    expect((await ledger.ingest([(await contributionAt(signer, other, 0, first.entry.prev, 'other-twin')).bytes]))[0]).toMatchObject({ evidence: true })
    await ledger.close()
  })

  it('keeps evidence up to the total cap in bytes, except against a maintainer, and tests the cap at the limit and one past it', async () => {
    const { maintainer, genesis, signer } = await makeCommunity()
    const volunteers = await Promise.all([1, 2, 3].map(async (n) => await keyFor(n)))
    const db = createMemoryDb()
    let ledger = await openLedger({ db })
    await ledger.append(genesis)
    const firsts = []
    for (const [i, v] of volunteers.entries()) firsts.push(await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('round-open'), fakeCid('release-0'), fakeCid(`own-${i}`), 10) }, v))
    const twins = await Promise.all(volunteers.map(async (v, i) => await contributionAt(signer, v, 0, null, `twin-${i}`)))
    const open = await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('release-0')) }, maintainer)
    const maintainerTwin = await signer.sign(maintainer, 'round-open', bodies.roundOpen(2, fakeCid('release-0')), { seq: open.entry.seq, prev: open.entry.prev })
    const cap = twins[0].bytes.length + twins[1].bytes.length // exactly two volunteer records
    await ledger.close()
    ledger = await openLedger({ db, evidence: { maxTotalBytes: cap } })
    const results = await ledger.ingest([...twins, maintainerTwin].map((e) => e.bytes))
    expect(results.map((r) => r.evidence)).toEqual([true, true, false, true])
    expect(results[2].evidenceDropped).toBe('total-cap')
    expect(ledger.evidenceCount).toBe(3)
    expect(ledger.evidenceDropped).toBe(1)
    await ledger.close()
    await expect(openLedger({ db: createMemoryDb(), evidence: { maxTotalBytes: 0 } })).rejects.toMatchObject({ code: 'ERR_LEDGER_BAD_ARGUMENT' })
    await expect(openLedger({ db: createMemoryDb(), evidence: { maxRecordsPerAuthor: 1.5 } })).rejects.toMatchObject({ code: 'ERR_LEDGER_BAD_ARGUMENT' })
  })

  it('does not ask a peer again for an equivocation it holds evidence of', async () => {
    const { genesis } = await makeCommunity()
    const volunteer = await keyFor(1)
    const a = await openLedger({ db: createMemoryDb() })
    const b = await openLedger({ db: createMemoryDb() })
    await a.append(genesis)
    await b.append(genesis)
    const sign = async (l: Ledger, label: string): Promise<SignedEntry> =>
      await l.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(label), 10) }, volunteer)
    await b.append(await sign(a, 'shared'))
    await sign(a, 'on-a') // seq 1 on a
    await sign(b, 'on-b') // another seq 1 on b
    const run = async (): Promise<Awaited<ReturnType<typeof syncLedger>>> => {
      const [x, y] = duplexPair()
      return (await Promise.all([syncLedger(a, x), syncLedger(b, y)]))[0]
    }
    const first = await run()
    expect(first).toMatchObject({ wanted: 1, evidence: 1 })
    const second = await run()
    expect(second).toMatchObject({ wanted: 0, received: 0, evidence: 0, evidenceDropped: 0 })
    expect(a.evidenceCount).toBe(1)
    await a.close()
    await b.close()
  })
})
