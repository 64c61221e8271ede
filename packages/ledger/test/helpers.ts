import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const childScript = fileURLToPath(new URL('./child.ts', import.meta.url))

/** Starts child.ts in its own Node process (same runtime, tsx loader). */
export function startChild (mode: string, dir: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', childScript, mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
}

/** Resolves with the first stdout line of `child` that satisfies `match`. */
export async function waitForLine (child: ChildProcess, match: (line: string) => boolean): Promise<string> {
  return await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    rl.on('line', (line) => {
      if (match(line)) {
        rl.close()
        resolve(line)
      }
    })
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before the expected line`)))
  })
}

/** Resolves when the child has exited. */
export async function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise((resolve) => child.once('exit', resolve))
}
