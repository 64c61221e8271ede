/**
 * The shared property-based suite: one model of what a ledger must hold, checked against any store
 * (memory-level and LevelDB run it alike). fast-check draws a sequence of operations — valid appends by
 * several authors, batched ingests, replays, gaps, equivocations, forks, reopen — and after each one the
 * store must agree with the model: size, heads, every chain in seq order, the time / kind / round / id
 * indexes, the evidence, and a clean re-verification. Only author 0 is a maintainer: the others' attempts at
 * maintainer-only kinds are refused and stored nowhere.
 */
import fc from 'fast-check'
import { expect, it } from 'vitest'
import type { SignedEntry, SigningKey } from '@swarmtune/wire'
import { testSeed } from '@swarmtune/test-support'
import { EVIDENCE_MAX_RECORDS_PER_AUTHOR, type EvidenceDropReason, type Ledger } from '../src/index.js'
import { bodies, ChainSigner, fakeCid, keyFor } from './fixtures.js'

/** How the suite gets at a store: open (or reopen) the same store, and clean up at the end of a run. */
export interface StoreFactory {
  open: () => Promise<Ledger>
  cleanup: () => Promise<void>
}

type Op =
  | { t: 'append', author: number, kind: number }
  | { t: 'batch', authors: number[] }
  | { t: 'replay', pick: number }
  | { t: 'gap', author: number }
  | { t: 'equivocate', author: number, pick: number }
  | { t: 'fork', author: number }
  | { t: 'usurp', author: number, kind: number }
  | { t: 'reopen' }

