/**
 * `npm run demo`: a community training mnist-2nn on one machine, every peer its own process on 127.0.0.1.
 *
 * A maintainer and n volunteers (default 4) get data folders in a temporary folder (`swarmtune init`); the
 * maintainer creates the community (`swarmtune community create --task mnist-2nn`), each volunteer joins it
 * with its own non-IID part of MNIST (`swarmtune community join --mnist --partition …`), and each runs
 * `swarmtune daemon`. The maintainer's daemon then coordinates rounds (default 10): each volunteer trains on
 * its part in its worker thread and gossips a signed compressed delta; the coordinator judges the
 * contributions, merges the accepted ones with FedAvg (McMahan et al. 2017), evaluates the new release on
 * the 10,000 MNIST test examples and signs it. Each round is shown as it closes, as a row of the per-round table
 * (contributions, accepted, test accuracy, bytes sent, wall time, coordination overhead), then the checks:
 * `swarmtune ledger verify` on every peer, `swarmtune release verify` (recomputing the releases from the
 * deltas the ledger lists) on a volunteer, the best round's accuracy against the target (default 90 %).
 *
 * `--model mobilenet-v2` runs the second scenario instead (scripts/lib/model-scenario.ts): the community fine-tunes the
 * pretrained MobileNetV2 of nsfwjs (`community create --from-tfjs mobilenet-v2`: frozen backbone, LoRA adapters on
 * dense_1 and dense_2, a new 10-digit head), each volunteer joining with its own non-IID share of MNIST written out as
 * an image folder (`community join --data <folder>`); the table shows each contribution's bytes beside the full
 * model's and a check keeps them within 1 %.
 *
 * `--model lm` runs the language-model scenario (scripts/lib/lm-demo.ts): the community LoRA-fine-tunes a causal language
 * model (`community create --from-hf`) — a small Llama pretrained here on Moby-Dick, or `--model-dir <HF folder>` — on
 * each volunteer's folder of State of the Union addresses of its own period (`community join --data <folder>`);
 * held-out perplexity must fall round over round.
 *
 * Every process it started is stopped at the end, on an error and on Ctrl-C (SIGINT / SIGTERM); the
 * temporary folder is removed unless `--keep`. Exit status 0 when every check passed, 1 when one failed,
 * 130 when interrupted. Options: `npm run demo -- --help`; doc/demo.md.
 */
import { pathToFileURL } from 'node:url'
import { Command, InvalidArgumentError, Option } from 'commander'
import { durationOption, formatMs } from '@swarmtune/cli'
import { CODEC_NAMES, type CodecName } from '@swarmtune/fedavg'
import { MNIST_CLASSES, MNIST_TRAIN_EXAMPLES } from '@swarmtune/model'
import type { DaemonEvent } from '@swarmtune/node'
import type { RoundDetail, RoundParamsInit } from '@swarmtune/rounds'
import { assertNodeVersion, swarmtuneJson } from './lib/cli.js'
import { verificationChecks } from './lib/checks.js'
import { LM_SCENARIO_DEFAULTS, LM_SCENARIO_PERIODS, runLmDemo } from './lib/lm-demo.js'
import { Cluster, type ClusterInit, type EventLog, type Member, type PartitionScheme } from './lib/cluster.js'
import {
  contributionCheck, DEMO_MODELS, MOBILENET_V2_FP32_BYTES, MODEL_ROUND_HEADER, MODEL_SCENARIO_DEFAULTS, modelCommunity, modelRoundLine, poolSize,
  risingCheck, writeScenarioImages, type DemoModel
} from './lib/model-scenario.js'
import { coveredClasses, describeScheme, partitionSummary, partitionTable } from './lib/partition.js'
import { onInterrupt, Supervisor } from './lib/processes.js'
import { formatBytes, percent, roundRow, seconds, type RoundRow } from './lib/report.js'
import { overheadLines, overheadParts, type OverheadParts } from './lib/timing.js'

