import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codeOf, testSeed } from '@swarmtune/test-support'
import {
  CodecError, createModelSpec, decodeDelta, encodeDelta, encodedSize, ErrorFeedback, rowsOf, topKCount,
  CODEC_NAMES, type CodecOptions, type ModelSpec
} from '../src/index.js'
import { bytesOf, prng, randomDelta } from './helpers.js'

const spec = createModelSpec([[16, 33], [33], [1], [3, 2, 5]])
const all: CodecOptions[] = CODEC_NAMES.map((codec) => ({ codec, fraction: 0.1 }))

function roundTrip (x: Float32Array[], o: CodecOptions, s: ModelSpec = spec): Float32Array[] {
  const bytes = encodeDelta(x, s, o)
  expect(bytes.length).toBe(encodedSize(s, o))
  const d = decodeDelta(bytes, { spec: s })
  expect(d.codec).toBe(o.codec)
  expect(d.shapes).toEqual(s.shapes)
  return d.tensors
}

function absmax (x: Float32Array, from = 0, to = x.length): number {
  let m = 0
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(x[i]))
  return m
}

/** |x − x̂| ≤ scale/2 (rounding to the nearest step) plus one float32 ulp of slack. */
function withinInt8 (x: number, y: number, max: number): boolean {
  const scale = Math.fround(max / 127)
  return Math.abs(x - y) <= scale / 2 + Math.abs(x) * 2 ** -22 + 1e-30
}

describe('codec round trips within stated bounds', () => {
  const seed = testSeed('codec round trip')
  const rand = prng(seed)
  const x = randomDelta(spec.sizes, rand, 0.05)
  x[0][7] = 3 // one large value per tensor 0: int8 per row keeps the other rows precise

  it('fp32 is exact', () => {
    expect(bytesOf(roundTrip(x, { codec: 'fp32' }))).toEqual(bytesOf(x))
  })

  it('fp16: relative error ≤ 2^-11 for normal values, absolute ≤ 2^-25 below 2^-14', () => {
    const y = roundTrip(x, { codec: 'fp16' })
    x.forEach((t, k) => t.forEach((v, i) => {
      const bound = Math.abs(v) >= 2 ** -14 ? Math.abs(v) * 2 ** -11 : 2 ** -25
      expect(Math.abs(v - y[k][i])).toBeLessThanOrEqual(bound)
    }))
    const edge = createModelSpec([[8]])
    const special = Float32Array.of(65504, -65504, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -0)
    expect([...roundTrip([special], { codec: 'fp16' }, edge)[0]]).toEqual([65504, -65504, 2 ** -24, 0, 2 ** -24, 1, 1 + 2 ** -9, -0])
    expect(() => encodeDelta([Float32Array.of(65505, 0, 0, 0, 0, 0, 0, 0)], edge, { codec: 'fp16' })).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_CODEC_RANGE' }))
  })

  it('int8 per tensor: |error| ≤ absmax/254 per value', () => {
    const y = roundTrip(x, { codec: 'int8' })
    x.forEach((t, k) => {
      const m = absmax(t)
      t.forEach((v, i) => expect(withinInt8(v, y[k][i], m)).toBe(true))
    })
  })

  it('int8 per row: |error| ≤ row absmax/254, tighter than per tensor on rows without the outlier', () => {
    const y = roundTrip(x, { codec: 'int8-row' })
    const perTensor = roundTrip(x, { codec: 'int8' })
    let rowErr = 0
    let tensorErr = 0
    spec.shapes.forEach((shape, k) => {
      const rows = rowsOf(shape)
      const cols = spec.sizes[k] / rows
      for (let r = 0; r < rows; r++) {
        const m = absmax(x[k], r * cols, (r + 1) * cols)
        for (let i = r * cols; i < (r + 1) * cols; i++) {
          expect(withinInt8(x[k][i], y[k][i], m)).toBe(true)
          rowErr += (x[k][i] - y[k][i]) ** 2
          tensorErr += (x[k][i] - perTensor[k][i]) ** 2
        }
      }
    })
    expect(rowErr).toBeLessThan(tensorErr / 10)
  })

  it('top-k keeps the ⌈f·n⌉ largest magnitudes (int8 error bound) and zeroes the rest', () => {
    const y = roundTrip(x, { codec: 'topk-int8', fraction: 0.1 })
    x.forEach((t, k) => {
      const kept = [...y[k]].filter((v) => v !== 0).length
      expect(kept).toBeLessThanOrEqual(topKCount(t.length, 0.1))
      const sorted = [...t].map(Math.abs).sort((a, b) => b - a)
      const threshold = sorted[topKCount(t.length, 0.1) - 1]
      const m = absmax(t)
      t.forEach((v, i) => {
        if (Math.abs(v) > threshold) expect(withinInt8(v, y[k][i], m)).toBe(true)
        else if (Math.abs(v) < threshold) expect(y[k][i]).toBe(0)
      })
    })
  })

  it('top-k breaks ties towards the lower index', () => {
    const s = createModelSpec([[6]])
    // k = ⌈0.6·6⌉ = 4: the three 2s and, of the two 1s, the one at the lower index
    const y = roundTrip([Float32Array.of(1, -2, 2, 0, -2, 1)], { codec: 'topk-int8', fraction: 0.6 }, s)
    const scale = Math.fround(2 / 127)
    expect([...y[0]]).toEqual([Math.fround(Math.round(1 / scale) * scale), -2, 2, 0, -2, 0])
  })

  it('a zero delta round-trips as zeros in every codec', () => {
    for (const o of all) expect(roundTrip(spec.sizes.map((n) => new Float32Array(n)), o).every((t) => t.every((v) => v === 0))).toBe(true)
  })

  it('refuses to encode non-finite values', () => {
    const bad = spec.sizes.map((n) => new Float32Array(n))
    bad[2][0] = NaN
    for (const o of all) expect(() => encodeDelta(bad, spec, o)).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_CODEC_RANGE' }))
  })
})

