/**
 * @packageDocumentation
 *
 * `@swarmtune/fedavg` merges a round's deltas into the next release, and compresses deltas for the wire.
 * Pure functions over `Float32Array[]` (one array per weight tensor, in the release's fixed weight order):
 * no tfjs, no network, nothing but typed arrays.
 *
 * - Validation first: tensor count and shapes, finite values, weight > 0, norm bound — typed rejections.
 * - Aggregators: FedAvg (weighted by sample count), norm clipping, coordinate-wise median, trimmed mean,
 *   Krum / Multi-Krum, CenteredClip. No accepted contribution gives an explicit `no-update`.
 * - Deterministic: contributions are put in canonical order (ascending id bytes) and every coordinate is
 *   summed in Float64 in that order, rounded to Float32 once: the same bytes on every machine.
 * - Server optimisers with state carried between rounds: server learning rate, FedAvgM / Nesterov
 *   momentum (DiLoCo), FedAdam, FedYogi.
 * - Delta codecs (fp32, fp16, int8 per tensor / per row, top-k with int8 values), error feedback.
 *
 * @example
 * ```ts
 * import { aggregate, applyUpdate, createAggregatorConfig, createModelSpec, createServerOptimizerConfig,
 *   decodeDelta, encodeDelta, initServerOptimizerState, serverStep } from '@swarmtune/fedavg'
 *
 * const spec = createModelSpec([[784, 200], [200]])
 * const baseWeights = spec.sizes.map((n) => new Float32Array(n))
 * // two volunteers' deltas, sent int8-compressed
 * const contributions = [0.01, -0.02].map((v, i) => {
 *   const delta = spec.sizes.map((n) => new Float32Array(n).fill(v))
 *   const bytes = encodeDelta(delta, spec, { codec: 'int8' })          // volunteer side
 *   const { tensors } = decodeDelta(bytes, { spec })                     // coordinator side
 *   return { id: new Uint8Array([i]), weight: 600 * (i + 1), delta: tensors }
 * })
 * const result = aggregate(contributions, spec, createAggregatorConfig({ kind: 'fedavg' }), { maxNorm: 100 })
 * if (result.status === 'update') {
 *   const opt = createServerOptimizerConfig({ kind: 'momentum' })    // DiLoCo: lr 0.7, Nesterov 0.9
 *   const { update } = serverStep(opt, initServerOptimizerState(opt, spec), result.delta, spec)
 *   const next = applyUpdate(baseWeights, update)
 *   console.log(result.delta[1][0].toFixed(4), next[1][0].toFixed(4))  // the weighted mean −0.01, then the momentum step
 * }
 * ```
 */
export * from './constants.js'
export {
  FedAvgError, InvalidSpecError, InvalidConfigError, ContributionRejectedError, CanonicalOrderError,
  TooFewDeltasError, OptimizerStateError, CodecError, type FedAvgErrorCode
} from './errors.js'
export { createModelSpec, shapeSize, sameShape, zeros, type ModelSpec, type Shape } from './spec.js'
export {
  checkContribution, assertContribution, screen, compareIds, deltaNorm,
  type Contribution, type ValidationOptions, type Verdict, type Rejection, type AcceptedContribution, type Screened
} from './contribution.js'
export type { AggregateResult, AggregateUpdate, NoUpdate } from './result.js'
export { FedAvgAccumulator, fedAvg, validateFedAvgOptions, type FedAvgOptions } from './fedavg.js'
export {
  aggregate, createAggregatorConfig, validateAggregatorConfig, AGGREGATOR_DEFAULTS, AGGREGATOR_KINDS,
  type AggregatorConfig, type AggregatorKind, type AggregateOptions
} from './aggregate.js'
export { pairwiseSquaredDistances, krumScores } from './krum.js'
export {
  createServerOptimizerConfig, validateServerOptimizerConfig, initServerOptimizerState, serverStep, applyUpdate,
  encodeServerOptimizerState, decodeServerOptimizerState, SERVER_OPTIMIZER_DEFAULTS, SERVER_OPTIMIZER_KINDS,
  type ServerOptimizerConfig, type ServerOptimizerKind, type ServerOptimizerState
} from './server-optimizer.js'
export {
  encodeDelta, decodeDelta, encodedSize, createCodecOptions, validateCodecOptions, topKCount, rowsOf,
  CODEC_NAMES, CODEC_DEFAULTS, DELTA_MAGIC, DELTA_FORMAT_VERSION,
  type CodecName, type CodecOptions, type DecodeOptions, type DecodedDelta
} from './codec/codecs.js'
export { ErrorFeedback } from './codec/error-feedback.js'
