/**
 * `npm run demo`'s accuracy check: a run that ends below `--target` (e.g. `--rounds 3` with the default 90 %)
 * fails that check and says why and which options change it; a run at or above the target passes.
 */
import { describe, expect, it } from 'vitest'
import { accuracyCheck } from '../scripts/demo.js'

describe('demo accuracy check', () => {
  it('below the target: fails, naming the shortfall, --rounds and --target', () => {
    const r = accuracyCheck(0.874, { target: 0.9, rounds: 3 })
    expect(r.ok).toBe(false)
    expect(r.detail).toMatch(/not reached in 3 round\(s\)/)
    expect(r.detail).toContain('--rounds')
    expect(r.detail).toContain('--target 87.4%')
  })

  it('no evaluated release: fails and names --rounds', () => {
    const r = accuracyCheck(undefined, { target: 0.9, rounds: 1 })
    expect(r.ok).toBe(false)
    expect(r.detail).toContain('--rounds')
  })

  it('at the target: passes without advice', () => {
    expect(accuracyCheck(0.9, { target: 0.9, rounds: 10 })).toEqual({ ok: true, detail: expect.not.stringContaining('--rounds') })
  })
})