describe('codec round trips on random layouts', () => {
  it('every codec: exact size, same shapes, error within its bound', () => {
    const seed = testSeed('codec property')
    fc.assert(fc.property(
      fc.array(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 0, max: 2 ** 31 }), fc.double({ min: 1e-6, max: 1e3, noNaN: true }),
      (shapes, s, sigma) => {
        const sp = createModelSpec(shapes)
        const x = randomDelta(sp.sizes, prng(s), sigma)
        for (const o of all) {
          const y = roundTrip(x, o, sp)
          x.forEach((t, k) => {
            const m = absmax(t)
            const rows = rowsOf(sp.shapes[k])
            const cols = t.length / rows
            t.forEach((v, i) => {
              const err = Math.abs(v - y[k][i])
              if (o.codec === 'fp32') expect(err).toBe(0)
              else if (o.codec === 'fp16') expect(err).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25))
              else if (o.codec === 'int8') expect(withinInt8(v, y[k][i], m)).toBe(true)
              else if (o.codec === 'int8-row') expect(withinInt8(v, y[k][i], absmax(t, Math.floor(i / cols) * cols, (Math.floor(i / cols) + 1) * cols))).toBe(true)
              else if (y[k][i] !== 0) expect(withinInt8(v, y[k][i], m)).toBe(true)
            })
          })
        }
      }), { seed, numRuns: 100 })
  })
})

