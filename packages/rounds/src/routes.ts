/**
 * Control-API routes of the rounds service, mounted under `/v1/rounds`, as protocol.ts declares them (bearer
 * token, JSON; errors are `{ code, message }` with the status of the error's code in the control API's table,
 * `CONTROL_STATUS_OF_CODE`; a request that fails the protocol's schemas is `ERR_ROUNDS_BAD_PARAMS`).
 */
import { issuesText, serveProtocol } from '@swarmtune/node'
import type { FastifyPluginAsync } from 'fastify'
import { communityInfo } from './community.js'
import { RoundParamsError } from './errors.js'
import { noCommunity } from './hints.js'
import { roundsProtocol } from './protocol.js'
import type { RoundsService } from './service-types.js'

export function roundsRoutes (service: () => RoundsService): FastifyPluginAsync {
  return async (app) => {
    serveProtocol(app, roundsProtocol, {
      list: async () => await service().rounds(),

      start: async ({ body = {}, reply }) => {
        // a client that goes away before the round-open is signed stops the opening
        const controller = new AbortController()
        const onClose = (): void => { if (!reply.raw.writableFinished) controller.abort() }
        reply.raw.once('close', onClose)
        try {
          return await service().startRound(body.params ?? {}, { signal: controller.signal })
        } finally {
          reply.raw.off('close', onClose)
        }
      },

      community: async () => {
        const c = service().community
        if (c === undefined) throw noCommunity(service().dataDir)
        return communityInfo(c)
      },

      releases: async () => await service().releases(),

      release: async ({ params }) => await service().release(params.ref),

      pull: async ({ params }) => await service().pullRelease(params.ref),

      verify: async ({ params }) => await service().verifyRelease(params.ref),

      status: async ({ params }) => await service().round(params.round),

      cancel: async ({ params, body = {} }) => await service().cancelRound(params.round, body.reason)
    }, {
      badRequest: ({ part, issues }) => new RoundParamsError(part === 'params' ? issues.map((i) => i.message).join('; ') : `bad request: ${issuesText(issues, '(request)')}`)
    })
  }
}
