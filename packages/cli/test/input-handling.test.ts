/**
 * Input handling of the `swarmtune` command: every file it reads is a regular file within a size limit (devices,
 * FIFOs, missing and oversized files get a coded error at once), options are strict decimal integers, outputs are
 * checked before any work, and a volunteer's IDX data is validated at `community join`.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { initDataDir } from '@swarmtune/node'
import { readRoundsConfig } from '@swarmtune/rounds'
import { runCli } from '@swarmtune/test-support/cli'
import { render as renderCommunity } from '../src/commands/community.js'
import { serviceLines } from '../src/commands/status.js'
import { checkInputFile, readInputFile, readInputLines } from '../src/files.js'
import { intOption } from '../src/options.js'
import { divergedRounds } from '../src/commands/simulate.js'
import { createSimulationOptions, runSimulation } from '../src/simulate/index.js'
import { MAX_BATCH_SIZE } from '../src/simulate/options.js'
import { useFolderWithGenesis } from './helpers.js'

/** An IDX file: magic 0 0 <type 0x08 = uint8> <rank>, big-endian uint32 dimensions, then the data. */
function idx (shape: number[], data: Uint8Array): Uint8Array {
  const head = Buffer.alloc(4 + 4 * shape.length)
  head[2] = 0x08
  head[3] = shape.length
  shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i))
  return Buffer.concat([head, data])
}

/** Where each line's value starts: after its label and the blanks that follow (the whole indent of a continuation line). */
const valueColumns = (text: string): number[] => text.trimEnd().split('\n').map((l) => (/^\S*\s+/.exec(l)?.[0] ?? '').length)

const scratch = useFolderWithGenesis('swarmtune-cli-input-')
let fifo: string

beforeAll(async () => {
  fifo = join(scratch.dir, 'fifo')
  execFileSync('mkfifo', [fifo])
})

describe('bounded file reads', () => {
  it('refuses devices, FIFOs, folders and missing files at once, and oversized files by their size', async () => {
    for (const path of ['/dev/zero', fifo, scratch.dir, join(scratch.dir, 'missing')]) {
      await expect(readInputFile(path, 1024, 'test file'), path).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
      await expect(checkInputFile(path, 1024, 'test file'), path).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    }
    const big = join(scratch.dir, 'big')
    await writeFile(big, Buffer.alloc(1025))
    await expect(readInputFile(big, 1024, 'test file')).rejects.toMatchObject({ code: 'ERR_CLI_INPUT_TOO_LARGE' })
    expect((await readInputFile(big, 1025, 'test file')).length).toBe(1025)
  })

  it('reads lines across chunk boundaries, strips CR, and refuses a line over the limit', async () => {
    const path = join(scratch.dir, 'lines')
    const long = 'x'.repeat(100_000)
    await writeFile(path, `a\r\n${long}\n\nlast`)
    const lines: string[] = []
    for await (const l of readInputLines(path, { maxLineBytes: 100_000, maxFileBytes: 1e6, what: 'test file' })) lines.push(l)
    expect(lines).toEqual(['a', long, '', 'last'])
    const collect = async (): Promise<void> => { for await (const l of readInputLines(path, { maxLineBytes: 99_999, maxFileBytes: 1e6, what: 'test file' })) void l }
    await expect(collect()).rejects.toMatchObject({ code: 'ERR_CLI_INPUT_TOO_LARGE' })
  })
})

