/**
 * The store lock (DESIGN.md, "Decisions already taken"): LevelDB's own LOCK is not enough, because a failed
 * second open of the same folder inside one process releases the OS lock the first open holds. So:
 *  1. a per-process registry refuses a second open of the same folder before LevelDB is touched;
 *  2. a lock file `<store>/lock` created with O_EXCL records the holder's pid (and, on Linux, its start
 *     time, to tell a reused pid from the holder) so a second process is told who holds the store;
 *  3. LevelDB's LOCK remains the arbiter between processes: a lock file whose pid is alive but whose
 *     LevelDB can still be opened is stale (the pid was reused) and is taken over.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, fsyncSync, realpathSync, mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { LedgerLockedError } from './errors.js'

const held = new Set<string>()

/** What the lock file holds (JSON). */
export interface LockInfo {
  pid: number
  hostname: string
  /** Process start time in clock ticks since boot (Linux /proc/<pid>/stat field 22); absent elsewhere. */
  procStart?: string
  /** ms since Unix epoch. */
  lockedAt: number
}

function procStart (pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19]
  } catch {
    return undefined
  }
}

/** True when a process with this pid exists and (where it can be told) is the one that wrote the lock. */
function holderAlive (info: LockInfo): boolean {
  if (info.hostname !== hostname()) return true // cannot check another machine's processes: assume held
  try {
    process.kill(info.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  if (info.procStart !== undefined) {
    const now = procStart(info.pid)
    if (now !== undefined && now !== info.procStart) return false
  }
  return true
}

export function readLockInfo (dir: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dir, 'lock'), 'utf8')) as LockInfo
    return typeof info.pid === 'number' ? info : undefined
  } catch {
    return undefined
  }
}

function writeLockFile (dir: string): void {
  const info: LockInfo = { pid: process.pid, hostname: hostname(), procStart: procStart(process.pid), lockedAt: Date.now() }
  const tmp = join(dir, `lock.${process.pid}.tmp`)
  writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o600 })
  renameSync(tmp, join(dir, 'lock'))
}

/** A held lock; `confirm()` after LevelDB opened, `release()` on close. */
export interface StoreLock {
  readonly dir: string
  /** Rewrites the lock file with this process as holder (after LevelDB's own lock was obtained). */
  confirm(): void
  release(): void
}

/**
 * Takes the lock of the store folder `dir` (created if missing).
 *
 * @returns the lock and, when a lock file of a live process was found, that process's pid: the caller must
 *   then treat a LevelDB "locked" error as held by that pid, and otherwise call `confirm()` (pid reuse).
 * @throws LedgerLockedError (`ERR_LEDGER_LOCKED`) when this process already has the store open.
 */
export function acquireLock (dir: string): { lock: StoreLock, livePid: number | undefined } {
  mkdirSync(dir, { recursive: true })
  const key = realpathSync(resolve(dir))
  if (held.has(key)) throw new LedgerLockedError(dir, process.pid)
  held.add(key)
  let livePid: number | undefined
  try {
    const fd = openSync(join(dir, 'lock'), 'wx', 0o600)
    const info: LockInfo = { pid: process.pid, hostname: hostname(), procStart: procStart(process.pid), lockedAt: Date.now() }
    writeSync(fd, JSON.stringify(info) + '\n')
    fsyncSync(fd)
    closeSync(fd)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      held.delete(key)
      throw err
    }
    const info = readLockInfo(dir)
    if (info !== undefined && info.pid !== process.pid && holderAlive(info)) livePid = info.pid
  }
  let released = false
  const lock: StoreLock = {
    dir,
    confirm () { writeLockFile(dir) },
    release () {
      if (released) return
      released = true
      held.delete(key)
      if (readLockInfo(dir)?.pid === process.pid) rmSync(join(dir, 'lock'), { force: true })
    }
  }
  return { lock, livePid }
}
