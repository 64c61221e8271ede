/**
 * Shared test helpers: the run's seed (printed, replayable with SWARMTUNE_SEED) and temporary folders.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tf } from '../src/index.js'

/** The run's seed: `SWARMTUNE_SEED` when set, else a fresh one. Printed so a failure can be replayed. */
export function runSeed (name: string): number {
  const env = process.env.SWARMTUNE_SEED
  const seed = env !== undefined && env !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31)
  console.log(`${name}: seed ${seed} (replay with SWARMTUNE_SEED=${seed})`)
  return seed
}

/** A fresh temporary folder and a function removing it. */
export async function tempDir (prefix: string): Promise<{ dir: string, remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `swarmtune-model-${prefix}-`))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Kernel names a profile recorded (scope names such as customGrad's are not kernels of any backend). */
export function kernelsOf (p: Awaited<ReturnType<typeof tf.profile>>): string[] {
  return [...new Set(p.kernelNames as string[])].filter((k) => tf.getKernel(k, 'cpu') !== undefined || tf.getKernel(k, 'wasm') !== undefined)
}
