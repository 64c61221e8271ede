/**
 * One entry point for every aggregator: validate all contributions first, put the accepted ones in
 * canonical order, then merge them with the configured rule.
 */
import { CENTERED_CLIP_ITERATIONS } from './constants.js'
import { centeredClip } from './centered-clip.js'
import { compareIds, screen, type Contribution, type ValidationOptions } from './contribution.js'
import { medianOfSorted, reduceSortedColumns, trimmedMeanOfSorted } from './coordinatewise.js'
import { InvalidConfigError } from './errors.js'
import { weightedMean } from './fedavg.js'
import { krumSelect } from './krum.js'
import { noUpdate, type AggregateResult } from './result.js'
import type { ModelSpec } from './spec.js'

/** Names of the aggregators. */
export type AggregatorKind = 'fedavg' | 'norm-clip' | 'median' | 'trimmed-mean' | 'krum' | 'centered-clip'

/** Aggregator configuration: a discriminated union on `kind`. */
export type AggregatorConfig =
  /** Weighted mean by sample count (McMahan et al. 2017). */
  | { readonly kind: 'fedavg' }
  /** Each delta clipped to L2 norm `clipNorm`, then the weighted mean. */
  | { readonly kind: 'norm-clip', readonly clipNorm: number }
  /** Coordinate-wise median (Yin et al. 2018). */
  | { readonly kind: 'median' }
  /** Coordinate-wise mean after dropping ⌊β·n⌋ values at each end, 0 ≤ β < 0.5 (Yin et al. 2018). */
  | { readonly kind: 'trimmed-mean', readonly beta: number }
  /** Krum (`select` = 1) or Multi-Krum (`select` = m > 1) tolerating `byzantine` = f deltas (Blanchard et al. 2017). */
  | { readonly kind: 'krum', readonly byzantine: number, readonly select: number }
  /** CenteredClip with radius `tau` (default: adaptive) and `iterations` (Karimireddy et al. 2021). */
  | { readonly kind: 'centered-clip', readonly tau?: number, readonly iterations: number }

/** Defaults filled in by `createAggregatorConfig` for each kind. */
export const AGGREGATOR_DEFAULTS = {
  'norm-clip': { clipNorm: 1 },
  'trimmed-mean': { beta: 0.1 },
  krum: { byzantine: 1, select: 1 },
  'centered-clip': { iterations: CENTERED_CLIP_ITERATIONS }
} as const

/** The aggregator names, for CLI choices. */
export const AGGREGATOR_KINDS: readonly AggregatorKind[] = ['fedavg', 'norm-clip', 'median', 'trimmed-mean', 'krum', 'centered-clip']

/**
 * Fills the defaults of `partial.kind` (default `fedavg`) and validates.
 * @throws InvalidConfigError for an unknown kind or an out-of-range parameter.
 */
export function createAggregatorConfig (partial: { kind?: AggregatorKind } & Record<string, unknown> = {}): AggregatorConfig {
  const kind = partial.kind ?? 'fedavg'
  const defaults: Record<string, unknown> = (AGGREGATOR_DEFAULTS as Record<string, Record<string, unknown>>)[kind] ?? {}
  const config = { ...defaults, ...partial, kind } as AggregatorConfig
  validateAggregatorConfig(config)
  return config
}

function isNumberIn (v: unknown, min: number, max: number, integer = false): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v))
}

