/**
 * Penalties the daemon records against peers outside gossipsub's own scoring — a blob provider that served
 * wrong bytes, a stalled transfer. They decay exponentially (half-life {@link PENALTY_HALF_LIFE_MS}), feed
 * gossipsub's application-specific score P5 (`appSpecificScore = −penalty`, gossipsub v1.1 spec, "Peer
 * Scoring"), and keep heavily penalised peers out of blob fetches until they decay.
 */
import { PENALTY_EXCLUDE_THRESHOLD, PENALTY_HALF_LIFE_MS, REPUTATION_MAX_PEERS } from './constants.js'

interface Record { points: number, at: number }

export interface PenaltyReport {
  peer: string
  /** Current penalty after decay. */
  points: number
}

export class PeerReputation {
  private readonly records = new Map<string, Record>()
  private readonly halfLifeMs: number
  private readonly now: () => number

  constructor (options: { halfLifeMs?: number, now?: () => number } = {}) {
    this.halfLifeMs = options.halfLifeMs ?? PENALTY_HALF_LIFE_MS
    this.now = options.now ?? Date.now
  }

  /** Adds `points` (> 0) to a peer's penalty; returns the new total. */
  penalise (peer: string, points: number): number {
    const total = this.penalty(peer) + points
    this.records.delete(peer)
    this.records.set(peer, { points: total, at: this.now() })
    // least recently penalised first: beyond the cap the oldest (most decayed) penalty is forgotten
    if (this.records.size > REPUTATION_MAX_PEERS) this.records.delete(this.records.keys().next().value as string)
    return total
  }

  /** The peer's current penalty (0 for an unknown peer). */
  penalty (peer: string): number {
    const r = this.records.get(peer)
    if (r == null) return 0
    const points = r.points * Math.pow(0.5, (this.now() - r.at) / this.halfLifeMs)
    if (points < 0.01) {
      this.records.delete(peer)
      return 0
    }
    return points
  }

  /** true when the peer's penalty is above {@link PENALTY_EXCLUDE_THRESHOLD}. */
  excluded (peer: string): boolean {
    return this.penalty(peer) > PENALTY_EXCLUDE_THRESHOLD
  }

  /** gossipsub P5 input: minus the penalty. */
  appSpecificScore (peer: string): number {
    return -this.penalty(peer)
  }

  /** Every peer with a penalty. */
  list (): PenaltyReport[] {
    const out: PenaltyReport[] = []
    for (const peer of [...this.records.keys()]) {
      const points = this.penalty(peer)
      if (points > 0) out.push({ peer, points })
    }
    return out.sort((a, b) => b.points - a.points)
  }
}
