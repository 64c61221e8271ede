/**
 * The read commands without a daemon, as real `swarmtune` processes: `release show / pull / export / verify`
 * and `community show -d` answer from the folder's ledger store and blob store as the daemon answered; read
 * commands on a fresh folder create nothing; `ledger export` refuses `--json --format csv`, an existing `-o`
 * without `--force` and a filter its view does not apply; `ledger import` names the line, entry and field
 * of an edited line.
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient, type Daemon } from '@swarmtune/node'
import { defaultServices } from '@swarmtune/rounds'
import type { EntryJson } from '@swarmtune/ledger'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { runDaemon, testDataDir } from '@swarmtune/test-support/daemons'
import { genesisFile, swarmtune } from './helpers.js'

let dir: string
let cleanup: () => Promise<void>
let maintainer: string
let genesis: string
/** What the commands answered through the running daemon. */
const viaDaemon: Record<string, string> = {}

beforeAll(async () => {
  ({ path: dir, cleanup } = await tempDir('swarmtune-cli-store-reads-'))
  maintainer = await testDataDir(join(dir, 'maintainer'))
  genesis = (JSON.parse((await runCli(['community', 'create', '--task', 'mnist-2nn', '--name', 'reads', '-d', maintainer, '--json'], { reject: 'error' })).stdout) as { file: string }).file
  const daemon: Daemon = await runDaemon(maintainer, defaultServices({ rounds: { community: genesis } }))
  try {
    const client = await ControlClient.fromDataDir(maintainer)
    await waitFor(async () => (await client.request<EntryJson[]>('GET', '/v1/ledger/view/entries')).length > 0, 10_000, 'the genesis in the ledger')
    viaDaemon.show = (await runCli(['release', 'show', '0', '-d', maintainer, '--json'], { reject: 'error' })).stdout
    viaDaemon.community = (await runCli(['community', 'show', '-d', maintainer, '--json'], { reject: 'error' })).stdout
    viaDaemon.verify = await runCli(['release', 'verify', '0', '-d', maintainer], { reject: 'error' }).then(() => 'ok', (err: { code?: string }) => err.code ?? 'no code')
    // a round in the ledger (opened, then cancelled: a round-open and a round-close), as the daemon shows it
    await runCli(['round', 'start', '--duration', '1m', '-d', maintainer, '--json'], { reject: 'error' })
    await runCli(['round', 'cancel', '1', '--reason', 'store read test', '-d', maintainer], { reject: 'error' })
    viaDaemon.round = (await runCli(['round', 'status', '1', '-d', maintainer, '--json'], { reject: 'error' })).stdout
    // the control API refuses a filter its view does not apply, with the same code, as a bad request
    await expect(client.request('GET', '/v1/ledger/view/peers?kind=verdict')).rejects.toMatchObject({ code: 'ERR_LEDGER_UNSUPPORTED_FILTER', status: 400 })
  } finally {
    await daemon.stop()
  }
})
afterAll(async () => { await cleanup() })

/** Every path under `root` with its size (files) — what a command could have created or changed. */
async function tree (root: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    out.push(`${relative(root, path)}${entry.isFile() ? ` ${(await stat(path)).size}` : '/'}`)
  }
  return out.sort()
}

