/**
 * The demo's second scenario, `npm run demo -- --model mobilenet-v2`: a community fine-tunes the pretrained
 * MobileNetV2 of nsfwjs (frozen ImageNet backbone, features cached on disk once per image; LoRA adapters on
 * `dense_1` and `dense_2` and a new 10-class head trained) on MNIST digits written out as image folders — one
 * folder of PNGs per volunteer, its non-IID share, read by the task at 224 × 224 × 3 as a volunteer's photos are
 * (`swarmtune community join --data <folder>`) — and a held-out test folder the coordinator evaluates each release on.
 *
 * Pure parts (the per-volunteer share, the table's columns) are exported for the tests; `writeScenarioImages`
 * writes the folders, `modelCommunity` gives the cluster the `community create` / `join` arguments.
 */
import { join } from 'node:path'
import { MNIST_CLASSES, loadMnist, partitionIndices, subset, writeImageFolder, type DataSpec, type PartitionSpec } from '@swarmtune/model'
import type { CommunitySetup } from './cluster.js'
import type { PartitionSettings } from './partition.js'
import { formatBytes, percent, seconds, type RoundRow } from './report.js'

/** The models the demo can train: the built-in MNIST classifier from scratch, or the pretrained MobileNetV2. */
export const DEMO_MODELS = ['mnist-2nn', 'mobilenet-v2', 'lm'] as const
export type DemoModel = typeof DEMO_MODELS[number]

/** Parameters of nsfwjs' MobileNetV2 (doc/model.md), and the bytes of a full-model delta at fp32. */
export const MOBILENET_V2_PARAMETERS = 2_619_461
export const MOBILENET_V2_FP32_BYTES = 4 * MOBILENET_V2_PARAMETERS

/** The community's head: the ten digits, as class labels (the image folders' sub-folder names). */
export const DIGIT_LABELS: readonly string[] = Object.freeze(Array.from({ length: MNIST_CLASSES }, (_, c) => String(c)))

/**
 * Defaults of the mobilenet-v2 scenario, chosen so that test accuracy rises in every one of the 6 rounds (the
 * demo's `rising` check) and measured on this 2-core machine (doc/demo.md: three runs in a row rose in every
 * round, to 62.7–65.1 %, each run 7–9 minutes under a load average of 25–35 from other work). 4 × 300 training
 * images and 1,000 test images are 2,200 backbone passes (once per image, then read from each daemon's feature
 * cache). Training: head + LoRA rank 16 (α 32) on dense_1 and dense_2, 7,434 parameters (0.28 % of the model;
 * 14.9 kB a contribution in fp16), with Adam at η = 0.01, 150 steps of 16 per round (Adam's moments start afresh
 * each round), and FedAvg with server learning rate 0.5. Replaying the rounds in one process over cached features
 * (same shares, codec, merge and server step; 3–7 batch-order seeds per setting) found: the earlier 4 × 150
 * images flatten at 66–67 % by round 4 and fall in round 5 or 6; 4 × 500 images at server learning rate 1 fall in
 * round 5 in every run on 400 test images; 50 steps rise by as little as 0.1 point a round, η = 0.003 ends below
 * the 60 % target; server learning rate 0.5 damps the swing between the non-IID volunteers' local models, and with
 * 4 × 300 images 7 of 7 runs rose in every round (by at least 1.3 points on 1,000 test images). 1,000 test images
 * rather than 400: one image is 0.1 point, not 0.25.
 */
export const MODEL_SCENARIO_DEFAULTS = Object.freeze({
  rounds: 6,
  imagesPerVolunteer: 300,
  testImages: 1000,
  rank: 16,
  steps: 150,
  batchSize: 16,
  lr: 0.01,
  optimizer: 'adam' as const,
  /** FedAvg's server learning rate: each release moves half-way to the merged local models (see above). */
  serverLr: 0.5,
  target: 0.6,
  /** ms: a round closes when every volunteer contributed; this bounds a stuck one. */
  roundTime: 180_000,
  /**
   * ms a daemon gets to compute the features of its images before its worker counts as warm: set-up as a whole
   * (folders, community, every daemon's features) took 5½ to 6 minutes under a load average of 25–35, the
   * maintainer's 1,000 test images the longest of it.
   */
  warmTimeoutMs: 600_000
})