describe('error feedback', () => {
  it('over 20 rounds the accumulated error is lower with error feedback than without', () => {
    const seed = testSeed('error feedback')
    const rand = prng(seed)
    const drift = randomDelta(spec.sizes, rand, 0.01) // deltas share a direction, as in training
    const deltas = Array.from({ length: 20 }, () => randomDelta(spec.sizes, rand, 0.01).map((t, k) => t.map((v, i) => v + drift[k][i])))
    for (const o of [{ codec: 'topk-int8', fraction: 0.05 }, { codec: 'int8' }, { codec: 'fp16' }] as CodecOptions[]) {
      const ef = new ErrorFeedback(spec, o)
      const sumTrue = spec.sizes.map((n) => new Float64Array(n))
      const sumEf = spec.sizes.map((n) => new Float64Array(n))
      const sumPlain = spec.sizes.map((n) => new Float64Array(n))
      for (const d of deltas) {
        const { sent, bytes } = ef.encode(d)
        expect(bytes.length).toBe(encodedSize(spec, o))
        const plain = decodeDelta(encodeDelta(d, spec, o), { spec }).tensors
        d.forEach((t, k) => t.forEach((v, i) => {
          sumTrue[k][i] += v
          sumEf[k][i] += sent[k][i]
          sumPlain[k][i] += plain[k][i]
        }))
      }
      const err = (s: Float64Array[]): number => Math.sqrt(s.reduce((acc, t, k) => acc + t.reduce((a, v, i) => a + (v - sumTrue[k][i]) ** 2, 0), 0))
      console.log(`${o.codec}: accumulated error over 20 rounds ${err(sumEf).toExponential(3)} with error feedback, ${err(sumPlain).toExponential(3)} without`)
      expect(err(sumEf)).toBeLessThan(err(sumPlain) / 2)
      // what is still owed is exactly the residual
      const residual = ef.residual
      const owed = Math.sqrt(residual.reduce((a, t) => a + t.reduce((b, v) => b + v * v, 0), 0))
      expect(Math.abs(owed - err(sumEf))).toBeLessThan(1e-4 * Math.max(1, owed))
    }
  })

  it('a carried residual must be laid out as the spec', () => {
    expect(() => new ErrorFeedback(spec, { codec: 'int8' }, [new Float32Array(2)])).toThrow(expect.objectContaining({ code: 'ERR_FEDAVG_INVALID_CONFIG' }))
  })
})

