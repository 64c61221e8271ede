/**
 * Running the `swarmtune` command as a child process, the way a user runs it: `packages/cli/bin/swarmtune.js`
 * on this script's own Node.js runtime (`process.execPath`: under `npm run`, the Node 22 the project pins).
 */
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMMAND_TIMEOUT_MS } from './constants.js'
import { ScriptError } from './errors.js'
import type { Supervisor } from './processes.js'

/** The repository's root folder. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The `swarmtune` executable script. */
export const SWARMTUNE_BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'swarmtune.js')

/** Lowest Node.js major version the daemons run on (libp2p needs `Promise.withResolvers`). */
const MIN_NODE_MAJOR = 22

/**
 * Checks that this process runs on Node.js 22 or newer, so that the daemons it starts with
 * `process.execPath` do too.
 * @throws ScriptError `ERR_SCRIPT_NODE_VERSION`
 */
export function assertNodeVersion (): void {
  const major = Number(process.versions.node.split('.')[0])
  if (major < MIN_NODE_MAJOR) {
    throw new ScriptError('ERR_SCRIPT_NODE_VERSION', `Node.js ${process.versions.node} is too old: the daemons need Node.js ${MIN_NODE_MAJOR} or newer. Run this through npm (\`npm run demo\`), which uses the Node.js runtime the project pins.`)
  }
}

/** The text a command wrote, and how long it took (ms). */
export interface CommandOutput {
  stdout: string
  stderr: string
  ms: number
}

/**
 * Runs `swarmtune <args>` to completion.
 * @throws ScriptError `ERR_SCRIPT_COMMAND_FAILED` when it exits with a non-zero status (with its output), or
 *   `ERR_SCRIPT_TIMEOUT` when it runs longer than `timeoutMs` (it is then killed)
 */
export async function swarmtune (supervisor: Supervisor, args: string[], options: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<CommandOutput> {
  const started = performance.now()
  const child = supervisor.spawn(`swarmtune ${args[0] ?? ''}`, process.execPath, [SWARMTUNE_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env }
  })
  let stdout = ''
  let stderr = ''
  child.process.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.process.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; supervisor.kill(child) }, timeoutMs)
  const exit = await child.exited
  clearTimeout(timer)
  // the pipes may still hold the last bytes when 'exit' fires
  await Promise.all([child.process.stdout, child.process.stderr].map(async (s) => { if (s !== null && !s.closed) await new Promise((resolve) => s.once('close', resolve)) }))
  const line = `swarmtune ${args.join(' ')}`
  if (timedOut) throw new ScriptError('ERR_SCRIPT_TIMEOUT', `\`${line}\` did not finish within ${timeoutMs} ms and was killed; output so far:\n${stdout}${stderr}`)
  if (exit.code !== 0) {
    throw new ScriptError('ERR_SCRIPT_COMMAND_FAILED', `\`${line}\` failed (${exit.code === null ? `signal ${String(exit.signal)}` : `exit status ${exit.code}`}):\n${stderr.trim() || stdout.trim()}`)
  }
  return { stdout, stderr, ms: performance.now() - started }
}

/** Runs `swarmtune <args> --json` and parses what it printed. @throws ScriptError as {@link swarmtune} */
export async function swarmtuneJson<T> (supervisor: Supervisor, args: string[], options: { timeoutMs?: number } = {}): Promise<T> {
  const { stdout } = await swarmtune(supervisor, [...args, '--json'], options)
  try {
    return JSON.parse(stdout) as T
  } catch (err) {
    throw new ScriptError('ERR_SCRIPT_COMMAND_FAILED', `\`swarmtune ${args.join(' ')} --json\` printed something that is not JSON:\n${stdout.slice(0, 2000)}`, { cause: err })
  }
}
