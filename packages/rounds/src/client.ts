/**
 * The rounds routes (`/v1/rounds`, protocol.ts) as typed methods of a `ControlClient`: `roundsClient(client)`.
 * Node's client knows nothing of rounds; this extends it through `client.service(roundsProtocol)`.
 *
 * ```ts
 * const rounds = roundsClient(await ControlClient.fromDataDir(dir))
 * const opened = await rounds.start({ steps: 20, quorum: 2 }, { signal })
 * const closed = await rounds.waitClosed(opened.round, { signal })
 * ```
 */
import { ControlError, type CallOptions, type ControlClient } from '@swarmtune/node'
import type { CommunityInfo } from './community.js'
import { CLOSE_EVENT_PREFIXES, FOLLOW_EVENT_PREFIXES, followRound, type WaitClosedOptions } from './follow.js'
import type { RoundParamsInit } from './params.js'
import { roundsProtocol } from './protocol.js'
import type { RoundDetail } from './service-types.js'
import type { VerifyReport } from './verify.js'
import type { ReleaseView, RoundView } from './views.js'

export type { WaitClosedOptions } from './follow.js'

/** A round as a path names it: its number, or `latest` (the newest); a string is sent as given. */
export type RoundRef = number | 'latest' | (string & {})

/** The rounds routes as methods. Each throws `ControlError` with the daemon's code (`ERR_ROUNDS_…`) and status. */
export interface RoundsClient {
  /** Opens the next round (a maintainer's daemon). @throws ControlError `ERR_ROUNDS_NOT_MAINTAINER`, `ERR_ROUNDS_ALREADY_OPEN`, `ERR_ROUNDS_BAD_PARAMS` … */
  start: (params?: RoundParamsInit, options?: CallOptions) => Promise<RoundDetail>
  /** One round (default the newest). @throws ControlError `ERR_ROUNDS_NOT_FOUND`, `ERR_ROUNDS_BAD_PARAMS` */
  status: (round?: RoundRef, options?: CallOptions) => Promise<RoundDetail>
  /** Cancels an open round this daemon coordinates (default the newest). @throws ControlError `ERR_ROUNDS_NOT_OPEN`, `ERR_ROUNDS_NOT_MAINTAINER` */
  cancel: (round?: RoundRef, reason?: string, options?: CallOptions) => Promise<RoundDetail>
  /** Every round, oldest first. */
  list: (options?: CallOptions) => Promise<RoundView[]>
  /** The community's genesis facts. @throws ControlError `ERR_ROUNDS_NO_COMMUNITY` */
  community: (options?: CallOptions) => Promise<CommunityInfo>
  /** The genesis release and every release since, oldest first. */
  releases: (options?: CallOptions) => Promise<ReleaseView[]>
  /** One release by round number, entry id, manifest CID or `latest`. @throws ControlError `ERR_ROUNDS_RELEASE_NOT_FOUND` */
  release: (ref: string, options?: CallOptions) => Promise<ReleaseView>
  /** Fetches a release's manifest and shards into the daemon's store (no timeout by default). */
  pull: (ref: string, options?: CallOptions) => Promise<{ manifest: string, shards: number, bytes: number }>
  /** Recomputes a release from the ledger's deltas (no timeout by default). */
  verify: (ref: string, options?: CallOptions) => Promise<VerifyReport>
  /**
   * Round `round` once it is closed, followed on the daemon's event stream: subscribes first, then reads the
   * round, then re-reads it on each event that may close it (`rounds:close` of the round on its coordinator's
   * daemon, a `round-close` entry stored on any daemon), so a close between the read and the subscription is
   * not missed. With `timeoutMs`, resolves to the round as it is then.
   * @throws ControlError `ERR_NODE_CONTROL_UNREACHABLE` when the daemon stops before the round closes; what
   *   {@link RoundsClient.status} throws
   */
  waitClosed: (round: number, options?: WaitClosedOptions) => Promise<RoundDetail>
}

/** The rounds routes of the daemon `client` talks to. */
export function roundsClient (client: ControlClient): RoundsClient {
  const api = client.service(roundsProtocol)
  const status = async (round: RoundRef = 'latest', options?: CallOptions): Promise<RoundDetail> => await api.status({ params: { round: String(round) } }, options)
  return {
    start: async (params, options) => await api.start({ body: { params: (params ?? {}) as Record<string, unknown> } }, options),
    status,
    cancel: async (round = 'latest', reason, options) => await api.cancel({ params: { round: String(round) }, body: { reason } }, options),
    list: async (options) => await api.list({}, options),
    community: async (options) => await api.community({}, options),
    releases: async (options) => await api.releases({}, options),
    release: async (ref, options) => await api.release({ params: { ref } }, options),
    pull: async (ref, options) => await api.pull({ params: { ref } }, options),
    verify: async (ref, options) => await api.verify({ params: { ref } }, options),

    async waitClosed (round, options = {}) {
      return await followRound(async (signal) => await client.subscribe({ prefixes: [...(options.onEvent === undefined ? CLOSE_EVENT_PREFIXES : FOLLOW_EVENT_PREFIXES)], signal }), async () => await status(round, { signal: options.signal }), round, options,
        () => new ControlError('ERR_NODE_CONTROL_UNREACHABLE', `the daemon at ${client.url} closed its event stream before round ${round} closed (did it stop?); ` +
          'start it again and follow the round with `swarmtune round status --wait`'))
    }
  }
}
