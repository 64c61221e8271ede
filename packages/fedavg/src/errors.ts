/**
 * Errors of the fedavg package. One class per failure kind, each a `SwarmtuneError` (`@swarmtune/wire`) whose
 * `name` is its class's and whose `code` is stable (listed in doc/errors.md under `## fedavg`). Tests and callers
 * branch on `code` or `name`, never on the message, which says what happened, what was expected and what to do.
 */
import { SwarmtuneError, withCode } from '@swarmtune/wire'

/** Stable error codes of the fedavg package. */
export type FedAvgErrorCode =
  | 'ERR_FEDAVG_INVALID_SPEC'
  | 'ERR_FEDAVG_INVALID_CONFIG'
  | 'ERR_FEDAVG_TENSOR_COUNT'
  | 'ERR_FEDAVG_SHAPE_MISMATCH'
  | 'ERR_FEDAVG_NON_FINITE'
  | 'ERR_FEDAVG_INVALID_WEIGHT'
  | 'ERR_FEDAVG_NORM_BOUND'
  | 'ERR_FEDAVG_WEIGHT_BOUND'
  | 'ERR_FEDAVG_INVALID_ID'
  | 'ERR_FEDAVG_DUPLICATE_CONTRIBUTION'
  | 'ERR_FEDAVG_OUTLIER'
  | 'ERR_FEDAVG_CANONICAL_ORDER'
  | 'ERR_FEDAVG_TOO_FEW_DELTAS'
  | 'ERR_FEDAVG_OPTIMIZER_STATE'
  | 'ERR_FEDAVG_CODEC_TRUNCATED'
  | 'ERR_FEDAVG_CODEC_MAGIC'
  | 'ERR_FEDAVG_CODEC_VERSION'
  | 'ERR_FEDAVG_CODEC_UNKNOWN'
  | 'ERR_FEDAVG_CODEC_MALFORMED'
  | 'ERR_FEDAVG_CODEC_TOO_LARGE'
  | 'ERR_FEDAVG_CODEC_RANGE'

/** Base class: every error thrown by this package is a `FedAvgError` with a stable `code`. */
export class FedAvgError extends SwarmtuneError<FedAvgErrorCode> {}

/** A model spec (the release's tensor shapes) is malformed: empty, non-integer or non-positive dimensions, too large. */
export class InvalidSpecError extends withCode(FedAvgError, 'ERR_FEDAVG_INVALID_SPEC') {}

/** An aggregator, server optimiser or codec configuration is out of range. Thrown at start-up by `validate…()`. */
export class InvalidConfigError extends withCode(FedAvgError, 'ERR_FEDAVG_INVALID_CONFIG') {}

/**
 * A contribution failed validation. `code` says which check: tensor count, shape, non-finite value, weight,
 * weight bound, norm bound, id or duplicate. Aggregators do not throw it for a bad contribution: they exclude the
 * contribution and report a `Rejection` with the same code. It is thrown by `assertContribution`.
 */
export class ContributionRejectedError extends FedAvgError {}

/** Contributions were added to a streaming accumulator out of canonical (ascending id) order: a caller bug. */
export class CanonicalOrderError extends withCode(FedAvgError, 'ERR_FEDAVG_CANONICAL_ORDER') {}

/** A robust aggregator needs more accepted deltas than it was given (e.g. Krum needs n ≥ 2f + 3). */
export class TooFewDeltasError extends withCode(FedAvgError, 'ERR_FEDAVG_TOO_FEW_DELTAS') {}

/** Server optimiser state does not match the optimiser kind or the model spec, or its bytes are malformed. */
export class OptimizerStateError extends withCode(FedAvgError, 'ERR_FEDAVG_OPTIMIZER_STATE') {}

/** Encoded delta bytes are malformed, truncated, too large or of an unknown codec; or a value cannot be encoded. */
export class CodecError extends FedAvgError {}
