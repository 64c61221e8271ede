/**
 * @packageDocumentation
 *
 * The `swarmtune` command (bin/swarmtune.js): `init`, `daemon`, `status`, `peers`, `doctor`, `community`,
 * `round`, `release`, `ledger`, `model`, `simulate` — commander programs over the daemon's control API (typed
 * clients of `@swarmtune/node` and `@swarmtune/rounds`) or, with the daemon stopped, over the data folder's
 * stores. `buildProgram()` gives the program, `main(argv)` runs it as the bin does (one error line with a
 * stable `ERR_…` code, exit status 1; 2 for a usage error). Also the duration parser the commands share.
 *
 * ```ts
 * import { main, parseDuration } from '@swarmtune/cli'
 *
 * console.log(parseDuration('--duration', '1.5m'))   // 90000 (ms)
 * await main(['node', 'swarmtune', 'model', 'inspect', 'mobilenet-v2', '--head', '10', '--json'])
 * ```
 */
export { buildProgram, main } from './main.js'
export { durationOption, formatMs, parseDuration, DURATION_UNITS_MS } from './options.js'
