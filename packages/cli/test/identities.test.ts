/**
 * Identities and ids in the CLI's text output, against a real maintainer daemon on 127.0.0.1 (its ledger holds
 * the genesis it signed) and against its store once it stopped: `ledger list / stats / show` print peer ids
 * and full entry ids, `--author` takes a peer id as well as the 64-hex key, an id `ledger list` prints opens
 * with `ledger show`, `release show` takes a round number as `round status` does, and `round list` /
 * `release list` answer from the store the same as from the daemon.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient, type Daemon } from '@swarmtune/node'
import { defaultServices, keyHex, type RoundDetail } from '@swarmtune/rounds'
import type { EntryJson } from '@swarmtune/ledger'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { runDaemon, testDataDir } from '@swarmtune/test-support/daemons'
import { entryIdOfPrefix } from '../src/commands/ledger.js'
import { renderRound, renderRounds } from '../src/commands/round.js'

let dir: string
let cleanup: () => Promise<void>
let node: string
let daemon: Daemon | undefined
let peerId: string
let hex: string

beforeAll(async () => {
  ({ path: dir, cleanup } = await tempDir('swarmtune-cli-ids-'))
  node = await testDataDir(join(dir, 'maintainer'))
  const created = JSON.parse((await runCli(['community', 'create', '--task', 'mnist-2nn', '--name', 'ids', '-d', node, '--json'], { reject: 'error' })).stdout) as { file: string }
  daemon = await runDaemon(node, defaultServices({ rounds: { community: created.file } }))
  peerId = daemon.peerId.toString()
  hex = keyHex(daemon.peerId.publicKey?.raw as Uint8Array)
  const client = await ControlClient.fromDataDir(node)
  await waitFor(async () => (await client.request<EntryJson[]>('GET', '/v1/ledger/view/entries')).length > 0, 10_000, 'the genesis in the ledger')
})
afterAll(async () => {
  await daemon?.stop()
  await cleanup()
})

/** `round list --json` and `release list --json` as the daemon answered them. */
const lists: { rounds?: string, releases?: string } = {}

