/**
 * Round parameters: what a maintainer asks for (`round start` flags, `POST /v1/rounds`), how they are written
 * into a `round-open` body (protocol/entries.md), and the typed plan every peer reads back from a received
 * round-open — the local training options, the aggregator, the server optimiser and the delta codec.
 *
 * Layout of the open maps of a round-open body:
 * - `train`: `{ epochs, batchSize, learningRate, optimizer, steps?, momentum?, nesterov? }`; when `steps` is
 *   present volunteers run exactly that many optimizer steps and `epochs` (required ≥ 1 by protocol v1) is
 *   ignored;
 * - `aggregator`: `{ name: <fedavg | norm-clip | median | trimmed-mean | krum | centered-clip>, params: { …the
 *   aggregator's own parameters, server: { kind: <sgd | momentum | adam | yogi>, lr, … } } }`;
 * - `codec`: `{ name: <fp32 | fp16 | int8 | int8-row | topk-int8>, params: { fraction? } }`.
 */
import {
  AGGREGATOR_KINDS, CODEC_NAMES, FedAvgError, SERVER_OPTIMIZER_KINDS, createAggregatorConfig, createCodecOptions, createServerOptimizerConfig,
  type AggregatorConfig, type AggregatorKind, type CodecName, type CodecOptions, type ServerOptimizerConfig, type ServerOptimizerKind
} from '@swarmtune/fedavg'
import type { OptimizerConfig } from '@swarmtune/model'
import { encodeCanonical, parseCid, type CID, type RoundOpenBody } from '@swarmtune/wire'
import { z } from 'zod'
import type { Community } from './community.js'
import { DEFAULT_MAX_CONTRIBUTIONS, DEFAULT_ROUND_DURATION_MS, MIN_ROUND_DURATION_MS } from './constants.js'
import { RoundParamsError } from './errors.js'

/** Local optimizers a round may ask for (the model package's trainer). */
export const CLIENT_OPTIMIZERS = ['sgd', 'momentum', 'adam'] as const

/** What a maintainer asks for when opening a round. Every field has a default. */
export interface RoundParams {
  /** Exact optimizer steps per volunteer; when set, `epochs` is ignored. */
  steps?: number
  /** Local epochs E (McMahan et al. 2017); default 1. */
  epochs: number
  /** Local batch size B; default 10 (McMahan et al. 2017). */
  batchSize: number
  /** Client learning rate η; default 0.05. */
  learningRate: number
  optimizer: typeof CLIENT_OPTIMIZERS[number]
  /** Client momentum (optimizer `momentum`). */
  momentum?: number
  /** Round length from opening to deadline, in ms. */
  durationMs: number
  /** Accepted contributions needed for a release; default 1. */
  quorum: number
  /** Most contributions accepted; the round closes early once this many volunteers have contributed. */
  maxContributions: number
  /**
   * Keep the round open until its deadline or `maxContributions` even once every volunteer that answered has
   * contributed or declined (doc/rounds.md, "Who a round waits for"). The coordinator's own choice: not part of
   * the signed round-open. Default false.
   */
  untilDeadline?: boolean
  /** Aggregator kind and its parameters (e.g. `{ kind: 'trimmed-mean', beta: 0.1 }`). */
  aggregator: { kind: AggregatorKind } & Record<string, unknown>
  /** Server (outer) optimiser and its parameters; default plain FedAvg (`sgd`, lr 1). */
  server: { kind: ServerOptimizerKind } & Record<string, unknown>
  /** Delta codec; `fraction` for `topk-int8`. */
  codec: { codec: CodecName, fraction?: number }
  /** Largest accepted delta L2 norm; default the community's `maxDeltaNorm`. */
  normBound?: number
}

/** Partial round parameters as the CLI and the control API take them. */
export type RoundParamsInit = Partial<RoundParams>

const method = <T extends readonly [string, ...string[]]>(kinds: T) => z.object({ kind: z.enum(kinds) }).catchall(z.json())

