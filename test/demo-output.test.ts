/**
 * `npm run demo`'s per-round table is printed once: a row under one header as each round closes, each row with
 * every column the table has (test accuracy, bytes, wall time, slowest training, overhead), aligned to the header.
 */
import { describe, expect, it } from 'vitest'
import { ROUND_HEADER, roundLine } from '../scripts/demo.js'

describe('demo per-round table', () => {
  it('each round\'s row holds every column, right-aligned under the header', () => {
    const row = { round: 3, outcome: 'released', contributions: 4, accepted: 4, accuracy: 0.9123, bytes: 3_187_576, bytesPerContributor: 796_894, wallMs: 2_400, slowestTrainMs: 1_600, overheadMs: 800 }
    const line = roundLine(row, 10)
    expect(line.length).toBe(ROUND_HEADER.length)
    // every cell ends where its column's header ends
    const ends = (s: string): number[] => [...s.matchAll(/\S+(?: \S+)*/g)].map((m) => (m.index ?? 0) + m[0].length)
    expect(ends(line)).toEqual(ends(ROUND_HEADER))
    expect(line.trim().split(/\s{2,}/)).toEqual(['3/10', '4', '4', '91.23 %', '3.19 MB', '796.9 kB', '2.4 s', '1.6 s', '0.8 s', '50 %'])
  })

  it('a round without a release gets its outcome after the row', () => {
    const row = { round: 1, outcome: 'no-release', contributions: 0, accepted: 0, bytes: 0, bytesPerContributor: 0 }
    expect(roundLine(row, 2, 'no-release: quorum 1 not reached')).toMatch(/ {2}- {2}no-release: quorum 1 not reached$/)
  })
})
