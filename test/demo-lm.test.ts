/**
 * The language-model scenario's pure parts: the perplexity check (falls every round, from the base's), the
 * per-round table's row, and `--model lm`'s options (its defaults; the options of the other scenarios refused).
 */
import { describe, expect, it } from 'vitest'
import { CommanderError } from 'commander'
import { parseFlags } from '../scripts/demo.js'
import { LM_ROUND_HEADER, LM_SCENARIO_DEFAULTS, lmRoundLine, perplexityCheck } from '../scripts/lib/lm-demo.js'

const argv = (...args: string[]): string[] => ['node', 'demo.ts', ...args]

describe('the lm scenario', () => {
  it('the perplexity check passes only when every release is below the one before, the first below the base', () => {
    expect(perplexityCheck(100, [{ round: 1, perplexity: 90 }, { round: 2, perplexity: 85 }])).toMatchObject({ ok: true, detail: expect.stringContaining('base 100.00 → 1: 90.00 → 2: 85.00') })
    expect(perplexityCheck(100, [{ round: 1, perplexity: 90 }, { round: 2, perplexity: 91 }, { round: 3, perplexity: 80 }])).toMatchObject({ ok: false, detail: expect.stringContaining('did not fall in round 2') })
    expect(perplexityCheck(100, [{ round: 1, perplexity: 100 }]).ok).toBe(false)
    expect(perplexityCheck(100, [{ round: 1, perplexity: Number.NaN }]).ok).toBe(false)
    expect(perplexityCheck(100, []).ok).toBe(false)
  })

  it('a round\'s row: perplexity, loss, the contribution beside the full model', () => {
    const row = { round: 2, outcome: 'released', contributions: 3, accepted: 3, bytes: 60_000, bytesPerContributor: 20_000, wallMs: 45_000, slowestTrainMs: 22_000, overheadMs: 23_000 }
    const line = lmRoundLine(row, { perplexity: 96.1712, loss: 4.56618 }, 5, 468_200)
    expect(line).toMatch(/^\s+2\/5\s+3\s+3\s+96\.17\s+4\.5662\s+20\.0 kB\s+468\.2 kB\s+4\.27 %\s+45\.0 s\s+22\.0 s\s+23\.0 s$/)
    expect(line.length).toBe(LM_ROUND_HEADER.length)
    expect(lmRoundLine({ ...row, contributions: 0, accepted: 0 }, undefined, 5, undefined, 'no-quorum: …')).toMatch(/-\s+-\s+-\s+-\s+-.*no-quorum/)
  })

  it('--model lm takes its own defaults and refuses the image scenarios\' options', () => {
    const f = parseFlags(argv('--model', 'lm'), { throwOnError: true })
    expect(f).toMatchObject({ model: 'lm', volunteers: LM_SCENARIO_DEFAULTS.volunteers, rounds: LM_SCENARIO_DEFAULTS.rounds, steps: LM_SCENARIO_DEFAULTS.steps, rank: LM_SCENARIO_DEFAULTS.rank, lr: LM_SCENARIO_DEFAULTS.lr })
    expect(parseFlags(argv('--model', 'lm', '--volunteers', '2', '--model-dir', '/x'), { throwOnError: true })).toMatchObject({ volunteers: 2, modelDir: '/x' })
    for (const bad of [['--images-per-volunteer', '10'], ['--train-examples', '100'], ['--target', '0.5'], ['--volunteers', '9']]) {
      expect(() => parseFlags(argv('--model', 'lm', ...bad), { throwOnError: true }), bad.join(' ')).toThrow(CommanderError)
    }
    expect(() => parseFlags(argv('--model-dir', '/x'), { throwOnError: true })).toThrow(/applies to --model lm/)
  })
})
