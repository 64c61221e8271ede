/**
 * Server-side (outer) optimisers applied to the round's aggregate delta Δ (a pseudo-gradient pointing from
 * the base towards the clients' weights): the next release is `base + update`. Their state (momentum and
 * second-moment buffers, step count) is carried from round to round and serialises to bytes
 * (`encodeServerOptimizerState`), so a coordinator can restart or a verifier can replay a release.
 *
 * - `sgd`: update = η·Δ. η = 1 is plain FedAvg (McMahan et al. 2017).
 * - `momentum`: m ← μ·m + Δ; update = η·m (FedAvgM, Hsu et al. 2019, "Measuring the Effects of
 *   Non-Identical Data Distribution for Federated Visual Classification"); with `nesterov`,
 *   update = η·(Δ + μ·m) (the DiLoCo outer optimiser, Douillard et al. 2023: η = 0.7, μ = 0.9).
 * - `adam`: m ← β₁m + (1−β₁)Δ; v ← β₂v + (1−β₂)Δ²; update = η·m / (√v + τ)
 *   (FedAdam, Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2; no bias correction).
 * - `yogi`: as `adam` but v ← v − (1−β₂)·Δ²·sign(v − Δ²) (FedYogi, same paper).
 *   Both start from m = 0 and v = τ² (the paper's v₋₁ ≥ τ²).
 *
 * Every coordinate is computed in Float64 from Float32 inputs and rounded to Float32 once per output, in a
 * fixed order, so a step is the same bytes on every machine.
 */
import { DILOCO_MOMENTUM, DILOCO_SERVER_LR, FEDADAM_BETA1, FEDADAM_BETA2, FEDADAM_SERVER_LR, FEDADAM_TAU } from './constants.js'
import { InvalidConfigError, OptimizerStateError } from './errors.js'
import { decodeDelta, encodeDelta } from './codec/codecs.js'
import type { ModelSpec } from './spec.js'

/** Names of the server optimisers. */
export type ServerOptimizerKind = 'sgd' | 'momentum' | 'adam' | 'yogi'

/** Server optimiser configuration; `lr` is the server learning rate η. */
export type ServerOptimizerConfig =
  | { readonly kind: 'sgd', readonly lr: number }
  | { readonly kind: 'momentum', readonly lr: number, readonly momentum: number, readonly nesterov: boolean }
  | { readonly kind: 'adam' | 'yogi', readonly lr: number, readonly beta1: number, readonly beta2: number, readonly tau: number }

/** The optimiser kinds, for CLI choices. */
export const SERVER_OPTIMIZER_KINDS: readonly ServerOptimizerKind[] = ['sgd', 'momentum', 'adam', 'yogi']

/** Defaults per kind: plain FedAvg; DiLoCo's Nesterov momentum; Reddi et al.'s FedAdam / FedYogi. */
export const SERVER_OPTIMIZER_DEFAULTS = {
  sgd: { lr: 1 },
  momentum: { lr: DILOCO_SERVER_LR, momentum: DILOCO_MOMENTUM, nesterov: true },
  adam: { lr: FEDADAM_SERVER_LR, beta1: FEDADAM_BETA1, beta2: FEDADAM_BETA2, tau: FEDADAM_TAU },
  yogi: { lr: FEDADAM_SERVER_LR, beta1: FEDADAM_BETA1, beta2: FEDADAM_BETA2, tau: FEDADAM_TAU }
} as const

/**
 * Fills the defaults of `partial.kind` (default `sgd`, i.e. plain FedAvg) and validates.
 * @throws InvalidConfigError for an unknown kind or an out-of-range value.
 */
export function createServerOptimizerConfig (partial: { kind?: ServerOptimizerKind } & Record<string, unknown> = {}): ServerOptimizerConfig {
  const kind = partial.kind ?? 'sgd'
  const defaults = (SERVER_OPTIMIZER_DEFAULTS as Record<string, Record<string, unknown>>)[kind] ?? {}
  const config = { ...defaults, ...partial, kind } as ServerOptimizerConfig
  validateServerOptimizerConfig(config)
  return config
}

