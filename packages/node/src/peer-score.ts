/**
 * Gossipsub peer-score parameters of swarmtune (gossipsub v1.1 spec, "Peer Scoring"; doc/daemon.md,
 * "Peer scoring", explains each choice). Community topics carry ledger entries: few, bursty (a round opens,
 * contributions arrive, a release follows, then quiet), each one signed and checked by every receiver. So
 * scoring rewards peers that deliver entries first and stay in the mesh, punishes invalid entries hard, and
 * does not use the delivery-rate penalty (P3), which suits only topics with a steady message rate.
 */
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'
import { DEFAULT_IP_COLOCATION_THRESHOLD, SCORE_DECAY_INTERVAL_MS } from './constants.js'

/**
 * Per-interval decay factor that halves a counter every `halfLifeMs`: 0.5^(interval / halfLife).
 * Gossipsub multiplies counters by the factor once per `decayInterval`.
 */
export function decayFor (halfLifeMs: number, intervalMs = SCORE_DECAY_INTERVAL_MS): number {
  return Math.pow(0.5, intervalMs / halfLifeMs)
}

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

/**
 * How long gossipsub keeps a departed peer's non-positive score (`retainScore`): 1 hour, so that a peer cannot
 * shed a bad score by reconnecting. Our connection gater refuses graylisted peers for as long (peer-retention.ts).
 */
export const RETAIN_SCORE_MS = HOUR_MS

/** Score thresholds. Gossipsub compares `score < threshold`. */
export const PEER_SCORE_THRESHOLDS: PeerScoreThresholds = Object.freeze({
  /** Below −10 we neither gossip (IHAVE/IWANT) with the peer: reached by one invalid entry from a new peer. */
  gossipThreshold: -10,
  /** Below −50 our own entries are not flood-published to the peer: two blob-exchange offences, or one invalid entry plus one. */
  publishThreshold: -50,
  /** Below −80 every RPC of the peer is ignored (graylist): reached by two invalid entries (4 × −30 = −120). */
  graylistThreshold: -80,
  /** Peer exchange is off (doPX false); only a peer at the positive topic cap would be trusted for it. */
  acceptPXThreshold: 20,
  /** Graft better peers when the mesh's median score falls under 3 (≈ 5 minutes in mesh with no deliveries). */
  opportunisticGraftThreshold: 3
})

/** Score parameters of one community topic. */
export function communityTopicScoreParams (): TopicScoreParams {
  return {
    topicWeight: 1,
    // P1 — time in mesh: +0.01 per second, capped at 10 minutes (+6): stable mesh peers edge out newcomers
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1_000,
    timeInMeshCap: 600,
    // P2 — first deliveries: +1 per entry this peer delivered first, capped at 20, half-life 10 minutes
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: decayFor(10 * MINUTE_MS),
    firstMessageDeliveriesCap: 20,
    // P3 / P3b — mesh delivery rate: off. Entries are bursty; a rate floor would punish honest peers between rounds
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: decayFor(MINUTE_MS),
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 60_000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: decayFor(MINUTE_MS),
    // P4 — invalid entries: −30 × count², half-life 1 hour. Honest peers validate before forwarding, so an
    // invalid entry is a bug or an attack: one takes a new peer under the gossip threshold, two graylist it
    invalidMessageDeliveriesWeight: -30,
    invalidMessageDeliveriesDecay: decayFor(HOUR_MS)
  }
}

export interface PeerScoreInit {
  /** P5 input: minus the blob-exchange penalty of a peer (see PeerReputation). */
  appSpecificScore(peer: string): number
  /** IPs exempt from the colocation penalty (P6). */
  ipColocationWhitelist: string[]
  /** Peer ids on one IP before P6 applies (default {@link DEFAULT_IP_COLOCATION_THRESHOLD}). */
  ipColocationThreshold?: number
  /** Community topics known at start. */
  topics: string[]
}

/** The global score parameters. */
export function peerScoreParams (init: PeerScoreInit): Partial<PeerScoreParams> {
  return {
    topics: Object.fromEntries(init.topics.map((t) => [t, communityTopicScoreParams()])),
    // positive topic contributions are capped at +20, so good behaviour offsets at most one invalid entry
    topicScoreCap: 20,
    // P5 — application score: blob providers that served bad bytes lose gossip standing too
    appSpecificScore: init.appSpecificScore,
    appSpecificWeight: 1,
    // P6 — IP colocation: more than 10 peer ids from one IP cost −5 × (n − 10)² (Sybil resistance). Gossipsub
    // keeps the IPs of disconnected peers whose (non-positive) score it retains, so ids rotated from one
    // address count for an hour: with the default threshold the 15th starts below the graylist threshold
    IPColocationFactorWeight: -5,
    IPColocationFactorThreshold: init.ipColocationThreshold ?? DEFAULT_IP_COLOCATION_THRESHOLD,
    IPColocationFactorWhitelist: new Set(init.ipColocationWhitelist),
    // P7 — protocol misbehaviour (GRAFT during backoff, IHAVE without IWANT follow-up): −10 × (count − 6)²
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: decayFor(10 * MINUTE_MS),
    decayInterval: SCORE_DECAY_INTERVAL_MS,
    decayToZero: 0.01,
    // a peer cannot shed a bad score by reconnecting within the hour
    retainScore: RETAIN_SCORE_MS
  }
}
