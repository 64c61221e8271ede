/**
 * `npm run demo -- --model mobilenet-v2`, its pure parts: the options (per-model defaults, options that apply to
 * one model only, `--help`), each volunteer's non-IID share of the pool and the image folders written from it
 * (what `community join --data` reads), the per-round table's columns (the contribution beside the full-model
 * delta), the contribution-size check and the strict check that accuracy rises in every round.
 */
import { spawnSync } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { MNIST_CLASSES, loadImageFolder, readIdxFile, mnistDataDir } from '@swarmtune/model'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { parseFlags } from '../scripts/demo.js'
import { REPO_ROOT } from '../scripts/lib/cli.js'
import {
  contributionCheck, DIGIT_LABELS, MOBILENET_V2_FP32_BYTES, MODEL_ROUND_HEADER, modelCommunity, modelRoundLine, risingCheck, volunteerShares, writeScenarioImages
} from '../scripts/lib/model-scenario.js'
import { partitionSummary, type PartitionSettings } from '../scripts/lib/partition.js'

const parse = (...args: string[]): ReturnType<typeof parseFlags> => parseFlags(['node', 'demo.ts', ...args], { throwOnError: true })

describe('demo options', () => {
  it('without --model: the MNIST demo\'s defaults, as before', () => {
    expect(parse()).toMatchObject({ model: 'mnist-2nn', volunteers: 4, rounds: 10, steps: 100, batchSize: 50, lr: 0.1, serverLr: 1, target: 0.9, roundTime: 180_000, trainExamples: 60_000, codec: 'fp16' })
  })

  it('--model mobilenet-v2: its own defaults; the pool is volunteers × images per volunteer; a given option wins', () => {
    expect(parse('--model', 'mobilenet-v2')).toMatchObject({ model: 'mobilenet-v2', rounds: 6, steps: 150, batchSize: 16, lr: 0.01, serverLr: 0.5, target: 0.6, imagesPerVolunteer: 300, testImages: 1000, rank: 16, trainExamples: 1200 })
    expect(parse('--model', 'mobilenet-v2', '--rounds', '5', '--steps', '8', '--volunteers', '3', '--images-per-volunteer', '50', '--target', '70%')).toMatchObject({ rounds: 5, steps: 8, volunteers: 3, trainExamples: 150, target: 0.7 })
    expect(parse('--steps', '7', '--model', 'mnist-2nn')).toMatchObject({ steps: 7, rounds: 10 })
    expect(parse('--model', 'mobilenet-v2', '--server-lr', '1')).toMatchObject({ serverLr: 1 })
    expect(parse('--server-lr', '0.7')).toMatchObject({ serverLr: 0.7 })
    expect(() => parse('--server-lr', '0')).toThrow(/expected a number > 0, got 0/)
  })

  it('an unknown model, and an option of the other model, are refused with what to use', () => {
    expect(() => parse('--model', 'resnet')).toThrow(/Allowed choices are mnist-2nn, mobilenet-v2/)
    expect(() => parse('--model', 'mobilenet-v2', '--train-examples', '100')).toThrow(/--train-examples applies to --model mnist-2nn: with --model mobilenet-v2 use --images-per-volunteer/)
    expect(() => parse('--rank', '8', '--test-images', '50')).toThrow(/--test-images, --rank apply to --model mobilenet-v2/)
    expect(() => parse('--model', 'mobilenet-v2', '--volunteers', '32', '--images-per-volunteer', '5000')).toThrow(/at most the 60000 MNIST training examples/)
  })

  it('--help documents --model and the scenario\'s options', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'demo.ts'), '--help'], { cwd: REPO_ROOT, encoding: 'utf8' })
    expect(r.status).toBe(0)
    const help = r.stdout.replace(/\s+/g, ' ')
    expect(help).toContain('--model <name>')
    expect(help).toContain('choices: "mnist-2nn", "mobilenet-v2", "lm", default: "mnist-2nn"')
    for (const o of ['--images-per-volunteer <n>', '--test-images <n>', '--rank <r>', '--model-dir <folder>']) expect(help).toContain(o)
    expect(help).toContain('with --model mobilenet-v2 6')
    expect(help).toContain('--server-lr <eta>')
    expect(help).toContain('(default 1; with --model mobilenet-v2 0.5; lm 1)')
  }, 60_000)
})