describe('hostile encoded bytes', () => {
  const small = createModelSpec([[2, 3], [4]])
  const x = [Float32Array.of(1, -2, 3, -4, 5, -6), Float32Array.of(0.5, 0, -0.25, 8)]

  function header (codec: number, shapes: number[][], flags = 0): number[] {
    const b: number[] = [0x53, 0x54, 0x44, 0x4c, 1, codec, flags & 0xff, flags >> 8, ...u32(shapes.length)]
    for (const s of shapes) b.push(s.length, ...s.flatMap(u32))
    return b
  }
  function u32 (v: number): number[] {
    return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]
  }

  it('every truncation of every codec is a typed error', () => {
    for (const o of all) {
      const bytes = encodeDelta(x, small, o)
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(['ERR_FEDAVG_CODEC_TRUNCATED', 'ERR_FEDAVG_CODEC_MALFORMED']).toContain(codeOf(() => decodeDelta(bytes.subarray(0, cut), { spec: small }), CodecError))
        expect(['ERR_FEDAVG_CODEC_TRUNCATED', 'ERR_FEDAVG_CODEC_MALFORMED']).toContain(codeOf(() => decodeDelta(bytes.subarray(0, cut)), CodecError))
      }
      expect(codeOf(() => decodeDelta(Buffer.concat([bytes, Uint8Array.of(0)]), { spec: small }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    }
  })

  it('bad magic, version, codec id, flags and shapes are refused', () => {
    const good = encodeDelta(x, small, { codec: 'fp32' })
    const with_ = (i: number, v: number): Uint8Array => { const b = Uint8Array.from(good); b[i] = v; return b }
    expect(codeOf(() => decodeDelta(with_(0, 0x00)), CodecError)).toBe('ERR_FEDAVG_CODEC_MAGIC')
    expect(codeOf(() => decodeDelta(with_(4, 2)), CodecError)).toBe('ERR_FEDAVG_CODEC_VERSION')
    expect(codeOf(() => decodeDelta(with_(5, 0)), CodecError)).toBe('ERR_FEDAVG_CODEC_UNKNOWN')
    expect(codeOf(() => decodeDelta(with_(5, 9)), CodecError)).toBe('ERR_FEDAVG_CODEC_UNKNOWN')
    expect(codeOf(() => decodeDelta(with_(6, 1)), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(good, { spec: createModelSpec([[3, 2], [4]]) }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(good, { spec: createModelSpec([[6], [4]]) }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(Uint8Array.from(header(1, [[0]]))), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(Uint8Array.from(header(1, [[1, 1, 1, 1, 1, 1, 1]]))), CodecError)).toBe('ERR_FEDAVG_CODEC_TOO_LARGE')
    expect(codeOf(() => decodeDelta(Uint8Array.from([...header(1, []).slice(0, 8), 0, 0, 0, 0])), CodecError)).toBe('ERR_FEDAVG_CODEC_TOO_LARGE')
  })

  it('claims of huge tensors are refused before any allocation', () => {
    // 65536 × 65536 = 2^32 parameters in a 21-byte message
    expect(codeOf(() => decodeDelta(Uint8Array.from(header(5, [[65536, 65536]]))), CodecError)).toBe('ERR_FEDAVG_CODEC_TOO_LARGE')
    // a top-k delta with k = 0 claiming 2^20 parameters: refused by maxParams, and by a spec
    const sparse = Uint8Array.from([...header(5, [[1 << 20]]), ...u32(0), 0, 0, 0, 0])
    expect(codeOf(() => decodeDelta(sparse, { maxParams: 1000 }), CodecError)).toBe('ERR_FEDAVG_CODEC_TOO_LARGE')
    expect(codeOf(() => decodeDelta(sparse, { spec: small }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(decodeDelta(sparse).tensors[0].length).toBe(1 << 20)
    // 4 billion tensors announced in 12 bytes
    expect(codeOf(() => decodeDelta(Uint8Array.from([0x53, 0x54, 0x44, 0x4c, 1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff])), CodecError)).toBe('ERR_FEDAVG_CODEC_TOO_LARGE')
  })

  it('top-k with k > n, unsorted or out-of-range indices, or a NaN scale is malformed', () => {
    const s = createModelSpec([[4]])
    const topk = (k: number, idx: number[], scale: number[]): Uint8Array => Uint8Array.from([...header(5, [[4]]), ...u32(k), ...idx.flatMap(u32), ...scale, ...idx.map(() => 1)])
    const one = [0, 0, 0x80, 0x3f] // 1.0f
    expect(decodeDelta(topk(2, [1, 3], one), { spec: s }).tensors[0]).toEqual(Float32Array.of(0, 1, 0, 1))
    expect(codeOf(() => decodeDelta(topk(5, [0, 1, 2, 3, 3], one), { spec: s }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(topk(2, [3, 1], one), { spec: s }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(topk(2, [1, 1], one), { spec: s }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(topk(1, [4], one), { spec: s }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(topk(1, [0], [0, 0, 0xc0, 0x7f]), { spec: s }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    expect(codeOf(() => decodeDelta(topk(1, [0], [0, 0, 0x80, 0xbf]), { spec: s }), CodecError)).toBe('ERR_FEDAVG_CODEC_MALFORMED') // negative scale
  })

  it('random corruption never escapes as anything but a CodecError', () => {
    const seed = testSeed('codec fuzz')
    const encoded = all.map((o) => encodeDelta(x, small, o))
    fc.assert(fc.property(
      fc.integer({ min: 0, max: encoded.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      (which, edits, withSpec) => {
        const b = Uint8Array.from(encoded[which])
        for (const [at, v] of edits) b[at % b.length] = v
        try {
          const d = decodeDelta(b, withSpec ? { spec: small } : { maxParams: 1 << 16 })
          if (withSpec) expect(d.tensors.map((t) => t.length)).toEqual(small.sizes)
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError)
        }
      }), { seed, numRuns: 2000 })
  })
})

describe('test vector', () => {
  it('int8 encoding of a fixed delta matches protocol/codecs.md byte for byte', () => {
    const s = createModelSpec([[2, 2], [1]])
    const bytes = encodeDelta([Float32Array.of(1, -0.5, 0.25, 0), Float32Array.of(-3)], s, { codec: 'int8-row' })
    expect(Buffer.from(bytes).toString('hex')).toBe(VECTOR_INT8_ROW)
  })
})

const VECTOR_INT8_ROW = '5354444c010400000200000002020000000200000001010000000402013c0402013b7fc07f000683c13c81'
