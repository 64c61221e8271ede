/**
 * The services `swarmtune daemon` runs, by name, in start order. A service is a {@link ServiceFactory}
 * (see `../daemon.ts`): it gets the daemon's components and returns `{ start?, stop?, routes?, status? }`.
 * Add one here — e.g. `ledger: ledgerService` — and it starts with every daemon, its routes mounted at
 * `/v1/<name>` of the control API.
 */
import type { CID } from '@swarmtune/wire'
import type { DaemonComponents, ServiceFactory } from '../daemon.js'
import { folderCommunity, ledgerService } from '../ledger-service.js'
import { roundsService, type RoundsServiceInit } from '../rounds/service.js'

/** Options of the default services: `rounds` configures the rounds service (e.g. the community's genesis file). */
export interface DefaultServicesOptions {
  rounds?: RoundsServiceInit
}

export function defaultServices (options: DefaultServicesOptions = {}): Record<string, ServiceFactory> {
  // the ledger is bound to the community the rounds service joins, before any peer can offer it entries
  const community = async (c: DaemonComponents): Promise<CID | undefined> => (await folderCommunity(c.dataDir.paths.root, options.rounds))?.id
  return { ledger: ledgerService({ community }), rounds: roundsService(options.rounds) }
}
