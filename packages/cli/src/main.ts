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
    .showHelpAfterError()
  registerCommands(program)
  return program
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
    // an option check inside an action (e.g. --images without --labels) throws InvalidArgumentError after
    // parsing, so commander has printed nothing: print it here like a parse-time option error
    if (err instanceof InvalidArgumentError) {
      process.stderr.write(`swarmtune: error: ${err.message} (${err.code}); add --help to the command for its options\n`)
      process.exitCode = 1
      return
    }
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    process.stderr.write(formatError(err, process.env.SWARMTUNE_DEBUG != null && process.env.SWARMTUNE_DEBUG !== ''))
    process.exitCode = 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(process.argv)
}
