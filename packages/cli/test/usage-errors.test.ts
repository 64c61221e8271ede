/**
 * Command-line mistakes as the CLI prints them: one line with its code, commander's suggestion on that line,
 * and an unknown sub-command answered with the commands that exist (and `round show` as `round status`).
 */
import { CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { buildProgram, formatUsageError } from '../src/main.js'

/** What the CLI prints on stderr for `swarmtune <args>` when commander refuses it. */
async function usageError (...args: string[]): Promise<string> {
  const program = buildProgram()
  const quiet = (c: typeof program): void => { c.exitOverride().configureOutput({ writeErr: () => {}, outputError: () => {} }); c.commands.forEach(quiet) }
  quiet(program)
  try {
    await program.parseAsync(['node', 'swarmtune', ...args])
  } catch (err) {
    if (err instanceof CommanderError) return formatUsageError(err, program, args)
    throw err
  }
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
