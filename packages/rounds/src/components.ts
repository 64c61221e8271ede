/** What the rounds service and its roles use of the daemon (the js-libp2p `…Components` pattern). */
import type { DaemonComponents, LedgerService } from '@swarmtune/node'

/**
 * All the daemon's core components, and the ledger service (listed before the rounds service, or given by
 * `RoundsServiceInit.ledger`).
 */
export type RoundsComponents = Omit<DaemonComponents, 'services'> & { services: { ledger?: LedgerService } }
