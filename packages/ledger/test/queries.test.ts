import { beforeAll, describe, expect, it } from 'vitest'
import { parseCid, validateEntry, type SignedEntry } from '@swarmtune/wire'
import {
  contributionsByPeer, contributionsByRound, createMemoryDb, ENTRY_CSV_COLUMNS, exportEntries, importEntries, ledgerStats,
  listContributions, listReleases, openLedger, queryView, releaseLineage, releaseShares, toCsv, VIEW_CSV_COLUMNS, VIEW_FILTERS, type Ledger
} from '../src/index.js'
import { bodies, fakeCid, keyFor } from './fixtures.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const cid = (label: string): string => parseCid(fakeCid(label)).toString()

/**
 * Two rounds. Round 1: volunteers 1, 2, 3 contribute (100, 200, 300 samples); 1 and 2 accepted, 3 rejected
 * for its norm; release-1 aggregates 1 and 2 with FedAvg weights 1/3, 2/3. A non-maintainer (volunteer 3)
 * tries to sign a verdict accepting its own contribution: the store refuses it. Round 2 on release-1: volunteers 1
 * and 2; only 2 is judged (accepted) and released as release-2 with weight 1. Release-1 records accuracy 0.9
 * only; release-2 accuracy, loss, perplexity, evalExamples and samples, and a non-numeric metric.
 */
let ledger: Ledger
const c: Record<string, SignedEntry> = {}
beforeAll(async () => {
  ledger = await openLedger({ db: createMemoryDb() })
  const m = await keyFor(0)
  const v = [m, await keyFor(1), await keyFor(2), await keyFor(3)]
  await ledger.sign({ kind: 'genesis', body: bodies.genesis([m.publicKey.raw]) }, m)
  const open1 = await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('release-0')) }, m)
  for (const i of [1, 2, 3]) c[`1.${i}`] = await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, open1.id.bytes, fakeCid('release-0'), fakeCid(`blob-1-${i}`), 100 * i) }, v[i])
  await ledger.sign({ kind: 'verdict', body: bodies.verdict(1, c['1.1'].id.bytes, true) }, m)
  await ledger.sign({ kind: 'verdict', body: bodies.verdict(1, c['1.2'].id.bytes, true) }, m)
  await ledger.sign({ kind: 'verdict', body: bodies.verdict(1, c['1.3'].id.bytes, false) }, m)
  await expect(ledger.sign({ kind: 'verdict', body: bodies.verdict(1, c['1.3'].id.bytes, true, 'OK', 'self-approved') }, v[3]))
    .rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
  const rel1 = await ledger.sign({ kind: 'release', body: bodies.release(1, fakeCid('release-0'), fakeCid('release-1'), [c['1.1'].id.bytes, c['1.2'].id.bytes], [1 / 3, 2 / 3]) }, m)
  await ledger.sign({ kind: 'round-close', body: bodies.roundClose(1, open1.id.bytes, rel1.id.bytes) }, m)
  const open2 = await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(2, fakeCid('release-1')) }, m)
  for (const i of [1, 2]) c[`2.${i}`] = await ledger.sign({ kind: 'contribution', body: bodies.contribution(2, open2.id.bytes, fakeCid('release-1'), fakeCid(`blob-2-${i}`), 50) }, v[i])
  await ledger.sign({ kind: 'verdict', body: bodies.verdict(2, c['2.2'].id.bytes, true) }, m)
  await ledger.sign({ kind: 'release', body: bodies.release(2, fakeCid('release-1'), fakeCid('release-2'), [c['2.2'].id.bytes], [1], { accuracy: 0.9375, loss: 0.25, perplexity: Math.exp(0.25), evalExamples: 512, samples: 50, serverOptimizerState: 'none' }) }, m)
})

