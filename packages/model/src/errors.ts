/**
 * Errors of the model package. One class per failure kind, each a `SwarmtuneError` (`@swarmtune/wire`) whose
 * `name` is its class's and whose `code` is stable (listed in doc/errors.md under `## model`). Callers branch on
 * `code` or `name`, never on the message, which says what happened, what was expected and what to do. An aborted
 * operation throws the one `AbortError` of `@swarmtune/wire` (`ERR_ABORTED`), exported here as `AbortedError` too.
 */
import { SwarmtuneError, withCode } from '@swarmtune/wire'

export { AbortError as AbortedError } from '@swarmtune/wire'

/** Stable error codes of the model package. */
export type ModelErrorCode =
  | 'ERR_MODEL_UNKNOWN_TASK'
  | 'ERR_MODEL_INVALID_WEIGHTS'
  | 'ERR_MODEL_INVALID_DATA'
  | 'ERR_MODEL_IDX_MALFORMED'
  | 'ERR_MODEL_INVALID_PARTITION'
  | 'ERR_MODEL_BACKEND_UNAVAILABLE'
  | 'ERR_MODEL_BACKEND_MISSING_KERNELS'
  | 'ERR_MODEL_UNKNOWN_BACKEND'
  | 'ERR_MODEL_INVALID_TRAIN_OPTIONS'
  | 'ERR_MODEL_TRAINING_DIVERGED'
  | 'ERR_MODEL_WORKER_FAILED'
  | 'ERR_MODEL_INVALID_RELEASE_OPTIONS'
  | 'ERR_MODEL_MANIFEST_MALFORMED'
  | 'ERR_MODEL_MANIFEST_TOO_LARGE'
  | 'ERR_MODEL_SHARD_MISSING'
  | 'ERR_MODEL_SHARD_HASH_MISMATCH'
  | 'ERR_MODEL_SHARD_SIZE_MISMATCH'
  | 'ERR_MODEL_TFJS_FOLDER_MALFORMED'
  | 'ERR_MODEL_TASK_MISMATCH'
  | 'ERR_MODEL_SAFETENSORS_MALFORMED'
  | 'ERR_MODEL_WEIGHTS_MISMATCH'
  | 'ERR_MODEL_SPEC_INVALID'
  | 'ERR_MODEL_BASE_MISMATCH'
  | 'ERR_MODEL_UNSUPPORTED_LAYER'
  | 'ERR_MODEL_FEATURE_CACHE_UNUSABLE'
  | 'ERR_MODEL_INVALID_ADAPTER'
  | 'ERR_MODEL_DATA_NOT_FOUND'
  | 'ERR_MODEL_DATA_PATH_ESCAPE'
  | 'ERR_MODEL_DATA_FILE_TOO_LARGE'
  | 'ERR_MODEL_INVALID_LABELS'
  | 'ERR_MODEL_UNKNOWN_CLASS'
  | 'ERR_MODEL_EMPTY_CLASS'
  | 'ERR_MODEL_TOO_FEW_EXAMPLES'
  | 'ERR_MODEL_INVALID_IMAGE_OPTIONS'
  | 'ERR_MODEL_IMAGE_UNREADABLE'
  | 'ERR_MODEL_IMAGE_UNSUPPORTED'
  | 'ERR_MODEL_IMAGE_TOO_LARGE'
  | 'ERR_MODEL_IMAGE_SIZE_MISMATCH'
  | 'ERR_MODEL_CSV_EMPTY'
  | 'ERR_MODEL_CSV_MALFORMED'
  | 'ERR_MODEL_CSV_MISSING_COLUMN'
  | 'ERR_MODEL_CSV_RAGGED'
  | 'ERR_MODEL_CSV_NOT_NUMERIC'
  | 'ERR_MODEL_HF_UNSUPPORTED'
  | 'ERR_MODEL_HF_CONFIG_INVALID'
  | 'ERR_MODEL_HF_CHECKPOINT_MALFORMED'
  | 'ERR_MODEL_HF_TENSOR_MISSING'
  | 'ERR_MODEL_HF_TENSOR_UNEXPECTED'
  | 'ERR_MODEL_HF_TENSOR_SHAPE'
  | 'ERR_MODEL_INVALID_TOKENS'
  | 'ERR_MODEL_PEFT_ADAPTER_INVALID'
  | 'ERR_MODEL_HF_NOT_FINITE'
  | 'ERR_MODEL_HF_EXPORT_FAILED'
  | 'ERR_MODEL_PEFT_UNSUPPORTED'
  | 'ERR_MODEL_TEXT_NOT_UTF8'

