/** rounds.json: read with a size bound, refused when it is not a regular file, defaults when absent. */
import { rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import { readRoundsConfig, ROUNDS_CONFIG_FILE } from '../src/config.js'
import { MAX_ROUNDS_CONFIG_FILE_BYTES } from '../src/constants.js'

describe('rounds.json', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeEach(async () => { dir = await tempDir() })
  afterEach(async () => { await dir.cleanup() })

  it('refuses a rounds.json that is a link to /dev/zero, a folder or oversized; reads defaults when it is absent', async () => {
    const file = join(dir.path, ROUNDS_CONFIG_FILE)
    expect((await readRoundsConfig(dir.path)).volunteer.enabled).toBe(true)
    await symlink('/dev/zero', file)
    await expect(readRoundsConfig(dir.path)).rejects.toMatchObject({ code: 'ERR_ROUNDS_CONFIG_INVALID', message: expect.stringMatching(/not a regular file/) })
    await rm(file)
    await writeFile(file, `{}${' '.repeat(MAX_ROUNDS_CONFIG_FILE_BYTES)}`)
    await expect(readRoundsConfig(dir.path)).rejects.toMatchObject({ code: 'ERR_ROUNDS_CONFIG_INVALID', message: expect.stringMatching(/bytes; at most/) })
    await writeFile(file, '{"volunteer":{"enabled":false}}')
    expect((await readRoundsConfig(dir.path)).volunteer.enabled).toBe(false)
  })
})
