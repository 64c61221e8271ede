/**
 * `npm run bench`: runs every `scripts/bench/*.bench.ts` in its own process, one after another, so that
 * no benchmark disturbs another's memory or event loop. Each prints one line per figure, in the form
 *   <area>: <figure> = <value> <unit>  (vs <reference> = <value> <unit>, ratio <r>; goal <g>)
 * Pass names to run a subset: `npm run bench -- wire fedavg`.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort()

let failed = 0
for (const file of files) {
  process.stdout.write(`# ${file}\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(here, file)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    process.stdout.write(`# ${file} failed with exit code ${r.status ?? r.signal}\n`)
  }
}
process.exitCode = failed === 0 ? 0 : 1
