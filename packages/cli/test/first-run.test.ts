/**
 * What a new user meets on a first run: bad flags named as flags (not blamed on config.json), `init` changing
 * one setting of an existing folder and saying what `--reset-config` reset, `community join` refused beside a
 * running daemon, data-folder paths that are files, devices or /proc, an unreadable daemon.json, one-line
 * command-line errors with ERR_CLI_* codes, durations with units and messages that echo what was typed.
 */
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { decodeIdx } from '@swarmtune/model'
import { describe, expect, it } from 'vitest'
import { ControlClient, createDaemon, dataDirPaths, initDataDir } from '@swarmtune/node'
import pino from 'pino'
import { runCli } from '@swarmtune/test-support/cli'
import { testConfig, testDataDir } from '@swarmtune/test-support/daemons'
import { parseDuration } from '../src/options.js'
import { expectRefusedInUse, swarmtune, useFolderWithGenesis, withDaemon } from './helpers.js'

const scratch = useFolderWithGenesis('swarmtune-first-run-')

/** What `p` rejects with; fails the test when it resolves. */
async function refusal (p: Promise<unknown>): Promise<Error & { code: string }> {
  return await p.then(() => { throw new Error('expected a refusal') }, (e: unknown) => e as Error & { code: string })
}

const config = async (root: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(dataDirPaths(root).config, 'utf8')) as Record<string, unknown>