const paramsSchema = z.strictObject({
  steps: z.number().int().min(1).max(10_000_000).optional(),
  epochs: z.number().int().min(1).max(10_000).optional(),
  batchSize: z.number().int().min(1).max(1_000_000).optional(),
  learningRate: z.number().positive().max(1_000).optional(),
  optimizer: z.enum(CLIENT_OPTIMIZERS).optional(),
  momentum: z.number().min(0).lt(1).optional(),
  durationMs: z.number().int().min(MIN_ROUND_DURATION_MS, { error: (i) => `the round duration (--duration) must be at least ${MIN_ROUND_DURATION_MS} ms (${MIN_ROUND_DURATION_MS / 1000} s), got ${String(i.input)} ms` }).optional(),
  quorum: z.number().int().min(1).max(10_000).optional(),
  maxContributions: z.number().int().min(1).max(10_000).optional(),
  untilDeadline: z.boolean().optional(),
  aggregator: method(AGGREGATOR_KINDS as unknown as readonly [AggregatorKind, ...AggregatorKind[]]).optional(),
  server: method(SERVER_OPTIMIZER_KINDS as unknown as readonly [ServerOptimizerKind, ...ServerOptimizerKind[]]).optional(),
  codec: z.strictObject({ codec: z.enum(CODEC_NAMES as unknown as readonly [CodecName, ...CodecName[]]), fraction: z.number().optional() }).optional(),
  normBound: z.number().positive().optional()
})

/** ms in the largest unit it reaches, to 3 significant digits: `7200000` → `2 h`, `90000` → `1.5 min`, `800` → `800 ms`. */
export function humanMs (ms: number): string {
  for (const [unit, f] of [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]] as const) {
    if (ms >= f) return `${Number((ms / f).toPrecision(3))} ${unit}`
  }
  return `${ms} ms`
}

/**
 * Fills defaults and validates round parameters against the community's limits.
 * @throws RoundParamsError `ERR_ROUNDS_BAD_PARAMS` naming the bad field and its range.
 */
export function createRoundParams (init: unknown, community: Community): RoundParams {
  const r = paramsSchema.safeParse(init ?? {})
  if (!r.success) {
    throw new RoundParamsError(`bad round parameters: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ')}`)
  }
  const p = r.data
  const params: RoundParams = {
    ...(p.steps === undefined ? {} : { steps: p.steps }),
    epochs: p.epochs ?? 1,
    batchSize: p.batchSize ?? 10,
    learningRate: p.learningRate ?? 0.05,
    optimizer: p.optimizer ?? 'sgd',
    ...(p.momentum === undefined ? {} : { momentum: p.momentum }),
    durationMs: p.durationMs ?? Math.min(DEFAULT_ROUND_DURATION_MS, community.policy.maxRoundMs),
    quorum: p.quorum ?? 1,
    maxContributions: p.maxContributions ?? Math.max(DEFAULT_MAX_CONTRIBUTIONS, p.quorum ?? 1),
    ...(p.untilDeadline === true ? { untilDeadline: true } : {}),
    aggregator: p.aggregator ?? { kind: 'fedavg' },
    server: p.server ?? { kind: 'sgd', lr: 1 },
    codec: p.codec ?? { codec: 'fp32' },
    normBound: p.normBound ?? community.policy.maxDeltaNorm
  }
  if (params.durationMs > community.policy.maxRoundMs) {
    throw new RoundParamsError(`a round of ${humanMs(params.durationMs)} is longer than the community's limit of ${humanMs(community.policy.maxRoundMs)} (policy.maxRoundMs = ${community.policy.maxRoundMs} ms); choose a duration of at most ${humanMs(community.policy.maxRoundMs)}`)
  }
  if (params.maxContributions < params.quorum) {
    throw new RoundParamsError(`maxContributions (${params.maxContributions}) is below quorum (${params.quorum}); raise maxContributions or lower quorum`)
  }
  if ((params.normBound as number) > community.policy.maxDeltaNorm) {
    throw new RoundParamsError(`norm bound ${String(params.normBound)} exceeds the community's maxDeltaNorm ${community.policy.maxDeltaNorm}`)
  }
  if (params.momentum !== undefined && params.optimizer !== 'momentum') {
    throw new RoundParamsError(`momentum (--momentum) applies to the momentum optimizer only (--optimizer momentum); this round's optimizer is ${params.optimizer}. Add --optimizer momentum or leave --momentum out`)
  }
  if (params.codec.fraction !== undefined && params.codec.codec !== 'topk-int8') {
    throw new RoundParamsError(`a top-k fraction (--topk-fraction) applies to the topk-int8 codec only (--codec topk-int8); this round's codec is ${params.codec.codec}. Add --codec topk-int8 or leave --topk-fraction out`)
  }
  params.aggregator = aggregatorParams(params.aggregator)
  serverParamNames(params.server)
  // the body must read back into a valid plan (aggregator, server optimiser and codec ranges)
  const { aggregator, server } = fedavgConfigs(aggregatorMethod(params), params.codec.codec, codecParams(params))
  // signed in full, defaults included: every round-open names its server learning rate and the rest
  params.server = { ...server }
  if (aggregator.kind === 'krum' && params.quorum < krumMinDeltas(aggregator.byzantine)) {
    throw new RoundParamsError(`aggregator krum with f = ${aggregator.byzantine} needs at least 2f + 3 = ${krumMinDeltas(aggregator.byzantine)} accepted contributions (Blanchard et al. 2017), but --quorum is ${params.quorum}; raise --quorum to ${krumMinDeltas(aggregator.byzantine)} or lower f`)
  }
  return params
}