describe('release and community commands with no daemon running', () => {
  it('answer from the ledger store and the local blob store as the daemon did', async () => {
    const out = join(dir, 'genesis.safetensors')
    // real processes one after another (each opens the store, which one process holds at a time), the rest in-process
    const show = await swarmtune(['release', 'show', '0', '-d', maintainer, '--json'])
    const verify = await swarmtune(['release', 'verify', '0', '-d', maintainer])
    for (const r of [show, verify]) expect(r.stderr).not.toMatch(/no daemon is running|ERR_NODE_DAEMON_NOT_RUNNING/)
    expect(show).toMatchObject({ code: 0, stdout: viaDaemon.show })
    // the genesis release has nothing to recompute: ok, through the daemon and from the store alike
    expect(viaDaemon.verify).toBe('ok')
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/^ok: release bafkrei\S+ \(round 0\) is the genesis release, .*nothing to recompute/)
    expect((await runCli(['release', 'show', 'latest', '-d', maintainer, '--json'], { reject: 'error' })).stdout).toBe(viaDaemon.show)
    const manifest = (JSON.parse(viaDaemon.show) as { manifest: string }).manifest
    expect(JSON.parse((await runCli(['release', 'pull', '0', '-d', maintainer, '--json'], { reject: 'error' })).stdout)).toMatchObject({ manifest, shards: expect.any(Number) })
    await runCli(['release', 'export', '0', '-d', maintainer, '-o', out, '--format', 'safetensors'], { reject: 'error' })
    expect((await stat(out)).size).toBeGreaterThan(100_000) // mnist-2nn holds about 200k float32 weights
    expect((await runCli(['community', 'show', '-d', maintainer, '--json'], { reject: 'error' })).stdout).toBe(viaDaemon.community)
  })

  it('round status <n> (and round show) read the ledger\'s part of a round from the store, and say what is left out', async () => {
    const r = await swarmtune(['round', 'status', '1', '-d', maintainer, '--json'])
    expect(r.stderr).not.toMatch(/no daemon is running|ERR_NODE_DAEMON_NOT_RUNNING/)
    expect(r.code, r.stderr).toBe(0)
    // the daemon's answer, less the parts only a running coordinator knows
    const { phase: _phase, networkRejections: _n, topicPeers: _t, volunteers: _v, localVolunteer: _l, ...ledgerPart } = JSON.parse(viaDaemon.round) as Record<string, unknown>
    expect(JSON.parse(r.stdout)).toEqual(ledgerPart)
    expect(ledgerPart).toMatchObject({ round: 1, state: 'closed', outcome: 'cancelled' })
    const { stdout: out } = await runCli(['round', 'show', 'latest', '-d', maintainer], { reject: 'error' })
    expect(out).toMatch(/^round 1 — closed \(cancelled/)
    expect(out).toContain('read from its ledger store')
    expect(out).toContain('known only to the running coordinator\'s daemon')
    await expect(runCli(['round', 'status', '7', '-d', maintainer], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_ROUNDS_NOT_FOUND' })
  })

  it('community show -d reads the genesis `community join` kept in a folder that never ran a daemon', async () => {
    const volunteer = await testDataDir(join(dir, 'volunteer'))
    const file = await genesisFile(dir, 'joined')
    await runCli(['community', 'join', file, '-d', volunteer], { reject: 'error' })
    const [fromFolder, fromFile] = await Promise.all([swarmtune(['community', 'show', '-d', volunteer, '--json']), swarmtune(['community', 'show', file, '--json'])])
    expect(fromFolder.code, fromFolder.stderr).toBe(0)
    expect(fromFolder.stdout).toBe(fromFile.stdout)
  })

  it('release pull names the missing blobs and how to fetch them when the local store lacks them', async () => {
    const before = await tree(maintainer)
    const shard = before.find((p) => /^blobs\/[a-z2-7]{2}\/bafkrei[a-z2-7]+ \d+$/.test(p) && !p.includes('/tmp/'))
    expect(shard).toBeDefined()
    const path = join(maintainer, (shard as string).split(' ')[0])
    const bytes = await readFile(path)
    await rm(path)
    try {
      await expect(runCli(['release', 'pull', '0', '-d', maintainer], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_NEEDS_DAEMON' })
    } finally {
      await writeFile(path, bytes)
    }
  })
})

describe('read commands on a fresh data folder', () => {
  it('create nothing: no ledger/, no blobs/, nothing else', async () => {
    const fresh = await testDataDir(join(dir, 'fresh'))
    const before = await tree(fresh)
    // as real processes
    const [list, show] = await Promise.all([swarmtune(['ledger', 'stats', '--json', '-d', fresh]), swarmtune(['release', 'show', '0', '-d', fresh])])
    expect(list.code, list.stderr).toBe(0)
    expect(JSON.parse(list.stdout)).toMatchObject({ entries: 0, perPeer: [] })
    // a folder that joined no community says so
    expect(show.stderr).toMatch(/\(ERR_ROUNDS_NO_COMMUNITY\)\n$/)
    // and in-process: the ledger reads as empty
    for (const args of [['ledger', 'list'], ['ledger', 'export', '--view', 'peers'], ['ledger', 'verify'], ['round', 'list']]) await runCli([...args, '-d', fresh], { reject: 'error' })
    for (const args of [['release', 'list'], ['release', 'verify', '0'], ['release', 'pull', '0'], ['community', 'show']]) {
      await expect(runCli([...args, '-d', fresh], { reject: 'error' }), args.join(' ')).rejects.toMatchObject({ code: 'ERR_ROUNDS_NO_COMMUNITY' })
    }
    expect(await tree(fresh)).toEqual(before)
    // a mistyped -d names the problem instead of reading an empty ledger
    await expect(runCli(['ledger', 'list', '-d', join(dir, 'no-such-folder')], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_MISSING' })
  })
})

describe('ledger export', () => {
  it('refuses --json with --format csv, an existing -o without --force, and a filter its view does not apply', async () => {
    await expect(runCli(['ledger', 'export', '--json', '--format', 'csv', '-d', maintainer], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.conflictingOption' })
    const jsonl = (await runCli(['ledger', 'export', '--json', '-d', maintainer], { reject: 'error' })).stdout
    expect(jsonl).toBe((await runCli(['ledger', 'export', '--format', 'jsonl', '-d', maintainer], { reject: 'error' })).stdout)
    const file = join(dir, 'kept.jsonl')
    await writeFile(file, 'keep me\n')
    await expect(runCli(['ledger', 'export', '-o', file, '-d', maintainer], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_OUTPUT_EXISTS' })
    expect(await readFile(file, 'utf8')).toBe('keep me\n')
    await runCli(['ledger', 'export', '-o', file, '--force', '-d', maintainer], { reject: 'error' })
    expect(await readFile(file, 'utf8')).toBe(jsonl)
    await expect(runCli(['ledger', 'export', '--view', 'rounds', '--kind', 'verdict', '-d', maintainer], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_LEDGER_UNSUPPORTED_FILTER', supported: ['round', 'limit', 'reverse'] })
    const cli = await swarmtune(['ledger', 'export', '--json', '--format', 'csv', '-d', maintainer])
    expect(cli.stderr).toMatch(/\(ERR_CLI_CONFLICTING_OPTIONS\)/)
  })
})

describe('ledger import', () => {
  it('refuses an edited line, naming the line, the entry id and the field', async () => {
    const [line] = (await runCli(['ledger', 'export', '-d', maintainer], { reject: 'error' })).stdout.trimEnd().split('\n')
    const entry = JSON.parse(line) as EntryJson
    entry.body.name = 'renamed'
    const file = join(dir, 'edited.jsonl')
    await writeFile(file, JSON.stringify(entry) + '\n')
    const target = await testDataDir(join(dir, 'import-target'))
    const r = await swarmtune(['ledger', 'import', file, '-d', target])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout, r.stderr).toContain('0 entries imported, 0 already stored, 1 refused')
    expect(r.stdout, r.stderr).toContain(`line 1, entry ${entry.id}, field body.name: ERR_LEDGER_IMPORT_MISMATCH`)
  })
})
