/**
 * The package's opening example (the first ```ts block of src/index.ts) runs as written, in a process of its
 * own, on a temporary folder: it creates a community, starts the daemon `swarmtune daemon` runs and prints the
 * community's name, its genesis release and the ledger's size.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir, type TempDir } from '@swarmtune/test-support'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '..', '..', '..')

describe('the package example', () => {
  let dir: TempDir | undefined
  afterAll(async () => { await dir?.cleanup() })

  it('runs as written and prints the community it made', async () => {
    const source = await readFile(join(root, 'packages', 'rounds', 'src', 'index.ts'), 'utf8')
    const block = /```ts\n([\s\S]*?) \* ```/.exec(source)?.[1]
    expect(block).toBeDefined()
    const code = (block as string).split('\n').map((l) => l.replace(/^ \* ?/, '')).join('\n')
    expect(code).toContain("'/tmp/st-maintainer'")
    dir = await tempDir('swarmtune-rounds-example-')
    const { stdout } = await run(join(root, 'node_modules', '.bin', 'tsx'), ['--input-type=module', '--eval', code.replace("'/tmp/st-maintainer'", JSON.stringify(join(dir.path, 'maintainer')))], { cwd: root, timeout: 120_000 })
    // name, genesis release manifest CID, ledger size (the genesis entry)
    expect(stdout.trim()).toMatch(/^mnist-demo bafkrei[a-z2-7]{52} 1$/m)
  })
})
