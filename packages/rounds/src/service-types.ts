/** The rounds service's public shape (what `daemon.services.rounds` offers and the routes serve). */
import type { DaemonService, LedgerService } from '@swarmtune/node'
import type { Community } from './community.js'
import type { RoundsConfigInit } from './config.js'
import type { Coordinator, OpenRoundOptions } from './coordinator.js'
import type { WaitClosedOptions } from './follow.js'
import type { NetworkRejection, RoundPhase, VolunteerAnswer } from './state.js'
import type { VerifyReport } from './verify.js'
import type { ReleaseView, RoundView } from './views.js'
import type { Volunteer } from './volunteer.js'

/** Options of {@link roundsService}. */
export interface RoundsServiceInit {
  /** Genesis file of the community to join; overrides `community` of rounds.json. */
  community?: string
  /** Settings merged over `<data>/rounds.json`. */
  config?: RoundsConfigInit
  /** The ledger service; default the daemon's service named `ledger`. */
  ledger?: () => LedgerService | undefined
}

/** A round with what this node knows beyond the ledger when it coordinates it. */
export interface RoundDetail extends RoundView {
  /** The coordinator's phase (only on the coordinator's own daemon). */
  phase?: RoundPhase
  /** Entries the community topic refused while the round was open (only on the coordinator's daemon). */
  networkRejections?: NetworkRejection[]
  /** Peer ids in the community's topic when the round opened and when it froze (only on the coordinator's daemon). */
  topicPeers?: string[]
  /**
   * One row per volunteer the coordinator heard of in this round — it answered the round-open, contributed, or
   * was in the community's topic — with what it did (only on the coordinator's daemon).
   */
  volunteers?: VolunteerSummary[]
  /** True when the coordinator's daemon also trains for the round (only on the coordinator's daemon). */
  localVolunteer?: boolean
  /** A community of a pretrained model: the whole model's float32 bytes, beside `timing.bytes` (once its task is resolved). */
  modelBytes?: number
}

/** What one volunteer did in a round, as the coordinator saw it. */
export interface VolunteerSummary {
  peer: string
  /** Its latest answer to the round-open, if any. */
  answer?: Pick<VolunteerAnswer, 'status' | 'code' | 'reason' | 'at'>
  /** Its contributions' ids and verdicts (`pending` before the round closes). */
  contributions: Array<{ id: string, verdict: string }>
  /** In the community's topic at the round's opening or freeze. */
  inTopic: boolean
  /**
   * `contributed` (at least one contribution accepted), `rejected` (contributed, none accepted), `pending`
   * (contributed, not judged yet), `declined` (answered that it would not contribute), `silent` (answered
   * `training` or was in the topic, and never contributed).
   */
  outcome: 'contributed' | 'rejected' | 'pending' | 'declined' | 'silent'
}

/** The rounds service as other code sees it (`daemon.services.rounds`). */
export interface RoundsService extends DaemonService {
  /** The community, once known. */
  readonly community: Community | undefined
  /** The daemon's data folder (absolute), named in command hints. */
  readonly dataDir: string
  readonly coordinator: Coordinator | undefined
  readonly volunteer: Volunteer | undefined
  /**
   * Opens a round (maintainers only): `Coordinator.openRound`, whose steps (`rounds:open:base`,
   * `rounds:open:signed`) `options.onProgress` receives; `options.signal` aborts it before the round-open is signed.
   * @throws CommunityError `ERR_ROUNDS_NOT_MAINTAINER`, RoundStateError, RoundParamsError, AbortError `ERR_ABORTED`.
   */
  startRound: (params: unknown, options?: OpenRoundOptions) => Promise<RoundDetail>
  /** Cancels an open round of this coordinator (default: the open one). */
  cancelRound: (round?: number, reason?: string) => Promise<RoundDetail>
  /** One round (default the newest). @throws RoundStateError `ERR_ROUNDS_NOT_FOUND` */
  round: (round?: number) => Promise<RoundDetail>
  /**
   * Round `round` once it is closed, followed on the daemon's event bus (no polling); with `timeoutMs`, the round
   * as it is then. @throws RoundStateError `ERR_ROUNDS_NOT_FOUND`; the signal's reason when it aborts
   */
  waitClosed: (round: number, options?: WaitClosedOptions) => Promise<RoundDetail>
  rounds: () => Promise<RoundView[]>
  releases: () => Promise<ReleaseView[]>
  release: (ref: string) => Promise<ReleaseView>
  /** Fetches a release's manifest and shards into the local store. */
  pullRelease: (ref: string) => Promise<{ manifest: string, shards: number, bytes: number }>
  verifyRelease: (ref: string) => Promise<VerifyReport>
}
