/**
 * Ledger replication over real libp2p: two nodes on 127.0.0.1 (TCP, noise, yamux), each with a LevelDB
 * ledger, speaking LEDGER_SYNC_PROTOCOL. They append while disconnected, then converge; a hostile
 * node serving forged and equivocating entries is flagged.
 */
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import type { Libp2p, Stream } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LEDGER_SYNC_PROTOCOL, encodeCanonical, type SignedEntry } from '@swarmtune/wire'
import { decodeFrames, decodeSyncMessage, encodeFrame, openLedger, syncLedger, SYNC_MAX_FRAME_BYTES, type Ledger, type SyncReport } from '@swarmtune/ledger'
import { tempDir } from '@swarmtune/test-support'
import { bodies, ChainSigner, fakeCid, flipSignatureBit, keyFor, makeCommunity } from '../packages/ledger/test/fixtures.js'

let dir: string
let removeDir: () => Promise<void>
const nodes: Libp2p[] = []
const ledgers: Ledger[] = []

beforeEach(async () => { ({ path: dir, cleanup: removeDir } = await tempDir('swarmtune-ledger-sync-')) })
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async (n) => { await n.stop() }))
  await Promise.all(ledgers.splice(0).map(async (l) => { await l.close() }))
  await removeDir()
})

async function node (): Promise<Libp2p> {
  const n = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  nodes.push(n)
  return n
}

async function ledger (name: string): Promise<Ledger> {
  const l = await openLedger({ path: join(dir, name), sync: false })
  ledgers.push(l)
  return l
}

/** Serves sync sessions on `n` for `l`; resolves each session's report into `reports`. */
async function serveSync (n: Libp2p, l: Ledger, reports: Array<Promise<SyncReport>>): Promise<void> {
  await n.handle(LEDGER_SYNC_PROTOCOL, (stream: Stream) => {
    const session = syncLedger(l, stream)
    session.catch(() => {})
    reports.push(session)
  })
}

async function contributions (l: Ledger, volunteer: number, n: number): Promise<void> {
  const key = await keyFor(volunteer)
  for (let i = 0; i < n; i++) {
    await l.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`blob-${volunteer}-${i}-${Math.random()}`), 10) }, key)
  }
}

describe('ledger sync over libp2p', () => {
  it('converges two nodes that appended while disconnected to identical heads', async () => {
    const { maintainer, genesis } = await makeCommunity()
    const [na, nb] = [await node(), await node()]
    const [la, lb] = [await ledger('a'), await ledger('b')]
    await la.append(genesis)
    await lb.append(genesis)
    const served: Array<Promise<SyncReport>> = []
    await serveSync(nb, lb, served)

    // Apart: each side appends to its own and to a shared volunteer's chains.
    await la.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('release-0')) }, maintainer)
    await contributions(la, 1, 40)
    await contributions(lb, 2, 25)
    await contributions(lb, 3, 300)

    const stream = await na.dialProtocol(nb.getMultiaddrs(), LEDGER_SYNC_PROTOCOL)
    const report = await syncLedger(la, stream)
    const remote = await served[0]
    expect(report).toMatchObject({ appended: 325, rejected: [], incomplete: 0, sent: 41 })
    expect(remote).toMatchObject({ appended: 41, rejected: [], incomplete: 0, sent: 325 })
    expect(la.heads()).toEqual(lb.heads())
    expect(la.size).toBe(lb.size)

    // Apart again, then a second session only moves what is new.
    await contributions(la, 1, 5)
    await contributions(lb, 4, 3)
    const again = await syncLedger(la, await na.dialProtocol(nb.getMultiaddrs(), LEDGER_SYNC_PROTOCOL))
    expect(again).toMatchObject({ wanted: 3, appended: 3, sent: 5 })
    await served[1]
    expect(la.heads()).toEqual(lb.heads())
    expect((await la.verify()).entries).toBe(la.size)
    expect((await lb.verify()).entries).toBe(lb.size)
  })

  it('flags forged, replayed and equivocating entries a hostile node serves', async () => {
    const { genesis, signer } = await makeCommunity()
    const [honest, hostile] = [await node(), await node()]
    const l = await ledger('honest')
    await l.append(genesis)
    const volunteer = await keyFor(1)
    const chain: SignedEntry[] = []
    for (let i = 0; i < 3; i++) chain.push(await signer.sign(volunteer, 'contribution', bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid(`b${i}`), 5)))
    await l.append(chain[0])
    await l.append(chain[1])
    // The volunteer also signed another entry at seq 1 (the hostile node has it, and advertises it as head).
    const twin = await new ChainSigner(genesis.id).sign(volunteer, 'contribution', bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid('twin'), 5), { seq: 1, prev: chain[0].id.bytes })
    const evil = await keyFor(7)
    const evilChain: SignedEntry[] = []
    for (let i = 0; i < 2; i++) evilChain.push(await signer.sign(evil, 'contribution', bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid(`e${i}`), 5)))

    // The hostile side speaks the protocol by hand.
    await hostile.handle(LEDGER_SYNC_PROTOCOL, async (stream: Stream) => {
      const send = (m: unknown): void => { stream.send(encodeFrame(encodeCanonical(m))) }
      const frames = decodeFrames(stream, SYNC_MAX_FRAME_BYTES)
      const next = async (): Promise<ReturnType<typeof decodeSyncMessage>> => decodeSyncMessage((await frames.next()).value as Uint8Array)
      send({ t: 'hello', v: 1, community: genesis.id.bytes })
      send({ t: 'heads', heads: [[volunteer.publicKey.raw, 1, twin.id.bytes], [evil.publicKey.raw, 1, evilChain[1].id.bytes]], last: true })
      await next() // hello
      await next() // heads
      await next() // wants
      send({ t: 'wants', wants: [], last: true })
      send({ t: 'entries', author: volunteer.publicKey.raw, from: 1, entries: [twin.bytes] }) // equivocation
      send({ t: 'entries', author: evil.publicKey.raw, from: 0, entries: [evilChain[0].bytes, flipSignatureBit(evilChain[1])] }) // forged
      send({ t: 'entries', author: evil.publicKey.raw, from: 0, entries: [evilChain[0].bytes] }) // replayed
      send({ t: 'served' })
      await next() // served
      await stream.close()
    })
    const stream = await honest.dialProtocol(hostile.getMultiaddrs(), LEDGER_SYNC_PROTOCOL)
    const report = await syncLedger(l, stream)
    expect(report.rejected.map((r) => r.code)).toEqual(['ERR_LEDGER_EQUIVOCATION', 'ERR_WIRE_BAD_SIGNATURE', 'ERR_LEDGER_SYNC_UNEXPECTED'])
    expect(report).toMatchObject({ evidence: 1, appended: 1 })
    expect(l.evidenceCount).toBe(1)
    expect(l.head(volunteer.publicKey.raw)?.length).toBe(2)
    expect(l.head(evil.publicKey.raw)?.length).toBe(1)
    expect((await l.verify()).evidence).toBe(1)
  })
})
