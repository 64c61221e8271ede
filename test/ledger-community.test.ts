/**
 * A data folder belongs to its community: two real daemons of two communities on 127.0.0.1, where the fresh
 * folder of community B (joined through rounds.json) takes nothing of community A — not by sync in either
 * direction, not by gossip — and starts again; and `swarmtune doctor` on a folder an earlier version let
 * A's peers fill: it explains, `--repair` moves the foreign ledger aside, and the daemon then starts.
 */
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLedger, toHex, type Ledger } from '@swarmtune/ledger'
import { dataDirPaths, ledgerService, openDataDir, type DaemonEvent, type LedgerService } from '@swarmtune/node'
import { createRoundsConfig, defaultServices, writeRoundsConfig } from '@swarmtune/rounds'
import { communityTopic, type SignedEntry } from '@swarmtune/wire'
import { Cleanups, tempDir, waitFor } from '@swarmtune/test-support'
import { runDaemon, startNode, testDataDir } from '@swarmtune/test-support/daemons'
import { runCli } from '@swarmtune/test-support/cli'
import { bodies, ChainSigner, fakeCid, keyFor } from '../packages/ledger/test/fixtures.js'

const cleanups = new Cleanups()
afterAll(cleanups.run)

/** A genesis of a task this build knows (its release CID is made up: nothing here fetches it). */
async function genesisOf (name: string): Promise<SignedEntry> {
  const maintainer = await keyFor(0)
  return await new ChainSigner().sign(maintainer, 'genesis', { ...bodies.genesis([maintainer.publicKey.raw]), name, task: { id: 'mnist-2nn' } })
}

/** An initialised data folder that joined the community of `genesis` (genesis file + rounds.json, as `community join` writes them). */
async function joinedFolder (genesis: SignedEntry): Promise<string> {
  const dir = await tempDir('swarmtune-ledger-community-')
  cleanups.push(dir.cleanup)
  await testDataDir(dir.path)
  await writeFile(join(dir.path, 'community.genesis'), genesis.bytes)
  await writeRoundsConfig(dir.path, createRoundsConfig({ community: 'community.genesis' }))
  return dir.path
}

/** Entries of community `genesis`: its genesis and contributions by three volunteers and, when given, by `own`. */
async function entriesOf (genesis: SignedEntry, own?: Parameters<ChainSigner['sign']>[0]): Promise<SignedEntry[]> {
  const signer = new ChainSigner(genesis.id)
  const out = [genesis]
  for (const [i, key] of [await keyFor(1), await keyFor(2), await keyFor(3), ...(own === undefined ? [] : [own])].entries()) {
    out.push(await signer.sign(key, 'contribution', bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`a-${i}`), 10)))
  }
  return out
}

async function doctor (...args: string[]): Promise<{ checks: Array<{ name: string, status: string, detail: string, data?: Record<string, unknown> }>, exitCode: number }> {
  const { stdout, exitCode } = await runCli(['doctor', '--json', '--timeout', '500', ...args], { reject: 'error' })
  return { checks: JSON.parse(stdout), exitCode }
}