/** The checks, run through the daemon and then on the store. */
async function checkLedgerOutput (via: RegExp): Promise<void> {
  const rows = JSON.parse((await runCli(['ledger', 'list', '-d', node, '--json'], { reject: 'error' })).stdout) as EntryJson[]
  expect(rows.map((r) => r.author)).toContain(hex)
  const text = (await runCli(['ledger', 'list', '-d', node], { reject: 'error' })).stdout
  expect(text).toMatch(via)
  for (const r of rows) expect(text).toContain(r.id)
  expect(text).toContain(peerId)
  expect(text).not.toContain(hex)
  // every id the list prints opens with `ledger show`
  for (const r of rows) expect((await runCli(['ledger', 'show', r.id, '-d', node, '--json'], { reject: 'error' })).stdout).toContain(r.id)
  // and so does the start of one, as shortened ids are printed elsewhere (`round status`)
  const first = rows[0].id
  expect((await runCli(['ledger', 'show', `${first.slice(0, 16)}…`, '-d', node, '--json'], { reject: 'error' })).stdout).toBe((await runCli(['ledger', 'show', first, '-d', node, '--json'], { reject: 'error' })).stdout)
  await expect(runCli(['ledger', 'show', 'bafkreizzzzzzzzzzzz', '-d', node], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_FOUND' })
  // --author: the peer id and the hex key name the same entries
  const byPeer = (await runCli(['ledger', 'list', '-d', node, '--author', peerId, '--json'], { reject: 'error' })).stdout
  expect(byPeer).toBe((await runCli(['ledger', 'list', '-d', node, '--author', hex.toUpperCase(), '--json'], { reject: 'error' })).stdout)
  expect((JSON.parse(byPeer) as EntryJson[]).length).toBe(rows.filter((r) => r.author === hex).length)
  await expect(runCli(['ledger', 'list', '-d', node, '--author', '12D3KooWnotapeerid'], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.invalidArgument' })
  const stats = (await runCli(['ledger', 'stats', '-d', node], { reject: 'error' })).stdout
  expect(stats).not.toContain(hex)
}

describe('ids and identities', () => {
  it('through the running daemon', async () => {
    await checkLedgerOutput(/\(daemon at http:\/\/127\.0\.0\.1:\d+\)/)
    lists.rounds = (await runCli(['round', 'list', '-d', node, '--json'], { reject: 'error' })).stdout
    lists.releases = (await runCli(['release', 'list', '-d', node, '--json'], { reject: 'error' })).stdout
    expect((JSON.parse(lists.releases) as Array<{ round: number }>).map((r) => r.round)).toEqual([0])
  })

  it('release show takes a round number: round 0 is the genesis release', async () => {
    const byRound = JSON.parse((await runCli(['release', 'show', '0', '-d', node, '--json'], { reject: 'error' })).stdout) as { manifest: string, round: number }
    expect(byRound.round).toBe(0)
    expect((await runCli(['release', 'show', byRound.manifest, '-d', node, '--json'], { reject: 'error' })).stdout).toBe((await runCli(['release', 'show', '0', '-d', node, '--json'], { reject: 'error' })).stdout)
    await expect(runCli(['release', 'show', '7', '-d', node], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_ROUNDS_RELEASE_NOT_FOUND' })
  })

  it('on the store once the daemon stopped', async () => {
    await daemon?.stop()
    daemon = undefined
    await checkLedgerOutput(/\(store .*ledger\)/)
    expect((await runCli(['round', 'list', '-d', node, '--json'], { reject: 'error' })).stdout).toBe(lists.rounds)
    expect((await runCli(['release', 'list', '-d', node, '--json'], { reject: 'error' })).stdout).toBe(lists.releases)
    expect((await runCli(['release', 'list', '-d', node], { reject: 'error' })).stdout).toContain(JSON.parse(lists.releases ?? '[]')[0].manifest)
  })

  it('release list on a folder whose ledger holds no community says how to join one', async () => {
    const fresh = await testDataDir(join(dir, 'fresh'))
    await expect(runCli(['release', 'list', '-d', fresh], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_ROUNDS_NO_COMMUNITY' })
    expect(JSON.parse((await runCli(['round', 'list', '-d', fresh, '--json'], { reject: 'error' })).stdout)).toEqual([])
  })
})

describe('community create --maintainer', () => {
  it('takes a peer id or its hex key and names the same maintainer', async () => {
    const made: string[][] = []
    for (const [i, form] of [peerId, hex].entries()) {
      const folder = await testDataDir(join(dir, `co-maintainer-${i}`))
      made.push((JSON.parse((await runCli(['community', 'create', '--task', 'mnist-2nn', '-d', folder, '--maintainer', form, '--json'], { reject: 'error' })).stdout) as { maintainers: string[] }).maintainers)
    }
    expect(made[0][1]).toBe(peerId)
    expect(made[1][1]).toBe(peerId)
    await expect(runCli(['community', 'create', '--task', 'mnist-2nn', '-d', join(dir, 'co-maintainer-0'), '--maintainer', 'ab12'], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.invalidArgument' })
  })
})

describe('round status and round list', () => {
  it('print contribution ids, peer ids and release ids in full', () => {
    const id = 'bafkreih6bccdpwq3fa53tbejvljds3m6gju4xzq5w7d2c2qkz3l6b5k4ya'
    const manifest = 'bafkreiaaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmm'
    const peer = '12D3KooWRnQtewcxfuuNdmwTM8sf6bS6G6m13U2Z1Akq2Mvtynq5'
    const round = {
      round: 1, state: 'closed', outcome: 'released', roundOpen: id, coordinator: peer, openedAt: 0, deadline: 1, closedAt: 1, base: manifest,
      train: { steps: 1, batchSize: 10, learningRate: 0.1, optimizer: 'sgd' }, aggregator: { name: 'fedavg', params: {} }, codec: { name: 'fp32' },
      normBound: 100, quorum: 1, maxContributions: 8, release: { manifest, entry: id, metrics: { accuracy: 0.5 } },
      timing: { bytes: 10 }, counts: { contributions: 1, accepted: 1, rejected: 0, pending: 0 },
      contributions: [{ id, peer, samples: 10, lossBefore: 1, lossAfter: 0.5, trainMs: 1, blobBytes: 10, verdict: { accepted: true } }],
      networkRejections: [{ ts: 0, from: peer, code: 'ERR_WIRE_BAD_SIGNATURE', reason: 'x' }]
    } as unknown as RoundDetail
    const status = renderRound(round)
    expect(status).toMatch(new RegExp(`^${id}\\s+${peer}\\s+10\\s`, 'm'))
    expect(status).toMatch(new RegExp(`^1970-01-01 00:00:00Z\\s+${peer}\\s+ERR_WIRE_BAD_SIGNATURE`, 'm'))
    expect(renderRounds([round])).toContain(manifest)
  })
})

describe('ledger show <id prefix>', () => {
  it('resolves a prefix naming one id, none when it names none, and refuses one naming several', () => {
    const ids = ['bafkreiaaaa1111', 'bafkreiaaaa2222', 'bafkreibbbb3333']
    expect(entryIdOfPrefix(ids, 'bafkreibbbb', 'list')).toBe('bafkreibbbb3333')
    expect(entryIdOfPrefix(ids, 'bafkreicccc', 'list')).toBeUndefined()
    expect(() => entryIdOfPrefix(ids, 'bafkreiaaaa', 'list')).toThrow(expect.objectContaining({ code: 'ERR_CLI_AMBIGUOUS_ID' }))
  })
})
