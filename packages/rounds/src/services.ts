/**
 * The services `swarmtune daemon` runs, by name, in start order. A service is a {@link ServiceFactory}
 * (see `@swarmtune/node`): it gets the daemon's components and returns `{ start?, stop?, routes?, status? }`.
 * Add one here — e.g. `ledger: ledgerService` — and it starts with every daemon, its routes mounted at
 * `/v1/<name>` of the control API.
 */
import type { LedgerCommunityError } from '@swarmtune/ledger'
import type { CID } from '@swarmtune/wire'
import { ledgerService, type LedgerComponents, type LedgerService, type LedgerServiceInit, type ServiceFactory } from '@swarmtune/node'
import { explainLedgerMismatch, folderCommunity } from './folder.js'
import type { RoundsComponents } from './components.js'
import { roundsService, type RoundsService, type RoundsServiceInit } from './service.js'

/** Options of the default services: `rounds` configures the rounds service (e.g. the community's genesis file). */
export interface DefaultServicesOptions {
  rounds?: RoundsServiceInit
  /** Options of the ledger service (its community is the folder's, see {@link folderCommunity}). */
  ledger?: Omit<LedgerServiceInit, 'community' | 'onCommunityMismatch'>
}

/** The services `swarmtune daemon` runs (a type alias, not an interface: an interface has no index signature, so it would not fit `ServiceFactoryMap`). */
export type DefaultServices = {
  ledger: ServiceFactory<LedgerService, LedgerComponents>
  rounds: ServiceFactory<RoundsService, RoundsComponents>
}

/**
 * The ledger service bound to the folder's community and the rounds service, in start order:
 * `createDaemon({ dataDir, services: defaultServices({ rounds: { community: 'x.genesis' } }) })`.
 */
export function defaultServices (options: DefaultServicesOptions = {}): DefaultServices {
  // the ledger is bound to the community the rounds service joins, before any peer can offer it entries
  const community = async (c: LedgerComponents): Promise<CID | undefined> => (await folderCommunity(c.dataDir.paths.root, options.rounds))?.id
  // a folder started with another community's genesis is told so, not sent to `doctor --repair`
  const onCommunityMismatch = async (c: LedgerComponents, err: LedgerCommunityError): Promise<Error> =>
    await explainLedgerMismatch(c.dataDir.paths.root, c.dataDir.paths.ledger, c.privateKey.publicKey.raw, err, options.rounds)
  return { ledger: ledgerService({ ...options.ledger, community, onCommunityMismatch }), rounds: roundsService(options.rounds) }
}
