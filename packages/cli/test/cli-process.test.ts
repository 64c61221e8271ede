/**
 * The `swarmtune` command as a real process (the bin, through tsx): what it prints on stderr and its exit
 * status when its output pipe closes early, when an option check inside a command fails, and which Node.js
 * runs the project's npm scripts.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { ControlClient, dataDirPaths } from '@swarmtune/node'
import { testDataDir } from '@swarmtune/test-support/daemons'
import { expectRefusedInUse, swarmtune, useFolderWithGenesis, withDaemon } from './helpers.js'

const scratch = useFolderWithGenesis('swarmtune-cli-process-')
let node: string

beforeAll(async () => {
  node = await testDataDir(join(scratch.dir, 'node'))
})

describe('a closed output pipe', () => {
  it('`ledger stats | head -3`: the command ends quietly with status 0, no EPIPE trace', async () => {
    for (const args of [['ledger', 'stats'], ['ledger', 'export', '--format', 'csv'], ['ledger', 'list']]) {
      const r = await swarmtune([...args, '-d', node], { closedStdout: true })
      expect(r.stderr, args.join(' ')).toBe('')
      expect({ code: r.code, signal: r.signal }, args.join(' ')).toEqual({ code: 0, signal: null })
    }
  })
})

describe('option checks inside a command', () => {
  it('`community join --images <file>` without --labels exits 1 naming the problem', async () => {
    const r = await swarmtune(['community', 'join', scratch.genesis, '-d', node, '--images', scratch.genesis])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^swarmtune: error: .*--labels.*\(ERR_CLI_BAD_OPTION_VALUE\)/)
  })
})

describe('community create', () => {
  it('refuses a data folder a daemon runs on, touching neither its blob store nor its lock', async () => {
    const maintainer = await testDataDir(join(scratch.dir, 'maintainer'))
    await withDaemon(maintainer, async () => {
      const client = await ControlClient.fromDataDir(maintainer)
      const blobsBefore = await client.listBlobs()
      const r = await swarmtune(['community', 'create', '--task', 'mnist-2nn', '--name', 'second-writer', '-d', maintainer])
      await expectRefusedInUse(r, maintainer)
      expect(await client.listBlobs()).toEqual(blobsBefore)
      expect(await readdir(maintainer)).not.toContain('second-writer.genesis')
    })
  })

  it('writes the genesis file into the data folder by default and prints its absolute path', async () => {
    const maintainer = await testDataDir(join(scratch.dir, 'maintainer-2'))
    const r = await swarmtune(['community', 'create', '--task', 'mnist-2nn', '--name', 'here', '-d', maintainer])
    expect(r.code, r.stderr).toBe(0)
    const file = join(maintainer, 'here.genesis')
    expect((await stat(file)).isFile()).toBe(true)
    expect(r.stdout).toContain(`swarmtune daemon -d ${maintainer} --community ${file}`)
    // the folder is free again for the daemon
    await expect(stat(dataDirPaths(maintainer).lock)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
