/**
 * The researchers' dashboard: a read-only web page, bundled at install time (`npm ci` runs this package's
 * `build`: esbuild bundles page/*.ts with uPlot into dist/), that the daemon serves on its loopback control
 * address under `/dashboard/` (packages/node, dashboard.ts). This module only names the built files; it
 * imports nothing of swarmtune, and the page reads only the daemon's dashboard routes.
 *
 * ```ts
 * import { DASHBOARD_ASSETS, dashboardDistDir } from '@swarmtune/dashboard'
 *
 * console.log(dashboardDistDir().endsWith('dist'), DASHBOARD_ASSETS.map((a) => a.file)) // true [ 'index.html', 'app.js', 'app.css' ]
 * ```
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One built file and the Content-Type it is served with. */
export interface DashboardAsset {
  /** File name inside {@link dashboardDistDir}. */
  file: string
  contentType: string
}

/** Every file of the built page; the daemon serves exactly these and nothing else. */
export const DASHBOARD_ASSETS: readonly DashboardAsset[] = [
  { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  { file: 'app.css', contentType: 'text/css; charset=utf-8' }
]

/** Absolute path of the folder the build writes (packages/dashboard/dist). */
export function dashboardDistDir (): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
}
