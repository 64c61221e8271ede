/**
 * What the tests of every swarmtune package share, so that each helper is written once: the seed of a
 * randomized test (printed, replayable with `SWARMTUNE_SEED`), temporary folders, the error code a call
 * throws, polling until a condition holds, and deterministic bytes from a seed.
 *
 * This entry point depends on nothing of swarmtune (the wire and fedavg tests use it too). Three others build
 * on the daemon: `@swarmtune/test-support/cli` runs the `swarmtune` command in-process,
 * `@swarmtune/test-support/daemons` starts test daemons (and finds a closed port), and
 * `@swarmtune/test-support/rounds` a maintainer with its community and volunteers, with options,
 * `@swarmtune/test-support/communities` an image-model community made through the CLI, and its volunteers;
 * `@swarmtune/test-support/models` writes the small tfjs models the model and CLI tests load.
 *
 * ```ts
 * import { codeOf, tempDir, testSeed, waitFor } from '@swarmtune/test-support'
 * import { decodeCanonical } from '@swarmtune/wire'
 *
 * const seed = testSeed('my property')        // prints "my property: seed 12345 (replay with SWARMTUNE_SEED=12345)"
 * const dir = await tempDir('swarmtune-x-')  // { path, cleanup }
 * let done = false
 * setTimeout(() => { done = true }, 100)
 * await waitFor(() => done, 5_000, 'the job to finish')
 * console.log(seed >= 0, codeOf(() => decodeCanonical(new Uint8Array([0x92]))))  // true ERR_WIRE_TRUNCATED
 * await dir.cleanup()
 * ```
 */
import { randomInt } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * The seed of a randomized test: `SWARMTUNE_SEED` when set (any integer, used as given), else a fresh one in
 * [0, 2³¹). Printed as `<name>: seed N (replay with SWARMTUNE_SEED=N)` so that a failing run can be replayed.
 * @throws Error when `SWARMTUNE_SEED` is set to something that is not an integer.
 */
export function testSeed (name: string): number {
  const env = process.env.SWARMTUNE_SEED
  let seed: number
  if (env !== undefined && env !== '') {
    seed = Number(env)
    if (!Number.isSafeInteger(seed)) throw new Error(`SWARMTUNE_SEED is ${JSON.stringify(env)}, expected an integer (the seed a test printed); unset it for a fresh seed`)
  } else {
    seed = randomInt(2 ** 31)
  }
  console.log(`${name}: seed ${seed} (replay with SWARMTUNE_SEED=${seed})`)
  return seed
}

/** A temporary folder: its absolute `path`, and `cleanup()` removing it and all it holds (a no-op once gone). */
export interface TempDir {
  path: string
  cleanup: () => Promise<void>
}

/** A fresh folder under the system's temporary folder, its name `prefix` followed by random characters. */
export async function tempDir (prefix = 'swarmtune-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** A class of errors, for {@link codeOf} and {@link codeOfAsync} to check what was thrown against. */
export type ErrorClass = abstract new (...args: never[]) => Error

/**
 * The `code` of what `fn` throws (undefined when it returns, or throws something without a string code).
 * @throws Error when `type` is given and `fn` throws something that is not a `type` (the thrown value is its `cause`).
 */
export function codeOf (fn: () => unknown, type?: ErrorClass): string | undefined {
  try {
    fn()
  } catch (err) {
    return codeIn(err, type)
  }
  return undefined
}

/**
 * The `code` of what `p` (a promise, or a function returning one) rejects with; undefined when it resolves.
 * @throws Error when `type` is given and `p` rejects with something that is not a `type`.
 */
export async function codeOfAsync (p: Promise<unknown> | (() => Promise<unknown>), type?: ErrorClass): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (err) {
    return codeIn(err, type)
  }
  return undefined
}

function codeIn (err: unknown, type: ErrorClass | undefined): string | undefined {
  if (type !== undefined && !(err instanceof type)) throw new Error(`expected a ${type.name} to be thrown, got ${String(err)}`, { cause: err })
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * Polls `condition` every 50 ms until it holds.
 * @throws Error `timed out after <timeoutMs> ms waiting for <what>` when it still does not hold after `timeoutMs`.
 */
export async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * Teardown steps of a test file, run last-added first: `const cleanups = new Cleanups()`, `afterAll(cleanups.run)`,
 * then `cleanups.push(node.destroy)` as each part is made. A step that throws stops the run (the test fails).
 */
export class Cleanups {
  private readonly steps: Array<() => Promise<void>> = []

  /** Adds teardown steps. */
  push (...steps: Array<() => Promise<void>>): void {
    this.steps.push(...steps)
  }

  /** Runs and forgets every step added, the last one first. */
  readonly run = async (): Promise<void> => {
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) await step()
  }
}

/** `length` deterministic bytes from `seed` (xorshift32), fast enough for tens of MiB. */
export function seededBytes (seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  const view = new Uint32Array(out.buffer, 0, Math.floor(length / 4))
  let x = seed === 0 ? 0x9e3779b9 : seed
  for (let i = 0; i < view.length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    view[i] = x
  }
  for (let i = view.length * 4; i < length; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) & 0xff
  return out
}
