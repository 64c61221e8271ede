/**
 * Every stable error code the packages raise is listed in doc/errors.md: the codes are the project's contract with
 * its users (CONTRIBUTING.md), and the list is edited by hand.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..')
/** Codes of Node.js and its libraries that our code only compares against, never raises. */
const FOREIGN = new Set(['ERR_BUFFER_TOO_LARGE', 'ERR_HTTP_REQUEST_TIMEOUT', 'ERR_MODULE_NOT_FOUND'])

function sources (dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

describe('doc/errors.md', () => {
  it('lists every ERR_ code quoted in the packages\' sources', () => {
    const documented = new Set(readFileSync(join(root, 'doc/errors.md'), 'utf8').match(/ERR_[A-Z0-9_]+/g))
    const raised = new Map<string, string>()
    for (const pkg of readdirSync(join(root, 'packages'))) {
      for (const file of sources(join(root, 'packages', pkg, 'src'))) {
        // a whole code in quotes; a prefix that a template completes (`ERR_MODEL_BACKEND_${…}`) ends in _
        for (const m of readFileSync(file, 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]*[A-Z0-9])['"`]/g)) {
          if (!FOREIGN.has(m[1])) raised.set(m[1], file.slice(root.length + 1))
        }
      }
    }
    expect(raised.size).toBeGreaterThan(150)
    const missing = [...raised].filter(([code]) => !documented.has(code)).map(([code, file]) => `${code} (${file})`)
    expect(missing).toEqual([])
  })
})
