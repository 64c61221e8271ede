/**
 * Anti-entropy in real daemons on 127.0.0.1: an entry that gossip never delivers — stored by one daemon
 * without being published, as when it arrived there by sync from a third peer (gossip does not forward
 * those) — reaches a connected daemon within the anti-entropy interval, over the same connection, with no
 * gap and no reconnect; the sessions between ledgers that agree stop at the heads digest.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { ledgerService, type DaemonEvent, type LedgerService } from '@swarmtune/node'
import { waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'
import { bodies, fakeCid, keyFor, makeCommunity } from '../packages/ledger/test/fixtures.js'

const INTERVAL_MS = 400

describe('ledger anti-entropy', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.destroy() })) })

  it('brings an entry gossip never carried to a connected daemon within the interval', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => await startNode({ services: { ledger: ledgerService({ antiEntropyMs: INTERVAL_MS }) } })))
    nodes.push(a, b)
    const events: DaemonEvent[] = []
    for (const n of [a, b]) n.daemon.events.subscribe((e) => { if (e.type.startsWith('ledger:') || e.type === 'gossip:message') events.push({ ...e, at: n.daemon.peerId.toString() }) })
    const la = (a.daemon.services.ledger as LedgerService).ledger
    const lb = (b.daemon.services.ledger as LedgerService).ledger
    const { genesis } = await makeCommunity()
    await la.append(genesis)
    await lb.append(genesis)
    await b.daemon.libp2p.dial(a.daemon.libp2p.getMultiaddrs())
    const connection = (): string[] => a.daemon.libp2p.getConnections(b.daemon.peerId).map((c) => c.id)
    await waitFor(() => connection().length > 0, 10_000, 'the connection')
    const before = connection()

    // stored at a, never published
    const entry = await la.sign({ kind: 'contribution', body: bodies.contribution(1, genesis.id.bytes, fakeCid('release-0'), fakeCid('unpublished'), 9) }, await keyFor(4))
    const stored = Date.now()
    await waitFor(async () => await lb.get(entry.id) !== undefined, 20 * INTERVAL_MS + 10_000, 'the entry at b')
    process.stdout.write(`anti-entropy: entry at b ${Date.now() - stored} ms after it was stored at a (interval ${INTERVAL_MS} ms)\n`)

    const recovered = events.find((e) => e.type === 'ledger:sync' && e.at === b.daemon.peerId.toString() && Number(e.appended) === 1)
    expect(recovered?.trigger).toMatch(/^(anti-entropy|inbound)$/) // b's own round, or a's round reaching b
    expect(events.some((e) => e.type === 'ledger:sync' && e.trigger === 'anti-entropy')).toBe(true)
    expect(events.filter((e) => e.type === 'gossip:message')).toEqual([])
    expect(connection()).toEqual(before)
    expect(lb.heads()).toEqual(la.heads())

    // Once the two agree, further rounds stop at hello: equal digests, no heads, nothing sent or stored.
    const status = (n: TestNode): { sessions: number, inSync: number } => (n.daemon.services.ledger?.status?.() as { antiEntropy: { sessions: number, inSync: number } }).antiEntropy
    const agreed = events.length
    const later = (): DaemonEvent[] => events.slice(agreed).filter((e) => e.type === 'ledger:sync')
    await waitFor(() => later().some((e) => e.inSync === true), 20 * INTERVAL_MS + 10_000, 'an anti-entropy session between agreeing ledgers')
    expect(later().find((e) => e.inSync === true)).toMatchObject({ appended: 0, sent: 0 })
    expect(later().every((e) => e.appended === 0)).toBe(true)
    expect(status(a).inSync + status(b).inSync).toBeGreaterThan(0)
  })

  it('refuses a negative or fractional interval at start-up', () => {
    for (const antiEntropyMs of [-1, 0.5, Number.NaN]) expect(() => ledgerService({ antiEntropyMs })).toThrow(expect.objectContaining({ code: 'ERR_NODE_CONFIG_INVALID' }))
    expect(() => ledgerService({ antiEntropyMs: 0 })).not.toThrow()
  })
})
