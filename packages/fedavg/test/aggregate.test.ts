import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { testSeed } from '@swarmtune/test-support'
import {
  aggregate, assertContribution, createAggregatorConfig, createModelSpec, FedAvgAccumulator, fedAvg, CHUNK_COORDS, MAX_MODEL_PARAMS,
  type AggregatorConfig, type Contribution
} from '../src/index.js'
import { bytesOf, id, prng, randomDelta } from './helpers.js'

// Five contributions over a model of two tensors ([2] and [1]); C is an outlier on coordinate 1.
const spec = createModelSpec([[2], [1]])
const rows: Array<[number, number, [number, number, number]]> = [
  [1, 1, [1, 2, 3]], // A
  [2, 3, [5, -2, 1]], // B
  [3, 1, [0, 100, -1]], // C
  [4, 1, [2, 4, 0]], // D
  [5, 1, [-3, 1, 2]] // E
]
const contributions: Contribution[] = rows.map(([i, w, v]) => ({
  id: id(i), weight: w, delta: [Float32Array.of(v[0], v[1]), Float32Array.of(v[2])]
}))

function values (config: AggregatorConfig, list = contributions, options = {}): number[] {
  const r = aggregate(list, spec, config, options)
  if (r.status !== 'update') throw new Error('expected an update')
  return [...r.delta[0], ...r.delta[1]]
}

const f32 = (xs: number[]): number[] => xs.map(Math.fround)

