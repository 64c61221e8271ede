/**
 * The daemon's lock on its data folder: `daemon.lock` created exclusively (O_EXCL) and holding the pid.
 * One daemon per data folder, across processes and within one process. A lock left by a process that no
 * longer exists is taken over.
 */
import { open, readFile, unlink } from 'node:fs/promises'
import { DaemonLockedError } from './errors.js'

const heldInThisProcess = new Set<string>()

export interface DataDirLock {
  readonly file: string
  release(): Promise<void>
}

/**
 * Takes the lock.
 *
 * @throws DaemonLockedError `ERR_NODE_LOCKED` when a live process (this one included) holds it
 */
export async function acquireLock (file: string): Promise<DataDirLock> {
  if (heldInThisProcess.has(file)) {
    throw new DaemonLockedError(`a daemon in this process already uses ${file}. Stop it before starting another on the same data folder.`)
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600)
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      heldInThisProcess.add(file)
      let released = false
      return {
        file,
        async release () {
          if (released) return
          released = true
          heldInThisProcess.delete(file)
          await unlink(file).catch(() => {})
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number.parseInt((await readFile(file, 'utf8').catch(() => '')).trim(), 10)
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new DaemonLockedError(`a daemon (pid ${pid}) is already running on this data folder (${file}). Use it through \`swarmtune status\`, or stop it first.`)
      }
      // stale lock: its process is gone
      await unlink(file).catch(() => {})
    }
  }
  throw new DaemonLockedError(`could not take ${file}: another daemon is starting on this data folder. Try again.`)
}

function isAlive (pid: number): boolean {
  // this process's own locks are tracked in `heldInThisProcess`; a file naming us is left from an unclean stop
  return pid !== process.pid && processExists(pid)
}

/** true when a process `pid` exists (signal 0 reaches it, or it exists but belongs to another user). */
export function processExists (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