/**
 * Defaults of the demo. 100 local steps of 50 examples at η = 0.1 per round: `swarmtune simulate -K 4 -C 1
 * -E 1 -B 50 --lr 0.1 --partition dirichlet --alpha 0.5 --train-examples 20000` (about 100 steps per client
 * and round) reached 92 % test accuracy in round 4 and 94.7 % in round 10 on this setting.
 */
const DEFAULTS = {
  volunteers: 4,
  rounds: 10,
  codec: 'fp16' as CodecName,
  topkFraction: 0.1,
  partition: 'dirichlet' as PartitionScheme,
  alpha: 0.5,
  seed: 1,
  steps: 100,
  batchSize: 50,
  lr: 0.1,
  /** Server learning rate of the FedAvg step (the merged delta times it): plain FedAvg, McMahan et al. 2017. */
  serverLr: 1,
  trainExamples: MNIST_TRAIN_EXAMPLES,
  target: 0.9,
  /** Deadline of each round, in ms (3 min): a round closes as soon as every volunteer contributed; this bounds a stuck one. */
  roundTime: 180_000
}

/** One evaluated release: the round that signed it and its test accuracy (a fraction). */
export interface RoundAccuracy {
  round: number
  accuracy: number
}

/**
 * The accuracy check, on the best release of the run: it passes when some round's release reached `--target`
 * on the 10,000 MNIST test examples (the ledger keeps every release, so that one can be pulled); the detail names
 * the best round and the final one, which with few volunteers and non-IID parts can fall below an earlier round.
 * Short of the target it names the two options that change the outcome — more `--rounds` or a lower `--target`
 * (the best accuracy reached) — so that a short run explains its exit status 1.
 */
export function accuracyCheck (rounds: RoundAccuracy[], f: Pick<Flags, 'target' | 'rounds'>, evaluatedOn = 'the 10,000 MNIST test examples'): { ok: boolean, detail: string } {
  const target = `target ${percent(f.target, 0)}`
  if (rounds.length === 0) return { ok: false, detail: `no release was evaluated in ${f.rounds} round${f.rounds === 1 ? '' : 's'} (${target}). Run more rounds (--rounds)` }
  const best = rounds.reduce((b, r) => (r.accuracy > b.accuracy ? r : b))
  const final = rounds[rounds.length - 1]
  const measured = `best test accuracy ${percent(best.accuracy)} in round ${best.round}` +
    (final === best ? ' (the final round)' : `, final ${percent(final.accuracy)} in round ${final.round}`) +
    ` (${target}) on ${evaluatedOn}`
  if (best.accuracy >= f.target) return { ok: true, detail: measured }
  return {
    ok: false,
    detail: `${measured}: no release reached the target in ${f.rounds} round${f.rounds === 1 ? '' : 's'}. ` +
      `Run more rounds (--rounds) or lower the target (--target ${Math.floor(1000 * best.accuracy) / 10}%, the best this run reached)`
  }
}

interface Flags {
  /** The model the community trains: mnist-2nn from scratch, or the pretrained MobileNetV2 with adapters. */
  model: DemoModel
  volunteers: number
  rounds: number
  codec: CodecName
  topkFraction: number
  partition: PartitionScheme
  alpha: number
  seed: number
  steps: number
  batchSize: number
  lr: number
  /** Server learning rate η_s: each release is the base plus η_s × the FedAvg-merged delta. */
  serverLr: number
  trainExamples: number
  target: number
  /** ms */
  roundTime: number
  /** mobilenet-v2: images in each volunteer's folder (on average: the pool is volunteers × this), test images. */
  imagesPerVolunteer: number
  testImages: number
  /** mobilenet-v2, lm: LoRA rank. */
  rank: number
  /** lm: a Hugging Face checkpoint folder to fine-tune instead of the scenario's base. */
  modelDir?: string
  keep?: boolean
  /** Keep the community running after the checks and print the maintainer's dashboard URL, until Ctrl-C. */
  dashboard?: boolean
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => (value: string): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${value}`)
  return n
}
const positive = (value: string): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number > 0, got ${value}`)
  return n
}
/** An accuracy as 0.9, 90 or 90%. */
const accuracy = (value: string): number => {
  const n = positive(value.replace(/%$/, ''))
  const a = value.endsWith('%') || n > 1 ? n / 100 : n
  if (a > 1) throw new InvalidArgumentError(`expected an accuracy up to 100 %, got ${value}`)
  return a
}

