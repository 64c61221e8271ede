import type { Command } from 'commander'
import * as community from './community.js'
import * as daemon from './daemon.js'
import * as dashboard from './dashboard.js'
import * as doctor from './doctor.js'
import * as init from './init.js'
import * as ledger from './ledger.js'
import * as model from './model.js'
import * as peers from './peers.js'
import * as release from './release.js'
import * as round from './round.js'
import * as simulate from './simulate.js'
import * as status from './status.js'

/**
 * Adds every sub-command to the program. Each command lives in its own file in this folder and exports
 * `register(program)`.
 */
export function registerCommands (program: Command): void {
  for (const command of [init, daemon, status, dashboard, peers, doctor, community, round, release, ledger, model, simulate]) {
    command.register(program)
  }
}
