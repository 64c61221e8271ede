import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import cliProgress from 'cli-progress'
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { DataSpec } from '@swarmtune/model'
import {
  AGGREGATOR_KINDS, CODEC_NAMES, SERVER_OPTIMIZER_KINDS, type AggregatorKind, type CodecName, type ServerOptimizerKind
} from '@swarmtune/fedavg'
import {
  ATTACK_KINDS, createSimulationOptions, PARTITION_SCHEMES, roundsToCsv, runSimulation, SIMULATION_DEFAULTS,
  type AttackKind, type PartitionScheme, type RoundRecord, type SimulationData, type SimulationInit, type SimulationResult
} from '../simulate/index.js'
import { MNIST_TEST, MNIST_TRAIN, SIM_TARGET_ACCURACY } from '../simulate/constants.js'
import { MAX_BATCH_SIZE, MAX_LOCAL_EPOCHS, MAX_ROUNDS, MAX_SEED } from '../simulate/options.js'
import { checkOutputPath } from '../files.js'
import { count, intOption } from '../options.js'
import { checkTrainingData, dataSourceOf, trainingDataOption, type TrainingDataFlags } from '../training-data.js'

function num (value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${value} is not a number.`)
  return n
}

/** An accuracy as 0.97, 97 or 97%. */
function accuracy (value: string): number {
  const n = num(value.endsWith('%') ? value.slice(0, -1) : value)
  const a = value.endsWith('%') || n > 1 ? n / 100 : n
  // checked here, where what was typed is known: `--target 150` is 150 %, not "1.5"
  if (!(a > 0 && a <= 1)) throw new InvalidArgumentError(`--target ${value} is not a test accuracy above 0 and up to 100 %: give a fraction (0.97) or a percentage (97 or 97%)`)
  return a
}

interface SimulateFlags extends TrainingDataFlags {
  task: string
  clients: number
  fraction: number
  epochs: number
  batchSize: number
  lr: number
  partition: PartitionScheme
  alpha: number
  aggregator: AggregatorKind
  trimBeta?: number
  clipNorm?: number
  krumF?: number
  krumM?: number
  ccTau?: number
  ccIterations?: number
  serverOpt: ServerOptimizerKind
  serverLr?: number
  serverMomentum?: number
  nesterov?: boolean
  codec: CodecName
  topk?: number
  errorFeedback: boolean
  rounds?: number
  target?: number
  maxRounds: number
  seed: number
  trainExamples?: number
  testExamples?: number
  testImages?: string
  testLabels?: string
  maxNorm?: number
  attack?: AttackKind
  attackFraction?: number
  attackScale?: number
  backend?: string
  csv?: string
  json?: boolean
}

const drop = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>

/**
 * The data flags → where the simulation's examples come from: MNIST (`undefined`, the default, also for
 * `--mnist`, whose `--limit` counts training examples), or the IDX files of `--images`/`--labels` — the options
 * and parser of `community join` — with `--test-images`/`--test-labels` as the test set (else a held-out share).
 * @throws InvalidArgumentError for flags that do not go together.
 */
export function simulationDataOf (f: SimulateFlags): SimulationData | undefined {
  const train = dataSourceOf(f)
  const testGiven = f.testImages !== undefined || f.testLabels !== undefined
  if (train?.source !== 'idx') {
    if (testGiven) throw new InvalidArgumentError('--test-images/--test-labels go with --images/--labels (your own data); MNIST is tested on its own test split (--test-examples)')
    if (f.limit !== undefined && f.trainExamples !== undefined) throw new InvalidArgumentError('--limit and --train-examples both count MNIST training examples: give one')
    return undefined
  }
  if (f.trainExamples !== undefined || f.testExamples !== undefined) {
    throw new InvalidArgumentError('--train-examples and --test-examples count MNIST examples; with --images/--labels use --limit for the training files and --test-images/--test-labels for the test set')
  }
  if (!testGiven) return { train }
  if (f.testImages === undefined || f.testLabels === undefined) throw new InvalidArgumentError('--test-images and --test-labels go together: your IDX test image and label files')
  return { train, test: { source: 'idx', images: resolve(f.testImages), labels: resolve(f.testLabels) } }
}

/** Command-line flags → simulation options (validated by `createSimulationOptions`). */
export function optionsFromFlags (f: SimulateFlags): SimulationInit {
  const data = simulationDataOf(f)
  return {
    task: f.task,
    clients: f.clients,
    fraction: f.fraction,
    epochs: f.epochs,
    batchSize: f.batchSize,
    learningRate: f.lr,
    partition: f.partition,
    alpha: f.alpha,
    aggregator: {
      kind: f.aggregator,
      ...drop({ beta: f.trimBeta, clipNorm: f.clipNorm, byzantine: f.krumF, select: f.krumM, tau: f.ccTau, iterations: f.ccIterations })
    },
    serverOptimizer: { kind: f.serverOpt, ...drop({ lr: f.serverLr, momentum: f.serverMomentum, nesterov: f.nesterov }) },
    codec: { codec: f.codec, ...drop({ fraction: f.topk }) },
    errorFeedback: f.errorFeedback,
    rounds: f.rounds,
    target: f.rounds === undefined ? (f.target ?? SIM_TARGET_ACCURACY) : f.target,
    maxRounds: f.maxRounds,
    seed: f.seed,
    ...drop({ trainExamples: data === undefined ? (f.limit ?? f.trainExamples) : undefined, testExamples: f.testExamples, data }),
    maxNorm: f.maxNorm,
    attack: f.attack === undefined ? undefined : { kind: f.attack, ...drop({ fraction: f.attackFraction, scale: f.attackScale }) },
    backend: f.backend
  }
}

function roundLine (r: RoundRecord): string {
  const codes = Object.entries(r.rejectionCodes).map(([c, n]) => `${n}× ${c}`).join(', ')
  return `round ${String(r.round).padStart(4)}  accuracy ${(100 * r.accuracy).toFixed(2).padStart(6)}%  test loss ${r.testLoss.toFixed(4)}  ` +
    `accepted ${r.accepted}/${r.selected}${codes !== '' ? ` (${codes})` : ''}${r.status === 'no-update' ? '  no update' : ''}  ${r.seconds.toFixed(1)} s`
}

/** Rounds in which local training diverged on every selected client (`ERR_MODEL_TRAINING_DIVERGED`), so nothing was merged. */
export function divergedRounds (result: SimulationResult): number {
  return result.rounds.filter((r) => r.status === 'no-update' && (r.rejectionCodes.ERR_MODEL_TRAINING_DIVERGED ?? 0) === r.selected).length
}

function fileOf (spec: DataSpec): string {
  return spec.source === 'idx' ? spec.images : spec.source === 'mnist' ? `MNIST ${spec.split}` : spec.path
}

/** Where the examples came from: MNIST, or the own files (and whether the test set was held out of them). */
function dataLine (result: SimulationResult): string {
  const { train, test } = result.examples
  const data = result.options.data
  if (data === undefined) return `data: MNIST, ${train} training and ${test} test examples`
  return `data: ${train} training examples from ${fileOf(data.train)}; ` +
    (data.test === undefined ? `${test} held out of it for testing` : `${test} test examples from ${fileOf(data.test)}`)
}

/** The simulation's settings in one line, printed before its first round. */
export function settingsLine (o: SimulationResult['options'], attackers: number): string {
  return `${o.task}, K=${o.clients} C=${o.fraction} E=${o.epochs} B=${o.batchSize} lr=${o.learningRate}, ${o.partition}, ` +
    `aggregator ${o.aggregator.kind}, server ${o.serverOptimizer.kind} (lr ${o.serverOptimizer.lr}), codec ${o.codec.codec}` +
    (o.attack !== undefined ? `, attack ${o.attack.kind} by ${count(attackers, 'client')}` : '')
}

/** What the simulation came to, printed after its rounds (the settings were printed before them: {@link settingsLine}). */
function summary (result: SimulationResult): string {
  const o = result.options
  const n = divergedRounds(result)
  const diverged = n > 0
    ? `\ntraining diverged: in ${n} of ${count(result.rounds.length, 'round')} local training diverged on every client (ERR_MODEL_TRAINING_DIVERGED) and nothing was merged; lower the client learning rate (--lr ${o.learningRate})`
    : ''
  const target = o.target === undefined
    ? ''
    : result.roundsToTarget !== undefined
      ? `reached ${(100 * o.target).toFixed(1)}% test accuracy in ${count(result.roundsToTarget, 'round')}`
      : `did not reach ${(100 * o.target).toFixed(1)}% in ${count(result.rounds.length, 'round')}`
  return [
    `${target}${target !== '' ? '; ' : ''}final accuracy ${(100 * result.finalAccuracy).toFixed(2)}%, ${count(result.rounds.length, 'round')} in ${result.seconds.toFixed(0)} s on ${result.backend}`,
    dataLine(result)
  ].join('\n') + diverged
}

/** Adds `swarmtune simulate` to the program. */
export function register (program: Command): void {
  const d = SIMULATION_DEFAULTS
  program
    .command('simulate')
    .description('In-process federated training on partitioned MNIST or your own IDX data: accuracy per round, rounds to a target accuracy, CSV')
    .option('--task <id>', 'model task (mnist-2nn, mnist-cnn)', d.task)
    .option('-K, --clients <n>', 'number of clients K', intOption('--clients', 1, MNIST_TRAIN), d.clients)
    .option('-C, --fraction <c>', 'fraction of clients per round C', num, d.fraction)
    .option('-E, --epochs <n>', 'local epochs E', intOption('--epochs', 1, MAX_LOCAL_EPOCHS), d.epochs)
    .option('-B, --batch-size <n>', 'local batch size B', intOption('--batch-size', 1, MAX_BATCH_SIZE), d.batchSize)
    .option('--lr <eta>', 'client learning rate', num, d.learningRate)
    .addOption(new Option('--partition <scheme>', 'how MNIST is split among clients').choices(PARTITION_SCHEMES).default(d.partition))
    .option('--alpha <a>', 'Dirichlet concentration (partition dirichlet)', num, d.alpha)
    .addOption(new Option('--aggregator <kind>', 'how deltas are merged').choices(AGGREGATOR_KINDS).default('fedavg'))
    .option('--trim-beta <b>', 'trimmed-mean: share trimmed at each end', num)
    .option('--clip-norm <c>', 'norm-clip: L2 bound each delta is scaled to', num)
    .option('--krum-f <f>', 'krum: Byzantine clients tolerated', intOption('--krum-f', 0))
    .option('--krum-m <m>', 'krum: deltas kept (Multi-Krum when > 1)', intOption('--krum-m', 1))
    .option('--cc-tau <t>', 'centered-clip: clipping radius (default adaptive)', num)
    .option('--cc-iterations <n>', 'centered-clip: iterations', intOption('--cc-iterations', 1))
    .addOption(new Option('--server-opt <kind>', 'server (outer) optimiser').choices(SERVER_OPTIMIZER_KINDS).default('sgd'))
    .option('--server-lr <eta>', 'server learning rate (default: 1 for sgd, 0.7 for momentum, 0.01 for adam/yogi)', num)
    .option('--server-momentum <mu>', 'server momentum (default 0.9)', num)
    .option('--no-nesterov', 'momentum: heavy-ball FedAvgM instead of Nesterov')
    .addOption(new Option('--codec <name>', 'delta codec').choices(CODEC_NAMES).default('fp32'))
    .option('--topk <fraction>', 'topk-int8: share of each tensor\'s coordinates kept (default 0.01)', num)
    .option('--no-error-feedback', 'lossy codecs: drop the compression residual instead of carrying it')
    .option('--rounds <n>', 'run exactly this many rounds', intOption('--rounds', 1, MAX_ROUNDS))
    .option('--target <accuracy>', 'stop at this test accuracy (0.97, 97 or 97%; default 97% when --rounds is not given)', accuracy)
    .option('--max-rounds <n>', 'round cap when running to a target', intOption('--max-rounds', 1, MAX_ROUNDS), d.maxRounds)
    .option('--seed <n>', 'seed of partition, sampling, batches and initial weights', intOption('--seed', 0, MAX_SEED), d.seed)
    .option('--train-examples <n>', `use the first n MNIST training examples (default ${d.trainExamples})`, intOption('--train-examples', 1, MNIST_TRAIN))
    .option('--test-examples <n>', `measure accuracy on the first n MNIST test examples (default ${d.testExamples})`, intOption('--test-examples', 1, MNIST_TEST))
    .addOption(trainingDataOption('--mnist'))
    .addOption(trainingDataOption('--images'))
    .addOption(trainingDataOption('--labels'))
    .addOption(trainingDataOption('--limit'))
    .option('--test-images <file>', 'with --images: test images (IDX) to measure accuracy on (default: hold out 1/7 of the training examples)')
    .option('--test-labels <file>', 'with --images: the test labels (IDX)')
    .option('--max-norm <n>', 'reject deltas whose L2 norm exceeds n', num)
    .addOption(new Option('--attack <kind>', 'make a share of the clients Byzantine').choices(ATTACK_KINDS))
    .option('--attack-fraction <f>', 'share of clients that attack (default 0.3)', num)
    .option('--attack-scale <s>', 'sign-flip multiplier / noise std relative to the honest delta (default 10)', num)
    .option('--backend <id>', 'tfjs backend (cpu, wasm, node, node-gpu); chosen automatically when absent')
    .option('--csv <file>', 'write the per-round table to this CSV file')
    .option('--json', 'print the result as JSON instead of text')
    .action(async (flags: SimulateFlags) => {
      const options = createSimulationOptions(optionsFromFlags(flags))
      if (flags.csv !== undefined) await checkOutputPath(flags.csv, { kind: 'file', force: true })
      if (options.data !== undefined) {
        // the checks `community join` makes of a volunteer's files, before any training
        await checkTrainingData(options.task, options.data.train)
        if (options.data.test !== undefined) await checkTrainingData(options.task, options.data.test, { images: '--test-images', labels: '--test-labels' })
      }
      const out = (s: string): void => { process.stdout.write(s + '\n') }
      const tty = process.stderr.isTTY === true && flags.json !== true
      const bars = new cliProgress.MultiBar({
        stream: process.stderr,
        format: 'round {round} |{bar}| {percentage}% | client {client}/{perRound} | accuracy {accuracy}',
        hideCursor: true,
        clearOnComplete: true
      }, cliProgress.Presets.shades_classic)
      const total = options.rounds ?? options.maxRounds
      let bar: cliProgress.SingleBar | undefined
      const controller = new AbortController()
      const onSigint = (): void => controller.abort(new Error('interrupted'))
      process.once('SIGINT', onSigint)
      let lastAccuracy = '–'
      try {
        const result = await runSimulation(options, {
          signal: controller.signal,
          onStart: ({ perRound, attackers }) => {
            if (flags.json !== true) out(settingsLine(options, attackers))
            if (tty) bar = bars.create(total, 0, { round: 1, client: 0, perRound, accuracy: lastAccuracy })
          },
          onClient: (round, done, perRound) => {
            bar?.update(round - 1 + done / perRound, { round, client: done, perRound, accuracy: lastAccuracy })
            if (bar !== undefined) bars.update()
          },
          onRound: (r) => {
            lastAccuracy = `${(100 * r.accuracy).toFixed(2)}%`
            bar?.update(r.round, { round: Math.min(r.round + 1, total), client: 0, accuracy: lastAccuracy })
            if (flags.json === true) return
            if (tty && process.stdout.isTTY === true) {
              // same terminal: print above the bar, and flush now (the render timer may not run while clients train)
              bars.log(roundLine(r) + '\n')
              bars.update()
            } else {
              out(roundLine(r))
            }
          }
        })
        bars.stop()
        if (flags.csv !== undefined) await writeFile(flags.csv, roundsToCsv(result.rounds))
        if (flags.json === true) out(JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2))
        else out(summary(result) + (flags.csv !== undefined ? `\nwrote ${count(result.rounds.length, 'round')} to ${flags.csv}` : ''))
      } finally {
        bars.stop()
        process.removeListener('SIGINT', onSigint)
      }
    })
}