describe('each volunteer\'s share, as image folders', () => {
  const settings: PartitionSettings = { scheme: 'dirichlet', clients: 4, seed: 1, alpha: 0.5, limit: 480 }
  let tmp: TempDir | undefined
  afterAll(async () => { await tmp?.cleanup() })

  it('disjoint, together the whole pool, non-IID, and what the printed table says', async () => {
    const labels = (await readIdxFile(join(mnistDataDir(), 'train-labels-idx1-ubyte'), { limit: 480 })).data
    const shares = volunteerShares(labels, settings)
    const all = shares.flat()
    expect(new Set(all).size).toBe(all.length)
    expect([...all].sort((a, b) => a - b)).toEqual(Array.from({ length: 480 }, (_, i) => i))
    const perClass = shares.map((s) => Array.from({ length: MNIST_CLASSES }, (_, c) => s.filter((i) => labels[i] === c).length))
    expect(perClass).toEqual((await partitionSummary(settings)).map((p) => p.perClass))
    // label skew: every volunteer lacks or nearly lacks some digit that another holds 20 of
    for (const counts of perClass) expect(Math.min(...counts)).toBeLessThanOrEqual(2)
    expect(volunteerShares(labels, settings)).toEqual(shares)
    expect(volunteerShares(labels, { ...settings, seed: 2 })).not.toEqual(shares)
  })

  it('writes one folder of PNGs per volunteer (its share, class sub-folders) and the test folder; they read back with the digit labels', async () => {
    tmp = await tempDir('swarmtune-demo-model-')
    const small: PartitionSettings = { scheme: 'iid', clients: 2, seed: 1, limit: 40 }
    const written = await writeScenarioImages(tmp.path, small, 12)
    expect(written.counts).toEqual([20, 20])
    expect(written.volunteers).toEqual([join(tmp.path, 'images', 'volunteer-1'), join(tmp.path, 'images', 'volunteer-2')])
    for (const [i, dir] of written.volunteers.entries()) {
      const classes = await readdir(dir)
      expect(classes.every((c) => DIGIT_LABELS.includes(c))).toBe(true)
      const ds = await loadImageFolder(dir, { labels: DIGIT_LABELS, size: [28, 28], channels: 1 })
      expect(ds.count).toBe(written.counts[i])
    }
    expect((await loadImageFolder(written.test, { labels: DIGIT_LABELS, size: [28, 28], channels: 1 })).count).toBe(12)
    // the CLI commands and the coordinator's evalData name these folders
    const setup = modelCommunity(tmp.path, { volunteers: 2, rank: 4, seed: 1 })
    expect(setup.create).toEqual(['--from-tfjs', 'mobilenet-v2', '--head', '0,1,2,3,4,5,6,7,8,9', '--adapter', 'lora', '--rank', '4', '--target', 'dense_1,dense_2', '--seed', '1'])
    expect(setup.join(1)).toEqual(['--data', written.volunteers[1]])
    expect(setup.evalData).toEqual({ source: 'images', path: written.test, labels: DIGIT_LABELS })
  }, 60_000)
})

describe('the scenario\'s per-round table, contribution check and rising check', () => {
  it('a row holds every column under the header: the contribution beside the full-model delta, and its share', () => {
    const row = { round: 2, outcome: 'released', contributions: 4, accepted: 4, accuracy: 0.7125, bytes: 4 * 5_720, bytesPerContributor: 5_720, wallMs: 9_300, slowestTrainMs: 2_100, overheadMs: 7_200 }
    const line = modelRoundLine(row, 6, MOBILENET_V2_FP32_BYTES)
    expect(line.length).toBe(MODEL_ROUND_HEADER.length)
    const ends = (s: string): number[] => [...s.matchAll(/\S+(?: \S+)*/g)].map((m) => (m.index ?? 0) + m[0].length)
    expect(ends(line)).toEqual(ends(MODEL_ROUND_HEADER))
    expect(line.trim().split(/\s{2,}/)).toEqual(['2/6', '4', '4', '71.25 %', '5.7 kB', '10.48 MB', '0.055 %', '9.3 s', '2.1 s', '7.2 s'])
    expect(modelRoundLine({ round: 1, outcome: 'no-release', contributions: 0, accepted: 0, bytes: 0, bytesPerContributor: 0 }, 6, MOBILENET_V2_FP32_BYTES, 'no-release: quorum 2 not reached'))
      .toMatch(/ {2}- {2}no-release: quorum 2 not reached$/)
  })

  it('passes at most 1 % of the model\'s bytes, fails above it or with no contribution', () => {
    expect(contributionCheck([5_720, 5_730], MOBILENET_V2_FP32_BYTES)).toEqual({ ok: true, detail: expect.stringContaining('largest of 2 contributions 5,730 bytes = 0.055 % of the full model\'s 10,477,844 bytes') })
    expect(contributionCheck([5_720, 104_779], MOBILENET_V2_FP32_BYTES).ok).toBe(false)
    expect(contributionCheck([], MOBILENET_V2_FP32_BYTES).ok).toBe(false)
  })

  it('rising: passes only when every round is above the one before; a tie, a fall or a round without a release fails, naming it', () => {
    const rows = (...accs: Array<number | undefined>): Array<{ round: number, accuracy?: number }> => accs.map((accuracy, i) => accuracy === undefined ? { round: i + 1 } : { round: i + 1, accuracy })
    expect(risingCheck(rows(0.455, 0.6125, 0.65, 0.665, 0.675, 0.6775))).toEqual({ ok: true, detail: 'each of 6 rounds above the one before: 1: 45.50 % → 2: 61.25 % → 3: 65.00 % → 4: 66.50 % → 5: 67.50 % → 6: 67.75 %' })
    expect(risingCheck(rows(0.3, 0.3001)).ok).toBe(true)
    // the dips measured with the earlier defaults: a tie in the last round, a fall in round 5
    const tie = risingCheck(rows(0.455, 0.6125, 0.65, 0.665, 0.675, 0.675))
    expect(tie.ok).toBe(false)
    expect(tie.detail).toMatch(/^round 6 67\.50 % is not above round 5 67\.50 %, expected every round above the one before; per round 1: 45\.50 % → .* → 6: 67\.50 %$/)
    expect(risingCheck(rows(0.41, 0.615, 0.6625, 0.6725, 0.6525, 0.65))).toMatchObject({ ok: false, detail: expect.stringMatching(/^round 5 65\.25 % is not above round 4 67\.25 %/) })
    expect(risingCheck(rows(0.5, undefined, 0.7))).toMatchObject({ ok: false, detail: expect.stringMatching(/^round 2 has no evaluated release, expected one more accurate than round 1's; per round 1: 50\.00 % → 2: - → 3: 70\.00 %$/) })
    expect(risingCheck(rows(undefined, 0.7)).detail).toMatch(/^round 1 has no evaluated release, expected one; /)
    expect(risingCheck(rows(0.5))).toMatchObject({ ok: false, detail: expect.stringContaining('a rise needs at least 2 (--rounds 2 or more)') })
    expect(risingCheck([]).ok).toBe(false)
  })
})
