/**
 * The import rules of `npm run lint:imports` (dependency-cruiser, `.dependency-cruiser.cjs`): the packages'
 * sources have no import cycle and keep the package direction; a throw-away cycle and an import against the
 * direction, in a folder of their own, make the check fail.
 */
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '..')
const depcruise = join(root, 'node_modules', '.bin', 'depcruise')
const config = join(root, '.dependency-cruiser.cjs')

async function cruise (cwd: string): Promise<{ code: number, out: string }> {
  try {
    const r = await run(depcruise, ['packages', '--config', config, '--output-type', 'err'], { cwd })
    return { code: 0, out: r.stdout + r.stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

describe('import rules', () => {
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = []
  afterAll(async () => { await Promise.all(dirs.map(async (d) => { await d.cleanup() })) })

  it('hold for the packages\' sources', async () => {
    const r = await cruise(root)
    expect(r.out).toMatch(/no dependency violations found/)
    expect(r.code).toBe(0)
  })

  it('fail on a cycle and on node importing rounds', async () => {
    const dir = await tempDir('swarmtune-import-rules-')
    dirs.push(dir)
    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }),
      'packages/ledger/src/a.ts': "import { b } from './b.js'\nexport const a = (): number => b + 1\n",
      'packages/ledger/src/b.ts': "import { a } from './a.js'\nexport const b = 1\nexport const c = a\n",
      'packages/rounds/src/index.ts': 'export const rounds = 1\n',
      'packages/node/src/index.ts': "import { rounds } from '../../rounds/src/index.js'\nexport const node = rounds\n"
    }
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(dir.path, path, '..'), { recursive: true })
      await writeFile(join(dir.path, path), text)
    }
    const r = await cruise(dir.path)
    expect(r.code).not.toBe(0)
    expect(r.out).toMatch(/no-circular: packages\/ledger\/src\/a\.ts/)
    expect(r.out).toMatch(/node-imports-only-below: packages\/node\/src\/index\.ts → packages\/rounds\/src\/index\.ts/)
  })
})