/** The scenario's sizes, as the demo's flags give them. */
export interface ScenarioSizes {
  volunteers: number
  imagesPerVolunteer: number
  testImages: number
}

/** The pool shared out among the volunteers: the first `volunteers × imagesPerVolunteer` MNIST training examples. */
export const poolSize = (s: Pick<ScenarioSizes, 'volunteers' | 'imagesPerVolunteer'>): number => s.volunteers * s.imagesPerVolunteer

/**
 * Each volunteer's share of the pool: the indices (into the first `labels.length` training examples) the
 * partitioner of `settings` gives it — the same seeded partitioners `community join --partition` uses, so
 * the table {@link partitionSummary} prints is what the folders hold. Disjoint; together every index once.
 * @throws InvalidPartitionError of `@swarmtune/model`
 */
export function volunteerShares (labels: ArrayLike<number>, settings: PartitionSettings): number[][] {
  return Array.from({ length: settings.clients }, (_, client) => {
    const spec: PartitionSpec = settings.scheme === 'dirichlet'
      ? { scheme: 'dirichlet', clients: settings.clients, client, seed: settings.seed, alpha: settings.alpha ?? 0.5 }
      : { scheme: settings.scheme, clients: settings.clients, client, seed: settings.seed }
    return [...partitionIndices(labels, MNIST_CLASSES, spec)]
  })
}

/** Where {@link writeScenarioImages} put the folders. */
export interface ScenarioImages {
  /** One image folder per volunteer, in volunteer order. */
  volunteers: string[]
  /** The held-out test folder (the first `testImages` of MNIST's test split). */
  test: string
  /** Images written into each volunteer's folder. */
  counts: number[]
}

/** The image folders live in `<root>/images/`: `volunteer-<i>/` (1-based) and `test/`. */
export const imageFolders = (root: string, volunteers: number): { volunteers: string[], test: string } => ({
  volunteers: Array.from({ length: volunteers }, (_, i) => join(root, 'images', `volunteer-${i + 1}`)),
  test: join(root, 'images', 'test')
})

/**
 * Writes one image folder per volunteer (class sub-folders `0` … `9` of 28 × 28 grey PNGs, `writeImageFolder`)
 * with its share of the pool, and the test folder, under `root`.
 * @throws IdxFormatError, InvalidPartitionError of `@swarmtune/model`; file system errors
 */
export async function writeScenarioImages (root: string, settings: PartitionSettings, testImages: number): Promise<ScenarioImages> {
  const { train, test } = await loadMnist({ train: settings.limit, test: testImages })
  const shares = volunteerShares(train.labels, settings)
  const folders = imageFolders(root, settings.clients)
  for (const [i, share] of shares.entries()) await writeImageFolder(subset(train, share), folders.volunteers[i], { labels: DIGIT_LABELS })
  await writeImageFolder(test, folders.test, { labels: DIGIT_LABELS })
  return { ...folders, counts: shares.map((s) => s.length) }
}

/**
 * What the cluster runs for this community: `community create --from-tfjs mobilenet-v2 --head 0,…,9 --adapter
 * lora --rank r --target dense_1,dense_2`, each volunteer's `community join --data <its folder>`, and the
 * coordinator's evalData (the test folder, read with the community's labels).
 */
export function modelCommunity (root: string, o: { volunteers: number, rank: number, seed: number }): CommunitySetup {
  const folders = imageFolders(root, o.volunteers)
  const evalData: DataSpec = { source: 'images', path: folders.test, labels: [...DIGIT_LABELS] }
  return {
    create: ['--from-tfjs', 'mobilenet-v2', '--head', DIGIT_LABELS.join(','), '--adapter', 'lora', '--rank', String(o.rank), '--target', 'dense_1,dense_2', '--seed', String(o.seed)],
    join: (part) => ['--data', folders.volunteers[part]],
    joinShown: `--data ${join(root, 'images', 'volunteer-<i>')}`,
    evalData
  }
}

