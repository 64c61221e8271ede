/**
 * The `swarmtune` command: one sub-command per file under `./commands/`, registered in `./commands/index.ts`.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { registerCommands } from './commands/index.js'

export function buildProgram (): Command {
  const program = new Command()
  program
    .name('swarmtune')
    .description('Community fine-tuning of open models over a peer-to-peer network')
    .version('0.1.0')
    // commander's own error lines are replaced by ours (one line, with a stable ERR_CLI_* code): see main()
    .configureOutput({ outputError: () => {} })
    .exitOverride()
  registerCommands(program)
  return program
}

/**
 * The stable code the CLI prints for each of commander's parse errors (commander's own `commander.*` codes are
 * its internals, not ours to promise): a bad option value, an unknown option, a missing option or option
 * value, an unknown command, missing or extra arguments, two options that exclude each other.
 */
export const COMMANDER_CODES: Readonly<Record<string, string>> = Object.freeze({
  'commander.invalidArgument': 'ERR_CLI_BAD_OPTION_VALUE',
  'commander.unknownOption': 'ERR_CLI_UNKNOWN_OPTION',
  'commander.optionMissingArgument': 'ERR_CLI_MISSING_OPTION_VALUE',
  'commander.missingMandatoryOptionValue': 'ERR_CLI_MISSING_OPTION',
  'commander.conflictingOption': 'ERR_CLI_CONFLICTING_OPTIONS',
  'commander.unknownCommand': 'ERR_CLI_UNKNOWN_COMMAND',
  'commander.missingArgument': 'ERR_CLI_BAD_ARGUMENTS',
  'commander.excessArguments': 'ERR_CLI_BAD_ARGUMENTS'
})

/** Commander's codes for help and version output: not errors. */
const COMMANDER_OUTPUT = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version', 'commander.executeSubCommandAsync'])

/**
 * A command-line error (commander's, or an option check inside a command) as one line:
 * `swarmtune: error: <message> (<ERR_CLI_* code>); add --help to the command for its options`.
 */
export function formatUsageError (err: CommanderError, program?: Command, argv?: string[]): string {
  // commander puts its suggestion ("(Did you mean --steps?)") on a line of its own: one line here
  let message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')
  if (err.code === 'commander.unknownCommand' && program !== undefined && argv !== undefined) message += commandList(program, argv)
  return `swarmtune: error: ${message} (${COMMANDER_CODES[err.code] ?? 'ERR_CLI_BAD_OPTION_VALUE'}); add --help to the command for its options\n`
}

/**
 * For an unknown command: the commands of the deepest command `argv` (user arguments, without `node swarmtune`)
 * names, with their aliases, e.g. `; the commands of \`swarmtune round\` are start, status (or show), list, cancel`.
 */
function commandList (program: Command, argv: string[]): string {
  let cmd = program
  const path = ['swarmtune']
  for (const arg of argv) {
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg))
    if (sub === undefined) break
    cmd = sub
    path.push(sub.name())
  }
  const names = cmd.commands.filter((c) => c.name() !== 'help').map((c) => c.aliases().length === 0 ? c.name() : `${c.name()} (or ${c.aliases().join(', ')})`)
  return names.length === 0 ? '' : `; the commands of \`${path.join(' ')}\` are ${names.join(', ')}`
}

/**
 * An error as the CLI prints it: `swarmtune: <message> (<code>)`, then, with `debug`, the stack and the
 * chain of causes (set SWARMTUNE_DEBUG=1). Codes are listed in doc/errors.md.
 */
export function formatError (err: unknown, debug = false): string {
  const e = err as { code?: unknown, message?: unknown, stack?: unknown, cause?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const code = typeof e?.code === 'string' ? ` (${e.code})` : ''
  let out = `swarmtune: ${message}${code}\n`
  if (!debug) return out
  if (typeof e?.stack === 'string') out += `${e.stack}\n`
  for (let cause = e?.cause, depth = 0; cause != null && depth < 8; cause = (cause as { cause?: unknown }).cause, depth++) {
    const c = cause as { code?: unknown, message?: unknown }
    out += `caused by: ${typeof c.message === 'string' ? c.message : String(cause)}${typeof c.code === 'string' ? ` (${c.code})` : ''}\n`
  }
  return out
}

/**
 * Makes a closed standard output (`swarmtune ledger stats | head -3`: the reader went away) end the output
 * quietly: from the first `EPIPE` on, every further write is dropped, so the command finishes (closing its
 * stores) with its own exit status instead of dying on an unhandled 'error' event. Other write errors
 * are printed like any error, with their system code, and set exit status 1.
 */
export function quietOnClosedStdout (stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      stream.write = (() => true) as typeof stream.write
      return
    }
    process.stderr.write(formatError(err))
    process.exitCode = 1
  })
}

export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  program.exitOverride()
  quietOnClosedStdout()
  try {
    await program.parseAsync(argv)
  } catch (err: unknown) {
    // parse errors (commander prints nothing: see buildProgram) and option checks inside an action (e.g.
    // --images without --labels, an InvalidArgumentError thrown after parsing) print the same one line
    if (err instanceof CommanderError) {
      if (!COMMANDER_OUTPUT.has(err.code)) process.stderr.write(formatUsageError(err, program, argv.slice(2)))
      process.exitCode = err instanceof InvalidArgumentError ? 1 : err.exitCode
      return
    }
    process.stderr.write(formatError(err, process.env.SWARMTUNE_DEBUG != null && process.env.SWARMTUNE_DEBUG !== ''))
    process.exitCode = 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(process.argv)
}
