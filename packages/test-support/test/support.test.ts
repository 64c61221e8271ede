/**
 * The shared test helpers themselves: a seed replays from SWARMTUNE_SEED, a temporary folder goes away whole,
 * codeOf tells a wrong error class from a code, waitFor times out naming what it waited for, and the CLI
 * runner's one rule for the exit status (and `process.exitCode` left as it was).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Cleanups, codeOf, codeOfAsync, seededBytes, tempDir, testSeed, waitFor } from '../src/index.js'
import { cliOutput, runCli } from '../src/cli.js'

const saved = process.env.SWARMTUNE_SEED
afterEach(() => {
  if (saved === undefined) delete process.env.SWARMTUNE_SEED
  else process.env.SWARMTUNE_SEED = saved
})

class CodedError extends Error {
  constructor (readonly code: string) { super(code) }
}

describe('@swarmtune/test-support', () => {
  it('testSeed replays SWARMTUNE_SEED as given, draws a fresh one in [0, 2³¹) without it, and refuses a non-integer', () => {
    process.env.SWARMTUNE_SEED = '4000000000'
    expect(testSeed('replayed')).toBe(4_000_000_000)
    process.env.SWARMTUNE_SEED = '-17'
    expect(testSeed('replayed')).toBe(-17)
    delete process.env.SWARMTUNE_SEED
    const fresh = testSeed('fresh')
    expect(Number.isInteger(fresh) && fresh >= 0 && fresh < 2 ** 31).toBe(true)
    process.env.SWARMTUNE_SEED = 'abc'
    expect(() => testSeed('bad')).toThrow(/SWARMTUNE_SEED is "abc", expected an integer/)
  })

  it('tempDir makes a fresh folder that cleanup removes with all it holds', async () => {
    const dir = await tempDir('swarmtune-support-')
    expect(dir.path).toMatch(/swarmtune-support-/)
    await mkdir(join(dir.path, 'a', 'b'), { recursive: true })
    await writeFile(join(dir.path, 'a', 'b', 'f'), 'x')
    await dir.cleanup()
    await expect(stat(dir.path)).rejects.toMatchObject({ code: 'ENOENT' })
    await dir.cleanup() // a no-op once gone
  })

  it('codeOf and codeOfAsync give the code thrown, undefined when none, and throw on another class than asked', async () => {
    expect(codeOf(() => { throw new CodedError('ERR_X') })).toBe('ERR_X')
    expect(codeOf(() => 1)).toBeUndefined()
    expect(codeOf(() => { throw new Error('no code') })).toBeUndefined()
    expect(codeOf(() => { throw new CodedError('ERR_X') }, CodedError)).toBe('ERR_X')
    expect(() => codeOf(() => { throw new TypeError('other') }, CodedError)).toThrow(/expected a CodedError to be thrown/)
    expect(await codeOfAsync(Promise.reject(new CodedError('ERR_Y')))).toBe('ERR_Y')
    expect(await codeOfAsync(async () => 1)).toBeUndefined()
    await expect(codeOfAsync(Promise.reject(new TypeError('other')), CodedError)).rejects.toThrow(/expected a CodedError/)
  })

  it('waitFor resolves once the condition holds and times out naming what it waited for', async () => {
    let n = 0
    await waitFor(() => ++n >= 3, 2_000, 'three polls')
    expect(n).toBe(3)
    await expect(waitFor(async () => false, 120, 'nothing')).rejects.toThrow('timed out after 120 ms waiting for nothing')
  })

  it('Cleanups runs its steps last-added first, once', async () => {
    const order: number[] = []
    const cleanups = new Cleanups()
    cleanups.push(async () => { order.push(1) }, async () => { order.push(2) })
    cleanups.push(async () => { order.push(3) })
    await cleanups.run()
    await cleanups.run()
    expect(order).toEqual([3, 2, 1])
  })

  it('seededBytes is a function of the seed', () => {
    expect(Buffer.from(seededBytes(7, 37))).toEqual(Buffer.from(seededBytes(7, 37)))
    expect(Buffer.from(seededBytes(7, 37))).not.toEqual(Buffer.from(seededBytes(8, 37)))
  })
})

describe('runCli', () => {
  it('version output: a CommanderError with status 0 and no error line', async () => {
    const r = await runCli(['--version'])
    expect(r).toMatchObject({ stdout: '0.1.0\n', stderr: '', exitCode: 0, error: { code: 'commander.version' } })
  })

  it('a refused command line: status 1 and the bin\'s one usage line on stderr; rejects only when asked', async () => {
    const r = await runCli(['round', 'start', '--stpes', '3'])
    expect(r.exitCode).toBe(1)
    expect(r.error).toMatchObject({ code: 'commander.unknownOption' })
    expect(r.stderr).toMatch(/^swarmtune: error: unknown option '--stpes' .*\(ERR_CLI_UNKNOWN_OPTION\)/)
    await expect(runCli(['round', 'start', '--stpes', '3'], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.unknownOption' })
  })

  it('a command that sets process.exitCode: that status, no error; process.exitCode is the same after the run', async () => {
    const dir = await tempDir('swarmtune-support-cli-')
    const before = process.exitCode
    process.exitCode = 7
    try {
      const stderr: string[] = []
      const r = await runCli(['doctor', '-d', join(dir.path, 'missing'), '--timeout', '500'], { onStderr: (s) => stderr.push(s) })
      expect(r.error).toBeUndefined()
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('ERR_NODE_DATA_DIR_MISSING')
      expect(process.exitCode).toBe(7)
      expect(stderr.join('')).toBe(r.stderr)
      await expect(cliOutput(['doctor', '-d', join(dir.path, 'missing'), '--timeout', '500'])).rejects.toThrow(/exited with status 1, expected 0/)
      expect(process.exitCode).toBe(7)
    } finally {
      process.exitCode = before
      await dir.cleanup()
    }
  })

  it('an error of a command: status 1 and `swarmtune: <message> (<code>)` on stderr', async () => {
    const dir = await tempDir('swarmtune-support-cli-')
    try {
      const r = await runCli(['status', '-d', join(dir.path, 'never-created')])
      expect(r.exitCode).toBe(1)
      expect(r.error).toMatchObject({ code: 'ERR_NODE_DAEMON_NOT_RUNNING' })
      expect(r.stderr).toMatch(/^swarmtune: .*\(ERR_NODE_DAEMON_NOT_RUNNING\)\n$/)
    } finally {
      await dir.cleanup()
    }
  })
})