/** The columns of the per-round table, printed once: a row as each round closes ({@link roundLine}). */
const ROUND_COLUMNS = ['round', 'contributions', 'accepted', 'test accuracy', 'delta bytes sent', 'per contributor', 'wall time', 'slowest training', 'overhead', 'overhead / training']

/** The per-round table's header line (columns right-aligned, two spaces apart). */
export const ROUND_HEADER = ROUND_COLUMNS.map((c) => c.padStart(Math.max(c.length, 7))).join('  ')

/**
 * One round's row of the per-round table, right-aligned under {@link ROUND_HEADER}: `round/total`, contributions,
 * accepted, test accuracy, delta bytes (in all and per contributor), wall time, slowest training, overhead (in s
 * and as a share of the slowest training); `note` (a round without a release: its outcome) follows the row.
 */
export function roundLine (row: RoundRow, total: number, note?: string): string {
  const share = row.overheadMs === undefined || row.slowestTrainMs === undefined || row.slowestTrainMs === 0 ? '-' : percent(row.overheadMs / row.slowestTrainMs, 0)
  const cells = [`${row.round}/${total}`, String(row.contributions), String(row.accepted), percent(row.accuracy), formatBytes(row.bytes), formatBytes(row.bytesPerContributor),
    seconds(row.wallMs), seconds(row.slowestTrainMs), seconds(row.overheadMs), share]
  return cells.map((cell, i) => cell.padStart(Math.max(ROUND_COLUMNS[i].length, 7))).join('  ') + (note === undefined ? '' : `  ${note}`)
}

/** The options whose default depends on `--model`: the mnist-2nn default, then the mobilenet-v2 one. */
const PER_MODEL = ['rounds', 'steps', 'batchSize', 'lr', 'serverLr', 'target', 'roundTime'] as const

/**
 * Parses the demo's options (`npm run demo -- --help`; `argv` as `process.argv`: the runtime and the script
 * first). A bad option exits with status 1 and commander's message, or with `throwOnError` (the tests) throws
 * commander's CommanderError instead, printing nothing.
 */
