/**
 * The child processes of the demo, the fault tests and the rounds benchmark, kept by a {@link Supervisor}.
 *
 * Each child runs in a process group of its own (spawned `detached`), so that
 * - stopping it signals the whole group (the process and anything it started);
 * - a Ctrl-C in the terminal reaches the script alone (the terminal signals its foreground group only), and
 *   the script then stops every child itself, in order, and removes what it created.
 *
 * A last-resort `exit` hook SIGKILLs every group still running, so an uncaught error in the script leaves no
 * daemon behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { REPEAT_SIGNAL_MS, STOP_GRACE_MS } from './constants.js'
import { ScriptError } from './errors.js'

/** How a child ended. */
export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A child process with a promise of its exit. */
export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<Exit>
  /** True once the process has exited. */
  readonly done: () => boolean
}

function signalGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch (err) {
    // ESRCH: the group is gone already
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

/** Starts, tracks and stops child processes, each in a process group of its own. */
export class Supervisor {
  private readonly children = new Set<Child>()
  private readonly onExit = (): void => { this.killAllNow() }

  constructor () {
    process.on('exit', this.onExit)
  }

  /** Children still running. */
  running (): Child[] {
    return [...this.children].filter((c) => !c.done())
  }

  /**
   * Spawns `command args` detached (a new process group) and tracks it until it exits.
   * @throws ScriptError `ERR_SCRIPT_SPAWN_FAILED` when the process cannot be started
   */
  spawn (name: string, command: string, args: string[], options: SpawnOptions = {}): Child {
    const proc = spawn(command, args, { ...options, detached: true })
    if (proc.pid === undefined) throw new ScriptError('ERR_SCRIPT_SPAWN_FAILED', `could not start ${name} (${command} ${args.join(' ')})`)
    let finished = false
    const exited = new Promise<Exit>((resolve) => {
      proc.once('exit', (code, signal) => {
        finished = true
        resolve({ code, signal })
      })
      proc.once('error', () => {
        finished = true
        resolve({ code: null, signal: null })
      })
    })
    const child: Child = { name, process: proc, pid: proc.pid, exited, done: () => finished }
    this.children.add(child)
    void exited.then(() => { this.children.delete(child) })
    return child
  }

  /** Sends `signal` to the child's whole process group at once (SIGKILL: no clean-up in the child). */
  kill (child: Child, signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!child.done()) signalGroup(child.pid, signal)
  }

  /**
   * Stops a child: SIGTERM to its group, then SIGKILL after `graceMs` if it has not exited.
   * @returns how it ended
   */
  async stop (child: Child, graceMs = STOP_GRACE_MS): Promise<Exit> {
    if (child.done()) return await child.exited
    signalGroup(child.pid, 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => { resolve('late') }, graceMs) })
    const first = await Promise.race([child.exited, late])
    clearTimeout(timer)
    if (first === 'late') signalGroup(child.pid, 'SIGKILL')
    return await child.exited
  }

  /** Stops every running child at once (each SIGTERM, then SIGKILL after `graceMs`). */
  async stopAll (graceMs = STOP_GRACE_MS): Promise<number> {
    const running = this.running()
    await Promise.all(running.map(async (c) => await this.stop(c, graceMs)))
    return running.length
  }

  /** SIGKILLs every running child's group synchronously (for `exit` hooks and a second Ctrl-C). */
  killAllNow (): void {
    for (const c of this.running()) signalGroup(c.pid, 'SIGKILL')
  }

  /** Removes the `exit` hook (after `stopAll`, when the supervisor is no longer needed). */
  dispose (): void {
    process.off('exit', this.onExit)
  }
}

/**
 * Calls `handler` on the first SIGINT or SIGTERM; another signal more than {@link REPEAT_SIGNAL_MS} later
 * SIGKILLs every child of `supervisor` and exits with status 130 at once. (One Ctrl-C can arrive more than
 * once: from the terminal and relayed by npm.)
 * @returns a function that removes the handlers
 */
export function onInterrupt (supervisor: Supervisor, handler: (signal: NodeJS.Signals) => Promise<void>): () => void {
  let interruptedAt: number | undefined
  const listener = (signal: NodeJS.Signals): void => {
    if (interruptedAt !== undefined) {
      if (Date.now() - interruptedAt < REPEAT_SIGNAL_MS) return
      supervisor.killAllNow()
      process.exit(130)
    }
    interruptedAt = Date.now()
    handler(signal).catch((err: unknown) => {
      process.stderr.write(`stopping after ${signal} failed: ${(err as Error).message}\n`)
      supervisor.killAllNow()
      process.exit(130)
    })
  }
  process.on('SIGINT', listener)
  process.on('SIGTERM', listener)
  return () => {
    process.off('SIGINT', listener)
    process.off('SIGTERM', listener)
  }
}
