/**
 * The daemon's lock on its data folder: `daemon.lock` created exclusively (O_EXCL), holding one JSON line —
 * the pid, the host name, the process's start time (Linux: /proc/<pid>/stat field 22, clock ticks since boot,
 * proc(5)), the time it was taken and a random nonce. One daemon per data folder, across processes and within
 * one process. A lock whose process no longer exists, or whose pid now belongs to a process started later (a
 * reused pid), is stale and taken over; releasing removes the file only while it still holds what this lock
 * wrote, so a lock taken over by another process is never deleted under it.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { open, readFile, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { DaemonLockedError } from './errors.js'

const heldInThisProcess = new Set<string>()

export interface DataDirLock {
  readonly file: string
  release(): Promise<void>
}

/** What `daemon.lock` holds (one JSON line); a lock of an older version holds only the pid. */
export interface DataDirLockInfo {
  pid: number
  hostname?: string
  /** Start time of the process in clock ticks since boot (Linux); absent elsewhere and in older locks. */
  procStart?: string
  /** ms since the Unix epoch. */
  lockedAt?: number
  nonce?: string
}

/** The start time of process `pid` (field 22 of /proc/<pid>/stat, clock ticks since boot), or undefined off Linux. */
export function processStartTicks (pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the fields after the command name (which may hold spaces and parentheses) start after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** Parses a lock file's text (JSON, or an older version's bare pid); undefined when it names no pid. */
export function parseLockInfo (text: string): DataDirLockInfo | undefined {
  const t = text.trim()
  if (/^\d{1,10}$/.test(t)) return { pid: Number(t) }
  try {
    const info = JSON.parse(t) as DataDirLockInfo
    return Number.isSafeInteger(info?.pid) && info.pid > 0 ? info : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether the process that wrote `info` still runs: `live`, `gone` (no such pid), `reused` (the pid belongs to
 * a process started after the lock's writer), `self` (the lock names this process: left from an unclean stop
 * in this process), or `remote` (written on another host: it cannot be checked, so it is taken as live).
 */
export function lockHolderState (info: DataDirLockInfo): 'live' | 'gone' | 'reused' | 'self' | 'remote' {
  if (info.hostname !== undefined && info.hostname !== hostname()) return 'remote'
  if (info.pid === process.pid) return info.procStart === undefined || info.procStart === processStartTicks(process.pid) ? 'self' : 'reused'
  if (!processExists(info.pid)) return 'gone'
  if (info.procStart !== undefined) {
    const now = processStartTicks(info.pid)
    if (now !== undefined && now !== info.procStart) return 'reused'
  }
  return 'live'
}

/**
 * Takes the lock.
 *
 * @param options.dataDir the data folder the lock guards, named in the error's hint (`swarmtune status -d <folder>`)
 * @throws DaemonLockedError `ERR_NODE_LOCKED` when a live process (this one included) holds it, naming the pid
 *   and when it took the lock
 */
export async function acquireLock (file: string, options: { dataDir?: string } = {}): Promise<DataDirLock> {
  if (heldInThisProcess.has(file)) {
    throw new DaemonLockedError(`a daemon in this process already uses ${file}. Stop it before starting another on the same data folder.`)
  }
  let lastHolder = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const text = JSON.stringify({ pid: process.pid, hostname: hostname(), procStart: processStartTicks(process.pid), lockedAt: Date.now(), nonce: randomBytes(8).toString('hex') } satisfies DataDirLockInfo) + '\n'
    try {
      const fh = await open(file, 'wx', 0o600)
      try {
        await fh.writeFile(text)
      } finally {
        await fh.close()
      }
      heldInThisProcess.add(file)
      let released = false
      return {
        file,
        async release () {
          if (released) return
          released = true
          heldInThisProcess.delete(file)
          // only the lock this call wrote: after a takeover (this process was judged gone) the file is another's
          const now = await readFile(file, 'utf8').catch(() => undefined)
          if (now === text) await unlink(file).catch(() => {})
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const found = await readFile(file, 'utf8').catch(() => undefined)
      if (found === undefined) continue // removed meanwhile: try again
      const info = parseLockInfo(found)
      const since = info?.lockedAt === undefined ? '' : ` since ${new Date(info.lockedAt).toISOString()}`
      const state = info === undefined ? 'unreadable' : lockHolderState(info)
      if (state === 'live' || state === 'remote') {
        throw new DaemonLockedError(`a daemon (pid ${info?.pid ?? '?'}${state === 'remote' ? ` on host ${info?.hostname ?? '?'}` : ''}) holds this data folder${since} (${file}). ` +
          `Use it through \`swarmtune status${options.dataDir === undefined ? '' : ` -d ${options.dataDir}`}\`, or stop it first.`)
      }
      if (state === 'unreadable' && attempt === 0) {
        // a lock being written right now reads empty: look once more before taking it over
        await new Promise((resolve) => setTimeout(resolve, 100))
        continue
      }
      lastHolder = state === 'unreadable' ? 'an unreadable lock' : `a lock of process ${info?.pid ?? '?'}${since}, which ${state === 'reused' ? 'no longer runs (its pid now belongs to another process)' : state === 'self' ? 'is this process (left from an unclean stop)' : 'no longer runs'}`
      // stale: take it over, but only the file we judged (another process may have taken it over meanwhile)
      const again = await readFile(file, 'utf8').catch(() => undefined)
      if (again === found) await unlink(file).catch(() => {})
    }
  }
  throw new DaemonLockedError(`could not take ${file}: it was replaced while being taken over (last seen: ${lastHolder || 'a lock of another process'}); another daemon is probably starting on this data folder. Try again.`)
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
