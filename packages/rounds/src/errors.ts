/**
 * Errors of communities and training rounds. One class per failure kind, each with a fixed `name` and a
 * stable `code` (listed in doc/errors.md, section `## rounds`); `statusCode` is the HTTP status the control
 * API answers with. Verdict codes (why a contribution was rejected) are not thrown: they are recorded in
 * `verdict` entries — {@link VERDICT_CODES}.
 */
import { NodeError } from '@swarmtune/node'

/** Base class: every error thrown by the rounds module. */
export class RoundsError extends NodeError {
  override name = 'RoundsError'
  /** HTTP status of the control API reply. */
  readonly statusCode: number
  constructor (code: string, message: string, options?: { cause?: unknown, statusCode?: number }) {
    super(code, message, options)
    this.statusCode = options?.statusCode ?? 500
  }
}

/**
 * The community is missing, its genesis file is malformed, it differs from the data folder's, or this node
 * is not one of its maintainers. Codes: `ERR_ROUNDS_BAD_GENESIS`, `ERR_ROUNDS_NO_COMMUNITY`,
 * `ERR_ROUNDS_COMMUNITY_MISMATCH`, `ERR_ROUNDS_NOT_MAINTAINER`.
 */
export class CommunityError extends RoundsError {
  override name = 'CommunityError'
  constructor (code: 'ERR_ROUNDS_BAD_GENESIS' | 'ERR_ROUNDS_NO_COMMUNITY' | 'ERR_ROUNDS_COMMUNITY_MISMATCH' | 'ERR_ROUNDS_NOT_MAINTAINER', message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, statusCode: code === 'ERR_ROUNDS_NOT_MAINTAINER' ? 403 : code === 'ERR_ROUNDS_NO_COMMUNITY' ? 409 : 400 })
  }
}

/** Round parameters (from `round start` or a round-open entry) are out of range: `ERR_ROUNDS_BAD_PARAMS`. */
export class RoundParamsError extends RoundsError {
  override name = 'RoundParamsError'
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_ROUNDS_BAD_PARAMS', message, { ...options, statusCode: 400 })
  }
}

/** `rounds.json` or the options of the rounds service do not match the schema: `ERR_ROUNDS_CONFIG_INVALID`. */
export class RoundsConfigError extends RoundsError {
  override name = 'RoundsConfigError'
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_ROUNDS_CONFIG_INVALID', message, { ...options, statusCode: 400 })
  }
}

/**
 * A round operation does not fit the round's state: `ERR_ROUNDS_ALREADY_OPEN` (one round at a time),
 * `ERR_ROUNDS_NOT_OPEN` (cancel of a closed round), `ERR_ROUNDS_NOT_FOUND`, `ERR_ROUNDS_RELEASE_NOT_FOUND`.
 */
export class RoundStateError extends RoundsError {
  override name = 'RoundStateError'
  constructor (code: 'ERR_ROUNDS_ALREADY_OPEN' | 'ERR_ROUNDS_NOT_OPEN' | 'ERR_ROUNDS_NOT_FOUND' | 'ERR_ROUNDS_RELEASE_NOT_FOUND', message: string) {
    super(code, message, { statusCode: code === 'ERR_ROUNDS_NOT_FOUND' || code === 'ERR_ROUNDS_RELEASE_NOT_FOUND' ? 404 : 409 })
  }
}

/**
 * A release could not be recomputed: a listed contribution, its blob or the parent release is missing
 * (`ERR_ROUNDS_VERIFY_INCOMPLETE`). A recomputation that differs is not thrown: it is a failed report.
 */
export class ReleaseVerifyError extends RoundsError {
  override name = 'ReleaseVerifyError'
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_ROUNDS_VERIFY_INCOMPLETE', message, { ...options, statusCode: 422 })
  }
}

/** The rounds state store is damaged or of another layout version: `ERR_ROUNDS_STATE_CORRUPT`, `ERR_ROUNDS_STATE_VERSION`. */
export class RoundsStateError extends RoundsError {
  override name = 'RoundsStateError'
  constructor (code: 'ERR_ROUNDS_STATE_CORRUPT' | 'ERR_ROUNDS_STATE_VERSION' | 'ERR_ROUNDS_STATE_IN_USE', message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, statusCode: 500 })
  }
}

/**
 * Codes a coordinator records in a rejecting `verdict` besides the `ERR_FEDAVG_*` codes of delta
 * validation. Stable strings; doc/errors.md (`## rounds`) says what each means and what to do.
 */
export const VERDICT_CODES = [
  'ERR_ROUNDS_LATE',
  'ERR_ROUNDS_WRONG_ROUND',
  'ERR_ROUNDS_STALE_BASE',
  'ERR_ROUNDS_CODEC_MISMATCH',
  'ERR_ROUNDS_TOO_MANY_SAMPLES',
  'ERR_ROUNDS_DUPLICATE',
  'ERR_ROUNDS_REPLAYED',
  'ERR_ROUNDS_BLOB_UNAVAILABLE',
  'ERR_ROUNDS_NO_QUORUM',
  'ERR_ROUNDS_CANCELLED'
] as const

/** One of {@link VERDICT_CODES}. */
export type VerdictCode = typeof VERDICT_CODES[number]