/** Parameter names each aggregator takes (fedavg's `AggregatorConfig`). */
const AGGREGATOR_PARAM_NAMES: Record<AggregatorKind, readonly string[]> = {
  fedavg: [],
  median: [],
  'norm-clip': ['clipNorm'],
  'trimmed-mean': ['beta'],
  krum: ['byzantine', 'select'],
  'centered-clip': ['tau', 'iterations']
}
/** Short names of the papers' notation, accepted when opening a round and signed under the long name. */
const AGGREGATOR_PARAM_ALIASES: Partial<Record<AggregatorKind, Record<string, string>>> = { krum: { f: 'byzantine', m: 'select' } }

/** Parameter names each server optimiser takes (fedavg's `ServerOptimizerConfig`), with the flag that sets each. */
const SERVER_PARAM_NAMES: Record<ServerOptimizerKind, readonly string[]> = {
  sgd: ['lr'],
  momentum: ['lr', 'momentum', 'nesterov'],
  adam: ['lr', 'beta1', 'beta2', 'tau'],
  yogi: ['lr', 'beta1', 'beta2', 'tau']
}
const SERVER_PARAM_FLAGS: Record<string, string> = { lr: '--server-lr', momentum: '--server-momentum' }

/**
 * Checks that every parameter given for the server optimiser is one it takes.
 * @throws RoundParamsError `ERR_ROUNDS_BAD_PARAMS` naming the parameter, its flag and the optimisers that take it.
 */
function serverParamNames (server: RoundParams['server']): void {
  const { kind, ...given } = server
  const names = SERVER_PARAM_NAMES[kind] ?? []
  for (const name of Object.keys(given)) {
    if (names.includes(name)) continue
    const takers = SERVER_OPTIMIZER_KINDS.filter((k) => SERVER_PARAM_NAMES[k].includes(name))
    const flag = SERVER_PARAM_FLAGS[name] === undefined ? '' : ` (${SERVER_PARAM_FLAGS[name]})`
    throw new RoundParamsError(`server optimiser ${kind} takes no parameter ${JSON.stringify(name)}${flag}; it takes ${names.join(', ')}` +
      (takers.length === 0 ? '' : `. ${name} applies to ${takers.map((k) => `--server ${k}`).join(' or ')}`))
  }
}

