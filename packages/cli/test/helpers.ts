/** Helpers of the CLI tests: the command run in-process, and a signed genesis file made without a data folder. */
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Command } from 'commander'
import { vi } from 'vitest'
import { createCommunity, writeGenesisFile } from '@swarmtune/node'
import { blobCid, type CID } from '@swarmtune/wire'
import { buildProgram } from '../src/main.js'

/** Runs the command in-process; resolves with stdout and the exit code, rejects with what it threw. */
export async function run (...args: string[]): Promise<{ out: string, exitCode: number }> {
  const quiet = (c: Command): void => { c.exitOverride().configureOutput({ writeErr: () => {} }); c.commands.forEach(quiet) }
  const program = buildProgram()
  quiet(program)
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  process.exitCode = 0
  try {
    await program.parseAsync(['node', 'swarmtune', ...args])
    return { out: stdout.mock.calls.map((c) => String(c[0])).join(''), exitCode: Number(process.exitCode ?? 0) }
  } finally {
    stdout.mockRestore()
    process.exitCode = 0
  }
}

/** A genesis file `<dir>/<name>.genesis` of an mnist-2nn community signed by a fresh key (its blobs are not kept). */
export async function genesisFile (dir: string, name = 'demo'): Promise<string> {
  const store = { put: async (bytes: Uint8Array): Promise<CID> => blobCid(bytes) }
  const { community } = await createCommunity({ task: 'mnist-2nn', name, key: await generateKeyPair('Ed25519'), store })
  const file = join(dir, `${name}.genesis`)
  await writeGenesisFile(file, community)
  return file
}
