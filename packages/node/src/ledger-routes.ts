/**
 * The ledger service's control-API routes (under `/v1/ledger`), as ledger-protocol.ts declares them. Errors
 * are `{ code, message }` with the status of their code (control-status.ts); a failure without a code is
 * `ERR_LEDGER_IO`.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { FastifyPluginAsync } from 'fastify'
import {
  LedgerArgumentError, LedgerError, authorParam, entryToJson, ledgerStats, queryView,
  type Ledger, type SyncReport, type ViewParams
} from '@swarmtune/ledger'
import type { EntryKind } from '@swarmtune/wire'
import { issuesText, serveProtocol } from './control-protocol.js'
import { DialError } from './errors.js'
import { SYNC_EXAMPLE, ledgerProtocol } from './ledger-protocol.js'

/** What the ledger routes serve. */
export interface LedgerRoutesTarget {
  /** The open ledger. @throws when the service is not started */
  ledger: () => Ledger
  /** This node's peer id (a sync with it is refused). */
  self: PeerId
  /** Runs one sync session asked for through the API. */
  syncWith: (peer: PeerId) => Promise<SyncReport>
}

/** Query-string parameters of a view, checked. @throws LedgerArgumentError via authorParam / the filter checks. */
function viewParams (q: Record<string, string | undefined>): ViewParams {
  const num = (s: string | undefined): number | undefined => s === undefined ? undefined : Number(s)
  return {
    kind: q.kind as EntryKind | undefined,
    author: q.author === undefined ? undefined : authorParam(q.author),
    round: num(q.round),
    release: q.release,
    since: num(q.since),
    until: num(q.until),
    limit: num(q.limit),
    reverse: q.reverse === 'true' || q.reverse === '1'
  }
}

/**
 * The peer of a `POST /v1/ledger/sync` body (its length checked by the schema): a peer id other than this node's.
 * @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a malformed peer id.
 * @throws DialError `ERR_NODE_DIAL_SELF` for this node's own peer id.
 */
function syncPeer (peer: string, self: PeerId): PeerId {
  let id: PeerId
  try {
    id = peerIdFromString(peer)
  } catch (err) {
    throw new LedgerArgumentError(`"peer" ${JSON.stringify(peer.slice(0, 64))} is not a peer id (${(err as Error).message}); ${SYNC_EXAMPLE}`)
  }
  if (id.equals(self)) throw new DialError('ERR_NODE_DIAL_SELF', `"peer" ${peer} is this node's own peer id; give another peer's (\`swarmtune peers\`)`)
  return id
}

/** Runs `fn`; a failure without a code becomes `ERR_LEDGER_IO` (the store could not be read or written). */
async function coded<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (typeof (err as { code?: unknown } | null)?.code === 'string') throw err
    throw new LedgerError('ERR_LEDGER_IO', (err as { message?: string } | null)?.message ?? String(err), { cause: err })
  }
}

/** The fastify plugin of the ledger routes. */
export function ledgerRoutes (target: LedgerRoutesTarget): FastifyPluginAsync {
  return async (app) => {
    serveProtocol(app, ledgerProtocol, {
      view: async ({ params, query }) => await coded(async () => await queryView(target.ledger(), params.view, viewParams(query as Record<string, string | undefined>))),
      entry: async ({ params }) => await coded(async () => {
        const e = await target.ledger().get(params.id)
        if (e === undefined) throw new LedgerError('ERR_LEDGER_NOT_FOUND', `no ledger entry ${params.id}`)
        return entryToJson(e)
      }),
      stats: async () => await coded(async () => await ledgerStats(target.ledger())),
      verify: async () => await coded(async () => await target.ledger().verify()),
      sync: async ({ body }) => await coded(async () => await target.syncWith(syncPeer(body.peer, target.self)))
    }, { badRequest: ({ part, issues }) => new LedgerArgumentError(part === 'body' ? issues.map((i) => i.message).join('; ') : `bad request ${part}: ${issuesText(issues, `(${part})`)}`) })
  }
}
