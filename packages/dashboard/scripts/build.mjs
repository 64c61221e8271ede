// Builds the dashboard page into dist/: page/main.ts and uPlot bundled into one app.js (esbuild), the styles
// (ours and uPlot's) into app.css, and index.html copied. Run by `npm ci` through the root `prepare` script.
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
await mkdir(dist, { recursive: true })
await build({
  entryPoints: { app: join(root, 'page', 'main.ts'), 'app-style': join(root, 'page', 'style.css') },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'eof',
  outdir: dist,
  logLevel: 'warning'
})
// esbuild names a CSS entry's output after the entry; the page links app.css
const { rename } = await import('node:fs/promises')
await rename(join(dist, 'app-style.css'), join(dist, 'app.css'))
await copyFile(join(root, 'page', 'index.html'), join(dist, 'index.html'))
console.log(`dashboard built into ${dist}`)