const AUTHORS = 4

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('append' as const), author: fc.nat(AUTHORS - 1), kind: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), authors: fc.array(fc.nat(AUTHORS - 1), { minLength: 1, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('replay' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('gap' as const), author: fc.nat(AUTHORS - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('equivocate' as const), author: fc.nat(AUTHORS - 1), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fork' as const), author: fc.nat(AUTHORS - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('usurp' as const), author: fc.integer({ min: 1, max: AUTHORS - 1 }), kind: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) }
)

interface Model {
  entries: SignedEntry[]
  chains: Map<string, SignedEntry[]>
  evidence: number
  /** Seqs with an evidence record, by author: one record per author and seq, at most the per-author cap. */
  evidenceAt: Map<string, Set<number>>
  /** Conflicting entries refused and not kept. */
  dropped: number
}

/** What the store must do with a conflicting entry at (author, seq), and the model's record of it. */
function admitEvidence (model: Model, author: string, seq: number): 'store' | EvidenceDropReason {
  const seqs = model.evidenceAt.get(author) ?? new Set<number>()
  if (seqs.has(seq)) return 'pair-held'
  if (seqs.size >= EVIDENCE_MAX_RECORDS_PER_AUTHOR) return 'author-cap'
  model.evidenceAt.set(author, seqs.add(seq))
  model.evidence++
  return 'store'
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const byTime = (a: SignedEntry, b: SignedEntry): number =>
  a.entry.ts - b.entry.ts || (hex(a.entry.author) < hex(b.entry.author) ? -1 : hex(a.entry.author) > hex(b.entry.author) ? 1 : a.entry.seq - b.entry.seq)

async function collect (it: AsyncIterable<SignedEntry>): Promise<string[]> {
  const ids: string[] = []
  for await (const e of it) ids.push(e.id.toString())
  return ids
}

/** Checks every invariant of the store against the model. */
async function checkInvariants (ledger: Ledger, model: Model): Promise<void> {
  expect(ledger.size).toBe(model.entries.length)
  expect(ledger.evidenceCount).toBe(model.evidence)
  expect(ledger.evidenceDropped).toBe(model.dropped)
  const heads = ledger.heads()
  expect(heads.length).toBe(model.chains.size)
  for (const h of heads) {
    const chain = model.chains.get(h.author) ?? []
    expect(h.length).toBe(chain.length)
    expect(h.id).toBe(chain[chain.length - 1].id.toString())
    expect(await collect(ledger.entries({ author: h.author }))).toEqual(chain.map((e) => e.id.toString()))
  }
  const sorted = [...model.entries].sort(byTime)
  expect(await collect(ledger.entries())).toEqual(sorted.map((e) => e.id.toString()))
  expect(await collect(ledger.entries({ reverse: true }))).toEqual(sorted.map((e) => e.id.toString()).reverse())
  for (const kind of ['round-open', 'contribution', 'checkpoint'] as const) {
    expect(await collect(ledger.entries({ kind }))).toEqual(sorted.filter((e) => e.entry.kind === kind).map((e) => e.id.toString()))
  }
  expect(await collect(ledger.entries({ round: 1 }))).toEqual(sorted.filter((e) => (e.entry.body as { round?: number }).round === 1).map((e) => e.id.toString()))
  for (const e of model.entries.slice(-5)) expect((await ledger.get(e.id))?.id.toString()).toBe(e.id.toString())
  let evidence = 0
  for await (const _ of ledger.equivocations()) evidence++
  expect(evidence).toBe(model.evidence)
}

/** Registers the shared suite for one kind of store. */
export function ledgerContract (name: string, makeFactory: () => Promise<StoreFactory>, numRuns: number): void {
  it(`${name}: append / reopen / iterate invariants hold for random operation sequences`, async () => {
    const seed = testSeed(`ledger contract (${name})`)
    const keys: SigningKey[] = await Promise.all(Array.from({ length: AUTHORS }, async (_, i) => await keyFor(i)))
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 24 }), async (ops) => {
      const factory = await makeFactory()
      let ledger = await factory.open()
      try {
        const signer = new ChainSigner()
        const maintainer = keys[0]
        const genesis = await signer.sign(maintainer, 'genesis', bodies.genesis([maintainer.publicKey.raw]))
        await ledger.append(genesis)
        const model: Model = { entries: [genesis], chains: new Map([[hex(maintainer.publicKey.raw), [genesis]]]), evidence: 0, evidenceAt: new Map(), dropped: 0 }
        const base = fakeCid('release-0')
        const next = async (author: number, kind: number): Promise<SignedEntry> => {
          const key = keys[author]
          const chain = model.chains.get(hex(key.publicKey.raw)) ?? []
          if (kind === 3 && chain.length > 0) {
            const head = chain[chain.length - 1]
            return await signer.sign(key, 'checkpoint', { length: chain.length, head: head.id.bytes })
          }
          const round = 1 + (kind % 2)
          return author === 0
            ? await signer.sign(key, 'round-open', bodies.roundOpen(round, base))
            : await signer.sign(key, 'contribution', bodies.contribution(round, genesis.id.bytes, base, fakeCid(`blob-${signer.ts}`), 10 + kind))
        }
        /** An entry of `author`'s own kind (maintainer: round-open; others: contribution) at a position the caller picks. */
        const own = async (author: number, round: number, overrides: { seq: number, prev: Uint8Array | null }): Promise<SignedEntry> => author === 0
          ? await signer.sign(keys[author], 'round-open', bodies.roundOpen(round, base), overrides)
          : await signer.sign(keys[author], 'contribution', bodies.contribution(round, genesis.id.bytes, base, fakeCid(`twin-${signer.ts}`), 3), overrides)
        const record = (e: SignedEntry): void => {
          model.entries.push(e)
          const author = hex(e.entry.author)
          model.chains.set(author, [...(model.chains.get(author) ?? []), e])
        }
        for (const op of ops) {
          switch (op.t) {
            case 'append': {
              const e = await next(op.author, op.kind)
              const r = await ledger.append(e)
              expect(r.duplicate).toBe(false)
              record(e)
              break
            }
            case 'batch': {
              const made: SignedEntry[] = []
              for (const a of op.authors) {
                const e = await next(a, a)
                record(e)
                made.push(e)
              }
              const results = await ledger.ingest(made.map((e) => e.bytes))
              expect(results.map((r) => r.status)).toEqual(made.map(() => 'accept'))
              break
            }
            case 'replay': {
              const e = model.entries[op.pick % model.entries.length]
              const [r] = await ledger.ingest([e.bytes])
              expect(r).toMatchObject({ status: 'ignore', code: 'ERR_LEDGER_DUPLICATE' })
              expect((await ledger.append(e)).duplicate).toBe(true)
              break
            }
            case 'gap': {
              const key = keys[op.author]
              const chain = model.chains.get(hex(key.publicKey.raw)) ?? []
              if (chain.length === 0) break
              const head = chain[chain.length - 1]
              const e = await signer.sign(key, 'checkpoint', { length: chain.length + 1, head: head.id.bytes }, { seq: chain.length + 1, prev: head.id.bytes })
              const [r] = await ledger.ingest([e.bytes])
              expect(r).toMatchObject({ status: 'ignore', code: 'ERR_LEDGER_GAP' })
              break
            }
            case 'equivocate': {
              const key = keys[op.author]
              const chain = model.chains.get(hex(key.publicKey.raw)) ?? []
              if (chain.length === 0) break
              const seq = op.pick % chain.length
              const original = chain[seq]
              const e = original.entry.kind === 'genesis'
                ? await signer.sign(key, 'genesis', { ...bodies.genesis([key.publicKey.raw]), name: `other-${signer.ts}` }, { seq, prev: original.entry.prev })
                : await own(op.author, 99, { seq, prev: original.entry.prev })
              const results = await ledger.ingest([e.bytes, e.bytes])
              if (original.entry.kind === 'genesis') {
                expect(results[0]).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WRONG_COMMUNITY' })
                break
              }
              const admitted = admitEvidence(model, hex(key.publicKey.raw), seq)
              if (admitted === 'store') {
                expect(results[0]).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_EQUIVOCATION', evidence: true })
                // the same entry again in the batch is the record just kept: neither stored twice nor dropped
                expect(results[1]).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_EQUIVOCATION', evidence: false })
                expect(results[1].evidenceDropped).toBeUndefined()
              } else {
                for (const r of results) expect(r).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_EQUIVOCATION', evidence: false, evidenceDropped: admitted })
                model.dropped += 3 // both copies, and the append below
              }
              await expect(ledger.append(e)).rejects.toMatchObject({ code: 'ERR_LEDGER_EQUIVOCATION' })
              break
            }
            case 'fork': {
              const key = keys[op.author]
              const chain = model.chains.get(hex(key.publicKey.raw)) ?? []
              if (chain.length === 0) break
              const e = await own(op.author, 7, { seq: chain.length, prev: fakeCid(`elsewhere-${signer.ts}`) })
              const [r] = await ledger.ingest([e.bytes])
              const admitted = admitEvidence(model, hex(key.publicKey.raw), chain.length)
              if (admitted === 'store') expect(r).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_FORK', evidence: true })
              else {
                expect(r).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_FORK', evidence: false, evidenceDropped: admitted })
                model.dropped++
              }
              break
            }
            case 'usurp': {
              // a non-maintainer signs a maintainer-only entry where its chain would take it
              const key = keys[op.author]
              const chain = model.chains.get(hex(key.publicKey.raw)) ?? []
              const at = { seq: chain.length, prev: chain.at(-1)?.id.bytes ?? null }
              const open = await signer.sign(keys[0], 'round-open', bodies.roundOpen(5, base), { seq: 1000, prev: fakeCid('x') })
              const forged = [
                () => signer.sign(key, 'round-open', bodies.roundOpen(5, base), at),
                () => signer.sign(key, 'verdict', bodies.verdict(5, open.id.bytes, true), at),
                () => signer.sign(key, 'release', bodies.release(5, base, fakeCid('usurped'), [open.id.bytes], [1]), at),
                () => signer.sign(key, 'round-close', bodies.roundClose(5, open.id.bytes), at)
              ]
              const e = await forged[op.kind]()
              const [r] = await ledger.ingest([e.bytes])
              expect(r).toMatchObject({ status: 'reject', code: 'ERR_LEDGER_NOT_MAINTAINER' })
              expect(r.evidence).not.toBe(true)
              await expect(ledger.append(e)).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
              expect(await ledger.get(e.id)).toBeUndefined()
              break
            }
            case 'reopen': {
              await ledger.close()
              ledger = await factory.open()
              expect(ledger.openReport.entries).toBe(model.entries.length)
              expect(ledger.openReport.indexesRebuilt).toBe(false)
              break
            }
          }
          expect(ledger.size).toBe(model.entries.length)
        }
        await checkInvariants(ledger, model)
        await ledger.close()
        ledger = await factory.open()
        await checkInvariants(ledger, model)
        expect((await ledger.verify()).entries).toBe(model.entries.length)
      } finally {
        await ledger.close()
        await factory.cleanup()
      }
    }), { seed, numRuns })
  })
}
