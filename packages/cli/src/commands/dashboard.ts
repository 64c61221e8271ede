import type { Command } from 'commander'
import open from 'open'
import { ControlClient } from '@swarmtune/node'
import { CliError } from '../errors.js'
import { common, show } from './round.js'

interface DashboardFlags {
  dataDir: string
  json?: boolean
  open?: boolean
}

/** What `swarmtune dashboard` prints: the one-time login URL and until when it works. */
export function render (login: { url: string, expiresAt: number }): string {
  return `dashboard: ${login.url}\n` +
    `open it in a browser on this machine before ${new Date(login.expiresAt).toISOString()}; it works once, then the page is at ${new URL('/dashboard/', login.url).toString()} for that browser\n`
}

/** Adds `swarmtune dashboard` to the program. */
export function register (program: Command): void {
  common(program.command('dashboard'), { dataDir: 'data folder of the running daemon (env SWARMTUNE_HOME)', json: 'print { url, expiresAt } as JSON' })
    .description('print a one-time login URL of the running daemon\'s read-only researchers\' page (releases, contributions, rounds, ledger, peers; doc/dashboard.md)')
    .option('--open', 'also open it in the default browser')
    .action(async (flags: DashboardFlags) => {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      const login = await client.dashboardLogin()
      show(flags.json, login, render)
      if (flags.open === true) {
        try {
          await open(login.url, { wait: false })
        } catch (err) {
          throw new CliError('ERR_CLI_OPEN_FAILED', `could not open a browser (${(err as Error).message}); open the URL above by hand`, { cause: err })
        }
      }
    })
}