describe('ledger queries', () => {
  it('lists contributions with maintainer verdicts and the releases that used them', async () => {
    const rows = await listContributions(ledger, { round: 1 })
    expect(rows.map((r) => [r.samples, r.status, r.code, r.releases])).toEqual([
      [100, 'accepted', 'OK', [cid('release-1')]],
      [200, 'accepted', 'OK', [cid('release-1')]],
      [300, 'rejected', 'ERR_FEDAVG_NORM_BOUND', []]
    ])
    expect(rows[2].reason).toContain('norm')
    const mine = await listContributions(ledger, { author: hex((await keyFor(1)).publicKey.raw) })
    expect(mine.map((r) => [r.round, r.status])).toEqual([[1, 'accepted'], [2, 'pending']])
  })

  it('sums contributions per peer and per round', async () => {
    const peers = await contributionsByPeer(ledger)
    const v1 = peers.find((p) => p.author === hex(c['1.1'].entry.author))
    // samples: accepted contributions only (100 of round 1; round 2's 50 is pending); samplesAll: every claim
    expect(v1).toMatchObject({ contributions: 2, accepted: 1, pending: 1, rejected: 0, samples: 100, samplesAll: 150, rounds: [1, 2], released: 1 })
    expect(peers.find((p) => p.author === hex(c['1.3'].entry.author))).toMatchObject({ contributions: 1, rejected: 1, samples: 0, samplesAll: 300 })
    const rounds = await contributionsByRound(ledger)
    expect(rounds).toEqual([
      { round: 1, contributions: 3, contributors: 3, accepted: 2, rejected: 1, pending: 0, release: cid('release-1'), outcome: 'released', accuracy: 0.9 },
      { round: 2, contributions: 2, contributors: 2, accepted: 1, rejected: 0, pending: 1, release: cid('release-2'), accuracy: 0.9375, loss: 0.25, perplexity: Math.exp(0.25), evalExamples: 512 }
    ])
  })

  it('lists releases with their metrics as columns, and writes metrics left out as empty CSV fields', async () => {
    const v1 = hex(c['1.1'].entry.author)
    const v2 = hex(c['1.2'].entry.author)
    const releases = await listReleases(ledger)
    expect(releases.map(({ entry: _entry, ts: _ts, ...r }) => r)).toEqual([
      { release: cid('release-1'), round: 1, parent: cid('release-0'), contributions: 2, contributors: [v1, v2].sort(), accuracy: 0.9 },
      { release: cid('release-2'), round: 2, parent: cid('release-1'), contributions: 1, contributors: [v2], samples: 50, accuracy: 0.9375, loss: 0.25, perplexity: Math.exp(0.25), evalExamples: 512 }
    ])
    expect(await queryView(ledger, 'releases', { round: 2 })).toEqual([releases[1]])
    expect(await queryView(ledger, 'releases', { release: cid('release-1') })).toEqual([releases[0]])
    expect((await queryView(ledger, 'releases', { reverse: true })).map((r) => r.round)).toEqual([2, 1])
    await expect(queryView(ledger, 'releases', { author: v1 })).rejects.toMatchObject({ code: 'ERR_LEDGER_UNSUPPORTED_FILTER' })
    const csv = toCsv(VIEW_CSV_COLUMNS.releases, await queryView(ledger, 'releases')).split('\r\n')
    expect(csv[0]).toBe('release,round,parent,entry,ts,contributions,contributors,samples,accuracy,loss,perplexity,evalExamples')
    expect(csv[1]).toBe(`${cid('release-1')},1,${cid('release-0')},${releases[0].entry},${releases[0].ts},2,${[v1, v2].sort().join(';')},,0.9,,,`)
    expect(csv[2].endsWith(`,1,${v2},50,0.9375,0.25,${Math.exp(0.25)},512`)).toBe(true)
    const rounds = toCsv(VIEW_CSV_COLUMNS.rounds, await queryView(ledger, 'rounds')).split('\r\n')
    expect(rounds[0]).toBe('round,contributions,contributors,accepted,rejected,pending,release,outcome,accuracy,loss,perplexity,evalExamples')
    expect(rounds[1]).toBe(`1,3,3,2,1,0,${cid('release-1')},released,0.9,,,`)
    expect(rounds[2]).toBe(`2,2,2,1,0,1,${cid('release-2')},,0.9375,0.25,${Math.exp(0.25)},512`)
  })

  it('applies each filter to each view that takes it, and refuses the others naming the filters the view takes', async () => {
    const v1 = hex(c['1.1'].entry.author)
    const peers = await queryView(ledger, 'peers', { author: v1 })
    expect(peers.map((p) => p.author)).toEqual([v1])
    expect(await queryView(ledger, 'peers', { round: 2 })).toEqual(expect.arrayContaining([expect.objectContaining({ author: v1, contributions: 1, samples: 0, samplesAll: 50 })]))
    expect((await queryView(ledger, 'peers', { release: cid('release-1') })).map((p) => p.author).sort()).toEqual([v1, hex(c['1.2'].entry.author)].sort())
    expect((await queryView(ledger, 'contributions', { release: cid('release-2') })).map((r) => r.id)).toEqual([c['2.2'].id.toString()])
    expect((await queryView(ledger, 'contributions', { since: c['2.1'].entry.ts })).map((r) => r.id)).toEqual([c['2.1'].id.toString(), c['2.2'].id.toString()])
    expect((await queryView(ledger, 'contributions', { reverse: true, limit: 1 })).map((r) => r.id)).toEqual([c['2.2'].id.toString()])
    expect((await queryView(ledger, 'rounds', { round: 2 })).map((r) => r.round)).toEqual([2])
    expect((await queryView(ledger, 'shares', { author: v1 })).map((r) => r.contribution)).toEqual([c['1.1'].id.toString()])
    expect((await queryView(ledger, 'shares', { round: 2 })).map((r) => r.release)).toEqual([cid('release-2')])
    expect((await queryView(ledger, 'heads', { author: v1 })).map((r) => r.author)).toEqual([v1])
    for (const [view, filter] of [['rounds', { kind: 'verdict' }], ['peers', { kind: 'contribution' }], ['heads', { round: 1 }], ['lineage', { author: v1 }], ['rounds', { since: 0 }]] as const) {
      await expect(queryView(ledger, view, filter), view).rejects.toMatchObject({ name: 'LedgerFilterError', code: 'ERR_LEDGER_UNSUPPORTED_FILTER', filters: Object.keys(filter), supported: VIEW_FILTERS[view] })
    }
    // not set: undefined, and reverse false (as a query string without it gives)
    expect(await queryView(ledger, 'heads', { kind: undefined, reverse: false })).toHaveLength(4)
  })

  it("gives each contributor's share of each release's aggregate weight", async () => {
    const shares = await releaseShares(ledger)
    const byAuthor = (release: string): Record<string, number> => Object.fromEntries(shares.filter((s) => s.release === release).map((s) => [s.author, s.share]))
    const r1 = byAuthor(cid('release-1'))
    expect(r1[hex(c['1.1'].entry.author)]).toBeCloseTo(1 / 3, 12)
    expect(r1[hex(c['1.2'].entry.author)]).toBeCloseTo(2 / 3, 12)
    expect(byAuthor(cid('release-2'))).toEqual({ [hex(c['2.2'].entry.author)]: 1 })
    expect(await releaseShares(ledger, cid('release-2'))).toHaveLength(1)
  })

  it('walks release lineage back to the genesis release', async () => {
    const lineage = await releaseLineage(ledger)
    expect(lineage.map((r) => [r.release, r.parent, r.round])).toEqual([
      [cid('release-2'), cid('release-1'), 2],
      [cid('release-1'), cid('release-0'), 1],
      [cid('release-0'), null, 0]
    ])
    expect((await releaseLineage(ledger, cid('release-1'))).map((r) => r.release)).toEqual([cid('release-1'), cid('release-0')])
  })

  it('counts totals, with no verdict a non-maintainer signed', async () => {
    expect(await ledgerStats(ledger)).toMatchObject({
      entries: 15,
      authors: 4,
      rounds: 2,
      releases: 2,
      byKind: { genesis: 1, 'round-open': 2, contribution: 5, verdict: 4, release: 2, 'round-close': 1 },
      contributions: { total: 5, accepted: 3, rejected: 1, pending: 1 },
      equivocations: 0
    })
    expect(await ledgerStats(ledger)).not.toHaveProperty('untrusted')
  })

  it('exports JSON Lines that re-verify and re-import into an identical ledger, and CSV with the documented columns', async () => {
    let jsonl = ''
    expect(await exportEntries(ledger, 'jsonl', (t) => { jsonl += t })).toBe(15)
    const lines = jsonl.trimEnd().split('\n')
    const first = JSON.parse(lines[0])
    expect(first).toMatchObject({ kind: 'genesis', seq: 0, prev: null, community: '' })
    expect(first.body.release).toBe(cid('release-0'))
    expect(first.body.maintainers[0]).toMatch(/^[0-9a-f]{64}$/)
    for (const line of lines) {
      const v = await validateEntry(Uint8Array.from(Buffer.from(JSON.parse(line).bytes, 'base64')))
      expect(v.status).toBe('accept')
    }
    const copy = await openLedger({ db: createMemoryDb() })
    const report = await importEntries(copy, [...lines].reverse()) // worst order: every entry before its predecessor
    expect(report).toMatchObject({ lines: 15, appended: 15, rejectedCount: 0 })
    expect(copy.heads()).toEqual(ledger.heads())
    await copy.close()

    let csv = ''
    await exportEntries(ledger, 'csv', (t) => { csv += t }, { kind: 'verdict' })
    const rows = csv.trimEnd().split('\r\n')
    expect(rows[0]).toBe(ENTRY_CSV_COLUMNS.join(','))
    expect(rows).toHaveLength(5)
    const fields = rows[1].split(',')
    expect([fields[6], fields[7], fields[9], fields[10]]).toEqual(['verdict', '1', 'true', 'OK'])
    expect(fields[8]).toBe(c['1.1'].id.toString())
    expect(rows.some((r) => r.includes('"{""round"":'))).toBe(true) // body JSON quoted per RFC 4180
  })
})
