/**
 * Where a round's coordination overhead goes, from the daemons' live events (`GET /v1/events`): the parts of
 * the round's critical path that are not the slowest volunteer's training. All the processes share one
 * machine and one clock, so timestamps of different daemons compare.
 */
import type { DaemonEvent } from '@swarmtune/node'
import type { RoundView } from '@swarmtune/rounds'
import { median } from './report.js'

/** The parts of one round's overhead, in ms. */
export interface OverheadParts {
  /** round-open entry → the slowest volunteer starts (gossip delivery, its queue). */
  start: number
  /** The slowest volunteer's time outside training: base fetch, loss before and after, encoding, storing, signing. */
  volunteer: number
  /** Its contribution signed → the coordinator records its arrival (gossip). */
  gossip: number
  /** The last arrival → the coordinator freezes the round. */
  freeze: number
  /** Freeze → release signed: deltas fetched and decoded, verdicts, FedAvg, evaluation on the held-out set, shards. */
  merge: number
  /** Release entry → round-close entry. */
  close: number
}

/** Each part as the demo and the benchmark name it. */
export const OVERHEAD_PARTS: Readonly<Record<keyof OverheadParts, string>> = {
  start: 'round-open → slowest volunteer starts',
  volunteer: 'slowest volunteer outside training (base fetch, loss before/after, encode, sign)',
  gossip: 'its contribution signed → arrives at the coordinator',
  freeze: 'last arrival → round frozen',
  merge: 'frozen → release signed (deltas fetched and decoded, verdicts, FedAvg, evaluation, shards)',
  close: 'release → round-close'
}

/**
 * The overhead parts of a closed, released round.
 * @param maintainer the coordinator's `rounds:` events
 * @param volunteers each volunteer's `rounds:train:start` and `rounds:contributed` events (the latter tell
 *   whose events are whose)
 * @returns undefined when an event is missing (e.g. a round without a release, or a stream that broke)
 */
export function overheadParts (r: RoundView, maintainer: DaemonEvent[], volunteers: DaemonEvent[][]): OverheadParts | undefined {
  const at = (events: DaemonEvent[], type: string, where: (e: DaemonEvent) => boolean = () => true): number | undefined =>
    events.find((e) => e.type === type && e.round === r.round && where(e))?.ts
  const slowest = r.contributions.filter((c) => c.verdict?.accepted === true).sort((a, b) => (b.trainMs ?? 0) - (a.trainMs ?? 0))[0]
  if (slowest === undefined || r.closedAt === undefined) return undefined
  const own = volunteers.find((events) => events.some((e) => e.type === 'rounds:contributed' && e.contribution === slowest.id))
  const trainStart = own === undefined ? undefined : at(own, 'rounds:train:start')
  // the contribution entry's own timestamp: when it was signed, just before it is gossiped
  const contributed = slowest.ts
  const arrived = at(maintainer, 'rounds:contribution', (e) => e.contribution === slowest.id)
  const arrivals = maintainer.filter((e) => e.type === 'rounds:contribution' && e.round === r.round).map((e) => e.ts)
  const closing = at(maintainer, 'rounds:closing')
  const release = at(maintainer, 'rounds:release')
  if (trainStart === undefined || arrived === undefined || closing === undefined || release === undefined) return undefined
  return {
    start: trainStart - r.openedAt,
    volunteer: contributed - trainStart - (slowest.trainMs ?? 0),
    gossip: arrived - contributed,
    freeze: closing - Math.max(...arrivals),
    merge: release - closing,
    close: r.closedAt - release
  }
}

/**
 * The demo's "where the overhead goes" paragraph: a blank line, its header, then each part's median over the rounds
 * in seconds; nothing when no round was measured.
 */
export function overheadLines (overhead: readonly OverheadParts[]): string[] {
  if (overhead.length === 0) return []
  return ['', `where the overhead goes (median of ${overhead.length} rounds, from the daemons' events):`,
    ...(Object.entries(OVERHEAD_PARTS) as Array<[keyof OverheadParts, string]>).map(([k, name]) => `  ${(median(overhead.map((p) => p[k])) / 1000).toFixed(2).padStart(6)} s  ${name}`)]
}