/** @throws InvalidConfigError when a value is out of range or the kind is unknown. */
export function validateServerOptimizerConfig (c: ServerOptimizerConfig): void {
  const check = (name: string, v: unknown, ok: (x: number) => boolean, range: string): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
      throw new InvalidConfigError(`server optimiser ${c.kind}: ${name} must be ${range}, got ${String(v)}`)
    }
  }
  if (!SERVER_OPTIMIZER_KINDS.includes(c.kind)) {
    throw new InvalidConfigError(`unknown server optimiser ${JSON.stringify(c.kind)}; expected one of ${SERVER_OPTIMIZER_KINDS.join(', ')}`)
  }
  check('lr', c.lr, (x) => x > 0, 'a number > 0')
  if (c.kind === 'momentum') {
    check('momentum', c.momentum, (x) => x >= 0 && x < 1, 'in [0, 1)')
    if (typeof c.nesterov !== 'boolean') throw new InvalidConfigError(`server optimiser momentum: nesterov must be a boolean, got ${String(c.nesterov)}`)
  }
  if (c.kind === 'adam' || c.kind === 'yogi') {
    check('beta1', c.beta1, (x) => x >= 0 && x < 1, 'in [0, 1)')
    check('beta2', c.beta2, (x) => x >= 0 && x < 1, 'in [0, 1)')
    check('tau', c.tau, (x) => x > 0, 'a number > 0')
  }
}

/** State carried between rounds: the number of steps taken and the optimiser's buffers (each laid out as the spec). */
export interface ServerOptimizerState {
  readonly kind: ServerOptimizerKind
  /** Rounds applied so far. */
  readonly step: number
  /** sgd: none; momentum: [m]; adam / yogi: [m, v]. */
  readonly buffers: readonly (readonly Float32Array[])[]
}

const BUFFER_COUNT: Record<ServerOptimizerKind, number> = { sgd: 0, momentum: 1, adam: 2, yogi: 2 }

/** Initial state for `config` over `spec`: zero momentum, v = τ² for adam / yogi. Memory: buffers × 4 bytes × params. */
export function initServerOptimizerState (config: ServerOptimizerConfig, spec: ModelSpec): ServerOptimizerState {
  validateServerOptimizerConfig(config)
  const buffers: Float32Array[][] = []
  for (let b = 0; b < BUFFER_COUNT[config.kind]; b++) {
    const fill = b === 1 && (config.kind === 'adam' || config.kind === 'yogi') ? config.tau * config.tau : 0
    buffers.push(spec.sizes.map((n) => new Float32Array(n).fill(fill)))
  }
  return { kind: config.kind, step: 0, buffers }
}

function checkLayout (what: string, tensors: readonly Float32Array[], spec: ModelSpec): void {
  if (tensors.length !== spec.sizes.length || tensors.some((x, t) => !(x instanceof Float32Array) || x.length !== spec.sizes[t])) {
    throw new OptimizerStateError(`${what} is not laid out as the model spec (${spec.sizes.length} tensors of sizes ${spec.sizes.join(', ')})`)
  }
}

/**
 * One server step: from the round's aggregate delta and the carried state, the update to add to the base
 * and the next state. Pure: neither argument is modified.
 * @param delta the aggregate delta, one Float32Array per tensor laid out as `spec`.
 * @returns `update` (Float32Array per tensor) and the next state (step + 1).
 * @throws OptimizerStateError if the state's kind differs from the config's or a layout differs from `spec`.
 */
export function serverStep (config: ServerOptimizerConfig, state: ServerOptimizerState, delta: readonly Float32Array[], spec: ModelSpec): { update: Float32Array[], state: ServerOptimizerState } {
  if (state.kind !== config.kind || state.buffers.length !== BUFFER_COUNT[config.kind]) {
    throw new OptimizerStateError(`the state belongs to a ${state.kind} optimiser with ${state.buffers.length} buffers, the configuration is ${config.kind}; start from initServerOptimizerState`)
  }
  checkLayout('the delta', delta, spec)
  state.buffers.forEach((b, i) => checkLayout(`state buffer ${i}`, b, spec))
  const update = spec.sizes.map((n) => new Float32Array(n))
  const buffers = state.buffers.map((b) => b.map((x) => new Float32Array(x.length)))
  for (let t = 0; t < spec.sizes.length; t++) {
    const d = delta[t]
    const u = update[t]
    switch (config.kind) {
      case 'sgd':
        for (let i = 0; i < d.length; i++) u[i] = config.lr * d[i]
        break
      case 'momentum': {
        const m0 = state.buffers[0][t]
        const m1 = buffers[0][t]
        const mu = config.momentum
        for (let i = 0; i < d.length; i++) {
          const m = mu * m0[i] + d[i]
          m1[i] = m
          u[i] = config.lr * (config.nesterov ? d[i] + mu * m1[i] : m1[i])
        }
        break
      }
      case 'adam':
      case 'yogi': {
        const { beta1, beta2, tau, lr } = config
        const m0 = state.buffers[0][t]
        const v0 = state.buffers[1][t]
        const m1 = buffers[0][t]
        const v1 = buffers[1][t]
        for (let i = 0; i < d.length; i++) {
          const g = d[i]
          const g2 = g * g
          const m = beta1 * m0[i] + (1 - beta1) * g
          const v = config.kind === 'adam'
            ? beta2 * v0[i] + (1 - beta2) * g2
            : v0[i] - (1 - beta2) * g2 * Math.sign(v0[i] - g2)
          m1[i] = m
          v1[i] = v
          u[i] = lr * m1[i] / (Math.sqrt(v1[i]) + tau)
        }
        break
      }
    }
  }
  return { update, state: { kind: config.kind, step: state.step + 1, buffers } }
}

