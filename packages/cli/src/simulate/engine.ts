/**
 * In-process federated training (McMahan et al. 2017, Algorithm 1, FederatedAveraging): each round the
 * server samples m = max(⌊C·K⌋, 1) clients; each trains E epochs of minibatch SGD (batch B, rate η) from the
 * current global weights on its own partition of the training data (MNIST, or the examples `options.data` names,
 * e.g. a community's own IDX files), encodes its delta with the round's codec (with error
 * feedback), and the server decodes, validates and merges the deltas with `@swarmtune/fedavg` (aggregator +
 * server optimiser), then measures test accuracy. Clients train one after another on the tfjs backend the model
 * package picks, in this process (no workers: the simulation is CPU-bound either way).
 */
import {
  aggregate, applyUpdate, CodecError, createModelSpec, decodeDelta, encodeDelta, ErrorFeedback, initServerOptimizerState,
  serverStep, TooFewDeltasError, type Contribution, type ModelSpec, type ServerOptimizerState
} from '@swarmtune/fedavg'
import {
  assertSameSpecs, createRng, evaluate, getTask, loadMnist, type Task, partitionDirichlet, partitionIid, partitionPathological, subset, trainLocal,
  type Dataset, type Rng, type Weights
} from '@swarmtune/model'
import { AbortError } from '@swarmtune/wire'
import { attackDelta, nanDeltaBytes } from './attack.js'
import { SIM_HOLDOUT_FRACTION, SIM_LOSS_EXAMPLES } from './constants.js'
import { SimulationOptionsError } from './errors.js'
import { clientsPerRound, type SimulationOptions } from './options.js'

/** What happened in one round. */
export interface RoundRecord {
  /** 1-based round number. */
  readonly round: number
  /** Test accuracy of the global weights after the round, in [0, 1]. */
  readonly accuracy: number
  /** Mean softmax cross-entropy on the test examples, nats. */
  readonly testLoss: number
  /** Mean training loss after local training over the honest clients that trained, nats (NaN if none). */
  readonly trainLoss: number
  /** Clients selected. */
  readonly selected: number
  /** Contributions that entered the aggregate, and those left out (validation or robust selection). */
  readonly accepted: number
  readonly rejected: number
  /** Rejection and drop-out counts by code (e.g. `ERR_FEDAVG_NON_FINITE`, `ERR_MODEL_TRAINING_DIVERGED`). */
  readonly rejectionCodes: Readonly<Record<string, number>>
  /** `update` when the global weights moved, `no-update` when nothing was accepted. */
  readonly status: 'update' | 'no-update'
  /** Encoded delta bytes sent by the selected clients this round. */
  readonly uploadBytes: number
  /** Wall time of the round (training, merging and evaluation), seconds. */
  readonly seconds: number
}

export interface SimulationResult {
  readonly options: SimulationOptions
  readonly rounds: RoundRecord[]
  /** First round whose accuracy reached `options.target`; undefined if never (or no target). */
  readonly roundsToTarget?: number
  readonly finalAccuracy: number
  /** Wall time of the whole run, seconds. */
  readonly seconds: number
  /** Examples the clients shared out (`train`) and accuracy was measured on (`test`). */
  readonly examples: { readonly train: number, readonly test: number }
  /** Backend the clients trained on. */
  readonly backend: string
  /** Clients that behaved as attackers (indices), empty without an attack. */
  readonly attackers: number[]
  /** The global weights after the last round. */
  readonly weights: Weights
}

/** Long-operation hooks: cancellation and progress. */
export interface SimulationHooks {
  readonly signal?: AbortSignal
  /** Called when the data is loaded and partitioned, before round 1. */
  readonly onStart?: (info: { clients: number, perRound: number, params: number, backend?: string, attackers: number }) => void
  /** Called after each client of a round has trained (done of total). */
  readonly onClient?: (round: number, done: number, total: number) => void
  /** Called after each round. */
  readonly onRound?: (record: RoundRecord) => void
}

/** Client id bytes: the client index as a 4-byte big-endian integer (canonical order = client order). */
export function clientId (k: number): Uint8Array {
  return Uint8Array.of(k >>> 24, (k >>> 16) & 0xff, (k >>> 8) & 0xff, k & 0xff)
}

/**
 * The training and test examples of a run: MNIST's first `trainExamples` / `testExamples`, or `options.data`
 * read through the task's loader (which checks the example shape and classes), with a seeded share
 * `SIM_HOLDOUT_FRACTION` of the training examples held out as the test set when `data.test` is absent.
 * @throws SimulationOptionsError when the data has too few examples for the test share and K clients; the
 *   model package's data errors (IdxFormatError, InvalidDataError).
 */
