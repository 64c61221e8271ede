/**
 * Decode limits: an interface, the v1 defaults, a merge and a check. The defaults are protocol v1's
 * (protocol/limits.md); a caller may tighten them (a test, a memory-starved peer) but a frame accepted
 * under tighter limits is always accepted under the defaults.
 */
import {
  MAX_ARRAY_LENGTH, MAX_BIN_BYTES, MAX_CHECKPOINT_BYTES, MAX_CONTRIBUTION_BYTES, MAX_DEPTH, MAX_FRAME_BYTES,
  MAX_ENTRY_ITEMS, MAX_GENESIS_BYTES, MAX_ITEMS, MAX_MAP_SIZE, MAX_RELEASE_BYTES, MAX_ROUND_CLOSE_BYTES, MAX_ROUND_OPEN_BYTES,
  MAX_STRING_BYTES, MAX_VERDICT_BYTES
} from './constants.js'
import { WireError } from './errors.js'
import { ENTRY_KINDS, type EntryKind } from './kinds.js'

/** Limits applied while decoding untrusted bytes. All sizes in bytes, lengths in elements. */
export interface Limits {
  /** Largest frame, in bytes, checked before any decoding. */
  readonly maxFrameBytes: number
  /** Deepest nesting of arrays and maps (the outermost container counts 1). */
  readonly maxDepth: number
  /** Most elements in one array. */
  readonly maxArrayLength: number
  /** Most key–value pairs in one map. */
  readonly maxMapSize: number
  /** Longest string, in UTF-8 bytes. */
  readonly maxStringBytes: number
  /** Longest byte string (msgpack bin), in bytes. */
  readonly maxBinBytes: number
  /** Most msgpack values in one frame (scalars, containers and map keys each count 1). */
  readonly maxItems: number
  /** Most msgpack values in one entry frame (checked by the pre-scan of entry validation, with maxItems). */
  readonly maxEntryItems: number
  /** Largest entry frame of each kind, in bytes. */
  readonly perKind: Readonly<Record<EntryKind, number>>
}

/** A partial set of limits to merge over the defaults; `perKind` may name only some kinds. */
export type LimitsInit = Partial<Omit<Limits, 'perKind'>> & { perKind?: Partial<Record<EntryKind, number>> }

/** Protocol v1 limits (protocol/limits.md gives the reason for each). */
export const LIMITS: Limits = Object.freeze({
  maxFrameBytes: MAX_FRAME_BYTES,
  maxDepth: MAX_DEPTH,
  maxArrayLength: MAX_ARRAY_LENGTH,
  maxMapSize: MAX_MAP_SIZE,
  maxStringBytes: MAX_STRING_BYTES,
  maxBinBytes: MAX_BIN_BYTES,
  maxItems: MAX_ITEMS,
  maxEntryItems: MAX_ENTRY_ITEMS,
  perKind: Object.freeze({
    genesis: MAX_GENESIS_BYTES,
    'round-open': MAX_ROUND_OPEN_BYTES,
    contribution: MAX_CONTRIBUTION_BYTES,
    verdict: MAX_VERDICT_BYTES,
    release: MAX_RELEASE_BYTES,
    'round-close': MAX_ROUND_CLOSE_BYTES,
    checkpoint: MAX_CHECKPOINT_BYTES
  })
})

const SCALAR_KEYS = ['maxFrameBytes', 'maxDepth', 'maxArrayLength', 'maxMapSize', 'maxStringBytes', 'maxBinBytes', 'maxItems', 'maxEntryItems'] as const

/**
 * Merges `init` over {@link LIMITS} and validates the result.
 * @throws WireError `ERR_WIRE_BAD_LIMITS` when a limit is not a positive safe integer.
 */
export function createLimits (init?: LimitsInit): Limits {
  if (init === undefined || init === LIMITS) return LIMITS
  const limits: Limits = {
    ...LIMITS,
    ...stripUndefined(init),
    perKind: { ...LIMITS.perKind, ...stripUndefined(init.perKind ?? {}) }
  }
  validateLimits(limits)
  return limits
}

/**
 * Checks that every limit is a positive safe integer.
 * @throws WireError `ERR_WIRE_BAD_LIMITS`
 */
export function validateLimits (limits: Limits): void {
  for (const key of SCALAR_KEYS) checkLimit(key, limits[key])
  for (const kind of ENTRY_KINDS) checkLimit(`perKind.${kind}`, limits.perKind[kind])
}

/** Largest frame any entry kind may have under `limits`, in bytes. */
export function maxEntryBytes (limits: Limits): number {
  let max = 0
  for (const kind of ENTRY_KINDS) max = Math.max(max, limits.perKind[kind])
  return Math.min(max, limits.maxFrameBytes)
}

function checkLimit (name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new WireError('ERR_WIRE_BAD_LIMITS',
      `limit ${name} is ${String(value)}; expected a positive safe integer. Fix the limits passed to the wire codec.`)
  }
}

function stripUndefined<T extends object> (value: T): Partial<T> {
  const out: Partial<T> = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}
