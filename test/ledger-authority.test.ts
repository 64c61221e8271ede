/**
 * Maintainer rights at ledger ingest, in real daemons on 127.0.0.1: a round-open signed by a member who is
 * not a maintainer of the genesis is refused by a peer whether it comes by gossip (rejected by the topic's
 * validator, which lowers the sender's gossipsub score) or by ledger sync (refused in the session's report),
 * and is stored by no one; a maintainer's round-open is taken by both paths.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeFrames, decodeSyncMessage, encodeFrame, SYNC_MAX_FRAME_BYTES } from '@swarmtune/ledger'
import { ledgerService, type DaemonEvent, type LedgerService } from '@swarmtune/node'
import { communityTopic, encodeCanonical, LEDGER_SYNC_PROTOCOL, parseCid, type SignedEntry } from '@swarmtune/wire'
import { waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'
import { bodies, ChainSigner, fakeCid, keyFor } from '../packages/ledger/test/fixtures.js'

interface Peer { node: TestNode, ledger: LedgerService, events: DaemonEvent[] }

async function start (): Promise<Peer> {
  const node = await startNode({ services: { ledger: ledgerService() } })
  const events: DaemonEvent[] = []
  node.daemon.events.subscribe((e) => { events.push(e) })
  return { node, ledger: node.daemon.services.ledger as LedgerService, events }
}

describe('maintainer rights at ledger ingest', () => {
  let maintainer: Peer
  let peer: Peer
  let rogue: Peer
  let hostile: Libp2p
  let genesis: SignedEntry

  beforeAll(async () => {
    [maintainer, peer, rogue] = await Promise.all([start(), start(), start()])
    const key = maintainer.node.daemon.privateKey
    genesis = await new ChainSigner().sign(key, 'genesis', bodies.genesis([key.publicKey.raw]))
    // every daemon of the community holds its genesis (as `--community <genesis file>` does)
    for (const p of [maintainer, peer, rogue]) await p.ledger.ledger.append(genesis)
    // the rogue and the maintainer each know only the peer
    await rogue.node.daemon.libp2p.dial(peer.node.daemon.libp2p.getMultiaddrs())
    await maintainer.node.daemon.libp2p.dial(peer.node.daemon.libp2p.getMultiaddrs())
    const joined = (from: Peer, to: Peer): boolean => from.node.daemon.gossip.peers(genesis.id).some((p) => p.equals(to.node.daemon.peerId))
    await waitFor(() => joined(rogue, peer) && joined(maintainer, peer) && joined(peer, rogue), 15_000, 'the community topic between the daemons')
    hostile = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
  })

  afterAll(async () => {
    await hostile?.stop()
    await Promise.all([maintainer, peer, rogue].map(async (p) => { await p?.node.destroy() }))
  })

  const roundOpen = (round: number): ReturnType<typeof bodies.roundOpen> => ({ ...bodies.roundOpen(round, fakeCid('release-0')), deadline: Date.now() + 60_000 })

  it('rejects a non-maintainer round-open on the topic, never stores it, and takes a maintainer one', async () => {
    const key = rogue.node.daemon.privateKey
    await expect(rogue.ledger.sign({ kind: 'round-open', body: roundOpen(1) })).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
    // signed by hand and put on the topic past the rogue's own checks
    const usurped = await new ChainSigner(genesis.id).sign(key, 'round-open', roundOpen(1), { ts: Date.now() })
    await rogue.node.daemon.libp2p.services.pubsub.publish(communityTopic(genesis.id), usurped.bytes)
    await waitFor(() => peer.events.some((e) => e.type === 'gossip:rejected' && e.code === 'ERR_LEDGER_NOT_MAINTAINER'), 15_000, 'the peer to reject the round-open')
    const rejected = peer.events.find((e) => e.type === 'gossip:rejected' && e.code === 'ERR_LEDGER_NOT_MAINTAINER') as DaemonEvent
    expect(rejected.from).toBe(rogue.node.daemon.peerId.toString())
    // the reject counts against the rogue in gossipsub's score (P4)
    await waitFor(() => peer.node.daemon.gossip.score(rogue.node.daemon.peerId) < 0, 10_000, "the rogue's score to drop")

    const open = await maintainer.ledger.sign({ kind: 'round-open', body: roundOpen(1) })
    await waitFor(async () => await peer.ledger.ledger.get(open.id) !== undefined, 15_000, "the maintainer's round-open at the peer")
    expect(await peer.ledger.ledger.get(usurped.id)).toBeUndefined()
    expect(await maintainer.ledger.ledger.get(usurped.id)).toBeUndefined()
    expect(peer.ledger.ledger.head(key.publicKey.raw)).toBeUndefined()
  })

  it('refuses a non-maintainer round-open served by ledger sync, and takes a maintainer one', async () => {
    const stranger = await keyFor(7)
    const usurped = await new ChainSigner(genesis.id).sign(stranger, 'round-open', roundOpen(2), { ts: Date.now() })
    // the maintainer's next entry, signed outside its ledger (no gossip carries it)
    const key = maintainer.node.daemon.privateKey
    const head = maintainer.ledger.ledger.head(key.publicKey.raw)
    if (head === undefined) throw new Error('the maintainer has no chain')
    const signer = new ChainSigner(genesis.id)
    signer.heads.set(head.author, { seq: head.seq, id: parseCid(head.id) })
    const open = await signer.sign(key, 'round-open', roundOpen(2), { ts: Date.now() })

    // A node that speaks the sync protocol by hand offers both.
    const stream = await hostile.dialProtocol(peer.node.daemon.libp2p.getMultiaddrs(), LEDGER_SYNC_PROTOCOL)
    const send = (m: unknown): void => { stream.send(encodeFrame(encodeCanonical(m))) }
    const frames = decodeFrames(stream, SYNC_MAX_FRAME_BYTES)
    const next = async (): Promise<ReturnType<typeof decodeSyncMessage>> => decodeSyncMessage((await frames.next()).value as Uint8Array)
    send({ t: 'hello', v: 1, community: genesis.id.bytes })
    send({ t: 'heads', heads: [[stranger.publicKey.raw, 0, usurped.id.bytes], [key.publicKey.raw, open.entry.seq, open.id.bytes]], last: true })
    expect((await next()).t).toBe('hello')
    expect((await next()).t).toBe('heads')
    const wants = await next()
    expect(wants).toMatchObject({ t: 'wants', wants: [[stranger.publicKey.raw, 0, 0], [key.publicKey.raw, open.entry.seq, open.entry.seq]] })
    send({ t: 'wants', wants: [], last: true })
    send({ t: 'entries', author: stranger.publicKey.raw, from: 0, entries: [usurped.bytes] })
    send({ t: 'entries', author: key.publicKey.raw, from: open.entry.seq, entries: [open.bytes] })
    send({ t: 'served' })
    expect((await next()).t).toBe('served')
    await stream.close()

    await waitFor(() => peer.events.some((e) => e.type === 'ledger:sync' && e.peer === hostile.peerId.toString()), 15_000, "the peer's sync report")
    const report = peer.events.find((e) => e.type === 'ledger:sync' && e.peer === hostile.peerId.toString()) as DaemonEvent
    expect(report).toMatchObject({ appended: 1, rejected: [{ code: 'ERR_LEDGER_NOT_MAINTAINER', author: Buffer.from(stranger.publicKey.raw).toString('hex'), seq: 0 }] })
    expect(await peer.ledger.ledger.get(usurped.id)).toBeUndefined()
    expect(Buffer.from((await peer.ledger.ledger.get(open.id))?.bytes ?? []).equals(open.bytes)).toBe(true)
    expect((await peer.ledger.ledger.verify()).entries).toBe(peer.ledger.ledger.size)
  })
})