export function parseFlags (argv: string[], options: { throwOnError?: boolean } = {}): Flags {
  const d = DEFAULTS
  const m = MODEL_SCENARIO_DEFAULTS
  const l = LM_SCENARIO_DEFAULTS
  const both = (mnist: string, mobilenet: string, lm?: string): string => `(default ${mnist}; with --model mobilenet-v2 ${mobilenet}${lm === undefined ? '' : `; lm ${lm}`})`
  const program = new Command()
    .name('npm run demo --')
    .description('A maintainer and volunteers, each its own swarmtune daemon on 127.0.0.1, train a model on non-IID parts of MNIST in rounds; then the ledger and the releases are verified. ' +
      '--model mnist-2nn (default) trains the 784-200-200-10 classifier from scratch on MNIST arrays; --model mobilenet-v2 fine-tunes the pretrained MobileNetV2 of nsfwjs ' +
      '(frozen backbone, LoRA adapters on dense_1 and dense_2, a new 10-digit head) on one folder of digit PNGs per volunteer (community join --data <folder>); ' +
      '--model lm LoRA-fine-tunes a causal language model (a small Llama pretrained here on Moby-Dick, or --model-dir) on each volunteer\'s folder of State of the Union addresses of its own period.')
    .addOption(new Option('--model <name>', 'model the community trains: mnist-2nn from scratch, mobilenet-v2 (pretrained; head + LoRA adapters, image folders), or lm (a causal language model; LoRA adapters, text folders)').choices(DEMO_MODELS).default('mnist-2nn'))
    .option('--model-dir <folder>', 'lm: a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json; GPT-2 or Llama family) to fine-tune instead of the small Llama the scenario pretrains on Moby-Dick')
    .option('--volunteers <n>', 'volunteers, each its own process and part of MNIST', int(1, 32), d.volunteers)
    .option('--rounds <n>', `training rounds ${both(String(d.rounds), String(m.rounds), String(l.rounds))}`, int(1, 1000))
    .addOption(new Option('--codec <name>', 'delta codec').choices(CODEC_NAMES).default(d.codec))
    .option('--topk-fraction <f>', 'share of coordinates topk-int8 keeps', positive, d.topkFraction)
    .addOption(new Option('--partition <scheme>', 'how MNIST is shared out among the volunteers').choices(['dirichlet', 'pathological', 'iid']).default(d.partition))
    .option('--alpha <a>', 'Dirichlet concentration α (smaller: fewer classes per volunteer)', positive, d.alpha)
    .option('--seed <n>', 'seed of the genesis weights and of the partition', int(0), d.seed)
    .option('--steps <n>', `local optimizer steps per volunteer and round ${both(String(d.steps), String(m.steps), String(l.steps))}`, int(1, 100_000))
    .option('--batch-size <n>', `local batch size B (lm: windows of text) ${both(String(d.batchSize), String(m.batchSize), String(l.batchSize))}`, int(1, 60_000))
    .option('--lr <eta>', `client learning rate η: SGD for mnist-2nn, Adam for mobilenet-v2 and lm ${both(String(d.lr), String(m.lr), String(l.lr))}`, positive)
    .option('--server-lr <eta>', `server learning rate η_s: each release is its base plus η_s × the FedAvg-merged delta ${both(String(d.serverLr), String(m.serverLr), String(l.serverLr))}`, positive)
    .option('--train-examples <n>', 'share out the first n MNIST training examples (mnist-2nn; mobilenet-v2 shares out --volunteers × --images-per-volunteer)', int(1, MNIST_TRAIN_EXAMPLES), d.trainExamples)
    .option('--target <accuracy>', `test accuracy the best release must reach (0.9, 90 or 90%) ${both(percent(d.target, 0), percent(m.target, 0))}`, accuracy)
    .option('--round-time <time>', `deadline of each round, e.g. 3m or 90s (units ms, s, m or min, h, d; a bare number is seconds; 10s to 1h); a round closes as soon as every volunteer contributed (default 3m)`, durationOption('--round-time', { minMs: 10_000, maxMs: 3_600_000, bareUnit: 's' }))
    .option('--images-per-volunteer <n>', `mobilenet-v2: images shared out per volunteer, on average (the first volunteers × n MNIST training digits, written as one image folder per volunteer)`, int(1, 10_000), m.imagesPerVolunteer)
    .option('--test-images <n>', `mobilenet-v2: MNIST test digits in the held-out folder the coordinator evaluates each release on`, int(1, 10_000), m.testImages)
    .option('--rank <r>', `mobilenet-v2: LoRA rank of the adapters on dense_1 and dense_2, α = 2 × rank (default ${m.rank}); lm: of the adapters on every projection (default ${LM_SCENARIO_DEFAULTS.rank})`, int(1, 256))
    .option('--keep', 'keep the temporary folder (data folders, ledgers, daemon logs) instead of removing it')
    .option('--dashboard', 'after the checks, keep the community running and print the maintainer\'s dashboard URL (doc/dashboard.md) until Ctrl-C')
  if (options.throwOnError === true) program.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} })
  program.parse(argv)
  const f = program.opts<Flags>()
  const defaults = f.model === 'mobilenet-v2' ? m : f.model === 'lm' ? LM_SCENARIO_DEFAULTS : d
  for (const k of PER_MODEL) (f as unknown as Record<string, number>)[k] ??= defaults[k]
  f.rank ??= f.model === 'lm' ? LM_SCENARIO_DEFAULTS.rank : m.rank
  if (program.getOptionValueSource('volunteers') !== 'cli' && f.model === 'lm') f.volunteers = LM_SCENARIO_DEFAULTS.volunteers
  if (f.modelDir !== undefined && f.model !== 'lm') program.error('--model-dir applies to --model lm')
  if (f.model === 'lm') {
    const given = (['trainExamples', 'imagesPerVolunteer', 'testImages', 'partition', 'alpha', 'target'] as const).filter((k) => program.getOptionValueSource(k) === 'cli')
    if (given.length > 0) program.error(`${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} do not apply to --model lm (its volunteers' texts are State of the Union periods, one each; its check is that held-out perplexity falls)`)
    if (f.volunteers > LM_SCENARIO_PERIODS) program.error(`--volunteers ${f.volunteers}: the lm scenario has ${LM_SCENARIO_PERIODS} State of the Union periods, one per volunteer`)
    return f
  }
  if (f.model === 'mobilenet-v2') {
    if (program.getOptionValueSource('trainExamples') === 'cli') program.error('--train-examples applies to --model mnist-2nn: with --model mobilenet-v2 use --images-per-volunteer')
    f.trainExamples = poolSize(f)
    if (f.trainExamples > MNIST_TRAIN_EXAMPLES) program.error(`--volunteers × --images-per-volunteer is ${f.trainExamples}: at most the ${MNIST_TRAIN_EXAMPLES} MNIST training examples`)
  } else {
    const given = (['imagesPerVolunteer', 'testImages', 'rank'] as const).filter((k) => program.getOptionValueSource(k) === 'cli')
    if (given.length > 0) program.error(`${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} apply to --model mobilenet-v2${given.includes('rank') ? ' and lm' : ''}`)
  }
  if (f.codec === 'topk-int8' && !(f.topkFraction > 0 && f.topkFraction <= 1)) program.error('--topk-fraction must be in (0, 1]')
  if (f.volunteers > f.trainExamples) program.error('--train-examples must be at least --volunteers')
  return f
}

