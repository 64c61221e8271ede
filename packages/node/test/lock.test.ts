/**
 * The data folder's lock (`daemon.lock`): releasing removes only the lock this process wrote, and a lock whose
 * pid now belongs to another, later process (a reused pid) is stale.
 */
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import { acquireLock, processStartTicks } from '../src/lock.js'

let dir: string
let cleanup: () => Promise<void>
beforeAll(async () => { ({ path: dir, cleanup } = await tempDir('swarmtune-lock-')) })
afterAll(async () => { await cleanup() })

/** A live process other than this one (a sleeping child), stopped by the returned function. */
async function liveProcess (): Promise<{ pid: number, stop: () => void }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('spawn', resolve))
  return { pid: child.pid as number, stop: () => { child.kill('SIGKILL') } }
}

describe('daemon.lock', () => {
  it('release leaves a lock file another process wrote after taking the folder over', async () => {
    const file = join(dir, 'taken-over.lock')
    const lock = await acquireLock(file)
    const other = JSON.stringify({ pid: 999_999_999, lockedAt: Date.now(), nonce: 'another' }) + '\n'
    await writeFile(file, other)
    await lock.release()
    expect(await readFile(file, 'utf8')).toBe(other)
  })

  it('release removes its own lock', async () => {
    const file = join(dir, 'own.lock')
    const lock = await acquireLock(file)
    await lock.release()
    await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('a lock naming a live process is held; the same pid with another start time (reused) is stale', async () => {
    const p = await liveProcess()
    try {
      const start = processStartTicks(p.pid)
      expect(start, 'Linux /proc/<pid>/stat').toBeDefined()
      const held = join(dir, 'held.lock')
      await writeFile(held, JSON.stringify({ pid: p.pid, procStart: start, lockedAt: Date.now() }) + '\n')
      await expect(acquireLock(held)).rejects.toMatchObject({ code: 'ERR_NODE_LOCKED', name: 'DaemonLockedError' })
      // the hint names the data folder, so that it can be copied as it is
      await expect(acquireLock(held, { dataDir: '/srv/volunteer' })).rejects.toMatchObject({ message: expect.stringContaining('Use it through `swarmtune status -d /srv/volunteer`, or stop it first.') })

      const reused = join(dir, 'reused.lock')
      await writeFile(reused, JSON.stringify({ pid: p.pid, procStart: String(Number(start) - 1), lockedAt: Date.now() }) + '\n')
      const lock = await acquireLock(reused)
      expect(JSON.parse(await readFile(reused, 'utf8'))).toMatchObject({ pid: process.pid })
      await lock.release()
    } finally {
      p.stop()
    }
  })

  it('a lock of an older version (a bare pid) of a process that is gone is taken over', async () => {
    const file = join(dir, 'old.lock')
    await writeFile(file, '999999999\n')
    const lock = await acquireLock(file)
    await lock.release()
  })
})