/** Base class: every error thrown by this package is a `ModelError` with a stable `code`. */
export class ModelError extends SwarmtuneError<ModelErrorCode> {}

/** No task is registered under the given id. */
export class UnknownTaskError extends withCode(ModelError, 'ERR_MODEL_UNKNOWN_TASK') {}

/**
 * Weights do not match their specs: wrong tensor count, a value array of the wrong length, a non-finite value
 * where finite ones are required, a malformed spec (empty name, non-integer dimension, unsupported dtype).
 */
export class InvalidWeightsError extends withCode(ModelError, 'ERR_MODEL_INVALID_WEIGHTS') {}

/** A weight tensor's identity as the error reports it: name, shape and dtype. */
export interface WeightIdentity {
  name: string
  shape: number[]
  dtype: string
}

/** How weights failed to fit a model, by name (see `WeightsMismatchError`). */
export interface WeightsMismatch {
  /** Weights the model has and the given weights lack (the model's name, shape and dtype). */
  missing: WeightIdentity[]
  /** Given weights the model has no weight of that name for. */
  unexpected: WeightIdentity[]
  /** Weights present on both sides with another shape or dtype: the model's (`expected`) and the given (`got`). */
  mismatched: Array<{ name: string, expected: WeightIdentity, got: WeightIdentity }>
  /** Names that two of the model's weights share (they cannot be matched by name). */
  duplicated: string[]
}

/**
 * Weights do not fit a tfjs model, matched by name (`<layer>/<weight>`, tfjs' `originalName`): some are missing,
 * unexpected, of another shape or dtype, or the model names two weights alike. The lists say which.
 */
export class WeightsMismatchError extends ModelError implements WeightsMismatch {
  readonly missing: WeightIdentity[]
  readonly unexpected: WeightIdentity[]
  readonly mismatched: WeightsMismatch['mismatched']
  readonly duplicated: string[]

  constructor (message: string, mismatch: WeightsMismatch) {
    super('ERR_MODEL_WEIGHTS_MISMATCH', message)
    this.missing = mismatch.missing
    this.unexpected = mismatch.unexpected
    this.mismatched = mismatch.mismatched
    this.duplicated = mismatch.duplicated
  }
}

/** A dataset is unusable: image and label counts differ, a label is out of range, an example has the wrong size. */
export class InvalidDataError extends withCode(ModelError, 'ERR_MODEL_INVALID_DATA') {}

/** An IDX file is malformed: bad magic, unsupported type, dimensions that disagree with its length, too large. */
export class IdxFormatError extends withCode(ModelError, 'ERR_MODEL_IDX_MALFORMED') {}

/** A partition request cannot be met: too many clients for the data, α ≤ 0, client index out of range. */
export class InvalidPartitionError extends withCode(ModelError, 'ERR_MODEL_INVALID_PARTITION') {}

/**
 * A backend cannot be used. `code` says why: not installed or failed to initialise
 * (`ERR_MODEL_BACKEND_UNAVAILABLE`), lacks a kernel the task needs (`ERR_MODEL_BACKEND_MISSING_KERNELS`), or the
 * name is not a backend this package knows (`ERR_MODEL_UNKNOWN_BACKEND`). `reason` is the human explanation
 * also shown by `swarmtune doctor`.
 */
export class BackendError extends ModelError {
  readonly backend: string
  readonly reason: string

  constructor (code: ModelErrorCode, backend: string, reason: string, options?: { cause?: unknown }) {
    super(code, `backend ${backend} cannot be used: ${reason}`, options)
    this.backend = backend
    this.reason = reason
  }
}

