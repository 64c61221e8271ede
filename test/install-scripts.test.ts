/**
 * The install decisions in package.json's `allowScripts` cover every dependency with an install script (so
 * `npm ci` is quiet now and stays correct once npm blocks unreviewed scripts), and the runtime npm scripts run
 * on is the pinned Node 22: the `node` package's preinstall, approved there, is what puts it in
 * node_modules/.bin. Both through the real npm client, offline.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..')

/** The environment of a user's shell: PATH without any node_modules/.bin (vitest runs with one in front). */
function shellEnv (): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules')).join(delimiter)
  return { ...process.env, PATH: path, npm_config_offline: 'true', npm_config_update_notifier: 'false' }
}

let empty: { path: string, cleanup: () => Promise<void> }
beforeAll(async () => { empty = await tempDir('swarmtune-install-') })
afterAll(async () => { await empty.cleanup() })

describe('install scripts', () => {
  it('every dependency with an install script has a decision in allowScripts', async () => {
    const { stdout } = await run('npm', ['install-scripts', 'ls', '--json'], { cwd: ROOT, env: shellEnv() })
    expect(JSON.parse(stdout)).toEqual({ allowScripts: [] })
    // also the optional ones not installed on this machine (the native tfjs backends, whose install downloads libtensorflow)
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> }
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> }
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript === true).map(([path]) => path.replace(/^.*node_modules\//, ''))
    expect(withScripts.length).toBeGreaterThan(0)
    for (const name of withScripts) expect(typeof pkg.allowScripts[name], name).toBe('boolean')
  })

  it('`npm run` scripts run on the pinned Node 22, not the Node on the PATH', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>, allowScripts: Record<string, boolean> }
    const pinned = pkg.devDependencies.node
    expect(pinned).toMatch(/^22\.\d+\.\d+$/)
    expect(pkg.allowScripts.node).toBe(true)
    // doctor's first check names the Node.js it runs on; the folder check fails (an empty folder), which is fine here
    const result = await run('npm', ['run', '--silent', 'swarmtune', '--', 'doctor', '--json', '-d', empty.path], { cwd: ROOT, env: shellEnv() })
      .catch((err: { stdout: string }) => err)
    const checks = JSON.parse(result.stdout) as Array<{ name: string, detail: string }>
    expect(checks.find((c) => c.name === 'node')?.detail).toMatch(new RegExp(`^Node\\.js ${pinned.replace(/\./g, '\\.')} `))
  })
})
