/**
 * The protocol of the rounds service's control-API routes (under `/v1/rounds`), shared by its routes
 * (routes.ts) and its client (client.ts, `roundsClient`):
 *
 * | route | answers |
 * |-------|---------|
 * | `GET /v1/rounds` | every round, oldest first (`RoundView[]`) |
 * | `POST /v1/rounds` `{ params }` | 201, the round opened (maintainers) → `RoundDetail` |
 * | `GET /v1/rounds/:round` | one round (`latest` = newest) → `RoundDetail` |
 * | `POST /v1/rounds/:round/cancel` `{ reason? }` | cancels an open round of this coordinator → `RoundDetail` |
 * | `GET /v1/rounds/community` | the community's genesis facts (`CommunityInfo`) |
 * | `GET /v1/rounds/releases` | the genesis release and every release (`ReleaseView[]`) |
 * | `GET /v1/rounds/releases/:ref` | one release by round number, entry id, manifest CID or `latest` |
 * | `POST /v1/rounds/releases/:ref/pull` | fetches its manifest and shards into this daemon's store |
 * | `POST /v1/rounds/releases/:ref/verify` | recomputes it from the ledger's deltas (`VerifyReport`) |
 *
 * A bad request is `ERR_ROUNDS_BAD_PARAMS` (400). Following a round until it closes is done on the daemon's
 * event stream (`roundsClient(client).waitClosed`), not by a route.
 */
import { defineProtocol } from '@swarmtune/node'
import { z } from 'zod'
import type { CommunityInfo } from './community.js'
import type { RoundDetail } from './service-types.js'
import type { VerifyReport } from './verify.js'
import type { ReleaseView, RoundView } from './views.js'

/** `:round` of a path: a round number, or `latest` (→ undefined). */
export const roundRef = z.string().transform((s, ctx): number | undefined => {
  if (s === 'latest') return undefined
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < 0) {
    ctx.addIssue({ code: 'custom', message: `'${s}' is not a round number; use a number or "latest"` })
    return z.NEVER
  }
  return n
})

const counts = z.looseObject({ contributions: z.number(), accepted: z.number(), rejected: z.number(), pending: z.number() })

/** One round as `GET /v1/rounds` lists it (the fields clients read are checked; the rest passes as sent). */
export const roundViewSchema = z.looseObject({
  round: z.number().int().nonnegative(),
  roundOpen: z.string(),
  coordinator: z.string(),
  state: z.enum(['open', 'closed']),
  outcome: z.enum(['released', 'no-release', 'cancelled']).optional(),
  counts,
  contributions: z.array(z.looseObject({ id: z.string(), peer: z.string() })),
  timing: z.looseObject({ bytes: z.number() })
}) as unknown as z.ZodType<RoundView>

/** One round in full (`GET /v1/rounds/:round`). */
export const roundDetailSchema = roundViewSchema as unknown as z.ZodType<RoundDetail>

/** One release (`GET /v1/rounds/releases/:ref`). */
export const releaseViewSchema = z.looseObject({
  manifest: z.string(),
  entry: z.string().optional(),
  round: z.number().int().nonnegative(),
  signer: z.string()
}) as unknown as z.ZodType<ReleaseView>

const refParam = z.strictObject({ ref: z.string() })
const roundParam = z.strictObject({ round: roundRef })

export const roundsProtocol = defineProtocol('rounds', {
  list: { method: 'GET', path: '/', response: z.array(roundViewSchema) },
  start: {
    method: 'POST',
    path: '/',
    body: z.strictObject({ params: z.record(z.string(), z.unknown()).optional() }).optional(),
    response: roundDetailSchema,
    status: 201,
    timeoutMs: 120_000
  },
  status: { method: 'GET', path: '/:round', params: roundParam, query: z.strictObject({}).optional(), response: roundDetailSchema },
  cancel: {
    method: 'POST',
    path: '/:round/cancel',
    params: roundParam,
    body: z.strictObject({ reason: z.string().max(512).optional() }).optional(),
    response: roundDetailSchema,
    timeoutMs: 120_000
  },
  community: {
    method: 'GET',
    path: '/community',
    response: z.looseObject({ id: z.string(), name: z.string(), task: z.string(), release: z.string(), maintainers: z.array(z.string()) }) as unknown as z.ZodType<CommunityInfo>
  },
  releases: { method: 'GET', path: '/releases', response: z.array(releaseViewSchema) },
  release: { method: 'GET', path: '/releases/:ref', params: refParam, response: releaseViewSchema },
  pull: {
    method: 'POST',
    path: '/releases/:ref/pull',
    params: refParam,
    response: z.looseObject({ manifest: z.string(), shards: z.number().int(), bytes: z.number().int() }),
    timeoutMs: 0
  },
  verify: {
    method: 'POST',
    path: '/releases/:ref/verify',
    params: refParam,
    response: z.looseObject({ ok: z.boolean(), round: z.number(), entry: z.string(), manifest: z.string() }) as unknown as z.ZodType<VerifyReport>,
    timeoutMs: 0
  }
})