/** Fewest deltas Krum with `f` Byzantine deltas scores: n ≥ 2f + 3 (Blanchard et al. 2017, Proposition 1). */
export function krumMinDeltas (f: number): number {
  return 2 * f + 3
}

/**
 * The aggregator's parameters with aliases resolved (`f` → `byzantine`, `m` → `select` for Krum).
 * @throws RoundParamsError `ERR_ROUNDS_BAD_PARAMS` for a name the aggregator does not take, or one given twice.
 */
function aggregatorParams (a: RoundParams['aggregator']): RoundParams['aggregator'] {
  const { kind, ...given } = a
  const names = AGGREGATOR_PARAM_NAMES[kind] ?? []
  const aliases = AGGREGATOR_PARAM_ALIASES[kind] ?? {}
  const out: RoundParams['aggregator'] = { kind }
  for (const [name, value] of Object.entries(given)) {
    const key = aliases[name] ?? name
    if (!names.includes(key)) {
      const known = [...names, ...Object.keys(aliases)]
      throw new RoundParamsError(`aggregator ${kind} takes no parameter ${JSON.stringify(name)}; ${known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`} (--aggregator-param name=value)`)
    }
    if (key in out) throw new RoundParamsError(`aggregator ${kind}: parameter ${key} is given twice (${Object.entries(aliases).filter(([, v]) => v === key).map(([k]) => k).join(', ')} is another name for it)`)
    out[key] = value
  }
  return out
}

function aggregatorMethod (p: RoundParams): { name: string, params: Record<string, unknown> } {
  const { kind, ...aggParams } = p.aggregator
  return { name: kind, params: { ...aggParams, server: { ...p.server } } }
}

function codecParams (p: RoundParams): Record<string, unknown> {
  return p.codec.codec === 'topk-int8' ? { fraction: p.codec.fraction ?? 0.01 } : {}
}

/**
 * The body of the round-open entry for `params`.
 * @param at round number, base release manifest and the opening time (ms since the Unix epoch).
 */
export function roundOpenBody (params: RoundParams, at: { round: number, base: CID, now: number }): RoundOpenBody {
  const train: RoundOpenBody['train'] = {
    epochs: params.epochs,
    batchSize: params.batchSize,
    learningRate: params.learningRate,
    optimizer: params.optimizer,
    ...(params.steps === undefined ? {} : { steps: params.steps }),
    ...(params.momentum === undefined ? {} : { momentum: params.momentum })
  }
  return {
    round: at.round,
    base: at.base.bytes,
    train,
    deadline: at.now + params.durationMs,
    quorum: params.quorum,
    maxContributions: params.maxContributions,
    aggregator: aggregatorMethod(params) as RoundOpenBody['aggregator'],
    codec: { name: params.codec.codec, params: codecParams(params) } as RoundOpenBody['codec'],
    normBound: params.normBound as number
  }
}

/** What every peer reads from a round-open: typed, validated settings. */
export interface RoundPlan {
  round: number
  /** Manifest CID of the base release. */
  base: CID
  /** ms since the Unix epoch after which no contribution is taken. */
  deadline: number
  quorum: number
  maxContributions: number
  normBound: number
  /**
   * Most samples one contribution may claim: the community policy `maxSamples` (unset when the genesis sets
   * none). The merge rejects a larger claim (`ERR_FEDAVG_WEIGHT_BOUND`) as the coordinator's judge does.
   */
  maxSamples?: number
  /** Local training: exactly one of `steps` / `epochs` is set. */
  train: { steps?: number, epochs?: number, batchSize: number, learningRate: number, optimizer: OptimizerConfig }
  aggregator: AggregatorConfig
  server: ServerOptimizerConfig
  codec: CodecOptions
  /** The codec method exactly as the round-open names it (contributions must name the same). */
  codecMethod: RoundOpenBody['codec']
}

function fedavgConfigs (aggregator: { name: string, params: Record<string, unknown> }, codecName: string, codecParams: Record<string, unknown>): Pick<RoundPlan, 'aggregator' | 'server' | 'codec'> {
  const { server, ...aggParams } = aggregator.params
  try {
    if (!(AGGREGATOR_KINDS as readonly string[]).includes(aggregator.name)) throw new RoundParamsError(`aggregator ${JSON.stringify(aggregator.name)} is unknown; expected one of ${AGGREGATOR_KINDS.join(', ')}`)
    if (server !== undefined && (typeof server !== 'object' || server === null || Array.isArray(server))) throw new RoundParamsError('aggregator.params.server must be a map { kind, lr, … }')
    return {
      aggregator: createAggregatorConfig({ ...aggParams, kind: aggregator.name as AggregatorKind }),
      server: createServerOptimizerConfig((server ?? { kind: 'sgd' }) as { kind: ServerOptimizerKind }),
      codec: createCodecOptions({ codec: codecName as CodecName, ...(typeof codecParams.fraction === 'number' ? { fraction: codecParams.fraction } : {}) })
    }
  } catch (err) {
    if (err instanceof FedAvgError) throw new RoundParamsError(err.message, { cause: err })
    throw err
  }
}

/**
 * Reads a received round-open body into a plan, checking it against the community's limits.
 * @throws RoundParamsError `ERR_ROUNDS_BAD_PARAMS` for an unknown aggregator, optimiser or codec, values out of
 *   range, or a norm bound above the community's `maxDeltaNorm`.
 */
export function planOf (body: RoundOpenBody, community?: Community): RoundPlan {
  const t = body.train
  const steps = t.steps
  if (steps !== undefined && !(Number.isSafeInteger(steps) && (steps as number) >= 1)) throw new RoundParamsError(`train.steps ${String(steps)} must be an integer ≥ 1`)
  if (!(CLIENT_OPTIMIZERS as readonly string[]).includes(t.optimizer)) throw new RoundParamsError(`train.optimizer ${JSON.stringify(t.optimizer)} is unknown; expected one of ${CLIENT_OPTIMIZERS.join(', ')}`)
  const momentum = t.momentum
  if (momentum !== undefined && !(typeof momentum === 'number' && momentum >= 0 && momentum < 1)) throw new RoundParamsError(`train.momentum ${String(momentum)} must be in [0, 1)`)
  if (community !== undefined && body.normBound > community.policy.maxDeltaNorm) {
    throw new RoundParamsError(`the round's norm bound ${body.normBound} exceeds the community's maxDeltaNorm ${community.policy.maxDeltaNorm}`)
  }
  const optimizer: OptimizerConfig = t.optimizer === 'momentum'
    ? { name: 'momentum', ...(typeof momentum === 'number' ? { momentum } : {}) }
    : { name: t.optimizer as 'sgd' | 'adam' }
  return {
    round: body.round,
    base: parseCid(body.base),
    deadline: body.deadline,
    quorum: body.quorum,
    maxContributions: body.maxContributions,
    normBound: body.normBound,
    ...(community?.policy.maxSamples === undefined ? {} : { maxSamples: community.policy.maxSamples }),
    train: {
      ...(steps === undefined ? { epochs: t.epochs } : { steps: steps as number }),
      batchSize: t.batchSize,
      learningRate: t.learningRate,
      optimizer
    },
    ...fedavgConfigs(body.aggregator, body.codec.name, body.codec.params),
    codecMethod: body.codec
  }
}

/** True when two `{ name, params }` methods are the same (compared by their canonical encoding). */
export function sameMethod (a: { name: string, params: Record<string, unknown> }, b: { name: string, params: Record<string, unknown> }): boolean {
  return Buffer.from(encodeCanonical(a)).equals(Buffer.from(encodeCanonical(b)))
}
