/**
 * The `swarmtune` command: one sub-command per file under `./commands/`, registered in `./commands/index.ts`.
 */
import { Command, CommanderError } from 'commander'
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

export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  program.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (err: unknown) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    const e = err as { code?: string, message?: string }
    process.stderr.write(`swarmtune: ${e.message ?? String(err)}${e.code != null ? ` (${e.code})` : ''}\n`)
    process.exitCode = 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(process.argv)
}
