/**
 * The `swarmtune` command run in-process, as the bin runs it: the program of `@swarmtune/cli`, what it writes on
 * stdout and stderr captured (an error it ends with printed on stderr as the bin prints it), and one rule for
 * the exit code, the one `main()` follows. `process.exitCode` is the same after a run as before it.
 *
 * ```ts
 * import { cliOutput, runCli } from '@swarmtune/test-support/cli'
 *
 * const r = await runCli(['doctor', '-d', dir, '--json'])      // never rejects
 * expect(r.exitCode).toBe(0)
 * await expect(runCli(['init', '-d', dir], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_EXISTS' })
 * const rounds = JSON.parse(await cliOutput(['round', 'list', '--json', '-d', dir]))
 * ```
 */
import { CommanderError, InvalidArgumentError, type Command } from 'commander'
import { buildProgram } from '@swarmtune/cli'
// the bin's own error lines (not exported by @swarmtune/cli: what it prints is its concern, the runner only repeats it)
import { formatError, formatUsageError } from '../../cli/src/main.js'

/** What a command ended with: an `Error`, often with a stable `code` (commander's own errors are `CommanderError`s). */
export type CliError = Error & { code?: string, [field: string]: unknown }

/** One in-process run of `swarmtune <args>`. */
export interface CliRun {
  /** Everything the command wrote on stdout. */
  stdout: string
  /** Everything it wrote on stderr, then the error line the bin prints for `error`, if any. */
  stderr: string
  /** What the command threw (a refused command line, help or version output: a `CommanderError`); undefined when it returned. */
  error?: CliError
  /**
   * The exit status the bin would end with: a `CommanderError`'s `exitCode` (1 for an option value refused inside a
   * command), 1 for any other error, else the `process.exitCode` the command set (0 when it set none).
   */
  exitCode: number
}

export interface CliOptions {
  /** `'error'`: reject with `error` when the command ends with one; `'failure'`: also reject when `exitCode` is not 0. Default: never reject. */
  reject?: 'error' | 'failure'
  /** Called with each chunk written on stderr as it is written (to watch a command that waits). */
  onStderr?: (chunk: string) => void
  /** The program to run; default `buildProgram()` of @swarmtune/cli, a fresh one each run. */
  program?: () => Command
}

/** Commander's codes for help and version output, which the bin prints no error line for (as `main()`). */
const COMMANDER_OUTPUT = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version', 'commander.executeSubCommandAsync'])

/**
 * Runs `swarmtune <args>` in this process (commander's `exitOverride`: nothing calls `process.exit`).
 * @returns what it printed, the error it ended with and its exit status ({@link CliRun}).
 * @throws the command's error with `reject: 'error'` or `'failure'`; an `Error` naming the exit status and the
 *   output with `reject: 'failure'` when the command ended without an error but with a non-zero status.
 */
export async function runCli (args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const program = (options.program ?? buildProgram)()
  program.exitOverride()
  let stdout = ''
  let stderr = ''
  const writes = { out: process.stdout.write, err: process.stderr.write }
  const previousExitCode = process.exitCode
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += String(chunk); return true }) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    options.onStderr?.(String(chunk))
    return true
  }) as typeof process.stderr.write
  process.exitCode = undefined
  let error: CliError | undefined
  let exitCode: number
  try {
    await program.parseAsync(['node', 'swarmtune', ...args])
    exitCode = Number(process.exitCode ?? 0)
  } catch (err) {
    error = err as CliError
    if (err instanceof CommanderError) {
      if (!COMMANDER_OUTPUT.has(err.code)) process.stderr.write(formatUsageError(err, program, [...args]))
      exitCode = err instanceof InvalidArgumentError ? 1 : err.exitCode
    } else {
      process.stderr.write(formatError(err))
      exitCode = 1
    }
  } finally {
    process.stdout.write = writes.out
    process.stderr.write = writes.err
    process.exitCode = previousExitCode
  }
  if (error !== undefined && options.reject !== undefined) throw error
  if (exitCode !== 0 && options.reject === 'failure') {
    throw new Error(`swarmtune ${args.join(' ')} exited with status ${exitCode}, expected 0:\n${stdout}${stderr}`)
  }
  return { stdout, stderr, ...(error === undefined ? {} : { error }), exitCode }
}

/**
 * What `swarmtune <args>` printed on stdout, for a command expected to succeed.
 * @throws the command's error, or an `Error` naming its exit status when it ended with one other than 0.
 */
export async function cliOutput (args: readonly string[], options: Omit<CliOptions, 'reject'> = {}): Promise<string> {
  return (await runCli(args, { ...options, reject: 'failure' })).stdout
}

/**
 * The JSON a command prints with `--json` (appended to `args`), for a command expected to succeed.
 * @throws as `cliOutput`; a SyntaxError when it printed no JSON.
 */
export async function cliJson (args: readonly string[], options: Omit<CliOptions, 'reject'> = {}): Promise<Record<string, unknown>> {
  return JSON.parse(await cliOutput([...args, '--json'], options)) as Record<string, unknown>
}