describe('bad flags', () => {
  it('`daemon --listen garbage`, `--listen …/tcp/99999`, `--bootstrap` without /p2p: one line naming the flag and value, not config.json', async () => {
    const node = await testDataDir(join(scratch.dir, 'flags'))
    for (const [command, flag, value] of [['daemon', '--listen', 'garbage'], ['daemon', '--listen', '/ip4/0.0.0.0/tcp/99999'], ['daemon', '--bootstrap', '/ip4/127.0.0.1/tcp/4999'], ['init', '--listen', 'garbage']]) {
      const r = await swarmtune([command, '-d', node, flag, value])
      expect(r.code, `${command} ${flag} ${value}`).toBe(1)
      expect(r.stderr).toMatch(/^swarmtune: error: .*\(ERR_CLI_BAD_OPTION_VALUE\);[^\n]*\n$/)
      expect(r.stderr).toContain(`${flag} "${value}"`)
      expect(r.stderr).not.toContain('config.json')
    }
  })

  it('a bad override given to createDaemon is not blamed on a valid config.json', async () => {
    const node = await testDataDir(join(scratch.dir, 'override'))
    const err = await refusal(createDaemon({ dataDir: node, config: { control: { host: '192.0.2.1' } } }))
    expect(err).toMatchObject({ code: 'ERR_NODE_CONFIG_INVALID' })
    expect(err.message).toContain('itself is valid')
    expect(err.message).not.toContain('--reset-config')
  })

  it('a bad option is one line with an ERR_CLI_* code on every command, the daemon included', async () => {
    for (const [args, code] of [[['daemon', '--bogus'], 'ERR_CLI_UNKNOWN_OPTION'], [['status', '--bogus'], 'ERR_CLI_UNKNOWN_OPTION'], [['bogus'], 'ERR_CLI_UNKNOWN_COMMAND'], [['community', 'join'], 'ERR_CLI_BAD_ARGUMENTS']] as const) {
      const r = await swarmtune([...args])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^swarmtune: error: [^\\n]*\\(${code}\\);[^\\n]*\\n$`))
    }
  })
})

describe('init on an existing folder', () => {
  it('`init --listen` changes only listen; `--reset-config` lists what it set back to the defaults', async () => {
    const node = await testDataDir(join(scratch.dir, 'existing'))
    const before = await config(node)
    const r = await swarmtune(['init', '-d', node, '--control-port', '4130', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ created: false, changes: [{ field: 'control.port', from: 0, to: 4130 }] })
    expect(await config(node)).toEqual({ ...before, control: { host: '127.0.0.1', port: 4130 } })

    const reset = await swarmtune(['init', '-d', node, '--reset-config', '--control-port', '4131'])
    expect(reset.code, reset.stderr).toBe(0)
    expect(reset.stdout).toContain('mdns: false → true')
    expect(reset.stdout).toContain('listen: ["/ip4/127.0.0.1/tcp/0"] → ["/ip4/0.0.0.0/tcp/4101","/ip4/0.0.0.0/tcp/4102/ws"]')
    expect(reset.stdout).toContain('control.port: 4130 → 4131')
  })

  it('the hint of ERR_NODE_LISTEN_PORT_IN_USE is a command that changes only the port', async () => {
    const node = join(scratch.dir, 'port-in-use')
    const taken: Server = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as { port: number }).port
    try {
      await initDataDir(node, { config: testConfig({ listen: [`/ip4/127.0.0.1/tcp/${port}`] }) })
      const before = await config(node)
      const daemon = await createDaemon({ dataDir: node, logger: pino({ level: 'silent' }) })
      const err = await daemon.start().then(() => undefined, (e: unknown) => e as Error & { code: string })
      expect(err).toMatchObject({ code: 'ERR_NODE_LISTEN_PORT_IN_USE' })
      const hint = /`swarmtune (init [^`]*)`/.exec(err?.message ?? '')
      expect(hint, err?.message).not.toBeNull()
      const args = (hint as RegExpExecArray)[1].replace('/ip4/0.0.0.0/tcp/<port>', '/ip4/127.0.0.1/tcp/0').split(' ')
      const r = await swarmtune(args)
      expect(r.code, r.stderr).toBe(0)
      expect(await config(node)).toEqual({ ...before, listen: ['/ip4/127.0.0.1/tcp/0'] })
    } finally {
      taken.close()
    }
  })
})

describe('community join', () => {
  it('is refused on a folder whose daemon runs (ERR_CLI_DATA_DIR_IN_USE), rounds.json untouched', async () => {
    const node = await testDataDir(join(scratch.dir, 'running'))
    await withDaemon(node, async () => {
      await expectRefusedInUse(await swarmtune(['community', 'join', scratch.genesis, '-d', node, '--mnist']), node)
      await expect(stat(join(node, 'rounds.json'))).rejects.toMatchObject({ code: 'ENOENT' })
    })
  })

  it('says how to reach the community: with mDNS off and no bootstrap peer, the start command carries --bootstrap', async () => {
    const node = await testDataDir(join(scratch.dir, 'alone'))
    const { stdout: out } = await runCli(['community', 'join', scratch.genesis, '-d', node], { reject: 'error' })
    expect(out).toContain(`swarmtune daemon -d ${node} --bootstrap <address>`)
  })

  it('`--clients 4 --client 9` names the options given and their values', async () => {
    const node = await testDataDir(join(scratch.dir, 'clients'))
    const err = await refusal(runCli(['community', 'join', scratch.genesis, '-d', node, '--mnist', '--partition', 'iid', '--clients', '4', '--client', '9'], { reject: 'error' }))
    expect(err).toMatchObject({ code: 'commander.invalidArgument' })
    expect(err.message).toContain('--client 9 with --clients 4')
    expect(err.message).not.toContain('--max-round-time')
  })
})

describe('data folder paths', () => {
  it('`init -d /proc/foo` returns at once with ERR_NODE_DATA_DIR_UNWRITABLE (no recursive mkdir spin)', async () => {
    const r = await swarmtune(['init', '-d', '/proc/swarmtune-test/x'], { timeoutMs: 60_000 })
    expect(r.signal, 'killed: init did not return').toBeNull()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/\(ERR_NODE_DATA_DIR_UNWRITABLE\)\n$/)
  })

  it('a file or a device in the path is ERR_NODE_DATA_DIR_NOT_FOLDER', async () => {
    const file = join(scratch.dir, 'afile')
    await writeFile(file, 'x')
    await expect(initDataDir(file)).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_NOT_FOLDER', message: expect.stringContaining('is a file, not a folder') })
    await expect(initDataDir(join(file, 'below'))).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_NOT_FOLDER' })
    await expect(initDataDir('/dev/null/x')).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_NOT_FOLDER' })
  })

  it('a corrupted daemon.json is reported unreadable, not as "no daemon.json"; a missing folder points to init', async () => {
    const node = await testDataDir(join(scratch.dir, 'corrupt'))
    await writeFile(dataDirPaths(node).daemonInfo, '{"pid": 1, "cont')
    await expect(ControlClient.fromDataDir(node)).rejects.toMatchObject({ code: 'ERR_NODE_DAEMON_INFO_UNREADABLE' })
    await expect(runCli(['status', '-d', join(scratch.dir, 'never-created')], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_NODE_DAEMON_NOT_RUNNING', message: expect.stringContaining('swarmtune init -d') })
  })
})

describe('durations and echoed values', () => {
  it('durations take ms, s, m, min, h and d; an unknown unit lists the accepted ones', () => {
    expect(['1500ms', '90s', '2m', '2min', '1.5h', '1d'].map((v) => parseDuration('--duration', v))).toEqual([1500, 90_000, 120_000, 120_000, 5_400_000, 86_400_000])
    expect(() => parseDuration('--duration', '5y')).toThrow(/ms, s, m or min, h, d/)
    expect(() => parseDuration('--duration', '2')).toThrow(/no unit/)
    expect(parseDuration('--timeout', '3000', 'ms')).toBe(3000)
  })

  it('`round start --duration 2min` and `1d` pass the option check (the command then needs a daemon)', async () => {
    for (const d of ['2min', '1d']) {
      await expect(runCli(['round', 'start', '-d', join(scratch.dir, 'never-created'), '--duration', d], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_NODE_DAEMON_NOT_RUNNING' })
    }
    await expect(runCli(['round', 'start', '-d', join(scratch.dir, 'never-created'), '--duration', '2y'], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.invalidArgument', message: expect.stringContaining('ms, s, m or min, h, d') })
  })

  it('`doctor --timeout 3s` is accepted; with mDNS off its reachability line does not claim mDNS', async () => {
    const node = await testDataDir(join(scratch.dir, 'doctor'))
    const r = await swarmtune(['doctor', '-d', node, '--timeout', '3s', '--json'])
    expect(r.stderr).toBe('')
    const reach = (JSON.parse(r.stdout) as Array<{ name: string, detail: string }>).find((c) => c.name === 'reachability')
    expect(reach?.detail).toContain('no bootstrap peers configured (mDNS is off and the DHT is off')
  })

  it('`simulate --target 150` echoes what was typed', async () => {
    const err = await refusal(runCli(['simulate', '--target', '150'], { reject: 'error' }))
    expect(err).toMatchObject({ code: 'commander.invalidArgument' })
    expect(err.message).toContain('150')
    expect(err.message).not.toContain('1.5')
  })
})

/** An IDX file's bytes: uint8 elements of `shape` (MNIST's layout), filled from `fill`. */
function idx (shape: number[], fill: (i: number) => number): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1)
  const out = new Uint8Array(4 + 4 * shape.length + count)
  out[2] = 0x08
  out[3] = shape.length
  const view = new DataView(out.buffer)
  shape.forEach((n, i) => { view.setUint32(4 + 4 * i, n, false) })
  for (let i = 0; i < count; i++) out[4 + 4 * shape.length + i] = fill(i)
  return out
}

describe('gzipped IDX files', () => {
  it('`community join --images x.gz --labels y.gz` reads them as the unpacked files; decodeIdx names gzip and gunzip', async () => {
    const images = idx([20, 28, 28], (i) => (i * 7) % 256)
    const labels = idx([20], (i) => i % 10)
    await writeFile(join(scratch.dir, 'images.gz'), gzipSync(images))
    await writeFile(join(scratch.dir, 'labels.gz'), gzipSync(labels))
    const node = await testDataDir(join(scratch.dir, 'gzip'))
    const { exitCode } = await runCli(['community', 'join', scratch.genesis, '-d', node, '--images', join(scratch.dir, 'images.gz'), '--labels', join(scratch.dir, 'labels.gz'), '--json'], { reject: 'error' })
    expect(exitCode).toBe(0)
    expect(JSON.parse(await readFile(join(node, 'rounds.json'), 'utf8'))).toMatchObject({ volunteer: { data: { source: 'idx', images: join(scratch.dir, 'images.gz') } } })
    expect(() => decodeIdx(gzipSync(labels))).toThrow(expect.objectContaining({ code: 'ERR_MODEL_IDX_MALFORMED', message: expect.stringContaining('gunzip') }))
    // a truncated gzip is refused with the IDX code, naming the file
    await writeFile(join(scratch.dir, 'cut.gz'), gzipSync(labels).subarray(0, 20))
    await expect(runCli(['community', 'join', scratch.genesis, '-d', node, '--images', join(scratch.dir, 'images.gz'), '--labels', join(scratch.dir, 'cut.gz')], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_TRAINING_DATA' })
  })
})
