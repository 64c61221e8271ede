/**
 * The protocol of the ledger service's control-API routes (under `/v1/ledger`), served by ledger-routes.ts and
 * called as `client.ledger` (`ControlClient`):
 *
 * | route | answers |
 * |-------|---------|
 * | `GET /v1/ledger/view/:view?kind&author&round&release&since&until&limit&reverse` | the view's rows, as `queryView` of @swarmtune/ledger gives them |
 * | `GET /v1/ledger/entries/:id` | one entry (`EntryJson`); 404 `ERR_LEDGER_NOT_FOUND` |
 * | `GET /v1/ledger/stats` | `LedgerStats` |
 * | `POST /v1/ledger/verify` | `VerifyReport` of the ledger |
 * | `POST /v1/ledger/sync` `{ peer }` | `SyncReport` of one session with that peer |
 */
import type { EntryJson, LedgerStats, SyncReport, VerifyReport } from '@swarmtune/ledger'
import { z } from 'zod'
import { defineProtocol } from './control-protocol.js'

/** Longest peer id string taken by `POST /v1/ledger/sync` (an Ed25519 peer id is 52 characters, a CIDv1 one 62). */
export const MAX_PEER_ID_CHARS = 128

export const SYNC_EXAMPLE = 'send {"peer":"12D3KooW…"} with a peer id from `swarmtune peers`'
const needsPeer = `the body needs "peer", the peer id to sync with; ${SYNC_EXAMPLE}`

/** The filters of a view as query-string text (checked by the ledger's view: `ERR_LEDGER_BAD_ARGUMENT`, `ERR_LEDGER_UNSUPPORTED_FILTER`). */
const viewQuery = z.looseObject({
  kind: z.string().optional(),
  author: z.string().optional(),
  round: z.string().optional(),
  release: z.string().optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  limit: z.string().optional(),
  reverse: z.string().optional()
})

const entryJson = z.looseObject({ id: z.string(), author: z.string(), seq: z.number().int(), kind: z.string() }) as unknown as z.ZodType<EntryJson>

export const ledgerProtocol = defineProtocol('ledger', {
  view: { method: 'GET', path: '/view/:view', params: z.strictObject({ view: z.string() }), query: viewQuery, response: z.array(z.record(z.string(), z.unknown())) },
  entry: { method: 'GET', path: '/entries/:id', params: z.strictObject({ id: z.string() }), response: entryJson },
  stats: {
    method: 'GET',
    path: '/stats',
    response: z.looseObject({ entries: z.number(), authors: z.number(), byKind: z.record(z.string(), z.number()) }) as unknown as z.ZodType<LedgerStats>
  },
  verify: {
    method: 'POST',
    path: '/verify',
    response: z.looseObject({ entries: z.number(), authors: z.number(), indexesRebuilt: z.boolean() }) as unknown as z.ZodType<VerifyReport>,
    timeoutMs: 0
  },
  sync: {
    method: 'POST',
    path: '/sync',
    body: z.object({
      peer: z.string({ error: needsPeer })
        .min(1, { error: needsPeer })
        .max(MAX_PEER_ID_CHARS, { error: (i) => `"peer" is ${String((i.input as string).length)} characters, a peer id is at most ${MAX_PEER_ID_CHARS}; ${SYNC_EXAMPLE}` })
    }, { error: needsPeer }),
    response: z.looseObject({ appended: z.number(), received: z.number(), inSync: z.boolean(), rejected: z.array(z.unknown()) }) as unknown as z.ZodType<SyncReport>
  }
})