const out = (s = ''): void => { process.stdout.write(s + '\n') }
const tty = process.stdout.isTTY === true
/** Rewrites the live status line (terminals only). */
const status = (s: string): void => { if (tty) process.stdout.write(`\r\x1b[2K${s.slice(0, (process.stdout.columns ?? 120) - 1)}`) }
const clearStatus = (): void => { if (tty) process.stdout.write('\r\x1b[2K') }

/** What the live line shows about the round in progress, from the daemons' events. */
class LiveRound {
  round = 0
  private readonly steps = new Map<string, string>()
  private contributions = 0
  private verdicts = 0
  private accepted = 0
  private phase = 'training'

  constructor (private readonly total: number, private readonly volunteers: number) {}

  reset (round: number): void {
    this.round = round
    this.steps.clear()
    this.contributions = this.verdicts = this.accepted = 0
    this.phase = 'training'
  }

  onEvent (who: Member, e: DaemonEvent): void {
    if (e.round !== this.round) return
    switch (e.type) {
      case 'rounds:train:progress': this.steps.set(who.name, `${String(e.step)}/${String(e.steps)}`); break
      case 'rounds:contributed': this.steps.set(who.name, 'sent'); break
      case 'rounds:contribution': this.contributions++; break
      case 'rounds:closing': this.phase = 'judging and merging'; break
      case 'rounds:verdict':
        this.verdicts++
        if (e.accepted === true) this.accepted++
        break
      case 'rounds:release': this.phase = `release signed, test accuracy ${percent(e.accuracy as number)}`; break
    }
    const training = [...this.steps.entries()].map(([n, s]) => `${n.replace('volunteer-', 'v')} ${s}`).join('  ')
    status(`round ${this.round}/${this.total}  ${this.phase}  ${training}  contributions ${this.contributions}/${this.volunteers}  accepted ${this.accepted}/${this.verdicts}`)
  }
}

/** One result line of a check. */
interface Check {
  name: string
  ok: boolean
  detail: string
}

/**
 * `--dashboard`: prints a one-time login URL of the maintainer's dashboard (`swarmtune dashboard`), then waits
 * with every daemon running until Ctrl-C, whose handler stops them (exit status 130).
 */
async function keepForDashboard (supervisor: Supervisor, maintainerDir: string): Promise<never> {
  const login = await swarmtuneJson<{ url: string, expiresAt: number }>(supervisor, ['dashboard', '--json', '-d', maintainerDir])
  out()
  out(`dashboard (the maintainer's daemon): ${login.url}`)
  out(`  a one-time login link: open it in a browser on this machine before ${new Date(login.expiresAt).toISOString()}; another with \`swarmtune dashboard -d ${maintainerDir}\``)
  out('  the community keeps running (open more rounds with `swarmtune round start -d ' + maintainerDir + ' …`); Ctrl-C stops every daemon')
  // the daemons are child processes; a timer keeps this one waiting on them even if their pipes close
  setInterval(() => {}, 60_000)
  return await new Promise<never>(() => {})
}

