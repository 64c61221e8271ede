/**
 * The sync protocol between two stores over an in-memory byte stream, and against a scripted peer that
 * forges, reorders, replays and equivocates. (test/ledger-sync.test.ts runs it over real libp2p nodes.)
 */
import { describe, expect, it } from 'vitest'
import { encodeCanonical, type SignedEntry, type SigningKey } from '@swarmtune/wire'
import { createMemoryDb, decodeFrames, decodeSyncMessage, encodeFrame, openLedger, syncLedger, SYNC_HEADS_PER_FRAME, SYNC_MAX_FRAME_BYTES, SYNC_MESSAGE_LIMITS, type Ledger } from '../src/index.js'
import { bodies, ChainSigner, fakeCid, flipSignatureBit, keyFor, makeCommunity } from './fixtures.js'
import { duplexPair, type ByteStreamEnd } from './helpers.js'

async function memoryLedger (): Promise<Ledger> {
  return await openLedger({ db: createMemoryDb() })
}

async function contributions (ledger: Ledger, key: SigningKey, n: number, round = 1): Promise<SignedEntry[]> {
  const out: SignedEntry[] = []
  for (let i = 0; i < n; i++) {
    out.push(await ledger.sign({ kind: 'contribution', body: bodies.contribution(round, fakeCid('open'), fakeCid('release-0'), fakeCid(`blob-${Math.random()}`), 10) }, key))
  }
  return out
}

async function sync (a: Ledger, b: Ledger): Promise<[Awaited<ReturnType<typeof syncLedger>>, Awaited<ReturnType<typeof syncLedger>>]> {
  const [x, y] = duplexPair()
  return await Promise.all([syncLedger(a, x), syncLedger(b, y)])
}

/** Drives one end of a stream by hand: reads the victim's messages, sends whatever the test wants. */
function scripted (end: ByteStreamEnd): { next: () => Promise<ReturnType<typeof decodeSyncMessage>>, send: (m: unknown) => void, sendRaw: (b: Uint8Array) => void } {
  const frames = decodeFrames(end, SYNC_MAX_FRAME_BYTES)
  return {
    next: async () => decodeSyncMessage((await frames.next()).value as Uint8Array),
    send: (m) => { end.send(encodeFrame(encodeCanonical(m))) },
    sendRaw: (b) => { end.send(b) }
  }
}

