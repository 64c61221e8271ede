/**
 * Helpers of the CLI tests: the bin run as a real process, and a signed genesis file made without a data folder
 * (the command run in-process: `runCli` of @swarmtune/test-support/cli).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { stat } from 'node:fs/promises'
import { afterAll, beforeAll, expect } from 'vitest'
import { dataDirPaths } from '@swarmtune/node'
import { createCommunity, writeGenesisFile } from '@swarmtune/rounds'
import { blobCid, type CID } from '@swarmtune/wire'
import { runDaemon } from '@swarmtune/test-support/daemons'
import { tempDir } from '@swarmtune/test-support'

/** A genesis file `<dir>/<name>.genesis` of an mnist-2nn community signed by a fresh key (its blobs are not kept). */
export async function genesisFile (dir: string, name = 'demo'): Promise<string> {
  const store = { put: async (bytes: Uint8Array): Promise<CID> => blobCid(bytes) }
  const { community } = await createCommunity({ task: 'mnist-2nn', name, key: await generateKeyPair('Ed25519'), store })
  const file = join(dir, `${name}.genesis`)
  await writeGenesisFile(file, community)
  return file
}

/** A test file's folder and the genesis file in it, as {@link useFolderWithGenesis} gives them. */
export interface FolderWithGenesis {
  /** A fresh temporary folder (name `prefix` and random characters), removed after the file's tests. */
  readonly dir: string
  /** A {@link genesisFile} in `dir`. */
  readonly genesis: string
}

/**
 * A temporary folder with a {@link genesisFile} in it for the calling test file: registers a `beforeAll` hook that
 * makes them and an `afterAll` hook that removes them, so call it at the file's top level. Reading `dir` or
 * `genesis` before the hook ran (outside a hook or a test) throws.
 */
export function useFolderWithGenesis (prefix: string): FolderWithGenesis {
  let made: { dir: string, genesis: string } | undefined
  let cleanup: (() => Promise<void>) | undefined
  beforeAll(async () => {
    const tmp = await tempDir(prefix)
    cleanup = tmp.cleanup
    made = { dir: tmp.path, genesis: await genesisFile(tmp.path) }
  })
  afterAll(async () => { await cleanup?.() })
  const get = (): { dir: string, genesis: string } => {
    if (made === undefined) throw new Error(`the folder ${prefix}… is made in beforeAll; read it inside a hook or a test`)
    return made
  }
  return { get dir () { return get().dir }, get genesis () { return get().genesis } }
}

const BIN = join(import.meta.dirname, '../bin/swarmtune.js')

/** What a run of the bin printed and how it ended. */
export interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/**
 * Runs the bin (a real process, through tsx) with `args`; with `closedStdout` the read end of its stdout pipe is
 * closed at once, before the command writes anything (what `| head -3` amounts to once head has its lines), so
 * every write fails with EPIPE. `timeoutMs` kills it (SIGKILL) if it has not ended by then.
 */
export async function swarmtune (args: string[], options: { closedStdout?: boolean, timeoutMs?: number, env?: Record<string, string> } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWARMTUNE_DEBUG: '', ...options.env } })
  let stdout = ''
  let stderr = ''
  if (options.closedStdout === true) child.stdout.destroy()
  else child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => { child.kill('SIGKILL') }, options.timeoutMs)
  return await new Promise((resolve) => child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) }))
}

/** Asserts that a run was refused because a daemon runs on `folder` (`ERR_CLI_DATA_DIR_IN_USE`), leaving its lock in place. */
export async function expectRefusedInUse (r: Run, folder: string): Promise<void> {
  expect(r.code, r.stderr).toBe(1)
  expect(r.stderr).toMatch(/\(ERR_CLI_DATA_DIR_IN_USE\)\n$/)
  expect((await stat(dataDirPaths(folder).lock)).isFile()).toBe(true)
}

/** Runs `fn` while a daemon runs (in this process) on the initialised data folder `folder`; stops it after. */
export async function withDaemon<T> (folder: string, fn: () => Promise<T>): Promise<T> {
  const daemon = await runDaemon(folder)
  try {
    return await fn()
  } finally {
    await daemon.stop()
  }
}
