/**
 * Errors of swarmtune. {@link SwarmtuneError} is the one base every error class of every package extends: a
 * stable `code` (listed in doc/errors.md), a message for people that says what happened, what was expected
 * and what to do, a `cause` where there is one, and a `name` that is its class's name. Callers and tests
 * branch on `code` or `name`, never on the message. {@link AbortError} is the one error of an operation stopped
 * through its `AbortSignal`; {@link WireError} is the one error class of the wire package (its codes are also
 * listed in protocol/README.md).
 */

/** A property every {@link SwarmtuneError} has on its prototype, under a registered symbol: seen across module copies. */
const SWARMTUNE_ERROR = Symbol.for('@swarmtune/error')

/**
 * The base of every swarmtune error. `name` is the name of the class constructed (`new LedgerLockedError(…).name`
 * is `'LedgerLockedError'`), so no subclass sets it; a subclass exists only where it adds fields or fixes the code.
 */
export class SwarmtuneError<C extends string = string> extends Error {
  /** Stable code (`ERR_<PACKAGE>_<WHAT>`, doc/errors.md). */
  readonly code: C

  /** `options.cause` becomes the error's `cause` (absent when not given). */
  constructor (code: C, message: string, options?: SwarmtuneErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}
Object.defineProperty(SwarmtuneError.prototype, SWARMTUNE_ERROR, { value: true })

/** What every {@link SwarmtuneError} constructor takes besides its code and message: the `cause`, when there is one. */
export interface SwarmtuneErrorOptions {
  cause?: unknown
}

/**
 * The base of an error class whose code is always `code`: `class X extends withCode(Base, 'ERR_…') {}` makes
 * `new X(message, options?)` a `Base` (so `instanceof Base`) with that code and the name `'X'`. `Base` is a
 * {@link SwarmtuneError} class constructed as `new Base(code, message, options?)`. A subclass that adds fields
 * declares its own constructor on top of it.
 */
export function withCode<K extends string, E extends SwarmtuneError> (
  Base: new (code: K, message: string, options?: SwarmtuneErrorOptions) => E,
  code: K
): new (message: string, options?: SwarmtuneErrorOptions) => E & { readonly code: K } {
  const base = Base as unknown as new (code: string, message: string, options?: SwarmtuneErrorOptions) => SwarmtuneError
  return class extends base {
    constructor (message: string, options?: SwarmtuneErrorOptions) {
      super(code, message, options)
    }
  } as unknown as new (message: string, options?: SwarmtuneErrorOptions) => E & { readonly code: K }
}

/**
 * True when `err` is a {@link SwarmtuneError}: an instance of this module's class, or of another copy of it
 * (two installed versions of @swarmtune/wire), known by its registered brand, its string `code` and its `name`.
 */
export function isSwarmtuneError (err: unknown): err is SwarmtuneError {
  if (err instanceof SwarmtuneError) return true
  const e = err as { [SWARMTUNE_ERROR]?: unknown, code?: unknown, name?: unknown } | null
  return err instanceof Error && e?.[SWARMTUNE_ERROR] === true && typeof e.code === 'string' && typeof e.name === 'string'
}

/**
 * An operation was stopped through its `AbortSignal` (`ERR_ABORTED`), or because its owner is closing (a
 * training worker closed, a daemon stopping); `cause` is the signal's reason when there is one. The message
 * says what was stopped and what was kept. Its `name`, `'AbortError'`, is the one the platform's and libp2p's
 * abort errors carry, so code that tells aborts apart by `name` treats it alike.
 */
export class AbortError extends withCode(SwarmtuneError, 'ERR_ABORTED') {}

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
export class WireError extends SwarmtuneError<WireErrorCode> {}

/** True when `err` is a {@link WireError} (also across module copies, by `name` and `code`). */
export function isWireError (err: unknown): err is WireError {
  return err instanceof WireError ||
    (err instanceof Error && err.name === 'WireError' && typeof (err as { code?: unknown }).code === 'string')
}