async function main (): Promise<number> {
  assertNodeVersion()
  const f = parseFlags(process.argv)
  const started = performance.now()
  const supervisor = new Supervisor()
  let cluster: Cluster | undefined
  const logs: EventLog[] = []

  let stopping: Promise<void> | undefined
  let interrupted = false
  /** Stops every process, then removes the folder (once, whoever asks first). */
  const shutdown = async (): Promise<void> => {
    stopping ??= (async () => {
      for (const l of logs) l.close()
      const stopped = await supervisor.stopAll()
      supervisor.dispose()
      if (cluster === undefined) return
      if (f.keep === true) out(`stopped ${stopped} process(es); kept ${cluster.root} (data folders, ledgers, daemon logs)`)
      else {
        await cluster.remove()
        out(`stopped ${stopped} process(es); removed ${cluster.root}`)
      }
    })()
    await stopping
  }
  const removeHandlers = onInterrupt(supervisor, async (signal) => {
    interrupted = true
    clearStatus()
    out(`\n${signal}: stopping every process this demo started…`)
    await shutdown()
    process.exit(130)
  })

  try {
    if (f.model === 'lm') {
      out(`swarmtune demo — a maintainer and ${f.volunteers} volunteers, each its own process on 127.0.0.1, LoRA-fine-tune a causal language model on their own texts in ${f.rounds} rounds`)
      out()
      const checks: Check[] = []
      const final = await runLmDemo(f, {
        supervisor,
        out,
        status,
        clearStatus,
        onCluster: (c) => { cluster = c },
        logs,
        check: (name, ok, detail) => {
          checks.push({ name, ok, detail })
          out(`  ${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(16)} ${detail}`)
        }
      })
      out()
      const failed = checks.filter((x) => !x.ok)
      out(failed.length === 0
        ? `all ${checks.length} checks passed in ${seconds(performance.now() - started)}; final held-out perplexity ${final?.toFixed(2) ?? '-'}`
        : `${failed.length} of ${checks.length} checks FAILED: ${failed.map((x) => x.name).join(', ')}`)
      if (f.dashboard === true && cluster !== undefined) await keepForDashboard(supervisor, cluster.maintainer.dir)
      return failed.length === 0 ? 0 : 1
    }
    const names = Array.from({ length: f.volunteers }, (_, i) => `volunteer-${i + 1}`)
    const settings = { scheme: f.partition, clients: f.volunteers, seed: f.seed, alpha: f.alpha, limit: f.trainExamples }
    const pretrained = f.model === 'mobilenet-v2'
    out(pretrained
      ? `swarmtune demo — a maintainer and ${f.volunteers} volunteers, each its own process on 127.0.0.1, fine-tune the pretrained MobileNetV2 (nsfwjs, 2,619,461 parameters; frozen backbone, LoRA rank ${f.rank} on dense_1 and dense_2, a new 10-digit head) on their own folders of digit images in ${f.rounds} rounds`
      : `swarmtune demo — a maintainer and ${f.volunteers} volunteers, each its own process on 127.0.0.1, train mnist-2nn (784-200-200-10) in ${f.rounds} rounds`)
    out()
    out(`partition: ${describeScheme(settings)}`)
    const parts = await partitionSummary(settings)
    out(partitionTable(parts, names).trimEnd())
    const covered = coveredClasses(parts)
    out(`together the volunteers hold ${covered.length} of ${MNIST_CLASSES} digit classes; each trains only on its own part`)
    out()
    const scenario: Partial<ClusterInit> = pretrained
      ? {
          name: 'mobilenet-v2-demo',
          warmTimeoutMs: MODEL_SCENARIO_DEFAULTS.warmTimeoutMs,
          community: async (root) => {
            const written = await writeScenarioImages(root, settings, f.testImages)
            out(`  image folders (28 × 28 grey PNGs, one sub-folder per digit; the task reads them at 224 × 224 × 3): ${written.volunteers.map((dir, i) => `${dir} (${written.counts[i]})`).join(', ')}; ` +
              `held-out test folder ${written.test} (${f.testImages}, the first MNIST test digits)`)
            return modelCommunity(root, { volunteers: f.volunteers, rank: f.rank, seed: f.seed })
          }
        }
      : {}

    out('setting up (each step is the swarmtune command a user runs):')
    cluster = await Cluster.create(supervisor, {
      volunteers: f.volunteers,
      partition: f.partition,
      alpha: f.alpha,
      seed: f.seed,
      trainExamples: f.trainExamples,
      prefix: 'swarmtune-demo-',
      ...scenario,
      say: (line) => { out(`  $ ${line}`) },
      onStarted: (m) => { out(`      ${m.name.padEnd(12)} pid ${m.child?.pid ?? '-'}  ${m.addresses[0] ?? ''}`) }
    })
    const c = cluster
    out(`  community ${c.communityId} (genesis file ${c.genesis})`)
    out('  $ swarmtune daemon  ×' + c.members.length)
    await c.start()
    out(`  ${f.volunteers} volunteers in the community's gossip topic; training workers warm`)
    out()

    const codec = f.codec === 'topk-int8' ? `topk-int8 (fraction ${f.topkFraction})` : f.codec
    if (pretrained) {
      out(`rounds: each volunteer runs ${f.steps} Adam steps of ${f.batchSize} images at η = ${f.lr} on the head and the LoRA factors B (the backbone's features computed once per image, then read from its cache)`)
      out(`from the round's base release; the contribution carries only those weights, in ${codec} with error feedback;`)
    } else out(`rounds: each volunteer runs ${f.steps} SGD steps of ${f.batchSize} examples at η = ${f.lr} from the round's base release; deltas in ${codec} with error feedback;`)
    out(`FedAvg weighted by sample count, server learning rate ${f.serverLr}; a round closes when all ${f.volunteers} volunteers contributed (deadline ${formatMs(f.roundTime)})`)
    out()
    const live = new LiveRound(f.rounds, f.volunteers)
    for (const m of c.members) {
      const log = c.events(m, m.role === 'maintainer' ? ['rounds:'] : ['rounds:train', 'rounds:contributed'])
      log.on((e) => { live.onEvent(m, e) })
      logs.push(log)
    }
    const params: RoundParamsInit = {
      steps: f.steps,
      batchSize: f.batchSize,
      learningRate: f.lr,
      ...(pretrained ? { optimizer: MODEL_SCENARIO_DEFAULTS.optimizer } : {}),
      durationMs: f.roundTime,
      quorum: Math.max(1, Math.ceil(f.volunteers / 2)),
      maxContributions: f.volunteers,
      server: { kind: 'sgd', lr: f.serverLr },
      codec: f.codec === 'topk-int8' ? { codec: f.codec, fraction: f.topkFraction } : { codec: f.codec }
    }
    if (pretrained) {
      out('per round, as each closes (contribution: the encoded delta one volunteer sent, mean of the round; full-model delta: every weight of the model at fp32; overhead: wall time − the slowest training):')
      out(MODEL_ROUND_HEADER)
    } else {
      out('per round, as each closes (bytes: the encoded deltas the volunteers sent; overhead: wall time − the slowest volunteer\'s training time):')
      out(ROUND_HEADER)
    }
    let modelBytes = MOBILENET_V2_FP32_BYTES
    const rows: RoundRow[] = []
    const overhead: OverheadParts[] = []
    for (let n = 1; n <= f.rounds; n++) {
      const r: RoundDetail = await c.runRound(params, { onOpen: (o) => { live.reset(o.round) } })
      const row = roundRow(r)
      rows.push(row)
      const p = overheadParts(r, logs[0].events, logs.slice(1).map((l) => l.events))
      if (p !== undefined) overhead.push(p)
      clearStatus()
      const note = r.outcome === 'released' ? undefined : `${String(r.outcome)}: ${r.reason ?? ''}`
      modelBytes = r.modelBytes ?? modelBytes
      out(pretrained ? modelRoundLine(row, f.rounds, modelBytes, note) : roundLine(row, f.rounds, note))
    }
    for (const l of logs) l.close()
    for (const line of overheadLines(overhead)) out(line)
    out()

    out('checks:')
    const checks: Check[] = []
    const check = (name: string, ok: boolean, detail: string): void => {
      checks.push({ name, ok, detail })
      out(`  ${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(16)} ${detail}`)
    }
    check('partition', covered.length === MNIST_CLASSES, `the volunteers' parts cover ${covered.length} of ${MNIST_CLASSES} classes`)
    const released = rows.filter((r) => r.outcome === 'released').length
    check('rounds', released === f.rounds, `${released} of ${f.rounds} rounds released; ${rows.reduce((s, r) => s + r.accepted, 0)} of ${rows.reduce((s, r) => s + r.contributions, 0)} contributions accepted`)

    await verificationChecks(c, supervisor, check)

    const evaluated = rows.flatMap((r) => r.accuracy === undefined ? [] : [{ round: r.round, accuracy: r.accuracy }])
    const accs = evaluated.map((r) => r.accuracy)
    const final = accs.at(-1)
    const acc = accuracyCheck(evaluated, f, pretrained ? `the ${f.testImages} held-out test images` : undefined)
    check('accuracy', acc.ok, acc.detail)
    if (pretrained) {
      const sent = logs.slice(1).flatMap((l) => l.events.filter((e) => e.type === 'rounds:contributed').map((e) => Number(e.blobBytes)))
      const size = contributionCheck(sent, modelBytes)
      check('contribution', size.ok, size.detail)
    }
    // The pretrained scenario's defaults are tuned so that every round beats the one before (doc/demo.md): its
    // check is strict, from 2 rounds on. Batch orders are seeded by each volunteer's key and the round-open, so
    // the MNIST demo's accuracy differs from run to run: one round after the first can fall below it (67 % → 62 %
    // seen with 2 volunteers and 20 steps). Over 3 rounds or more its claim is that some later round beats the first.
    if (pretrained) {
      if (f.rounds >= 2) {
        const rising = risingCheck(rows)
        check('rising', rising.ok, rising.detail)
      }
    } else if (f.rounds >= 3) {
      const later = evaluated.slice(1)
      const best = later.reduce<RoundAccuracy | undefined>((b, r) => b === undefined || r.accuracy > b.accuracy ? r : b, undefined)
      check('accuracy rises', best !== undefined && best.accuracy > accs[0],
        `round 1 ${percent(accs[0])} → best later round ${best === undefined ? '-' : `${best.round} ${percent(best.accuracy)}`}, final round ${rows.at(-1)?.round ?? '-'} ${percent(final)}`)
    }
    out()
    const failed = checks.filter((x) => !x.ok)
    out(failed.length === 0
      ? `all ${checks.length} checks passed in ${seconds(performance.now() - started)}; final test accuracy ${percent(final)}`
      : `${failed.length} of ${checks.length} checks FAILED: ${failed.map((x) => x.name).join(', ')}${acc.ok ? '' : ' (accuracy: see --rounds and --target above)'}`)
    if (f.dashboard === true) await keepForDashboard(supervisor, c.maintainer.dir)
    return failed.length === 0 ? 0 : 1
  } catch (err) {
    // after Ctrl-C the daemons going away is expected: the interrupt handler reports and exits
    if (interrupted) {
      await shutdown()
      return 130
    }
    clearStatus()
    const e = err as { code?: string, message?: string }
    process.stderr.write(`demo failed: ${e.message ?? String(err)}${e.code === undefined ? '' : ` (${e.code})`}\n`)
    if (cluster !== undefined) process.stderr.write(f.keep === true ? `the daemons' logs are in ${cluster.root}\n` : 'run again with --keep to keep the data folders and the daemons\' logs\n')
    return 1
  } finally {
    await shutdown()
    removeHandlers()
  }
}

// run as `npm run demo` (not when a test imports accuracyCheck)
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main()
