/**
 * `npm run demo`'s accuracy check, on the best release of the run: a run whose best round stays below `--target`
 * (e.g. `--rounds 3` with the default 90 %) fails and says why and which options change it; a run whose best
 * round reached the target passes even when the final round fell below it (2 volunteers: 92.12 % in round 4,
 * 88.83 % in round 5), and says which round was best and which final. `--round-time` takes a duration.
 */
import { describe, expect, it } from 'vitest'
import { accuracyCheck } from '../scripts/demo.js'
import { durationOption } from '@swarmtune/cli'

const run = (...accuracies: number[]): Array<{ round: number, accuracy: number }> => accuracies.map((accuracy, i) => ({ round: i + 1, accuracy }))

describe('demo accuracy check', () => {
  it('below the target in every round: fails, naming the best round, --rounds and --target, and no invented round estimate', () => {
    const r = accuracyCheck(run(0.81, 0.874, 0.86), { target: 0.9, rounds: 3 })
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('best test accuracy 87.40 % in round 2')
    expect(r.detail).toContain('final 86.00 % in round 3')
    expect(r.detail).toMatch(/no release reached the target in 3 rounds/)
    expect(r.detail).toContain('--rounds')
    expect(r.detail).toContain('--target 87.4%')
    expect(r.detail).not.toMatch(/about \d/)
  })

  it('an earlier round reached the target, the final one did not: passes, naming both', () => {
    const r = accuracyCheck(run(0.71, 0.84, 0.88, 0.9212, 0.8883), { target: 0.9, rounds: 5 })
    expect(r.ok).toBe(true)
    expect(r.detail).toContain('best test accuracy 92.12 % in round 4, final 88.83 % in round 5')
  })

  it('no evaluated release: fails and names --rounds', () => {
    const r = accuracyCheck([], { target: 0.9, rounds: 1 })
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('--rounds')
  })

  it('at the target in the final round: passes without advice', () => {
    expect(accuracyCheck(run(0.8, 0.9), { target: 0.9, rounds: 2 })).toEqual({ ok: true, detail: expect.not.stringContaining('--rounds') })
  })

  it('--round-time takes a duration with a unit, and bare seconds as before', () => {
    const roundTime = durationOption('--round-time', { minMs: 10_000, maxMs: 3_600_000, bareUnit: 's' })
    expect([roundTime('2m'), roundTime('90s'), roundTime('180')]).toEqual([120_000, 90_000, 180_000])
    expect(() => roundTime('2y')).toThrow(/ms, s, m or min, h, d/)
  })
})