describe('ledger', () => {
  it('import refuses /dev/zero, a FIFO and an over-long line with a code instead of a crash', async () => {
    const data = join(scratch.dir, 'ledger-node')
    await mkdir(data)
    await expect(runCli(['ledger', 'import', '/dev/zero', '-d', data], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    await expect(runCli(['ledger', 'import', fifo, '-d', data], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    const long = join(scratch.dir, 'long.jsonl')
    await writeFile(long, Buffer.alloc(13 * 1024 * 1024, 0x61))
    await expect(runCli(['ledger', 'import', long, '-d', data], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_INPUT_TOO_LARGE' })
  })

  it('show refuses an id that is not a CID', async () => {
    // the example in the message is the prefix entry ids really have (raw-codec CIDv1: bafkrei…)
    await expect(runCli(['ledger', 'show', 'notacid', '-d', join(scratch.dir, 'no-node')], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_CID', message: expect.stringContaining('expected a CID string (bafkrei…, 59 characters)') })
  })
})

describe('community', () => {
  it('show refuses /dev/zero and a FIFO at once', async () => {
    await expect(runCli(['community', 'show', '/dev/zero'], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    await expect(runCli(['community', 'show', fifo], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    const { stdout: out } = await runCli(['community', 'show', scratch.genesis], { reject: 'error' })
    expect(new Set(valueColumns(out)).size).toBe(1)
  })

  it('renders maintainers aligned with the other rows', () => {
    const text = renderCommunity({ id: 'c', name: 'n', task: 't', release: 'r', maintainers: ['m1', 'm2'], policy: {}, createdAt: 'x' })
    expect(valueColumns(text)).toHaveLength(8)
    expect(new Set(valueColumns(text)).size).toBe(1)
  })

  it('join validates the training data and leaves the folder untouched when it is wrong', async () => {
    const node = join(scratch.dir, 'volunteer')
    await initDataDir(node, { config: { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, control: { port: 0 } } })
    const file = async (name: string, bytes: Uint8Array): Promise<string> => { const p = join(scratch.dir, name); await writeFile(p, bytes); return p }
    const labels3 = await file('labels3', idx([3], Uint8Array.from([0, 1, 9])))
    const images3 = await file('images3', idx([3, 28, 28], new Uint8Array(3 * 784)))
    const cases: Array<[string, string, string, string]> = [
      ['missing images', '/nonexistent', labels3, 'ERR_CLI_BAD_INPUT_FILE'],
      ['device', '/dev/zero', labels3, 'ERR_CLI_BAD_INPUT_FILE'],
      ['random bytes', await file('random', Uint8Array.from({ length: 4000 }, (_, i) => (i * 7919 + 13) % 256)), labels3, 'ERR_CLI_BAD_TRAINING_DATA'],
      ['huge header', await file('huge', idx([4294967295, 28, 28], new Uint8Array(784))), labels3, 'ERR_CLI_BAD_TRAINING_DATA'],
      ['5×5 images', await file('small', idx([3, 5, 5], new Uint8Array(75))), labels3, 'ERR_CLI_BAD_TRAINING_DATA'],
      ['label count', images3, await file('labels2', idx([2], Uint8Array.from([0, 1]))), 'ERR_CLI_BAD_TRAINING_DATA'],
      ['label range', images3, await file('labels10', idx([3], Uint8Array.from([0, 1, 10]))), 'ERR_CLI_BAD_TRAINING_DATA']
    ]
    for (const [name, images, labels, code] of cases) {
      await expect(runCli(['community', 'join', scratch.genesis, '-d', node, '--images', images, '--labels', labels], { reject: 'error' }), name).rejects.toMatchObject({ code })
      expect((await readRoundsConfig(node)).community, name).toBeUndefined()
    }
    // a training budget the daemon's timer cannot hold (> 2^31 − 1 ms) is refused by the option check, before anything is written
    await expect(runCli(['community', 'join', scratch.genesis, '-d', node, '--images', images3, '--labels', labels3, '--max-round-time', `${2 ** 31}ms`], { reject: 'error' }))
      .rejects.toMatchObject({ code: 'commander.invalidArgument', message: expect.stringMatching(/--max-round-time 2147483648ms is 2147483648 ms; the longest accepted is 2147483647ms/) })
    expect((await readRoundsConfig(node)).community).toBeUndefined()
    await expect(readFile(join(node, 'community.genesis'))).rejects.toMatchObject({ code: 'ENOENT' })
    const { exitCode } = await runCli(['community', 'join', scratch.genesis, '-d', node, '--images', images3, '--labels', labels3, '--max-round-time', `${2 ** 31 - 1}ms`, '--json'], { reject: 'error' })
    expect(exitCode).toBe(0)
    expect((await readRoundsConfig(node)).volunteer).toMatchObject({ data: { source: 'idx', images: images3 }, maxRoundMs: 2 ** 31 - 1 })
    expect(Buffer.compare(await readFile(join(node, 'community.genesis')), await readFile(scratch.genesis))).toBe(0)
  })
})

describe('outputs are checked before any work', () => {
  it('release export refuses an existing output unless --force, and a file/folder mismatch with a code', async () => {
    const existing = join(scratch.dir, 'exists.bin')
    await writeFile(existing, 'keep')
    const d = join(scratch.dir, 'no-node')
    await expect(runCli(['release', 'export', 'latest', '-d', d, '-o', existing], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_OUTPUT_EXISTS' })
    await expect(runCli(['release', 'export', 'latest', '-d', d, '-o', existing, '--format', 'safetensors'], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_OUTPUT_EXISTS' })
    await expect(runCli(['release', 'export', 'latest', '-d', d, '-o', existing, '--force'], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_OUTPUT' })
    await expect(runCli(['release', 'export', 'latest', '-d', d, '-o', scratch.dir, '--format', 'safetensors', '--force'], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_OUTPUT' })
    expect(await readFile(existing, 'utf8')).toBe('keep')
  })

  it('simulate refuses a CSV path in a missing folder before training', async () => {
    await expect(runCli(['simulate', '--rounds', '1', '--csv', '/nonexistent/dir/x.csv'], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_OUTPUT' })
  })
})

describe('integer options', () => {
  it('accept decimal digits only, within range, naming the option', async () => {
    const cases = [
      ['daemon', '--control-port', '0x10'], ['init', '--control-port', '1e3'], ['init', '--control-port', '65536'],
      ['doctor', '--timeout', '-5'], ['doctor', '--timeout', 'NaN'], ['doctor', '--timeout', ''],
      ['simulate', '-B', '100000'], ['ledger', 'list', '--limit', '1.5']
    ]
    for (const args of cases) {
      await expect(runCli([...args, '-d', join(scratch.dir, 'no-node')], { reject: 'error' }), args.join(' ')).rejects.toMatchObject({ code: 'commander.invalidArgument' })
    }
    const batch = intOption('--batch-size', 1, MAX_BATCH_SIZE)
    expect(batch(String(MAX_BATCH_SIZE))).toBe(MAX_BATCH_SIZE)
    expect(() => batch(String(MAX_BATCH_SIZE + 1))).toThrow(String(MAX_BATCH_SIZE))
    expect(intOption('--x', 0)('007')).toBe(7)
  })
})

describe('status', () => {
  it('prints service sections as key/value lines, not JSON', () => {
    const lines = serviceLines({ entries: 12, authors: 3, head: { seq: 4, id: 'bafy' }, rounds: [1, 2] })
    expect(lines).toHaveLength(4)
    for (const l of lines) expect(l).not.toMatch(/[{}"]/)
    expect(lines[2]).toMatch(/^head\s+seq 4, id bafy$/)
  })
})

describe('simulate', () => {
  it('reports training that diverged everywhere as such, with the backend it ran on', async () => {
    // η = 100 blows the weights up in round 1; from round 2 on every client's local training diverges
    const options = createSimulationOptions({ clients: 2, fraction: 1, trainExamples: 100, testExamples: 100, batchSize: 10, learningRate: 100, rounds: 2, seed: 3 })
    const result = await runSimulation(options)
    expect(result.rounds[1].rejectionCodes.ERR_MODEL_TRAINING_DIVERGED).toBe(2)
    expect(divergedRounds(result)).toBe(1)
    expect(result.backend).not.toBe('')
    const healthy = await runSimulation(createSimulationOptions({ ...options, learningRate: 0.1 }))
    expect(divergedRounds(healthy)).toBe(0)
  })
})

describe('community create --from', () => {
  it('refuses a tfjs folder whose model.json or weight file is not a regular file', async () => {
    const d = join(scratch.dir, 'no-node')
    const folder = join(scratch.dir, 'tfjs')
    await mkdir(folder)
    await expect(runCli(['community', 'create', '--task', 'mnist-2nn', '-d', d, '--from', join(scratch.dir, 'missing-folder')], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    await symlink('/dev/zero', join(folder, 'model.json'))
    await expect(runCli(['community', 'create', '--task', 'mnist-2nn', '-d', d, '--from', folder], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
    await rm(join(folder, 'model.json'))
    await writeFile(join(folder, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['weights.bin'], weights: [] }] }))
    await symlink('/dev/zero', join(folder, 'weights.bin'))
    await expect(runCli(['community', 'create', '--task', 'mnist-2nn', '-d', d, '--from', folder], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE' })
  })
})