describe('aggregators on hand-computed inputs', () => {
  it('FedAvg is the sample-weighted mean (weights 1,3,1,1,1; total 7)', () => {
    expect(values({ kind: 'fedavg' })).toEqual(f32([15 / 7, 101 / 7, 7 / 7]))
  })

  it('norm clipping scales each delta to L2 ≤ C before the weighted mean', () => {
    const s = (norm: number): number => Math.min(1, 5 / norm) // C = 5
    const scaled = [s(Math.sqrt(14)) * 1, s(Math.sqrt(30)) * 3, s(Math.sqrt(10001)), s(Math.sqrt(20)), s(Math.sqrt(14))]
    const expected = [0, 1, 2].map((j) => rows.reduce((acc, r, i) => acc + scaled[i] * r[2][j], 0) / 7)
    const got = values({ kind: 'norm-clip', clipNorm: 5 })
    got.forEach((g, j) => expect(g).toBeCloseTo(expected[j], 5))
  })

  it('coordinate-wise median ignores the outlier', () => {
    expect(values({ kind: 'median' })).toEqual([1, 2, 1])
    // even count: mean of the two middle values
    expect(values({ kind: 'median' }, contributions.slice(0, 4))).toEqual([1.5, 3, 0.5])
  })

  it('trimmed mean drops ⌊βn⌋ values at each end (β = 0.2, n = 5: one each side)', () => {
    expect(values({ kind: 'trimmed-mean', beta: 0.2 })).toEqual(f32([1, 7 / 3, 1]))
    expect(values({ kind: 'trimmed-mean', beta: 0 })).toEqual(f32([1, 21, 1])) // β = 0 is the plain mean
  })

  it('Krum picks the delta with the lowest score (f = 1: sum of 2 nearest squared distances)', () => {
    // scores: A 32, B 82, C 18842, D 52, E 56
    expect(values({ kind: 'krum', byzantine: 1, select: 1 })).toEqual([1, 2, 3])
    const r = aggregate(contributions, spec, { kind: 'krum', byzantine: 1, select: 1 })
    expect(r.accepted).toEqual([id(1)])
    expect(r.rejected.map((x) => [x.id[0], x.code])).toEqual([[2, 'ERR_FEDAVG_OUTLIER'], [3, 'ERR_FEDAVG_OUTLIER'], [4, 'ERR_FEDAVG_OUTLIER'], [5, 'ERR_FEDAVG_OUTLIER']])
  })

  it('Multi-Krum averages the m lowest-scoring deltas (A, D, E)', () => {
    expect(values({ kind: 'krum', byzantine: 1, select: 3 })).toEqual(f32([0, 7 / 3, 5 / 3]))
  })

  it('Krum refuses fewer than 2f + 3 deltas', () => {
    expect(() => aggregate(contributions, spec, { kind: 'krum', byzantine: 2, select: 1 })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_TOO_FEW_DELTAS' }))
  })

  it('CenteredClip: one iteration from 0 with τ = 1 is the mean of the unit-normalised deltas', () => {
    const norms = [14, 30, 10001, 20, 14].map(Math.sqrt)
    const expected = [0, 1, 2].map((j) => rows.reduce((acc, r, i) => acc + r[2][j] / norms[i], 0) / 5)
    const got = values({ kind: 'centered-clip', tau: 1, iterations: 1 }, contributions, { center: [new Float32Array(2), new Float32Array(1)] })
    got.forEach((g, j) => expect(g).toBeCloseTo(expected[j], 6))
  })

  it('CenteredClip with a radius larger than every distance is the plain mean', () => {
    expect(values({ kind: 'centered-clip', tau: 1e6, iterations: 1 }, contributions, { center: [new Float32Array(2), new Float32Array(1)] })).toEqual([1, 21, 1])
  })

  it('CenteredClip from its default start (the median) stays near the honest deltas', () => {
    const got = values(createAggregatorConfig({ kind: 'centered-clip' }))
    expect(Math.abs(got[1] - 2)).toBeLessThan(5) // FedAvg gives 14.4 on this coordinate
  })
})

describe('validation before arithmetic', () => {
  const bad: Array<[string, Contribution]> = [
    ['ERR_FEDAVG_NON_FINITE', { id: id(10), weight: 1, delta: [Float32Array.of(1, NaN), Float32Array.of(0)] }],
    ['ERR_FEDAVG_NON_FINITE', { id: id(11), weight: 1, delta: [Float32Array.of(1, 1), Float32Array.of(-Infinity)] }],
    ['ERR_FEDAVG_INVALID_WEIGHT', { id: id(12), weight: 0, delta: [Float32Array.of(1, 1), Float32Array.of(1)] }],
    ['ERR_FEDAVG_INVALID_WEIGHT', { id: id(13), weight: NaN, delta: [Float32Array.of(1, 1), Float32Array.of(1)] }],
    ['ERR_FEDAVG_INVALID_WEIGHT', { id: id(14), weight: -2, delta: [Float32Array.of(1, 1), Float32Array.of(1)] }],
    ['ERR_FEDAVG_TENSOR_COUNT', { id: id(15), weight: 1, delta: [Float32Array.of(1, 1)] }],
    ['ERR_FEDAVG_SHAPE_MISMATCH', { id: id(16), weight: 1, delta: [Float32Array.of(1, 1, 1), Float32Array.of(1)] }],
    ['ERR_FEDAVG_SHAPE_MISMATCH', { id: id(17), weight: 1, delta: [Float32Array.of(1, 1), Float32Array.of(1)], shapes: [[1, 2], [1]] }],
    ['ERR_FEDAVG_SHAPE_MISMATCH', { id: id(18), weight: 1, delta: [new Float64Array(2) as unknown as Float32Array, Float32Array.of(1)] }],
    ['ERR_FEDAVG_INVALID_ID', { id: new Uint8Array(0), weight: 1, delta: [Float32Array.of(1, 1), Float32Array.of(1)] }],
    ['ERR_FEDAVG_NORM_BOUND', { id: id(19), weight: 1, delta: [Float32Array.of(1000, 0), Float32Array.of(0)] }]
  ]

  for (const config of [{ kind: 'fedavg' }, { kind: 'median' }, { kind: 'trimmed-mean', beta: 0.2 }, { kind: 'centered-clip', iterations: 3 }] as AggregatorConfig[]) {
    it(`${config.kind}: invalid contributions are rejected with their code and leave the result byte-identical`, () => {
      const honest = aggregate(contributions, spec, config, { maxNorm: 200 })
      const mixed = aggregate([...bad.map((b) => b[1]), ...contributions], spec, config, { maxNorm: 200 })
      expect(mixed.status).toBe('update')
      if (mixed.status !== 'update' || honest.status !== 'update') return
      expect(bytesOf(mixed.delta)).toEqual(bytesOf(honest.delta))
      expect(mixed.accepted).toEqual(honest.accepted)
      expect(mixed.rejected.map((r) => r.code).sort()).toEqual(bad.map((b) => b[0]).sort())
    })
  }

  it('a weight above the round\'s maxWeight (a claim of 1e12 samples) is rejected, not clamped, by every aggregator and the accumulator; a weight at the bound counts in full', () => {
    const greedy: Contribution = { id: id(30), weight: 1e12, delta: [Float32Array.of(50, -50), Float32Array.of(50)] }
    const atBound: Contribution = { id: id(31), weight: 3, delta: [Float32Array.of(1, 1), Float32Array.of(1)] }
    for (const config of [{ kind: 'fedavg' }, { kind: 'norm-clip', clipNorm: 10 }, { kind: 'median' }, { kind: 'krum', byzantine: 0, select: 2 }] as AggregatorConfig[]) {
      const honest = aggregate([...contributions, atBound], spec, config, { maxWeight: 3 })
      const withGreedy = aggregate([greedy, ...contributions, atBound], spec, config, { maxWeight: 3 })
      if (honest.status !== 'update' || withGreedy.status !== 'update') throw new Error(`${config.kind}: expected an update`)
      expect(bytesOf(withGreedy.delta), config.kind).toEqual(bytesOf(honest.delta))
      expect(withGreedy.rejected.filter((r) => r.id[0] === 30).map((r) => r.code), config.kind).toEqual(['ERR_FEDAVG_WEIGHT_BOUND'])
      expect(withGreedy.rejected.filter((r) => r.id[0] !== 30), config.kind).toEqual(honest.rejected)
      expect(withGreedy.totalWeight, config.kind).toBe(honest.totalWeight)
    }
    // without the bound the claim takes the FedAvg mean to within 1e-11 of its own delta
    const unbounded = aggregate([greedy, ...contributions], spec, { kind: 'fedavg' })
    if (unbounded.status !== 'update') throw new Error('expected an update')
    expect([...unbounded.delta[0], ...unbounded.delta[1]]).toEqual(f32([50, -50, 50]))
    const acc = new FedAvgAccumulator(spec, { maxWeight: 3 })
    for (const c of [greedy, ...contributions].sort((a, b) => a.id[0] - b.id[0])) acc.add(c)
    const streamed = acc.result()
    const inMemory = fedAvg([greedy, ...contributions], spec, { maxWeight: 3 })
    if (streamed.status !== 'update' || inMemory.status !== 'update') throw new Error('expected an update')
    expect(bytesOf(streamed.delta)).toEqual(bytesOf(inMemory.delta))
    expect(streamed.rejected.map((r) => r.code)).toEqual(['ERR_FEDAVG_WEIGHT_BOUND'])
    expect(() => aggregate(contributions, spec, { kind: 'fedavg' }, { maxWeight: 0 })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
    expect(() => new FedAvgAccumulator(spec, { maxWeight: NaN })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
  })

  it('no accepted contribution gives an explicit no-update, never NaN', () => {
    const r = aggregate(bad.map((b) => b[1]), spec, { kind: 'fedavg' }, { maxNorm: 200 })
    expect(r.status).toBe('no-update')
    expect(r.rejected).toHaveLength(bad.length)
    expect(aggregate([], spec, { kind: 'median' }).status).toBe('no-update')
    expect(new FedAvgAccumulator(spec).result().status).toBe('no-update')
  })

  it('a duplicated id is rejected in every copy', () => {
    const twin: Contribution = { ...contributions[0], delta: [Float32Array.of(9, 9), Float32Array.of(9)] }
    const r = aggregate([twin, ...contributions], spec, { kind: 'fedavg' })
    expect(r.rejected.map((x) => [x.id[0], x.code])).toEqual([[1, 'ERR_FEDAVG_DUPLICATE_CONTRIBUTION'], [1, 'ERR_FEDAVG_DUPLICATE_CONTRIBUTION']])
    expect(r.accepted).toEqual([2, 3, 4, 5].map(id))
  })

  it('assertContribution throws the verdict as a typed error', () => {
    expect(assertContribution(contributions[0], spec)).toBeCloseTo(Math.sqrt(14), 6)
    expect(() => assertContribution(bad[0][1], spec)).toThrow(expect.objectContaining({ name: 'ContributionRejectedError', code: 'ERR_FEDAVG_NON_FINITE' }))
  })

  it('refuses malformed model specs', () => {
    for (const shapes of [[], [[0]], [[2, 1.5]], [[1, 1, 1, 1, 1, 1, 1]], [[MAX_MODEL_PARAMS, 2]], [[MAX_MODEL_PARAMS], [1]]]) {
      expect(() => createModelSpec(shapes)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_SPEC' }))
    }
    expect(createModelSpec([[], [3, 2]])).toMatchObject({ sizes: [1, 6], params: 7 })
  })

  it('rejects bad configurations at start-up', () => {
    expect(() => createAggregatorConfig({ kind: 'trimmed-mean', beta: 0.5 })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
    expect(() => createAggregatorConfig({ kind: 'krum', byzantine: -1 })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
    expect(() => createAggregatorConfig({ kind: 'nope' as 'fedavg' })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
    expect(() => new FedAvgAccumulator(spec, { clipNorm: 0 })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
    expect(createAggregatorConfig({ kind: 'krum' })).toEqual({ kind: 'krum', byzantine: 1, select: 1 })
  })
})

describe('determinism', () => {
  const configs: AggregatorConfig[] = [
    { kind: 'fedavg' }, { kind: 'norm-clip', clipNorm: 3 }, { kind: 'median' }, { kind: 'trimmed-mean', beta: 0.2 },
    { kind: 'krum', byzantine: 1, select: 2 }, { kind: 'centered-clip', iterations: 2 }
  ]

  it('permuted inputs give identical bytes for every aggregator', () => {
    const seed = testSeed('permutation')
    const big = createModelSpec([[3, 7], [CHUNK_COORDS + 5], [1]]) // crosses a chunk boundary
    fc.assert(fc.property(
      fc.integer({ min: 5, max: 9 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.array(fc.nat(), { minLength: 9, maxLength: 9 }),
      (n, s, keys) => {
        const rand = prng(s)
        const list: Contribution[] = Array.from({ length: n }, (_, i) => ({
          id: Uint8Array.of(i * 7 % 251, i), weight: 1 + Math.floor(rand() * 600), delta: randomDelta(big.sizes, rand, 0.01 + rand())
        }))
        const permuted = list.map((c, i) => [keys[i], c] as const).sort((a, b) => a[0] - b[0]).map((p) => p[1])
        for (const config of configs) {
          const a = aggregate(list, big, config)
          const b = aggregate(permuted, big, config)
          if (a.status !== 'update' || b.status !== 'update') throw new Error('expected updates')
          expect(bytesOf(b.delta).equals(bytesOf(a.delta))).toBe(true)
          expect(b.accepted).toEqual(a.accepted)
        }
      }), { seed, numRuns: 6 })
  })

  it('the streaming accumulator gives the same bytes as the in-memory FedAvg', () => {
    const seed = testSeed('streaming')
    const rand = prng(seed)
    const big = createModelSpec([[CHUNK_COORDS * 2 + 3], [17]])
    const list: Contribution[] = Array.from({ length: 12 }, (_, i) => ({ id: id(i + 1), weight: 1 + Math.floor(rand() * 100), delta: randomDelta(big.sizes, rand) }))
    for (const clipNorm of [undefined, 50]) {
      const acc = new FedAvgAccumulator(big, { clipNorm })
      for (const c of list) expect(acc.add(c).status).toBe('accept')
      const streamed = acc.result()
      const batch = fedAvg([...list].reverse(), big, { clipNorm })
      if (streamed.status !== 'update' || batch.status !== 'update') throw new Error('expected updates')
      expect(bytesOf(streamed.delta).equals(bytesOf(batch.delta))).toBe(true)
      expect(streamed.totalWeight).toBe(batch.totalWeight)
    }
  })

  it('the streaming accumulator refuses out-of-order or repeated ids', () => {
    const acc = new FedAvgAccumulator(spec)
    acc.add(contributions[1])
    expect(() => acc.add(contributions[0])).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_CANONICAL_ORDER' }))
    expect(() => acc.add(contributions[1])).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_CANONICAL_ORDER' }))
    acc.result()
    expect(() => acc.add(contributions[4])).toThrow(expect.objectContaining({ name: 'CanonicalOrderError' }))
  })
})
