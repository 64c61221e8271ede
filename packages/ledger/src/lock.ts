/**
 * The store lock (DESIGN.md, "Decisions already taken"): LevelDB's own LOCK is not enough, because a failed
 * second open of the same folder inside one process releases the OS lock the first open holds. So:
 *  1. a per-process registry refuses a second open of the same folder before LevelDB is touched;
 *  2. a lock file `<store>/lock` created with O_EXCL records the holder's pid (and, on Linux, its start
 *     time, to tell a reused pid from the holder) so a second process is told who holds the store;
 *  3. LevelDB's LOCK remains the arbiter between processes: a lock file whose pid is alive but whose
 *     LevelDB can still be opened is stale (the pid was reused) and is taken over.
 * A lock file is removed only by the open that wrote it, and only while it still holds what that open wrote:
 * a failed open never removes a lock file another process (or an earlier run) left.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync, fsyncSync, realpathSync, mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { LedgerLockedError, type LockHolder } from './errors.js'

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

function readLockText (dir: string): string | undefined {
  try {
    return readFileSync(join(dir, 'lock'), 'utf8')
  } catch {
    return undefined
  }
}

function lockText (): string {
  const info: LockInfo = { pid: process.pid, hostname: hostname(), procStart: procStart(process.pid), lockedAt: Date.now() }
  return JSON.stringify(info) + '\n'
}

/**
 * The pid of the process holding a POSIX (fcntl) lock on `file` — how LevelDB locks `db/LOCK` — from
 * /proc/locks (Linux; proc(5), "/proc/locks": `<n>: POSIX ADVISORY WRITE <pid> <major>:<minor>:<inode> …`,
 * major and minor in hex). Undefined elsewhere, or when no process holds it.
 */
export function posixLockHolder (file: string): number | undefined {
  let text: string
  let st: { dev: bigint, ino: bigint }
  try {
    st = statSync(file, { bigint: true })
    text = readFileSync('/proc/locks', 'utf8')
  } catch {
    return undefined
  }
  // Linux dev_t: major in bits 8–19 and 32–43, minor in bits 0–7 and 20–31 (glibc gnu_dev_major/minor).
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn)
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn)
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f[1] !== 'POSIX' || f.length < 6) continue
    const [maj, min, ino] = f[5].split(':')
    if (ino === undefined || BigInt(ino) !== st.ino || BigInt(`0x${maj}`) !== major || BigInt(`0x${min}`) !== minor) continue
    const pid = Number(f[4])
    if (Number.isSafeInteger(pid) && pid > 0) return pid
  }
  return undefined
}

/** A held lock; `confirm()` after LevelDB opened, `release()` on close. */
export interface StoreLock {
  readonly dir: string
  /** Rewrites the lock file with this process as holder (after LevelDB's own lock was obtained). */
  confirm(): void
  /**
   * Who holds the store when LevelDB refused its lock: the live process the lock file names, or the
   * process /proc/locks shows holding `db/LOCK`, and what the lock file said.
   */
  holder(): LockHolder
  /** Removes the lock file if this open wrote it and it still holds what was written; idempotent. */
  release(): void
}

/**
 * Takes the lock of the store folder `dir` (created if missing).
 *
 * @returns the lock: call `confirm()` once LevelDB's own lock is obtained (taking over a stale lock file),
 *   `holder()` to describe the holder when LevelDB reports the store locked, `release()` on close or failure.
 * @throws LedgerLockedError (`ERR_LEDGER_LOCKED`) when this process already has the store open.
 */
export function acquireLock (dir: string): StoreLock {
  mkdirSync(dir, { recursive: true })
  const key = realpathSync(resolve(dir))
  if (held.has(key)) throw new LedgerLockedError(dir, { pid: process.pid, self: true })
  held.add(key)
  const file = join(dir, 'lock')
  // what this open wrote into the lock file (undefined: it found one there and has not replaced it)
  let written: string | undefined
  let found: LockHolder['lockFile'] = 'missing'
  let foundPid: number | undefined
  try {
    const fd = openSync(file, 'wx', 0o600)
    const text = lockText()
    try {
      writeSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    written = text
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      held.delete(key)
      throw err
    }
    const info = readLockInfo(dir)
    foundPid = info?.pid
    found = info === undefined ? 'unreadable' : info.pid !== process.pid && holderAlive(info) ? 'live' : 'stale'
  }
  let released = false
  return {
    dir,
    confirm () {
      const text = lockText()
      const tmp = join(dir, `lock.${process.pid}.tmp`)
      writeFileSync(tmp, text, { mode: 0o600 })
      renameSync(tmp, file)
      written = text
    },
    holder () {
      // the process the kernel shows holding db/LOCK is the holder, whatever the lock file says
      const pid = posixLockHolder(join(dir, 'db', 'LOCK')) ?? (found === 'live' ? foundPid : undefined)
      return { pid, self: pid === process.pid, lockFile: found, ...(found === 'live' || found === 'stale' ? { lockFilePid: foundPid } : {}) }
    },
    release () {
      if (released) return
      released = true
      held.delete(key)
      if (written !== undefined && readLockText(dir) === written) rmSync(file, { force: true })
    }
  }
}
