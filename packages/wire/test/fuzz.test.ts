/**
 * Property-based fuzzing of the decoder and of entry validation (fast-check), > 10,000 cases in all.
 * The seed is printed; replay a run with SWARMTUNE_SEED=<seed>.
 */
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testSeed } from '@swarmtune/test-support'
import {
  decodeCanonical, encodeCanonical, ENTRY_KINDS, signEntry, validateEntry, WIRE_ERROR_CODES, WireError,
  type SignedEntry
} from '../src/index.js'
import { keyFromSeed, sampleEntry, TS } from './fixtures.js'
import { inflate, lengthHeaders, maxLength } from './frames.js'

const seed = testSeed('wire fuzz')
const params = (numRuns: number, offset: number) => ({ seed: seed + offset, numRuns })

const codes: ReadonlySet<string> = new Set(WIRE_ERROR_CODES)
const ctx = { now: TS }

/** Values of the canonical data model (and a few it refuses: `__proto__` keys from fc.dictionary). */
const wireValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 5 },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ maxLength: 8 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('value'), { maxKeys: 20 })
  )
})).value

/** `value` as the decoder returns it: −0 becomes 0. */
function normalized (value: unknown): unknown {
  if (Object.is(value, -0)) return 0
  if (Array.isArray(value)) return value.map(normalized)
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalized(v)]))
  }
  return value
}

/** Decodes `bytes`; a failure must be a WireError with a listed code; a success must re-encode to `bytes`. */
function decodeOrCode (bytes: Uint8Array): { ok: true, value: unknown } | { ok: false, code: string } {
  try {
    const value = decodeCanonical(bytes)
    expect(Buffer.from(encodeCanonical(value)).equals(Buffer.from(bytes))).toBe(true)
    return { ok: true, value }
  } catch (err) {
    if (!(err instanceof WireError)) throw err
    expect(codes.has(err.code)).toBe(true)
    return { ok: false, code: err.code }
  }
}

const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort()
function expectPrototypeUntouched (): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
}

let frames: SignedEntry[] = []
beforeAll(async () => {
  const key = await keyFromSeed(1)
  frames = await Promise.all(ENTRY_KINDS.map(async (kind) => await signEntry(sampleEntry(kind, key.publicKey.raw), key)))
})
afterAll(expectPrototypeUntouched)

describe('decoder fuzzing', () => {
  it('round-trips every value of the data model byte for byte (2,000 cases)', () => {
    fc.assert(fc.property(wireValue, (value) => {
      let bytes: Uint8Array
      try {
        bytes = encodeCanonical(value)
      } catch (err) {
        expect(err).toBeInstanceOf(WireError)
        expect((err as WireError).code).toBe('ERR_WIRE_BAD_KEY') // only `__proto__` keys are refused here
        return
      }
      const back = decodeOrCode(bytes)
      expect(back.ok).toBe(true)
      if (back.ok) expect(back.value).toEqual(normalized(value))
    }), params(2_000, 0))
  })

  it('never throws anything but a WireError on arbitrary bytes, never pollutes prototypes (4,000 cases)', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      // a valid frame with a few random bytes overwritten
      fc.tuple(wireValue, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
        .map(([value, edits]) => {
          let frame: Uint8Array
          try { frame = encodeCanonical(value) } catch { frame = new Uint8Array([0xc0]) }
          const out = new Uint8Array(frame)
          for (const [at, b] of edits) out[at % out.length] = b
          return out
        }),
      // hostile shapes: a container header claiming up to 2^32 − 1 items, then junk
      fc.tuple(fc.constantFrom(0xdc, 0xdd, 0xde, 0xdf, 0xc6, 0xdb), fc.nat(), fc.uint8Array({ maxLength: 16 }))
        .map(([type, n, rest]) => new Uint8Array([type, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, ...rest]))
    )
    fc.assert(fc.property(bytes, (b) => {
      decodeOrCode(b)
      expectPrototypeUntouched()
    }), params(4_000, 1))
  })

  it('accepts a generic msgpackr encoding only when it is byte-identical to the canonical one (1,000 cases)', () => {
    const encoders = [
      new Packr({ useRecords: false }),
      new Packr({ useRecords: false, variableMapSize: true }),
      new Packr({ useRecords: true }),
      new Packr({ useRecords: false, useFloat32: 1 }),
      new Packr({ structuredClone: true })
    ]
    fc.assert(fc.property(wireValue, fc.nat(encoders.length - 1), (value, which) => {
      let bytes: Uint8Array
      try { bytes = encoders[which].pack(value) } catch { return }
      let canonical: Uint8Array | undefined
      try { canonical = encodeCanonical(value) } catch { canonical = undefined }
      const result = decodeOrCode(new Uint8Array(bytes))
      expect(result.ok).toBe(canonical !== undefined && Buffer.from(bytes).equals(canonical))
      if (result.ok) expect(result.value).toEqual(normalized(value))
    }), params(1_000, 2))
  })
})

describe('mutations of valid entry frames', () => {
  it('rejects every truncation at every offset of every kind', async () => {
    let cases = 0
    for (const { bytes } of frames) {
      for (let end = 0; end < bytes.length; end++) {
        const result = await validateEntry(bytes.subarray(0, end), ctx)
        expect(result).toMatchObject({ status: 'reject', code: 'ERR_WIRE_TRUNCATED' })
        cases++
      }
    }
    expect(cases).toBeGreaterThan(1_500)
  })

  it('never accepts a frame with one bit flipped (2,000 cases)', async () => {
    await fc.assert(fc.asyncProperty(fc.nat(ENTRY_KINDS.length - 1), fc.nat(), fc.nat(7), async (k, at, bit) => {
      const frame = new Uint8Array(frames[k].bytes)
      frame[at % frame.length] ^= 1 << bit
      const result = await validateEntry(frame, ctx)
      expect(result.status).not.toBe('accept')
      expect(codes.has(result.code ?? '')).toBe(true)
    }), params(2_000, 3))
  })

  it('never accepts a frame with a length header inflated (1,000 cases)', async () => {
    const headers = frames.map((f) => lengthHeaders(f.bytes).filter((h) => h.value < maxLength(h)))
    await fc.assert(fc.asyncProperty(fc.nat(ENTRY_KINDS.length - 1), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), async (k, which, fraction) => {
      const h = headers[k][which % headers[k].length]
      const by = 1 + Math.floor(fraction * (maxLength(h) - h.value - 1))
      const result = await validateEntry(inflate(frames[k].bytes, h, by), ctx)
      expect(result.status).toBe('reject')
      expect(codes.has(result.code ?? '')).toBe(true)
    }), params(1_000, 4))
  })
})