describe('ledger sync', () => {
  it('makes two stores that appended while apart converge to identical heads', async () => {
    const { maintainer, genesis } = await makeCommunity()
    const a = await memoryLedger()
    const b = await memoryLedger()
    await a.append(genesis)
    await b.append(genesis)
    await a.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('release-0')) }, maintainer)
    await contributions(a, await keyFor(1), 30)
    await contributions(b, await keyFor(2), 20)
    await contributions(b, await keyFor(3), 600) // more than one entries frame
    const [ra, rb] = await sync(a, b)
    expect(ra).toMatchObject({ appended: 620, duplicates: 0, rejected: [], incomplete: 0, sent: 31 })
    expect(rb).toMatchObject({ appended: 31, duplicates: 0, rejected: [], incomplete: 0, sent: 620 })
    expect(a.heads()).toEqual(b.heads())
    expect(a.size).toBe(652)
    // Nothing left to exchange: the heads digests in hello agree, so no heads are sent at all.
    const [x, y] = duplexPair()
    const [again, back] = await Promise.all([syncLedger(a, x), syncLedger(b, y)])
    expect(again).toMatchObject({ inSync: true, peerHeads: 0, wanted: 0, received: 0, appended: 0 })
    expect(back).toMatchObject({ inSync: true, peerHeads: 0 })
    const bytes = x.sentChunks.reduce((n, c) => n + c.length, 0)
    expect(bytes).toBeLessThan(200) // vs 4 heads × ~110 bytes when the digests differ
    expect((await a.verify()).entries).toBe(652)
  })

  it('exchanges heads when the digests differ by a single entry', async () => {
    const { genesis } = await makeCommunity()
    const a = await memoryLedger()
    const b = await memoryLedger()
    await a.append(genesis)
    await b.append(genesis)
    expect(Buffer.from(a.headsDigest()).equals(b.headsDigest())).toBe(true)
    await contributions(a, await keyFor(1), 1)
    expect(Buffer.from(a.headsDigest()).equals(b.headsDigest())).toBe(false)
    const [ra, rb] = await sync(a, b)
    expect(ra).toMatchObject({ inSync: false, peerHeads: 1, sent: 1 })
    expect(rb).toMatchObject({ inSync: false, peerHeads: 2, appended: 1 })
    expect(Buffer.from(a.headsDigest()).equals(b.headsDigest())).toBe(true)
  })

  it("takes a second maintainer's entries on the next session when they came before the genesis", async () => {
    // Chains are served in author order; when a maintainer's key sorts before the creator's, a fresh store
    // meets that maintainer's round-open before the genesis that names it, and cannot check it yet.
    const keys = await Promise.all([0, 1, 2, 3].map(keyFor))
    const hexOf = (k: SigningKey): string => Buffer.from(k.publicKey.raw).toString('hex')
    keys.sort((p, q) => hexOf(p) < hexOf(q) ? -1 : 1)
    const [second, creator] = keys
    const signer = new ChainSigner()
    const genesis = await signer.sign(creator, 'genesis', bodies.genesis([creator.publicKey.raw, second.publicKey.raw]))
    const open = await signer.sign(second, 'round-open', bodies.roundOpen(1, fakeCid('release-0')))
    const source = await memoryLedger()
    await source.append(genesis)
    await source.append(open)
    const fresh = await memoryLedger()
    const [, first] = await sync(source, fresh)
    expect(first.rejected.map((r) => [r.code, r.author])).toEqual([['ERR_LEDGER_NO_GENESIS', hexOf(second)]])
    expect(first).toMatchObject({ appended: 1, incomplete: 1 })
    const [, next] = await sync(source, fresh)
    expect(next).toMatchObject({ appended: 1, rejected: [], incomplete: 0 })
    expect(fresh.heads()).toEqual(source.heads())
  })

  it('fills a fresh store from scratch', async () => {
    const { genesis } = await makeCommunity()
    const a = await memoryLedger()
    await a.append(genesis)
    await contributions(a, await keyFor(1), 5)
    const fresh = await memoryLedger()
    const [, r] = await sync(a, fresh)
    expect(r.appended).toBe(6)
    expect(fresh.community?.toString()).toBe(genesis.id.toString())
    expect(fresh.heads()).toEqual(a.heads())
  })

  it('detects an equivocating author on both sides and keeps the evidence', async () => {
    const { genesis } = await makeCommunity()
    const volunteer = await keyFor(1)
    const a = await memoryLedger()
    const b = await memoryLedger()
    await a.append(genesis)
    await b.append(genesis)
    const shared = await contributions(a, volunteer, 2)
    for (const e of shared) await b.append(e)
    await contributions(a, volunteer, 2) // seq 2, 3 on a
    await contributions(b, volunteer, 1) // another seq 2 on b: the volunteer signed two histories
    const [ra, rb] = await sync(a, b)
    expect(ra.evidence).toBe(1)
    expect(ra.rejected.map((r) => r.code)).toEqual(['ERR_LEDGER_EQUIVOCATION'])
    expect(rb.evidence).toBe(1)
    expect(rb.rejected.map((r) => r.code)).toEqual(['ERR_LEDGER_FORK'])
    const evidence = []
    for await (const e of a.equivocations()) evidence.push(e)
    expect(evidence).toHaveLength(1)
    expect(evidence[0]).toMatchObject({ seq: 2, type: 'same-seq' })
    expect(evidence[0].stored.id.equals(evidence[0].conflicting.id)).toBe(false)
    // Each side keeps its own first-seen chain; neither is extended past the fork.
    expect(a.head(volunteer.publicKey.raw)?.length).toBe(4)
    expect(b.head(volunteer.publicKey.raw)?.length).toBe(3)
  })

  it('refuses to sync with a store of another community', async () => {
    const a = await memoryLedger()
    const b = await memoryLedger()
    await a.append((await makeCommunity('one')).genesis)
    await b.append((await makeCommunity('two')).genesis)
    const [x, y] = duplexPair()
    const results = await Promise.allSettled([syncLedger(a, x), syncLedger(b, y)])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: expect.stringMatching(/^ERR_LEDGER_SYNC_(COMMUNITY|PEER)$/) })
  })

  describe('against a hostile peer', () => {
    async function victim (): Promise<{ ledger: Ledger, genesis: SignedEntry, chain: SignedEntry[], volunteer: SigningKey }> {
      const { genesis, signer } = await makeCommunity()
      const ledger = await memoryLedger()
      await ledger.append(genesis)
      const volunteer = await keyFor(1)
      const chain: SignedEntry[] = []
      for (let i = 0; i < 4; i++) chain.push(await signer.sign(volunteer, 'contribution', bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid(`b${i}`), 5)))
      return { ledger, genesis, chain, volunteer }
    }

    /** `ledger` syncing over one end of an in-memory pair, and the hostile side `peer` scripted on the other end; `finish()` ends the session. */
    function hostileSession (ledger: Ledger): { peer: ReturnType<typeof scripted>, finish: () => ReturnType<typeof syncLedger> } {
      const [x, y] = duplexPair()
      const running = syncLedger(ledger, x)
      const peer = scripted(y)
      /** Ends the hostile side's serving (`served`), reads the victim's `served`, closes the stream: the victim's report. */
      const finish = async (): ReturnType<typeof syncLedger> => {
        peer.send({ t: 'served' })
        expect((await peer.next()).t).toBe('served')
        await y.close()
        return await running
      }
      return { peer, finish }
    }

    /** Runs the handshake as the hostile side: hello + heads, then reads the victim's hello, heads and wants (returned). */
    async function handshake (peer: ReturnType<typeof scripted>, genesis: SignedEntry, ...heads: SignedEntry[]): Promise<ReturnType<typeof decodeSyncMessage>> {
      peer.send({ t: 'hello', v: 1, community: genesis.id.bytes })
      peer.send({ t: 'heads', heads: heads.map((head) => [head.entry.author, head.entry.seq, head.id.bytes]), last: true })
      expect((await peer.next()).t).toBe('hello')
      expect((await peer.next()).t).toBe('heads')
      const wants = await peer.next()
      expect(wants).toMatchObject({ t: 'wants', last: true })
      peer.send({ t: 'wants', wants: [], last: true })
      return wants
    }

    it('rejects a forged entry and stores nothing of that chain past it', async () => {
      const { ledger, genesis, chain } = await victim()
      const { peer, finish } = hostileSession(ledger)
      await handshake(peer, genesis, chain[3])
      peer.send({ t: 'entries', author: chain[0].entry.author, from: 0, entries: [chain[0].bytes, flipSignatureBit(chain[1]), chain[2].bytes] })
      const report = await finish()
      expect(report.rejected.map((r) => [r.code, r.seq])).toEqual([['ERR_WIRE_BAD_SIGNATURE', 1]])
      expect(report).toMatchObject({ appended: 1, incomplete: 1 })
      expect(ledger.head(chain[0].entry.author)?.length).toBe(1)
    })

    it('flags reordered and replayed entries, and stores only entries that fit the chain', async () => {
      const { ledger, genesis, chain } = await victim()
      const { peer, finish } = hostileSession(ledger)
      await handshake(peer, genesis, chain[3])
      const author = chain[0].entry.author
      peer.send({ t: 'entries', author, from: 0, entries: [chain[0].bytes, chain[1].bytes] })
      peer.send({ t: 'entries', author, from: 0, entries: [chain[0].bytes, chain[1].bytes] }) // replayed
      peer.send({ t: 'entries', author, from: 2, entries: [chain[3].bytes, chain[2].bytes] }) // reordered
      const report = await finish()
      expect(report.rejected.map((r) => [r.code, r.seq])).toEqual([['ERR_LEDGER_SYNC_UNEXPECTED', 0], ['ERR_LEDGER_SYNC_UNEXPECTED', 2]])
      // Entry 3 came before 2 and was not stored (its predecessor was missing); 2 fits and was.
      expect(ledger.head(author)?.length).toBe(3)
      expect(report.appended).toBe(3)
      expect((await ledger.verify()).entries).toBe(4)
    })

    it("refuses a non-maintainer's round-open a peer serves, and stores the maintainer's", async () => {
      const { ledger, genesis } = await victim()
      const maintainer = await keyFor(0)
      const stranger = await keyFor(5)
      const signer = new ChainSigner(genesis.id)
      signer.heads.set(Buffer.from(maintainer.publicKey.raw).toString('hex'), { seq: 0, id: genesis.id })
      const usurped = await signer.sign(stranger, 'round-open', bodies.roundOpen(1, fakeCid('release-0')))
      const open = await signer.sign(maintainer, 'round-open', bodies.roundOpen(1, fakeCid('release-0')))
      const { peer, finish } = hostileSession(ledger)
      const wants = await handshake(peer, genesis, usurped, open)
      expect(wants).toMatchObject({ wants: [[stranger.publicKey.raw, 0, 0], [maintainer.publicKey.raw, 1, 1]] })
      peer.send({ t: 'entries', author: stranger.publicKey.raw, from: 0, entries: [usurped.bytes] })
      peer.send({ t: 'entries', author: maintainer.publicKey.raw, from: 1, entries: [open.bytes] })
      const report = await finish()
      expect(report.rejected.map((r) => [r.code, r.seq])).toEqual([['ERR_LEDGER_NOT_MAINTAINER', 0]])
      expect(report).toMatchObject({ appended: 1, incomplete: 1 })
      expect(await ledger.get(usurped.id)).toBeUndefined()
      expect(Buffer.from((await ledger.get(open.id))?.bytes ?? []).equals(open.bytes)).toBe(true)
    })

    it('keeps an equivocating entry a peer serves as evidence', async () => {
      const { ledger, genesis, chain, volunteer } = await victim()
      for (const e of chain.slice(0, 2)) await ledger.append(e)
      const other = new ChainSigner(genesis.id)
      await other.sign(volunteer, 'contribution', bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid('b0'), 5))
      const twin = await other.sign(volunteer, 'contribution', bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid('other'), 5), { seq: 1, prev: chain[0].id.bytes })
      const { peer, finish } = hostileSession(ledger)
      await handshake(peer, genesis, twin)
      peer.send({ t: 'entries', author: twin.entry.author, from: 1, entries: [twin.bytes] })
      const report = await finish()
      expect(report).toMatchObject({ evidence: 1, wanted: 1 })
      expect(ledger.evidenceCount).toBe(1)
    })

    it('fails with a code on a malformed frame, an oversized frame, and a silent peer', async () => {
      const { ledger, genesis } = await victim()
      const cases: Array<[(peer: ReturnType<typeof scripted>) => void, string]> = [
        [(p) => p.sendRaw(encodeFrame(new Uint8Array([0xc1]))), 'ERR_LEDGER_SYNC_PROTOCOL'],
        [(p) => p.send({ t: 'heads', heads: [], last: true }), 'ERR_LEDGER_SYNC_PROTOCOL'], // before hello
        [(p) => p.send({ t: 'nonsense' }), 'ERR_LEDGER_SYNC_PROTOCOL'],
        [(p) => p.sendRaw(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), 'ERR_LEDGER_SYNC_FRAME_TOO_LARGE'],
        [(p) => p.send({ t: 'hello', v: 1, community: genesis.id.bytes }), 'ERR_LEDGER_SYNC_TIMEOUT']
      ]
      for (const [act, code] of cases) {
        const [x, y] = duplexPair()
        const running = syncLedger(ledger, x, { idleTimeoutMs: 300 })
        act(scripted(y))
        await expect(running).rejects.toMatchObject({ name: 'LedgerSyncError', code })
      }
      expect(ledger.size).toBe(1)
    })

    it('checks a message against the sync limits before decoding it: a full heads frame passes, one head more, a wider map or a map of maps does not', () => {
      const head = (i: number): [Uint8Array, number, Uint8Array] => [new Uint8Array(32).fill(i % 251), i, fakeCid(`h${i}`)]
      const full = encodeCanonical({ t: 'heads', heads: Array.from({ length: SYNC_HEADS_PER_FRAME }, (_, i) => head(i)), last: true })
      expect(decodeSyncMessage(full)).toMatchObject({ t: 'heads', last: true })
      const over = encodeCanonical({ t: 'heads', heads: Array.from({ length: SYNC_HEADS_PER_FRAME + 1 }, (_, i) => head(i)), last: true })
      const wide = encodeCanonical(Object.fromEntries([['t', 'served'], ...Array.from({ length: SYNC_MESSAGE_LIMITS.maxMapSize }, (_, i) => [`x${i}`, i])]))
      expect(decodeSyncMessage(encodeCanonical(Object.fromEntries([['t', 'served'], ...Array.from({ length: SYNC_MESSAGE_LIMITS.maxMapSize - 1 }, (_, i) => [`x${i}`, i])])))).toMatchObject({ t: 'served' })
      // a 100 × 400 map of maps (80,000 values, under the codec's default item cap): refused at its first header
      const nested = encodeCanonical(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${String(i).padStart(3, '0')}`, Object.fromEntries(Array.from({ length: 400 }, (_, j) => [`k${String(j).padStart(3, '0')}`, j % 128]))])))
      for (const [frame, limit] of [[over, 'ERR_WIRE_ARRAY_TOO_LONG'], [wide, 'ERR_WIRE_MAP_TOO_LARGE'], [nested, 'ERR_WIRE_MAP_TOO_LARGE']] as const) {
        let caught: unknown
        try {
          decodeSyncMessage(frame)
        } catch (err) {
          caught = err
        }
        expect(caught).toMatchObject({ name: 'LedgerSyncError', code: 'ERR_LEDGER_SYNC_PROTOCOL', cause: { code: limit } })
      }
    })
  })
})