/** Training or evaluation options are out of range (batch size, epochs, steps, learning rate, optimizer). */
export class InvalidTrainOptionsError extends withCode(ModelError, 'ERR_MODEL_INVALID_TRAIN_OPTIONS') {}

/** Local training produced a non-finite loss or non-finite weights; the result is discarded. */
export class TrainingDivergedError extends withCode(ModelError, 'ERR_MODEL_TRAINING_DIVERGED') {}

/** The training worker failed to start, crashed or exited without a result. `cause` holds the worker's error. */
export class WorkerFailedError extends withCode(ModelError, 'ERR_MODEL_WORKER_FAILED') {}

/**
 * A release cannot be read or verified. `code` says which check failed: options out of range, a malformed or
 * oversized manifest, a shard that is missing, whose bytes do not hash to its CID, or whose length disagrees with
 * the manifest.
 */
export class ReleaseError extends ModelError {}

/** A tfjs model folder or a safetensors file is malformed or does not match the task it is imported for. */
export class ModelFormatError extends ModelError {}

/** LoRA factors or a kernel of shapes that do not fit together, a rank that is not a positive integer, a scale that is not finite. */
export class InvalidAdapterError extends withCode(ModelError, 'ERR_MODEL_INVALID_ADAPTER') {}

/**
 * A volunteer's own data (an image folder, a CSV file) cannot be used; `code` says why and `path` names the file or
 * folder at fault (see doc/errors.md, `## model`).
 */
export class DataSourceError extends ModelError {
  readonly path: string

  constructor (code: ModelErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.path = path
  }
}

/** A CSV file cannot be used; `row` (1-based data row, the header not counted) and `column` say where, when known. */
export class CsvDataError extends DataSourceError {
  readonly row: number | undefined
  readonly column: string | undefined

  constructor (code: ModelErrorCode, path: string, message: string, where: { row?: number, column?: string, cause?: unknown } = {}) {
    super(code, path, message, { cause: where.cause })
    this.row = where.row
    this.column = where.column
  }
}

/**
 * A task cannot be made from a model: the model spec is malformed or names layers the topology lacks
 * (`ERR_MODEL_SPEC_INVALID`), the base given is not the one the spec pins (`ERR_MODEL_BASE_MISMATCH`), or a layer
 * after the feature cut cannot be computed as a function of tensors (`ERR_MODEL_UNSUPPORTED_LAYER`).
 */
export class ModelSpecError extends ModelError {}

/** A feature cache folder cannot be used: not a folder, not writable, or holding another base's features. */
export class FeatureCacheError extends withCode(ModelError, 'ERR_MODEL_FEATURE_CACHE_UNUSABLE') {}

/**
 * A Hugging Face checkpoint folder cannot be used: an architecture or variant this package does not compute
 * (`ERR_MODEL_HF_UNSUPPORTED`), a malformed `config.json` field (`ERR_MODEL_HF_CONFIG_INVALID`), a missing or
 * unreadable file or index (`ERR_MODEL_HF_CHECKPOINT_MALFORMED`), or weights that disagree with the config: a
 * tensor missing, one it does not define, one of another shape (`ERR_MODEL_HF_TENSOR_*`, `tensor` names it); a
 * PEFT adapter folder that is malformed for the model (`ERR_MODEL_PEFT_ADAPTER_INVALID`) or a PEFT variant not
 * computed here (`ERR_MODEL_PEFT_UNSUPPORTED`); a NaN or infinite weight, or a model whose loss or logits overflow
 * (`ERR_MODEL_HF_NOT_FINITE`); a checkpoint folder that cannot be written (`ERR_MODEL_HF_EXPORT_FAILED`).
 */
export class HfCheckpointError extends ModelError {
  readonly tensor: string | undefined

  constructor (code: ModelErrorCode, message: string, options?: { tensor?: string, cause?: unknown }) {
    super(code, message, { cause: options?.cause })
    this.tensor = options?.tensor
  }
}

/** Token ids that cannot be evaluated: not integers, outside the vocabulary, fewer than two. */
export class InvalidTokensError extends withCode(ModelError, 'ERR_MODEL_INVALID_TOKENS') {}
