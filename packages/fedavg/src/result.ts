/**
 * What an aggregation returns: an averaged delta, or an explicit "no update" (never NaN from a zero total
 * weight), with the accepted ids in canonical order and the rejections with reasons.
 */
import type { Rejection } from './contribution.js'

/** The aggregate delta of a round, one Float32Array per tensor in the release's weight order. */
export interface AggregateUpdate {
  readonly status: 'update'
  readonly delta: Float32Array[]
  /** Ids of the contributions that entered the aggregate, in canonical (ascending bytes) order. */
  readonly accepted: Uint8Array[]
  /** Contributions left out, with codes and reasons, in canonical order. */
  readonly rejected: Rejection[]
  /** Sum of the accepted contributions' weights (sample counts). */
  readonly totalWeight: number
}

/** No contribution was accepted (zero total weight): the base release stays as it is. */
export interface NoUpdate {
  readonly status: 'no-update'
  readonly reason: string
  readonly accepted: Uint8Array[]
  readonly rejected: Rejection[]
  readonly totalWeight: 0
}

export type AggregateResult = AggregateUpdate | NoUpdate

/** The "no update" result for a round whose every contribution was rejected (or that had none). */
export function noUpdate (rejected: Rejection[]): NoUpdate {
  return {
    status: 'no-update',
    reason: rejected.length === 0 ? 'no contribution was offered' : `all ${rejected.length} contributions were rejected`,
    accepted: [],
    rejected,
    totalWeight: 0
  }
}
