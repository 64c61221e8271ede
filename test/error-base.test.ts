/**
 * One error base (CONTRIBUTING.md, "Errors"): `SwarmtuneError` of @swarmtune/wire is the one class in the
 * sources that extends `Error` directly, no class sets its own `name` (it is the class's), and every error class
 * a package exports derives from it.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SwarmtuneError } from '@swarmtune/wire'

const root = join(import.meta.dirname, '..')

function sources (): string[] {
  const dirs = [
    ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'src')),
    join(root, 'scripts')
  ]
  return dirs.flatMap((dir) => {
    try {
      return readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.ts'))
        .map((e) => join(e.parentPath, e.name))
    } catch {
      return []
    }
  })
}

describe('the error base', () => {
  it('is the one class of the sources that extends Error directly, and no class sets its name', () => {
    const direct: string[] = []
    const named: string[] = []
    for (const file of sources()) {
      const text = readFileSync(file, 'utf8')
      const where = relative(root, file)
      for (const m of text.matchAll(/\bclass (\w+)(?:<[^>{]*>)? extends Error\b/g)) direct.push(`${m[1]} (${where})`)
      // `this.name = '…'`, `override name = '…'`, `get name ()`: a name other than the class's
      for (const m of text.matchAll(/(?:this\.name\s*=\s*['"`]|\b(?:override\s+)?(?:readonly\s+)?name\s*=\s*['"`]\w*Error|\bget name\s*\()/g)) named.push(`${m[0]} (${where})`)
    }
    expect(direct).toEqual(['SwarmtuneError (packages/wire/src/errors.ts)'])
    expect(named).toEqual([])
  })

  it('is the base of every error class the packages export', async () => {
    const modules: Record<string, Record<string, unknown>> = {
      '@swarmtune/wire': await import('@swarmtune/wire'),
      '@swarmtune/fedavg': await import('@swarmtune/fedavg'),
      '@swarmtune/ledger': await import('@swarmtune/ledger'),
      '@swarmtune/model': await import('@swarmtune/model'),
      '@swarmtune/node': await import('@swarmtune/node'),
      '@swarmtune/rounds': await import('@swarmtune/rounds'),
      'cli errors': await import('../packages/cli/src/errors.js'),
      'cli simulate': await import('../packages/cli/src/simulate/index.js'),
      'cli round': await import('../packages/cli/src/commands/round.js'),
      'script errors': await import('../scripts/lib/errors.js')
    }
    const classes: string[] = []
    const outside: string[] = []
    for (const [name, mod] of Object.entries(modules)) {
      for (const [key, value] of Object.entries(mod)) {
        if (typeof value !== 'function' || !(value.prototype instanceof Error)) continue
        classes.push(`${name}: ${key}`)
        if (value !== SwarmtuneError && !(value.prototype instanceof SwarmtuneError)) outside.push(`${name}: ${key}`)
      }
    }
    expect(classes.length).toBeGreaterThan(50)
    expect(outside).toEqual([])
  })

  it('names an error after its class, also where a package exports it under another name', async () => {
    const { AbortedError: modelAborted, ReleaseError } = await import('@swarmtune/model')
    const { AbortedError: nodeAborted, BlobStreamError } = await import('@swarmtune/node')
    const { LedgerClosedError } = await import('@swarmtune/ledger')
    const { RoundStateError } = await import('@swarmtune/rounds')
    const { AbortError } = await import('@swarmtune/wire')
    expect(modelAborted).toBe(AbortError)
    expect(nodeAborted).toBe(AbortError)
    expect(new nodeAborted('stopped')).toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' })
    expect(new ReleaseError('ERR_MODEL_SHARD_MISSING', 'm')).toMatchObject({ name: 'ReleaseError', code: 'ERR_MODEL_SHARD_MISSING' })
    expect(new BlobStreamError('ERR_NODE_BLOB_BUSY', 'm')).toMatchObject({ name: 'BlobStreamError', code: 'ERR_NODE_BLOB_BUSY' })
    expect(new LedgerClosedError()).toMatchObject({ name: 'LedgerClosedError', code: 'ERR_LEDGER_CLOSED' })
    expect(new RoundStateError('ERR_ROUNDS_NOT_OPEN', 'm')).toMatchObject({ name: 'RoundStateError', code: 'ERR_ROUNDS_NOT_OPEN' })
    expect('statusCode' in new RoundStateError('ERR_ROUNDS_NOT_OPEN', 'm')).toBe(false)
  })
})
