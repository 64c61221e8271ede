/**
 * Command-line mistakes as the CLI prints them: one line with its code, commander's suggestion on that line,
 * an unknown sub-command answered with the commands that exist (and `round show` as `round status`), and
 * round durations stated in a human unit.
 */
import { CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createCommunity, createRoundParams } from '@swarmtune/rounds'
import { blobCid, type CID } from '@swarmtune/wire'
import { runCli } from '@swarmtune/test-support/cli'
import { roundDuration } from '../src/commands/round.js'
import { buildProgram } from '../src/main.js'

/** What the CLI prints on stderr for `swarmtune <args>` when commander refuses it. */
async function usageError (...args: string[]): Promise<string> {
  const { error, stderr } = await runCli(args)
  if (error instanceof CommanderError) return stderr
  if (error !== undefined) throw error
  throw new Error(`swarmtune ${args.join(' ')} was accepted`)
}

describe('usage errors', () => {
  it('an unknown option with a suggestion is one line, the suggestion before the code', async () => {
    const text = await usageError('round', 'start', '--stpes', '3')
    expect(text).toMatch(/^swarmtune: error: unknown option '--stpes' \(Did you mean --steps\?\) \(ERR_CLI_UNKNOWN_OPTION\); add --help/)
    expect(text.trimEnd()).not.toContain('\n')
  })

  it('an unknown sub-command lists the commands of its parent, with aliases', async () => {
    const text = await usageError('round', 'bogus', '1')
    expect(text).toContain('(ERR_CLI_UNKNOWN_COMMAND)')
    expect(text).toContain('the commands of `swarmtune round` are start, status (or show), list, cancel')
    expect(text.trimEnd()).not.toContain('\n')
  })

  it('`round show` is `round status`', () => {
    const round = buildProgram().commands.find((c) => c.name() === 'round')
    expect(round?.commands.find((c) => c.aliases().includes('show'))?.name()).toBe('status')
  })
})

describe('round durations in messages', () => {
  it('a --duration above the community\'s limit is stated in hours, not ms', async () => {
    const store = { put: async (bytes: Uint8Array): Promise<CID> => blobCid(bytes) }
    const { community } = await createCommunity({ task: 'mnist-2nn', key: await generateKeyPair('Ed25519'), store, policy: { maxRoundMs: 3_600_000 } })
    const err = (() => { try { createRoundParams({ durationMs: roundDuration('2h') }, community) } catch (e) { return e as Error & { code?: string } } })()
    expect(err?.code).toBe('ERR_ROUNDS_BAD_PARAMS')
    expect(err?.message).toContain('a round of 2 h is longer than the community\'s limit of 1 h (policy.maxRoundMs')
    expect(err?.message).not.toContain('7200000')
  })
})
