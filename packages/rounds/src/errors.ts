/**
 * Errors of communities and training rounds. One class per failure kind, each a `SwarmtuneError`
 * (`@swarmtune/wire`) whose `name` is its class's and whose `code` is stable (listed in doc/errors.md, section
 * `## rounds`). The HTTP status the control API answers a code with is in its one table
 * (`CONTROL_STATUS_OF_CODE` of `@swarmtune/node`), not here. Verdict codes (why a contribution was rejected)
 * are not thrown: they are recorded in `verdict` entries — {@link VERDICT_CODES}.
 */
import { SwarmtuneError, withCode } from '@swarmtune/wire'

/** Base class: every error thrown by the rounds package. */
export class RoundsError<C extends string = string> extends SwarmtuneError<C> {}

/**
 * The community is missing, its genesis file is malformed, it differs from the data folder's, or this node
 * is not one of its maintainers. Codes: `ERR_ROUNDS_BAD_GENESIS`, `ERR_ROUNDS_NO_COMMUNITY`,
 * `ERR_ROUNDS_COMMUNITY_MISMATCH`, `ERR_ROUNDS_NOT_MAINTAINER`.
 */
export class CommunityError extends RoundsError<'ERR_ROUNDS_BAD_GENESIS' | 'ERR_ROUNDS_NO_COMMUNITY' | 'ERR_ROUNDS_COMMUNITY_MISMATCH' | 'ERR_ROUNDS_NOT_MAINTAINER'> {}

/** Round parameters (from `round start` or a round-open entry) are out of range: `ERR_ROUNDS_BAD_PARAMS`. */
export class RoundParamsError extends withCode(RoundsError, 'ERR_ROUNDS_BAD_PARAMS') {}

/** `rounds.json` or the options of the rounds service do not match the schema: `ERR_ROUNDS_CONFIG_INVALID`. */
export class RoundsConfigError extends withCode(RoundsError, 'ERR_ROUNDS_CONFIG_INVALID') {}

/**
 * A round operation does not fit the round's state: `ERR_ROUNDS_ALREADY_OPEN` (one round at a time),
 * `ERR_ROUNDS_NOT_OPEN` (cancel of a closed round), `ERR_ROUNDS_NOT_FOUND`, `ERR_ROUNDS_RELEASE_NOT_FOUND`.
 */
export class RoundStateError extends RoundsError<'ERR_ROUNDS_ALREADY_OPEN' | 'ERR_ROUNDS_NOT_OPEN' | 'ERR_ROUNDS_NOT_FOUND' | 'ERR_ROUNDS_RELEASE_NOT_FOUND'> {}

/**
 * A release could not be recomputed: a listed contribution, its blob or the parent release is missing
 * (`ERR_ROUNDS_VERIFY_INCOMPLETE`). A recomputation that differs is not thrown: it is a failed report.
 */
export class ReleaseVerifyError extends withCode(RoundsError, 'ERR_ROUNDS_VERIFY_INCOMPLETE') {}

/**
 * The rounds state store is damaged, of another layout version, or already open in this process:
 * `ERR_ROUNDS_STATE_CORRUPT`, `ERR_ROUNDS_STATE_VERSION`, `ERR_ROUNDS_STATE_IN_USE`.
 */
export class RoundsStateError extends RoundsError<'ERR_ROUNDS_STATE_CORRUPT' | 'ERR_ROUNDS_STATE_VERSION' | 'ERR_ROUNDS_STATE_IN_USE'> {}

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