export async function loadSimulationData (task: Task, o: SimulationOptions): Promise<{ train: Dataset, test: Dataset }> {
  if (o.data === undefined) return await loadMnist({ train: o.trainExamples, test: o.testExamples })
  const all = await task.loadData(o.data.train)
  let split: { train: Dataset, test: Dataset }
  if (o.data.test !== undefined) {
    split = { train: all, test: await task.loadData(o.data.test) }
  } else {
    const held = Math.max(1, Math.round(all.count * SIM_HOLDOUT_FRACTION))
    if (all.count - held < 1) throw new SimulationOptionsError(`the training data has ${all.count} example(s): too few to hold ${held} out for testing and train on the rest; give more examples or test files`)
    const order = Array.from({ length: all.count }, (_, i) => i)
    createRng(o.seed + 3).shuffle(order)
    const trainIdx = order.slice(held).sort((a, b) => a - b)
    split = { train: subset(all, trainIdx), test: subset(all, order.slice(0, held).sort((a, b) => a - b)) }
  }
  if (o.clients > split.train.count) {
    throw new SimulationOptionsError(`clients (K) is ${o.clients}: expected at most the ${split.train.count} training examples the data leaves for the clients`)
  }
  return split
}

function partition (train: Dataset, o: SimulationOptions): number[][] {
  switch (o.partition) {
    case 'iid': return partitionIid(train.count, o.clients, o.seed)
    case 'pathological': return partitionPathological(train.labels, o.clients, o.seed)
    case 'dirichlet': return partitionDirichlet(train.labels, o.clients, o.alpha, o.seed, train.classes)
  }
}

/** m distinct client indices out of K (partial Fisher–Yates). */
function sampleClients (rng: Rng, k: number, m: number): number[] {
  const pool = Array.from({ length: k }, (_, i) => i)
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(k - i)
    const t = pool[i]
    pool[i] = pool[j]
    pool[j] = t
  }
  return pool.slice(0, m).sort((a, b) => a - b)
}

function checkAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortError('the simulation was aborted', { cause: signal.reason })
}

function subtract (a: readonly Float32Array[], b: readonly Float32Array[]): Float32Array[] {
  return a.map((x, t) => {
    const y = b[t]
    const out = new Float32Array(x.length)
    for (let i = 0; i < x.length; i++) out[i] = x[i] - y[i]
    return out
  })
}

/** Per-client state that persists across rounds: its data part and its error-feedback residual. */
interface ClientState {
  readonly indices: number[]
  feedback?: ErrorFeedback
}

/**
 * Runs a simulation to `options.rounds` or until `options.target` is reached (at most `options.maxRounds`).
 * @throws AbortError (`ERR_ABORTED`) when `hooks.signal` aborts (between clients); errors of the model package
 *   (unknown task, backend unavailable, MNIST files damaged).
 */
