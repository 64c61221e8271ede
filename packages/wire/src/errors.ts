/**
 * The one error class of the wire package. Every failure carries a stable `code` (listed in
 * doc/errors.md under `## wire` and in protocol/README.md); callers and tests branch on `code`, never on
 * the message, which says what happened, what was expected and what to do.
 */

/** Stable error codes of the wire package. */
export const WIRE_ERROR_CODES = [
  'ERR_WIRE_NOT_BYTES',
  'ERR_WIRE_FRAME_TOO_LARGE',
  'ERR_WIRE_TRUNCATED',
  'ERR_WIRE_TRAILING_BYTES',
  'ERR_WIRE_TOO_DEEP',
  'ERR_WIRE_ARRAY_TOO_LONG',
  'ERR_WIRE_MAP_TOO_LARGE',
  'ERR_WIRE_STRING_TOO_LONG',
  'ERR_WIRE_BIN_TOO_LONG',
  'ERR_WIRE_TOO_MANY_ITEMS',
  'ERR_WIRE_FORBIDDEN_TYPE',
  'ERR_WIRE_NON_FINITE',
  'ERR_WIRE_BAD_UTF8',
  'ERR_WIRE_BAD_KEY',
  'ERR_WIRE_DUPLICATE_KEY',
  'ERR_WIRE_NOT_CANONICAL',
  'ERR_WIRE_BAD_CID',
  'ERR_WIRE_BAD_ENTRY',
  'ERR_WIRE_UNKNOWN_KIND',
  'ERR_WIRE_UNSUPPORTED_VERSION',
  'ERR_WIRE_ENTRY_TOO_LARGE',
  'ERR_WIRE_BAD_BODY',
  'ERR_WIRE_MISSING_SIGNATURE',
  'ERR_WIRE_BAD_SIGNATURE',
  'ERR_WIRE_WEAK_KEY',
  'ERR_WIRE_SMALL_ORDER_R',
  'ERR_WIRE_WRONG_KEY',
  'ERR_WIRE_WRONG_COMMUNITY',
  'ERR_WIRE_FROM_FUTURE',
  'ERR_WIRE_BAD_LIMITS',
  'ERR_WIRE_INTERNAL'
] as const

/** One of {@link WIRE_ERROR_CODES}. */
export type WireErrorCode = typeof WIRE_ERROR_CODES[number]

/** Every error thrown by this package: a stable `code`, a message for people, and a `cause` where there is one. */
export class WireError extends Error {
  readonly code: WireErrorCode

  constructor (code: WireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'WireError'
  }
}

/** True when `err` is a {@link WireError} (also across module copies, by `name` and `code`). */
export function isWireError (err: unknown): err is WireError {
  return err instanceof WireError ||
    (err instanceof Error && err.name === 'WireError' && typeof (err as { code?: unknown }).code === 'string')
}