/** The columns of the scenario's per-round table: the contribution beside the full model's delta. */
const MODEL_ROUND_COLUMNS = ['round', 'contributions', 'accepted', 'test accuracy', 'contribution', 'full-model delta', 'share', 'wall time', 'slowest training', 'overhead']

/** The scenario's per-round table header (columns right-aligned, two spaces apart). */
export const MODEL_ROUND_HEADER = MODEL_ROUND_COLUMNS.map((c) => c.padStart(Math.max(c.length, 7))).join('  ')

/**
 * One round's row under {@link MODEL_ROUND_HEADER}: `round/total`, contributions, accepted, test accuracy, the
 * bytes one contribution sent (mean over the round's contributors), the bytes a full-model delta would be
 * (`modelBytes`: the round's, else 2,619,461 × 4 at fp32), the one as a share of the other, wall time, slowest
 * training and overhead; `note` (a round without a release: its outcome) follows.
 */
export function modelRoundLine (row: RoundRow, total: number, modelBytes: number = MOBILENET_V2_FP32_BYTES, note?: string): string {
  const share = row.contributions === 0 ? '-' : percent(row.bytesPerContributor / modelBytes, 3)
  const cells = [`${row.round}/${total}`, String(row.contributions), String(row.accepted), percent(row.accuracy),
    row.contributions === 0 ? '-' : formatBytes(row.bytesPerContributor), formatBytes(modelBytes), share, seconds(row.wallMs), seconds(row.slowestTrainMs), seconds(row.overheadMs)]
  return cells.map((cell, i) => cell.padStart(Math.max(MODEL_ROUND_COLUMNS[i].length, 7))).join('  ') + (note === undefined ? '' : `  ${note}`)
}

/**
 * The contribution-size check: the largest contribution blob any volunteer sent (`rounds:contributed`
 * `blobBytes`) is at most `limit` (default 1 %) of the full model's bytes.
 */
export function contributionCheck (blobBytes: number[], modelBytes: number, limit = 0.01): { ok: boolean, detail: string } {
  if (blobBytes.length === 0) return { ok: false, detail: 'no contribution was sent' }
  const largest = Math.max(...blobBytes)
  return {
    ok: largest <= limit * modelBytes,
    detail: `largest of ${blobBytes.length} contributions ${largest.toLocaleString('en')} bytes = ${percent(largest / modelBytes, 3)} of the full model's ${modelBytes.toLocaleString('en')} bytes (limit ${percent(limit, 0)})`
  }
}

/**
 * The scenario's strict accuracy check, `rising`: every round's release is more accurate on the held-out images
 * than the round before's — a tie or a fall fails, and so does a round without an evaluated release (its
 * accuracy is missing). `rounds` are the run's rows in round order (accuracy in [0, 1], undefined without a
 * release); at least 2 are needed for a rise (fewer fail, naming `--rounds`). The detail lists every round's
 * accuracy and, on failure, the first round that did not rise and what was expected of it.
 */
export function risingCheck (rounds: ReadonlyArray<{ round: number, accuracy?: number }>): { ok: boolean, detail: string } {
  const series = rounds.map((r) => `${r.round}: ${percent(r.accuracy)}`).join(' → ')
  if (rounds.length < 2) return { ok: false, detail: `${rounds.length} round${rounds.length === 1 ? '' : 's'} evaluated: a rise needs at least 2 (--rounds 2 or more)` }
  for (let i = 0; i < rounds.length; i++) {
    const r = rounds[i]
    if (r.accuracy === undefined) {
      return { ok: false, detail: `round ${r.round} has no evaluated release, expected one${i === 0 ? '' : ` more accurate than round ${rounds[i - 1].round}'s`}; per round ${series}` }
    }
    const before = rounds[i - 1]?.accuracy
    if (before !== undefined && !(r.accuracy > before)) {
      return {
        ok: false,
        detail: `round ${r.round} ${percent(r.accuracy)} is not above round ${rounds[i - 1].round} ${percent(before)}, expected every round above the one before; per round ${series}`
      }
    }
  }
  return { ok: true, detail: `each of ${rounds.length} rounds above the one before: ${series}` }
}