export async function runSimulation (options: SimulationOptions, hooks: SimulationHooks = {}): Promise<SimulationResult> {
  const o = options
  const started = performance.now()
  const task = getTask(o.task)
  const data = await loadSimulationData(task, o)
  const parts = partition(data.train, o)
  const clients: ClientState[] = parts.map((indices) => ({ indices }))
  const spec: ModelSpec = createModelSpec(task.weightSpecs.map((s) => s.shape))
  const perRound = clientsPerRound(o)
  const rng = createRng(o.seed)
  const attackRng = createRng(o.seed + 1)
  const attackers = new Set<number>()
  if (o.attack !== undefined) {
    const count = Math.round(o.attack.fraction * o.clients)
    for (const k of sampleClients(createRng(o.seed + 2), o.clients, count)) attackers.add(k)
  }
  const lossy = o.codec.codec !== 'fp32'
  if (o.initialWeights !== undefined) assertSameSpecs(task.weightSpecs, o.initialWeights.specs, 'initial weights')
  let global: Weights = o.initialWeights ?? task.initWeights(o.seed)
  let optState: ServerOptimizerState = initServerOptimizerState(o.serverOptimizer, spec)
  let backend = o.backend ?? ''
  hooks.onStart?.({ clients: o.clients, perRound, params: spec.params, backend: o.backend, attackers: attackers.size })

  const rounds: RoundRecord[] = []
  let roundsToTarget: number | undefined
  const lastRound = o.rounds ?? o.maxRounds
  for (let round = 1; round <= lastRound; round++) {
    const roundStart = performance.now()
    const selected = sampleClients(rng, o.clients, perRound)
    const contributions: Contribution[] = []
    const codes: Record<string, number> = {}
    let uploadBytes = 0
    let trainLoss = 0
    let honestTrained = 0
    for (const [i, k] of selected.entries()) {
      checkAborted(hooks.signal)
      const client = clients[k]
      const isAttacker = attackers.has(k)
      let bytes: Uint8Array | undefined
      let samples = client.indices.length
      if (isAttacker && o.attack?.kind === 'nan') {
        bytes = nanDeltaBytes(spec)
      } else if (samples > 0) {
        try {
          const result = await trainLocal({
            task: task.id,
            weights: global,
            data: subset(data.train, client.indices),
            learningRate: o.learningRate,
            batchSize: o.batchSize,
            epochs: o.epochs,
            seed: o.seed * 1_000_003 + round * o.clients + k,
            backend: o.backend,
            lossExamples: Math.min(samples, SIM_LOSS_EXAMPLES)
          })
          backend = result.backend
          samples = result.samples
          let delta = subtract(result.weights.values, global.values)
          if (isAttacker && o.attack !== undefined) {
            delta = attackDelta(o.attack, delta, attackRng)
          } else {
            trainLoss += result.lossAfter
            honestTrained++
          }
          if (lossy && o.errorFeedback) {
            client.feedback ??= new ErrorFeedback(spec, o.codec)
            bytes = client.feedback.encode(delta).bytes
          } else {
            bytes = encodeDelta(delta, spec, o.codec)
          }
        } catch (err) {
          // a client whose training diverged (or whose delta cannot be encoded) drops out of the round
          const code = (err as { code?: string }).code ?? 'ERR_SIMULATE_CLIENT_FAILED'
          codes[code] = (codes[code] ?? 0) + 1
        }
      }
      if (bytes !== undefined) {
        uploadBytes += bytes.length
        try {
          const decoded = decodeDelta(bytes, { spec })
          contributions.push({ id: clientId(k), weight: samples, delta: decoded.tensors, shapes: decoded.shapes })
        } catch (err) {
          if (!(err instanceof CodecError)) throw err
          codes[err.code] = (codes[err.code] ?? 0) + 1 // malformed bytes are a rejection, as on the network
        }
      }
      hooks.onClient?.(round, i + 1, selected.length)
    }

    let status: 'update' | 'no-update' = 'no-update'
    let accepted = 0
    let rejected = 0
    try {
      const merged = aggregate(contributions, spec, o.aggregator, { maxNorm: o.maxNorm })
      accepted = merged.accepted.length
      rejected = merged.rejected.length
      for (const r of merged.rejected) codes[r.code] = (codes[r.code] ?? 0) + 1
      if (merged.status === 'update') {
        const step = serverStep(o.serverOptimizer, optState, merged.delta, spec)
        optState = step.state
        global = { specs: global.specs, values: applyUpdate(global.values, step.update) }
        status = 'update'
      }
    } catch (err) {
      if (!(err instanceof TooFewDeltasError)) throw err
      codes[err.code] = (codes[err.code] ?? 0) + 1
      rejected = contributions.length
    }

    const ev = await evaluate({ task: task.id, weights: global, data: data.test, backend: o.backend })
    const accuracy = ev.accuracy ?? NaN // the simulator runs the built-in classifiers
    if (backend === '') backend = ev.backend // no client finished training (e.g. every one diverged)
    const record: RoundRecord = {
      round,
      accuracy,
      testLoss: ev.loss,
      trainLoss: honestTrained > 0 ? trainLoss / honestTrained : NaN,
      selected: selected.length,
      accepted,
      rejected,
      rejectionCodes: codes,
      status,
      uploadBytes,
      seconds: (performance.now() - roundStart) / 1000
    }
    rounds.push(record)
    hooks.onRound?.(record)
    if (o.target !== undefined && accuracy >= o.target && roundsToTarget === undefined) {
      roundsToTarget = round
      if (o.rounds === undefined) break
    }
  }
  return {
    options: o,
    rounds,
    roundsToTarget,
    finalAccuracy: rounds[rounds.length - 1]?.accuracy ?? 0,
    seconds: (performance.now() - started) / 1000,
    examples: { train: data.train.count, test: data.test.count },
    backend,
    attackers: [...attackers].sort((a, b) => a - b),
    weights: global
  }
}