/** @throws InvalidConfigError when a parameter is out of range or the kind is unknown. */
export function validateAggregatorConfig (c: AggregatorConfig): void {
  const bad = (what: string): never => { throw new InvalidConfigError(`aggregator ${c.kind}: ${what}`) }
  switch (c.kind) {
    case 'fedavg':
    case 'median':
      return
    case 'norm-clip':
      if (!isNumberIn(c.clipNorm, Number.MIN_VALUE, Number.MAX_VALUE)) bad(`clipNorm must be a finite number > 0, got ${String(c.clipNorm)}`)
      return
    case 'trimmed-mean':
      if (!isNumberIn(c.beta, 0, 0.5) || c.beta === 0.5) bad(`beta must be in [0, 0.5), got ${String(c.beta)}`)
      return
    case 'krum':
      if (!isNumberIn(c.byzantine, 0, 1e6, true)) bad(`byzantine (f) must be an integer ≥ 0, got ${String(c.byzantine)}`)
      if (!isNumberIn(c.select, 1, 1e6, true)) bad(`select (m) must be an integer ≥ 1, got ${String(c.select)}`)
      return
    case 'centered-clip':
      if (c.tau !== undefined && !isNumberIn(c.tau, Number.MIN_VALUE, Number.MAX_VALUE)) bad(`tau must be a finite number > 0, got ${String(c.tau)}`)
      if (!isNumberIn(c.iterations, 1, 1000, true)) bad(`iterations must be an integer in [1, 1000], got ${String(c.iterations)}`)
      return
    default:
      throw new InvalidConfigError(`unknown aggregator ${JSON.stringify((c as { kind: unknown }).kind)}; expected one of ${AGGREGATOR_KINDS.join(', ')}`)
  }
}

/** Options of `aggregate`. */
export interface AggregateOptions extends ValidationOptions {
  /** CenteredClip only: starting centre (e.g. the previous round's aggregate), laid out as the spec. */
  readonly center?: readonly Float32Array[]
}

/**
 * Aggregates a round's contributions, given in any order.
 *
 * 1. every contribution is validated (`checkContribution`): invalid ones are rejected before any
 *    arithmetic on their values and listed in `rejected` with a code;
 * 2. the accepted ones are sorted by id bytes (canonical order); duplicated ids are all rejected;
 * 3. the configured rule merges them into one delta (Float32Array per tensor, the spec's shapes).
 *
 * No accepted contribution gives `{ status: 'no-update' }`. The output bytes do not depend on the order of
 * `contributions`. FedAvg and norm clipping stream in O(model) extra memory (a chunked Float64 sum);
 * median, trimmed mean, Krum and CenteredClip read all n deltas (held by the caller) chunk by chunk — see
 * each aggregator's memory note.
 *
 * @throws InvalidConfigError for a bad configuration or a `center` not laid out as the spec.
 * @throws TooFewDeltasError when Krum has fewer than 2f + 3 accepted deltas.
 */
export function aggregate (contributions: readonly Contribution[], spec: ModelSpec, config: AggregatorConfig, options: AggregateOptions = {}): AggregateResult {
  validateAggregatorConfig(config)
  for (const key of ['maxNorm', 'maxWeight'] as const) {
    const v = options[key]
    if (v !== undefined && !isNumberIn(v, Number.MIN_VALUE, Number.MAX_VALUE)) throw new InvalidConfigError(`${key} must be a finite number > 0, got ${String(v)}`)
  }
  if (options.center !== undefined && (options.center.length !== spec.sizes.length || options.center.some((c, t) => !(c instanceof Float32Array) || c.length !== spec.sizes[t]))) {
    throw new InvalidConfigError('center must hold one Float32Array per tensor, laid out as the model spec')
  }
  const { accepted, rejected } = screen(contributions, spec, options)
  if (accepted.length === 0) return noUpdate(rejected)
  const totalWeight = accepted.reduce((s, a) => s + a.contribution.weight, 0)
  const ids = accepted.map((a) => a.contribution.id)
  switch (config.kind) {
    case 'fedavg':
      return weightedMean(accepted, rejected, spec)
    case 'norm-clip':
      return weightedMean(accepted, rejected, spec, config.clipNorm)
    case 'median':
      return { status: 'update', delta: reduceSortedColumns(accepted, spec, medianOfSorted), accepted: ids, rejected, totalWeight }
    case 'trimmed-mean':
      return { status: 'update', delta: reduceSortedColumns(accepted, spec, trimmedMeanOfSorted(config.beta)), accepted: ids, rejected, totalWeight }
    case 'krum': {
      const { selected, excluded } = krumSelect(accepted, spec, config.byzantine, config.select)
      return weightedMean(selected, [...rejected, ...excluded].sort((a, b) => compareIds(a.id, b.id)), spec)
    }
    case 'centered-clip':
      return {
        status: 'update',
        delta: centeredClip(accepted, spec, { tau: config.tau, iterations: config.iterations, center: options.center }),
        accepted: ids,
        rejected,
        totalWeight
      }
  }
}