describe('a data folder belongs to its community', () => {
  it('a fresh folder of community B takes no entry of community A from A\'s daemon, by sync or gossip, and starts again', async () => {
    const genesisA = await genesisOf('community-a')
    const genesisB = await genesisOf('community-b')
    const a = await startNode({ services: { ledger: ledgerService({ antiEntropyMs: 0 }) } })
    cleanups.push(a.destroy)
    const la = (a.daemon.services.ledger as LedgerService).ledger
    for (const e of await entriesOf(genesisA)) await la.append(e)

    const dirB = await joinedFolder(genesisB)
    // the ledger service as `swarmtune daemon` runs it: bound to the folder's community
    const bServices = { ledger: defaultServices({ ledger: { antiEntropyMs: 0 } }).ledger }
    let b = await runDaemon(dirB, bServices)
    const events: DaemonEvent[] = []
    b.events.subscribe((e) => { events.push(e) })
    const lb = (): Ledger => (b.services.ledger as LedgerService).ledger
    expect(lb().community?.toString()).toBe(genesisB.id.toString()) // bound before any peer is met
    expect(lb().size).toBe(0)

    await b.libp2p.dial(a.daemon.libp2p.getMultiaddrs())
    await waitFor(async () => (await b.libp2p.peerStore.get(a.daemon.peerId).catch(() => undefined))?.protocols.some((p) => p.includes('ledger-sync')) === true, 15_000, 'b to identify a')
    // sync in either direction is refused with a code, whoever starts it
    await expect((b.services.ledger as LedgerService).syncWith(a.daemon.peerId)).rejects.toMatchObject({ code: 'ERR_LEDGER_SYNC_COMMUNITY' })
    await expect((a.daemon.services.ledger as LedgerService).syncWith(b.peerId)).rejects.toMatchObject({ code: 'ERR_LEDGER_SYNC_COMMUNITY' })
    // an entry of A gossiped on B's topic is rejected by B's ledger with a code
    a.daemon.gossip.join(genesisB.id)
    await waitFor(() => a.daemon.gossip.peers(genesisB.id).some((p) => p.equals(b.peerId)), 15_000, 'a to join the topic of community B')
    const [, foreign] = await entriesOf(genesisA)
    // straight through gossipsub: a's own gossip layer would refuse to publish what the topic's peers reject
    await a.daemon.libp2p.services.pubsub.publish(communityTopic(genesisB.id), foreign.bytes)
    await waitFor(() => events.some((e) => e.type === 'gossip:rejected' && e.code === 'ERR_WIRE_WRONG_COMMUNITY'), 15_000, 'b to reject the gossiped entry of community A')
    expect(lb().size).toBe(0)
    expect(await lb().get(foreign.id)).toBeUndefined()

    // the folder still starts, still bound to B
    await b.stop()
    b = await runDaemon(dirB, bServices)
    cleanups.push(async () => { await b.stop() })
    expect(lb().community?.toString()).toBe(genesisB.id.toString())
    expect(lb().size).toBe(0)
  })

  it('doctor explains a folder an earlier version let community A fill, --repair moves that ledger aside, and the daemon then starts', async () => {
    const genesisA = await genesisOf('community-a')
    const genesisB = await genesisOf('community-b')
    const dir = await joinedFolder(genesisB)
    const { privateKey } = await openDataDir(dir)
    // what an earlier version did: the empty ledger took A's entries, one of them signed by this node's key
    const store = await openLedger({ path: dataDirPaths(dir).ledger })
    const foreign = await entriesOf(genesisA, privateKey)
    for (const e of foreign) await store.append(e)
    await store.close()
    await expect(runDaemon(dir, defaultServices())).rejects.toMatchObject({ code: 'ERR_LEDGER_COMMUNITY_MISMATCH' })

    const explained = await doctor('-d', dir)
    const ledgerCheck = explained.checks.find((c) => c.name === 'ledger')
    expect(ledgerCheck).toMatchObject({ status: 'fail', data: { foreign: true, entries: foreign.length, own: 1, ledger: genesisA.id.toString(), folder: { id: genesisB.id.toString() } } })
    expect(ledgerCheck?.detail).toContain(`swarmtune doctor --repair -d ${dir}`)
    expect(explained.exitCode).toBe(1)

    const repaired = await doctor('-d', dir, '--repair')
    const movedTo = `${dataDirPaths(dir).ledger}.foreign-${genesisA.id.toString()}`
    expect(repaired.checks.find((c) => c.name === 'ledger')).toMatchObject({ status: 'ok', data: { movedTo } })
    // nothing was deleted: the moved ledger holds every entry, this node's own among them
    const moved = await openLedger({ path: movedTo })
    expect(moved.size).toBe(foreign.length)
    expect(moved.head(toHex(privateKey.publicKey.raw))?.length).toBe(1)
    await moved.close()

    const daemon = await runDaemon(dir, { ledger: defaultServices({ ledger: { antiEntropyMs: 0 } }).ledger })
    cleanups.push(async () => { await daemon.stop() })
    const ledger = (daemon.services.ledger as LedgerService).ledger
    expect(ledger.community?.toString()).toBe(genesisB.id.toString())
    expect(ledger.size).toBe(0)
    await daemon.stop()
    // and doctor now finds nothing to repair
    expect((await doctor('-d', dir)).checks.find((c) => c.name === 'ledger')).toMatchObject({ status: 'ok', data: { foreign: false, entries: 0 } })
    await access(movedTo)
  })
})
