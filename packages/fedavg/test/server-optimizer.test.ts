import { describe, expect, it } from 'vitest'
import {
  applyUpdate, createModelSpec, createServerOptimizerConfig, decodeServerOptimizerState, encodeServerOptimizerState,
  initServerOptimizerState, serverStep, type ServerOptimizerConfig, type ServerOptimizerState
} from '../src/index.js'

const spec = createModelSpec([[2]])
const d1 = [Float32Array.of(1, -2)]
const d2 = [Float32Array.of(0.5, 4)]

function run (config: ServerOptimizerConfig, deltas: Float32Array[][]): { updates: number[][], state: ServerOptimizerState } {
  let state = initServerOptimizerState(config, spec)
  const updates: number[][] = []
  for (const d of deltas) {
    const r = serverStep(config, state, d, spec)
    updates.push([...r.update[0]])
    state = r.state
  }
  return { updates, state }
}

const f32 = (xs: number[]): number[] => xs.map(Math.fround)

describe('server optimisers, two rounds by hand', () => {
  it('sgd: update = η·Δ (η = 1 is plain FedAvg)', () => {
    expect(run(createServerOptimizerConfig(), [d1]).updates).toEqual([[1, -2]])
    expect(run(createServerOptimizerConfig({ kind: 'sgd', lr: 0.5 }), [d1, d2]).updates).toEqual([[0.5, -1], [0.25, 2]])
  })

  it('FedAvgM: m ← μm + Δ, update = η·m', () => {
    const { updates, state } = run({ kind: 'momentum', lr: 0.5, momentum: 0.9, nesterov: false }, [d1, d2])
    // m1 = (1, -2); m2 = 0.9·m1 + d2 = (1.4, 2.2)
    expect(updates[0]).toEqual([0.5, -1])
    expect(updates[1]).toEqual(f32([0.5 * Math.fround(1.4), 0.5 * Math.fround(2.2)]))
    expect([...state.buffers[0][0]]).toEqual(f32([1.4, 2.2]))
    expect(state.step).toBe(2)
  })

  it('Nesterov (DiLoCo defaults η = 0.7, μ = 0.9): update = η·(Δ + μ·m)', () => {
    const config = createServerOptimizerConfig({ kind: 'momentum' })
    expect(config).toEqual({ kind: 'momentum', lr: 0.7, momentum: 0.9, nesterov: true })
    const { updates } = run(config, [d1, d2])
    // round 1: m = (1, -2); update = 0.7·(Δ + 0.9·m) = 0.7·1.9·Δ
    expect(updates[0]).toEqual(f32([0.7 * 1.9, 0.7 * -3.8]))
    // round 2: m = (1.4, 2.2); update = 0.7·((0.5, 4) + 0.9·m)
    expect(updates[1]).toEqual(f32([0.7 * (0.5 + 0.9 * Math.fround(1.4)), 0.7 * (4 + 0.9 * Math.fround(2.2))]))
  })

  it('FedAdam: m, v moments without bias correction, v₀ = τ² (Reddi et al. 2021)', () => {
    const config: ServerOptimizerConfig = { kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 }
    const { updates, state } = run(config, [d1])
    const m = [0.1 * 1, 0.1 * -2]
    const v = [0.99 * 1e-6 + 0.01 * 1, 0.99 * 1e-6 + 0.01 * 4]
    expect(updates[0][0]).toBeCloseTo(0.1 * m[0] / (Math.sqrt(v[0]) + 1e-3), 6)
    expect(updates[0][1]).toBeCloseTo(0.1 * m[1] / (Math.sqrt(v[1]) + 1e-3), 6)
    expect([...state.buffers[1][0]]).toEqual(f32(v))
  })

  it('FedYogi: v ← v − (1−β₂)·Δ²·sign(v − Δ²)', () => {
    const config = createServerOptimizerConfig({ kind: 'yogi', lr: 0.1 })
    const { state } = run(config, [d1, d2])
    const v1 = [1e-6 + 0.01 * 1, 1e-6 + 0.01 * 4].map(Math.fround) // v₀ < Δ²: v grows by (1−β₂)Δ²
    const v2 = [v1[0] + 0.01 * 0.25, v1[1] + 0.01 * 16]
    expect([...state.buffers[1][0]]).toEqual(f32(v2))
    // and shrinks when v > Δ²
    const big = { kind: 'yogi', step: 0, buffers: [[Float32Array.of(0, 0)], [Float32Array.of(10, 10)]] } as const
    const r = serverStep(config, big, [Float32Array.of(1, 0)], spec)
    expect([...r.state.buffers[1][0]]).toEqual(f32([10 - 0.01, 10]))
  })

  it('applyUpdate adds the update to the base weights', () => {
    expect([...applyUpdate([Float32Array.of(1, 1)], [Float32Array.of(0.5, -2)])[0]]).toEqual([1.5, -1])
  })
})

describe('optimiser state', () => {
  it('round-trips through bytes and continues identically', () => {
    for (const kind of ['sgd', 'momentum', 'adam', 'yogi'] as const) {
      const config = createServerOptimizerConfig({ kind })
      const { state } = run(config, [d1, d2])
      const bytes = encodeServerOptimizerState(state, spec)
      const back = decodeServerOptimizerState(bytes, config, spec)
      expect(back.step).toBe(2)
      expect(back).toEqual(state)
      const a = serverStep(config, state, d1, spec)
      const b = serverStep(config, back, d1, spec)
      expect(Buffer.from(b.update[0].buffer)).toEqual(Buffer.from(a.update[0].buffer))
      expect(b.state).toEqual(a.state)
    }
  })

  it('refuses a state of another optimiser, another layout or malformed bytes', () => {
    const adam = createServerOptimizerConfig({ kind: 'adam' })
    const momentum = createServerOptimizerConfig({ kind: 'momentum' })
    const state = initServerOptimizerState(adam, spec)
    expect(() => serverStep(momentum, state, d1, spec)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_OPTIMIZER_STATE' }))
    expect(() => serverStep(adam, state, [Float32Array.of(1)], spec)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_OPTIMIZER_STATE' }))
    const bytes = encodeServerOptimizerState(state, spec)
    expect(() => decodeServerOptimizerState(bytes, momentum, spec)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_OPTIMIZER_STATE' }))
    expect(() => decodeServerOptimizerState(bytes, adam, createModelSpec([[3]]))).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_OPTIMIZER_STATE' }))
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeServerOptimizerState(bytes.subarray(0, cut), adam, spec)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_OPTIMIZER_STATE' }))
    }
    expect(() => decodeServerOptimizerState(Buffer.concat([bytes, Uint8Array.of(0)]), adam, spec)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_OPTIMIZER_STATE' }))
  })

  it('rejects bad configurations at start-up', () => {
    for (const bad of [{ kind: 'sgd', lr: 0 }, { kind: 'momentum', momentum: 1 }, { kind: 'adam', beta2: -0.1 }, { kind: 'yogi', tau: 0 }, { kind: 'lamb' }]) {
      expect(() => createServerOptimizerConfig(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
    }
  })
})
