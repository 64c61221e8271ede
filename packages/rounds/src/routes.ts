/**
 * Control-API routes of the rounds service, mounted under `/v1/rounds` (bearer token, JSON; errors are
 * `{ code, message }` with the status of the error's code in the control API's table, `CONTROL_STATUS_OF_CODE`):
 *
 * | route | does |
 * |-------|------|
 * | `GET /v1/rounds` | every round, oldest first (`RoundView[]`) |
 * | `POST /v1/rounds` `{ params }` | opens a round (maintainers) → `RoundDetail` |
 * | `GET /v1/rounds/:round?waitMs=` | one round (`latest` = newest); with `waitMs`, waits up to that long for it to close |
 * | `POST /v1/rounds/:round/cancel` `{ reason? }` | cancels an open round of this coordinator |
 * | `GET /v1/rounds/community` | the community's genesis facts |
 * | `GET /v1/rounds/releases` | the genesis release and every release (`ReleaseView[]`) |
 * | `GET /v1/rounds/releases/:ref` | one release by entry id, manifest CID or `latest` |
 * | `POST /v1/rounds/releases/:ref/pull` | fetches its manifest and shards into this daemon's store |
 * | `POST /v1/rounds/releases/:ref/verify` | recomputes it from the ledger's deltas (`VerifyReport`) |
 */
import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { communityInfo } from './community.js'
import { MAX_WAIT_MS } from './constants.js'
import { RoundParamsError } from './errors.js'
import { noCommunity } from './hints.js'
import type { RoundsService } from './service-types.js'


const startBody = z.strictObject({ params: z.record(z.string(), z.unknown()).optional() }).optional()
const cancelBody = z.strictObject({ reason: z.string().max(512).optional() }).optional()
const roundQuery = z.strictObject({
  waitMs: z.string()
    .regex(/^\d{1,9}$/, { error: (i) => `must be a whole number of milliseconds from 0 to ${MAX_WAIT_MS}, got ${JSON.stringify(i.input)}` })
    .transform(Number)
    .pipe(z.number().max(MAX_WAIT_MS, { error: (i) => `must be at most ${MAX_WAIT_MS} ms, got ${String(i.input)}; ask again after it` }))
    .optional()
})

function parse<T> (schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value)
  if (!r.success) throw new RoundParamsError(`bad request: ${r.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`)
  return r.data
}

function roundParam (s: string): number | undefined {
  if (s === 'latest') return undefined
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < 0) throw new RoundParamsError(`'${s}' is not a round number; use a number or "latest"`)
  return n
}

export function roundsRoutes (service: () => RoundsService): FastifyPluginAsync {
  return async (app) => {
    app.get('/', async () => await service().rounds())

    app.post('/', async (req, reply) => {
      const body = parse(startBody, req.body) ?? {}
      return await reply.status(201).send(await service().startRound(body.params ?? {}))
    })

    app.get('/community', async () => {
      const c = service().community
      if (c === undefined) throw noCommunity(service().dataDir)
      return communityInfo(c)
    })

    app.get('/releases', async () => await service().releases())

    app.get<{ Params: { ref: string } }>('/releases/:ref', async (req) => await service().release(req.params.ref))

    app.post<{ Params: { ref: string } }>('/releases/:ref/pull', async (req) => await service().pullRelease(req.params.ref))

    app.post<{ Params: { ref: string } }>('/releases/:ref/verify', async (req) => await service().verifyRelease(req.params.ref))

    app.get<{ Params: { round: string } }>('/:round', async (req) => {
      const { waitMs = 0 } = parse(roundQuery, req.query)
      return await service().round(roundParam(req.params.round), { waitMs })
    })

    app.post<{ Params: { round: string } }>('/:round/cancel', async (req) => {
      const body = parse(cancelBody, req.body) ?? {}
      return await service().cancelRound(roundParam(req.params.round), body.reason)
    })
  }
}
