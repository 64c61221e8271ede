/**
 * The services `swarmtune daemon` runs, by name, in start order. A service is a {@link ServiceFactory}
 * (see `../daemon.ts`): it gets the daemon's components and returns `{ start?, stop?, routes?, status? }`.
 * Add one here — e.g. `ledger: ledgerService` — and it starts with every daemon, its routes mounted at
 * `/v1/<name>` of the control API.
 */
import type { LedgerCommunityError } from '@swarmtune/ledger'
import type { CID } from '@swarmtune/wire'
import type { DaemonComponents, ServiceFactory } from '../daemon.js'
import { folderCommunity, ledgerService } from '../ledger-service.js'
import { explainLedgerMismatch } from '../rounds/folder.js'
import { roundsService, type RoundsServiceInit } from '../rounds/service.js'

/** Options of the default services: `rounds` configures the rounds service (e.g. the community's genesis file). */
export interface DefaultServicesOptions {
  rounds?: RoundsServiceInit
}

export function defaultServices (options: DefaultServicesOptions = {}): Record<string, ServiceFactory> {
  // the ledger is bound to the community the rounds service joins, before any peer can offer it entries
  const community = async (c: DaemonComponents): Promise<CID | undefined> => (await folderCommunity(c.dataDir.paths.root, options.rounds))?.id
  // a folder started with another community's genesis is told so, not sent to `doctor --repair`
  const onCommunityMismatch = async (c: DaemonComponents, err: LedgerCommunityError): Promise<Error> =>
    await explainLedgerMismatch(c.dataDir.paths.root, c.dataDir.paths.ledger, c.privateKey.publicKey.raw, err, options.rounds)
  return { ledger: ledgerService({ community, onCommunityMismatch }), rounds: roundsService(options.rounds) }
}
