/**
 * The ledger in real daemons on 127.0.0.1: a daemon that joins catches up by sync on connect, entries a
 * daemon signs reach its peer by gossip, and `swarmtune ledger` reads through the control API while the
 * daemon runs, opens the store itself when none runs, and says plainly when another process holds it.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLedger } from '@swarmtune/ledger'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ControlClient, dataDirPaths, ledgerService, type LedgerService } from '@swarmtune/node'
import { Cleanups, tempDir, waitFor } from '@swarmtune/test-support'
import { startNode, testDataDir, type TestNode } from '@swarmtune/test-support/daemons'
import { cliOutput } from '@swarmtune/test-support/cli'
import { bodies, fakeCid, keyFor } from '../packages/ledger/test/fixtures.js'
import { exited, startChild, waitForLine } from '../packages/ledger/test/helpers.js'

const cleanups = new Cleanups()
afterAll(cleanups.run)

/** A data folder whose ledger already holds a community with one round. */
async function populatedDataDir (): Promise<string> {
  const dir = await tempDir('swarmtune-ledger-daemon-')
  cleanups.push(dir.cleanup)
  await testDataDir(dir.path)
  const ledger = await openLedger({ path: dataDirPaths(dir.path).ledger })
  const m = await keyFor(0)
  await ledger.sign({ kind: 'genesis', body: bodies.genesis([m.publicKey.raw]) }, m)
  const open = await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('release-0')) }, m)
  for (const v of [1, 2, 3]) {
    const c = await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, open.id.bytes, fakeCid('release-0'), fakeCid(`blob-${v}`), 10 * v) }, await keyFor(v))
    await ledger.sign({ kind: 'verdict', body: bodies.verdict(1, c.id.bytes, v !== 3) }, m)
  }
  await ledger.close()
  return dir.path
}

describe('ledger service in the daemon', () => {
  it('syncs on connect, gossips new entries, and serves swarmtune ledger through the control API', async () => {
    const services = { ledger: ledgerService() }
    const a: TestNode = await startNode({ dir: await populatedDataDir(), services })
    cleanups.push(a.destroy)
    const b: TestNode = await startNode({ services })
    cleanups.push(b.destroy)
    const la = (a.daemon.services.ledger as LedgerService).ledger
    const lb = (b.daemon.services.ledger as LedgerService).ledger
    expect(la.size).toBe(8)
    expect(lb.size).toBe(0)

    await b.daemon.libp2p.dial(a.daemon.libp2p.getMultiaddrs())
    await waitFor(() => lb.size === la.size, 15_000, 'the new daemon to sync the ledger on connect')
    expect(lb.heads()).toEqual(la.heads())

    // A new entry signed by daemon a reaches b by gossip once b has joined the community topic.
    const community = la.community!
    await waitFor(() => a.daemon.gossip.peers(community).some((p) => p.equals(b.daemon.libp2p.peerId)), 15_000, 'b to join the community topic')
    const own = await (a.daemon.services.ledger as LedgerService).sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid('daemon-blob'), 7) })
    await waitFor(async () => (await lb.get(own.id)) !== undefined, 15_000, 'the gossiped entry to reach b')

    // The CLI reads through b's control API.
    const listed = JSON.parse(await cliOutput(['ledger', 'list', '--json', '--data-dir', b.dir, '--kind', 'contribution']))
    expect(listed.map((e: { id: string }) => e.id)).toContain(own.id.toString())
    expect(listed).toHaveLength(4)
    const stats = JSON.parse(await cliOutput(['ledger', 'stats', '--json', '--data-dir', b.dir]))
    expect(stats).toMatchObject({ entries: 9, contributions: { total: 4, accepted: 2, rejected: 1, pending: 1 } })
    expect(await cliOutput(['ledger', 'verify', '--data-dir', b.dir])).toContain('daemon at http://127.0.0.1')
    const shown = JSON.parse(await cliOutput(['ledger', 'show', own.id.toString(), '--json', '--data-dir', b.dir]))
    expect(shown).toMatchObject({ kind: 'contribution', seq: 0 })

    // With the daemon stopped, the CLI opens the store itself.
    await b.daemon.stop()
    const csv = await cliOutput(['ledger', 'export', '--format', 'csv', '--view', 'contributions', '--data-dir', b.dir])
    expect(csv.split('\r\n')[0]).toBe('id,author,seq,round,ts,samples,norm,blob,base,status,code,reason,releases')
    expect(csv.trimEnd().split('\r\n')).toHaveLength(5)

    // An export imports into a new store, every entry re-verified: the same heads.
    const copy = await tempDir('swarmtune-ledger-import-')
    cleanups.push(copy.cleanup)
    const file = join(copy.path, 'export.jsonl')
    await cliOutput(['ledger', 'export', '--format', 'jsonl', '--out', file, '--data-dir', b.dir])
    expect(JSON.parse(await cliOutput(['ledger', 'import', file, '--json', '--data-dir', copy.path]))).toMatchObject({ lines: 9, appended: 9, rejectedCount: 0 })
    expect(JSON.parse(await cliOutput(['ledger', 'export', '--view', 'heads', '--data-dir', copy.path]).then((t) => `[${t.trimEnd().split('\n').join(',')}]`)))
      .toEqual(JSON.parse(await cliOutput(['ledger', 'export', '--view', 'heads', '--data-dir', b.dir]).then((t) => `[${t.trimEnd().split('\n').join(',')}]`)))
  })

  it('answers POST /v1/ledger/sync with 400 and a code for a missing, malformed or own peer id, and 502 for a peer it cannot reach', async () => {
    const node = await startNode({ services: { ledger: ledgerService({ antiEntropyMs: 0 }) } })
    cleanups.push(node.destroy)
    const client = await ControlClient.fromDataDir(node.dir)
    for (const body of [{ peer: 'x' }, {}, { peer: 7 }, { peer: '12D3KooW'.repeat(40) }]) {
      await expect(client.request('POST', '/v1/ledger/sync', body)).rejects.toMatchObject({ code: 'ERR_LEDGER_BAD_ARGUMENT', status: 400 })
    }
    await expect(client.request('POST', '/v1/ledger/sync', { peer: node.daemon.peerId.toString() })).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_SELF', status: 400 })
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await expect(client.request('POST', '/v1/ledger/sync', { peer: stranger.toString() })).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_FAILED', status: 502 })
  })

  it('says plainly when another process holds the store and no daemon answers', async () => {
    const dir = await populatedDataDir()
    const child = startChild('hold', dataDirPaths(dir).ledger)
    try {
      await waitForLine(child, (l) => l.startsWith('open'))
      await expect(cliOutput(['ledger', 'list', '--data-dir', dir])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOCKED', message: expect.stringContaining(`locked by process ${child.pid}`) })
    } finally {
      child.kill('SIGKILL')
      await exited(child)
    }
  })
})