/**
 * New weights = float32(base + update), tensor by tensor.
 * @throws OptimizerStateError if `update` is not laid out as `base`.
 */
export function applyUpdate (base: readonly Float32Array[], update: readonly Float32Array[]): Float32Array[] {
  if (base.length !== update.length || base.some((b, t) => b.length !== update[t].length)) {
    throw new OptimizerStateError('the update is not laid out as the base weights')
  }
  return base.map((b, t) => {
    const u = update[t]
    const out = new Float32Array(b.length)
    for (let i = 0; i < b.length; i++) out[i] = b[i] + u[i]
    return out
  })
}

const STATE_MAGIC = 0x534f5453 // "STOS" as a little-endian u32: swarmtune optimiser state
const STATE_HEADER_BYTES = 12

/**
 * Serialises a state: a 12-byte header (magic "STOS", version 1, kind, buffer count, step), then each buffer
 * as a u32 byte length and an fp32-encoded delta (layout in protocol/codecs.md, "Server optimiser state").
 */
export function encodeServerOptimizerState (state: ServerOptimizerState, spec: ModelSpec): Uint8Array {
  const head = new Uint8Array(STATE_HEADER_BYTES)
  const view = new DataView(head.buffer)
  view.setUint32(0, STATE_MAGIC, true)
  view.setUint8(4, 1)
  view.setUint8(5, SERVER_OPTIMIZER_KINDS.indexOf(state.kind))
  view.setUint16(6, state.buffers.length, true)
  view.setUint32(8, state.step, true)
  const parts: Uint8Array[] = [head]
  for (const b of state.buffers) {
    const body = encodeDelta(b, spec, { codec: 'fp32' })
    const len = new Uint8Array(4)
    new DataView(len.buffer).setUint32(0, body.length, true)
    parts.push(len, body)
  }
  return Buffer.concat(parts)
}

/**
 * Reads a state written by `encodeServerOptimizerState`, checking it against `config` and `spec`.
 * @throws OptimizerStateError for bytes that are malformed, of another kind or laid out differently
 *   (a codec error inside is its `cause`).
 */
export function decodeServerOptimizerState (bytes: Uint8Array, config: ServerOptimizerConfig, spec: ModelSpec): ServerOptimizerState {
  if (bytes.length < STATE_HEADER_BYTES) throw new OptimizerStateError(`optimiser state is ${bytes.length} bytes, shorter than its ${STATE_HEADER_BYTES}-byte header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== STATE_MAGIC || view.getUint8(4) !== 1) throw new OptimizerStateError('not a version 1 swarmtune optimiser state (bad magic or version)')
  const kind = SERVER_OPTIMIZER_KINDS[view.getUint8(5)]
  const count = view.getUint16(6, true)
  if (kind !== config.kind || count !== BUFFER_COUNT[config.kind]) throw new OptimizerStateError(`the state is for ${kind ?? 'an unknown optimiser'} with ${count} buffers, the configuration is ${config.kind}`)
  let off = STATE_HEADER_BYTES
  const buffers: Float32Array[][] = []
  for (let b = 0; b < count; b++) {
    if (off + 4 > bytes.length) throw new OptimizerStateError(`optimiser state ends before buffer ${b}`)
    const len = view.getUint32(off, true)
    off += 4
    if (off + len > bytes.length) throw new OptimizerStateError(`optimiser state buffer ${b} claims ${len} bytes, only ${bytes.length - off} remain`)
    try {
      const d = decodeDelta(bytes.subarray(off, off + len), { spec })
      if (d.codec !== 'fp32') throw new OptimizerStateError(`optimiser state buffer ${b} is ${d.codec}, expected fp32`)
      buffers.push(d.tensors)
    } catch (err) {
      if (err instanceof OptimizerStateError) throw err
      throw new OptimizerStateError(`optimiser state buffer ${b} is malformed: ${(err as Error).message}`, { cause: err })
    }
    off += len
  }
  if (off !== bytes.length) throw new OptimizerStateError(`optimiser state has ${bytes.length - off} trailing bytes`)
  return { kind, step: view.getUint32(8, true), buffers }
}
