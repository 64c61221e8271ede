/**
 * A daemon's ledger service starts after the host has dialled its bootstrap peers, so identify with a peer
 * can finish while the ledger is still opening. The service must still sync with such a peer at start —
 * not wait for a reconnect or for anti-entropy (turned off here) — whatever the two peer ids' order.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { LEDGER_SYNC_PROTOCOL } from '@swarmtune/wire'
import { ledgerService, type LedgerService, type ServiceFactory } from '@swarmtune/node'
import { waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'
import { bodies, fakeCid, keyFor, makeCommunity } from '../packages/ledger/test/fixtures.js'

describe('ledger sync at service start', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.destroy() })) })

  it('syncs with a bootstrap peer identified before the ledger service started', async () => {
    const a = await startNode({ services: { ledger: ledgerService({ antiEntropyMs: 0 }) } })
    nodes.push(a)
    const la = (a.daemon.services.ledger as LedgerService).ledger
    const { genesis } = await makeCommunity()
    await la.append(genesis)
    const entry = await la.sign({ kind: 'contribution', body: bodies.contribution(1, genesis.id.bytes, fakeCid('release-0'), fakeCid('delta'), 9) }, await keyFor(4))

    // A service listed before the ledger holds the start-up until identify with the bootstrap peer is done
    // and has recorded that it speaks the sync protocol: the ledger service starts after that event.
    let identifiedBeforeLedger = false
    const holdUntilIdentified: ServiceFactory = (c) => ({
      async start () {
        await waitFor(async () => {
          const known = await c.libp2p.peerStore.get(a.daemon.peerId).catch(() => undefined)
          return known?.protocols.includes(LEDGER_SYNC_PROTOCOL) === true
        }, 20_000, 'identify with the bootstrap peer')
        identifiedBeforeLedger = true
      }
    })
    const bootstrap = a.daemon.libp2p.getMultiaddrs().map((m) => m.toString())
    const b = await startNode({ config: { bootstrap }, services: { hold: holdUntilIdentified, ledger: ledgerService({ antiEntropyMs: 0 }) } })
    nodes.push(b)
    expect(identifiedBeforeLedger).toBe(true)
    const lb = (b.daemon.services.ledger as LedgerService).ledger
    // the session serves one chain per frame, so the contribution may be stored before the genesis: wait for both
    await waitFor(async () => await lb.get(entry.id) !== undefined && lb.size === la.size, 15_000, 'the bootstrap peer\'s entries at the new daemon')
    expect(lb.heads()).toEqual(la.heads())
  })
})
