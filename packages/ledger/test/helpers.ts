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

/**
 * Two connected in-memory byte streams (what one end sends, the other reads), with the ByteStream shape a
 * libp2p stream has. Chunks are delivered in order; `close` ends the other side's reading.
 */
export function duplexPair (): [ByteStreamEnd, ByteStreamEnd] {
  const a = new ByteStreamEnd()
  const b = new ByteStreamEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}

export class ByteStreamEnd {
  peer!: ByteStreamEnd
  private readonly queue: Uint8Array[] = []
  private ended = false
  private error: Error | undefined
  private wake: (() => void) | undefined
  /** Every chunk this end sent, for tests that inspect traffic. */
  readonly sentChunks: Uint8Array[] = []

  send (data: Uint8Array): boolean {
    this.sentChunks.push(data)
    this.peer.push(data)
    return true
  }

  async close (): Promise<void> {
    this.peer.end()
  }

  abort (err: Error): void {
    this.error = err
    this.end()
    this.peer.error = err
    this.peer.end()
  }

  private push (data: Uint8Array): void {
    this.queue.push(data)
    this.wake?.()
  }

  private end (): void {
    this.ended = true
    this.wake?.()
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.queue.length > 0) {
        yield this.queue.shift() as Uint8Array
        continue
      }
      if (this.error !== undefined) throw this.error
      if (this.ended) return
      await new Promise<void>((resolve) => { this.wake = resolve })
      this.wake = undefined
    }
  }
}
