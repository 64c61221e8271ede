/**
 * Every package's documentation opens with an example that runs as written (CONTRIBUTING.md): the first ```ts
 * block of each packages/<name>/src/index.ts, run in a process of its own with its `/tmp/…` paths moved into a
 * temporary folder, exits 0.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir, type TempDir } from '@swarmtune/test-support'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '..')
const packages = (await readdir(join(root, 'packages'))).sort()

/** The first ```ts block of a doc comment, without the comment's leading ` * `. */
function firstExample (source: string): string | undefined {
  const block = /```ts\n([\s\S]*?) \* ```/.exec(source)?.[1]
  return block?.split('\n').map((l) => l.replace(/^ \* ?/, '')).join('\n')
}

describe('package examples', () => {
  const dirs: TempDir[] = []
  afterAll(async () => { await Promise.all(dirs.map(async (d) => { await d.cleanup() })) })

  it.each(packages)('%s: the opening example runs as written', async (name) => {
    const code = firstExample(await readFile(join(root, 'packages', name, 'src', 'index.ts'), 'utf8'))
    expect(code, `packages/${name}/src/index.ts has no \`\`\`ts example`).toBeDefined()
    const dir = await tempDir(`swarmtune-example-${name}-`)
    dirs.push(dir)
    const moved = (code as string).replace(/'\/tmp\/([^']*)'/g, (_m, rest: string) => JSON.stringify(join(dir.path, rest)))
    const r = await run(join(root, 'node_modules', '.bin', 'tsx'), ['--input-type=module', '--eval', moved], { cwd: root, timeout: 180_000 })
    expect(r.stderr).not.toMatch(/Error/)
  })
})
