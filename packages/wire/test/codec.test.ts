import { describe, expect, it } from 'vitest'
import { codeOf } from '@swarmtune/test-support'
import { decodeCanonical, encodeCanonical, WireError } from '../src/index.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))

describe('encodeCanonical', () => {
  it('uses the shortest int form for integers in [-2^31, 2^32) and float64 otherwise', () => {
    expect(hex(encodeCanonical(0))).toBe('00')
    expect(hex(encodeCanonical(127))).toBe('7f')
    expect(hex(encodeCanonical(128))).toBe('cc80')
    expect(hex(encodeCanonical(-32))).toBe('e0')
    expect(hex(encodeCanonical(-33))).toBe('d0df')
    expect(hex(encodeCanonical(0xffffffff))).toBe('ceffffffff')
    expect(hex(encodeCanonical(2 ** 32))).toBe('cb41f0000000000000')
    expect(hex(encodeCanonical(-(2 ** 31)))).toBe('d280000000')
    expect(hex(encodeCanonical(0.5))).toBe('cb3fe0000000000000')
    expect(hex(encodeCanonical(-0))).toBe('00')
  })

  it('sorts map keys by their UTF-8 bytes, whatever the insertion order', () => {
    expect(hex(encodeCanonical({ b: 1, a: 2, 10: 3, 9: 4 }))).toBe(hex(encodeCanonical({ 9: 4, 10: 3, a: 2, b: 1 })))
    expect(hex(encodeCanonical({ b: 1, a: 2 }))).toBe('82a16102a16201')
    // U+FF61 sorts before U+1F600 in UTF-16 order but after it in UTF-8 order
    const bytes = encodeCanonical({ '\u{1F600}': 1, '\uFF61': 2 })
    expect(Object.keys(decodeCanonical(bytes) as object)).toEqual(['\uFF61', '\u{1F600}'])
    expect(hex(bytes).indexOf('efbda1')).toBeLessThan(hex(bytes).indexOf('f09f9880'))
  })

  it('writes keys that shadow Object.prototype members like any other key', () => {
    const value = { constructor: 1, hasOwnProperty: { constructor: 'x' }, toJSON: 2, valueOf: null }
    const bytes = encodeCanonical(value)
    expect(hex(bytes)).toBe('84ab636f6e7374727563746f7201ae6861734f776e50726f706572747981ab636f6e7374727563746f72a178a6746f4a534f4e02a776616c75654f66c0')
    expect(decodeCanonical(bytes)).toEqual(value)
  })

  it('writes null-prototype objects like plain ones', () => {
    const value = Object.assign(Object.create(null) as object, { b: 1, a: 2 })
    expect(hex(encodeCanonical(value))).toBe('82a16102a16201')
  })

  it('leaves out undefined properties and writes Uint8Array as bin', () => {
    expect(hex(encodeCanonical({ a: undefined, b: new Uint8Array([1, 2]) }))).toBe('81a162c4020102')
  })

  it.each([
    ['undefined', undefined, 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['a bigint', 1n, 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['a Map', new Map(), 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['a Date', new Date(0), 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['a Float32Array', new Float32Array(1), 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['an array hole', [1, , 2], 'ERR_WIRE_FORBIDDEN_TYPE'], // eslint-disable-line no-sparse-arrays
    ['NaN', NaN, 'ERR_WIRE_NON_FINITE'],
    ['Infinity', [Infinity], 'ERR_WIRE_NON_FINITE'],
    ['a lone surrogate', 'a\ud800', 'ERR_WIRE_BAD_UTF8'],
    ['a __proto__ key', JSON.parse('{"__proto__": 1}'), 'ERR_WIRE_BAD_KEY']
  ])('refuses %s', (_name, value, code) => {
    expect(codeOf(() => encodeCanonical(value), WireError)).toBe(code)
  })

  it('refuses cycles (as too deep)', () => {
    const a: unknown[] = []
    a.push(a)
    expect(codeOf(() => encodeCanonical(a), WireError)).toBe('ERR_WIRE_TOO_DEEP')
  })
})

describe('decodeCanonical', () => {
  it('round-trips values of the data model', () => {
    const value = { n: null, t: true, f: false, i: -5, big: 2 ** 40, x: 1.25, s: 'héllo', b: new Uint8Array([0, 255]), a: [1, [2, {}]] }
    const bytes = encodeCanonical(value)
    const back = decodeCanonical(bytes)
    expect(back).toEqual(value)
    expect(Object.getPrototypeOf((back as { b: Uint8Array }).b)).toBe(Uint8Array.prototype)
    expect(encodeCanonical(back)).toEqual(bytes)
  })

  it('returns bytes that share no memory with the input', () => {
    const bytes = encodeCanonical({ b: new Uint8Array([1, 2, 3]) })
    const back = decodeCanonical(bytes) as { b: Uint8Array }
    bytes.fill(0)
    expect(Array.from(back.b)).toEqual([1, 2, 3])
  })

  it.each([
    ['non-minimal uint8', 'cc05', 'ERR_WIRE_NOT_CANONICAL'],
    ['float64 holding an integer', 'cb3ff0000000000000', 'ERR_WIRE_NOT_CANONICAL'],
    ['unsorted keys', '82a16201a16102', 'ERR_WIRE_NOT_CANONICAL'],
    ['duplicate keys', '82a16101a16102', 'ERR_WIRE_DUPLICATE_KEY'],
    ['__proto__ key', '81a95f5f70726f746f5f5f01', 'ERR_WIRE_BAD_KEY'],
    ['integer key', '810101', 'ERR_WIRE_BAD_KEY'],
    ['fixext', 'd40100', 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['float32', 'ca3f800000', 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['uint64', 'cf0000000100000000', 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['0xc1', 'c1', 'ERR_WIRE_FORBIDDEN_TYPE'],
    ['NaN', 'cb7ff8000000000000', 'ERR_WIRE_NON_FINITE'],
    ['forged 2^32-1 array header', 'ddffffffff00', 'ERR_WIRE_TRUNCATED'],
    ['trailing byte', '0000', 'ERR_WIRE_TRAILING_BYTES'],
    ['empty frame', '', 'ERR_WIRE_TRUNCATED'],
    ['CESU-8 surrogate', 'a3eda080', 'ERR_WIRE_BAD_UTF8']
  ])('rejects %s', (_name, h, code) => {
    expect(codeOf(() => decodeCanonical(fromHex(h)), WireError)).toBe(code)
  })

  it('rejects a frame over the size cap before reading it', () => {
    expect(codeOf(() => decodeCanonical(new Uint8Array(11), { maxFrameBytes: 10 }), WireError)).toBe('ERR_WIRE_FRAME_TOO_LARGE')
  })

  it('rejects what is not bytes', () => {
    expect(codeOf(() => decodeCanonical('00' as unknown as Uint8Array), WireError)).toBe('ERR_WIRE_NOT_BYTES')
  })
})
