/**
 * Every decode limit, exactly at the limit (accepted) and at limit + 1 (rejected with its code), with the
 * protocol v1 defaults wherever a frame that size can be built, and through `limits` otherwise.
 */
import { describe, expect, it } from 'vitest'
import { codeOf } from '@swarmtune/test-support'
import {
  createLimits, decodeCanonical, encodeCanonical, ENTRY_KINDS, LIMITS, signedBytesOf, signEntry, validateEntry, WireError,
  type EntryKind, type UnsignedEntry
} from '../src/index.js'
import { keyFromSeed, sampleEntry, TS } from './fixtures.js'

/** `depth` arrays nested in one another, the innermost holding a 0. */
function nested (depth: number): unknown {
  let v: unknown = 0
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

/** msgpack header length of a bin of `n` bytes. */
const binHeader = (n: number) => (n < 256 ? 2 : n < 65_536 ? 3 : 5)

describe('decode limits at the limit and at limit + 1 (v1 defaults)', () => {
  it('maxFrameBytes', () => {
    // [bin(maxBinBytes), bin(k)] filling exactly maxFrameBytes
    const first = LIMITS.maxBinBytes
    let k = LIMITS.maxFrameBytes - 1 - binHeader(first) - first
    k -= binHeader(k)
    const frame = encodeCanonical([new Uint8Array(first), new Uint8Array(k)])
    expect(frame.length).toBe(LIMITS.maxFrameBytes)
    expect((decodeCanonical(frame) as Uint8Array[])[1].length).toBe(k)
    const over = encodeCanonical([new Uint8Array(first), new Uint8Array(k + 1)])
    expect(over.length).toBe(LIMITS.maxFrameBytes + 1)
    expect(codeOf(() => decodeCanonical(over), WireError)).toBe('ERR_WIRE_FRAME_TOO_LARGE')
  })

  it('maxDepth', () => {
    expect(decodeCanonical(encodeCanonical(nested(LIMITS.maxDepth)))).toEqual(nested(LIMITS.maxDepth))
    // the encoder refuses to build it, so write one more array header in front by hand
    const over = new Uint8Array([0x91, ...encodeCanonical(nested(LIMITS.maxDepth))])
    expect(codeOf(() => decodeCanonical(over), WireError)).toBe('ERR_WIRE_TOO_DEEP')
    // an empty container counts as a level too
    const emptyOver = new Uint8Array([0x91, ...encodeCanonical(nested(LIMITS.maxDepth - 1)).map((b) => (b === 0x00 ? 0x90 : b))])
    expect(codeOf(() => decodeCanonical(emptyOver), WireError)).toBe('ERR_WIRE_TOO_DEEP')
  })

  it('maxArrayLength', () => {
    const at = new Array<number>(LIMITS.maxArrayLength).fill(1)
    expect((decodeCanonical(encodeCanonical(at)) as number[]).length).toBe(LIMITS.maxArrayLength)
    expect(codeOf(() => decodeCanonical(encodeCanonical([...at, 1])), WireError)).toBe('ERR_WIRE_ARRAY_TOO_LONG')
  })

  it('maxMapSize', () => {
    const map = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))
    expect(Object.keys(decodeCanonical(encodeCanonical(map(LIMITS.maxMapSize))) as object)).toHaveLength(LIMITS.maxMapSize)
    expect(codeOf(() => decodeCanonical(encodeCanonical(map(LIMITS.maxMapSize + 1))), WireError)).toBe('ERR_WIRE_MAP_TOO_LARGE')
  })

  it('maxStringBytes, for values and for keys', () => {
    const at = 'é'.repeat(LIMITS.maxStringBytes / 2)
    expect(decodeCanonical(encodeCanonical(at))).toBe(at)
    expect(codeOf(() => decodeCanonical(encodeCanonical(at + 'a')), WireError)).toBe('ERR_WIRE_STRING_TOO_LONG')
    expect(Object.keys(decodeCanonical(encodeCanonical({ [at]: 1 })) as object)).toEqual([at])
    expect(codeOf(() => decodeCanonical(encodeCanonical({ [at + 'a']: 1 })), WireError)).toBe('ERR_WIRE_STRING_TOO_LONG')
  })

  it('maxBinBytes', () => {
    expect((decodeCanonical(encodeCanonical(new Uint8Array(LIMITS.maxBinBytes))) as Uint8Array).length).toBe(LIMITS.maxBinBytes)
    expect(codeOf(() => decodeCanonical(encodeCanonical(new Uint8Array(LIMITS.maxBinBytes + 1))), WireError)).toBe('ERR_WIRE_BIN_TOO_LONG')
  })

  it('maxItems (every value, container and key counts)', () => {
    // [a, b]: 1 outer + 1 + 65,536 + 1 + n values
    const a = new Array<number>(LIMITS.maxArrayLength).fill(0)
    const n = LIMITS.maxItems - 3 - a.length
    expect(() => decodeCanonical(encodeCanonical([a, new Array<number>(n).fill(0)]))).not.toThrow()
    expect(codeOf(() => decodeCanonical(encodeCanonical([a, new Array<number>(n + 1).fill(0)])), WireError)).toBe('ERR_WIRE_TOO_MANY_ITEMS')
    expect(codeOf(() => decodeCanonical(encodeCanonical({ k: a, l: new Array<number>(n - 1).fill(0) })), WireError)).toBe('ERR_WIRE_TOO_MANY_ITEMS')
  })
})

describe('tighter limits passed by the caller', () => {
  it.each([
    ['maxFrameBytes', { maxFrameBytes: 4 }, 'ERR_WIRE_FRAME_TOO_LARGE', [1, 2, 3], [1, 2, 3, 4]],
    ['maxDepth', { maxDepth: 2 }, 'ERR_WIRE_TOO_DEEP', [[1]], [[[1]]]],
    ['maxArrayLength', { maxArrayLength: 3 }, 'ERR_WIRE_ARRAY_TOO_LONG', [1, 2, 3], [1, 2, 3, 4]],
    ['maxMapSize', { maxMapSize: 1 }, 'ERR_WIRE_MAP_TOO_LARGE', { a: 1 }, { a: 1, b: 2 }],
    ['maxStringBytes', { maxStringBytes: 3 }, 'ERR_WIRE_STRING_TOO_LONG', 'abc', 'abcd'],
    ['maxBinBytes', { maxBinBytes: 3 }, 'ERR_WIRE_BIN_TOO_LONG', new Uint8Array(3), new Uint8Array(4)],
    ['maxItems', { maxItems: 4 }, 'ERR_WIRE_TOO_MANY_ITEMS', [1, 2, 3], [1, 2, 3, 4]]
  ])('%s', (_name, limits, code, at, over) => {
    expect(decodeCanonical(encodeCanonical(at), limits)).toEqual(at)
    expect(codeOf(() => decodeCanonical(encodeCanonical(over), limits), WireError)).toBe(code)
  })

  it('refuses limits that are not positive integers', () => {
    expect(codeOf(() => createLimits({ maxDepth: 0 }), WireError)).toBe('ERR_WIRE_BAD_LIMITS')
    expect(codeOf(() => createLimits({ perKind: { verdict: 1.5 } }), WireError)).toBe('ERR_WIRE_BAD_LIMITS')
  })
})

/** An entry of `kind` padded (in an open map of its body) so that its frame is exactly `size` bytes. */
function padded<K extends EntryKind> (kind: K, author: Uint8Array, size: number): UnsignedEntry<K> {
  const base = sampleEntry(kind, author) as UnsignedEntry
  const withPad = (n: number): UnsignedEntry => {
    const body = structuredClone(base.body) as unknown as Record<string, Record<string, unknown>>
    const field = { genesis: 'task', 'round-open': 'train', contribution: 'metrics', release: 'metrics' }[kind as string]
    if (field === undefined) throw new Error(`no open map to pad in ${kind}`)
    // strings of at most 60,000 bytes each, so that no single string reaches maxStringBytes
    const pads: Record<string, string> = {}
    for (let i = 0; n - i * 60_000 > 0; i++) pads[`pad${String(i).padStart(2, '0')}`] = 'x'.repeat(Math.min(60_000, n - i * 60_000))
    body[field] = { ...body[field], ...pads }
    return { ...base, body } as unknown as UnsignedEntry
  }
  const frameSize = (e: UnsignedEntry) => encodeCanonical({ ...e, sig: new Uint8Array(64) }).length
  let n = 0
  for (let i = 0; i < 8; i++) {
    const s = frameSize(withPad(n))
    if (s === size) return withPad(n) as UnsignedEntry<K>
    n += size - s
  }
  throw new Error(`cannot pad a ${kind} to ${size} bytes`)
}

describe('per-kind entry size limits', () => {
  it.each(['genesis', 'round-open', 'contribution'] as const)('%s at its v1 limit and one byte over', async (kind) => {
    const key = await keyFromSeed(1)
    const limit = LIMITS.perKind[kind]
    const at = await signEntry(padded(kind, key.publicKey.raw, limit), key)
    expect(at.bytes.length).toBe(limit)
    expect((await validateEntry(at.bytes, { now: TS })).status).toBe('accept')
    await expect(signEntry(padded(kind, key.publicKey.raw, limit + 1), key)).rejects.toMatchObject({ code: 'ERR_WIRE_ENTRY_TOO_LARGE' })
  })

  it('release at its v1 limit and one byte over (the largest kind: rejected before decoding)', async () => {
    const key = await keyFromSeed(1)
    const limit = LIMITS.perKind.release
    const at = await signEntry(padded('release', key.publicKey.raw, limit), key)
    expect((await validateEntry(at.bytes, { now: TS })).status).toBe('accept')
    const over = new Uint8Array(limit + 1)
    over.set(at.bytes)
    expect(await validateEntry(over, { now: TS })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_ENTRY_TOO_LARGE' })
  })

  it.each(ENTRY_KINDS)('%s at a limit set to its size and at size − 1', async (kind) => {
    const key = await keyFromSeed(1)
    const signed = await signEntry(sampleEntry(kind, key.publicKey.raw), key)
    const size = signed.bytes.length
    expect((await validateEntry(signed.bytes, { now: TS, limits: { perKind: { [kind]: size } } })).status).toBe('accept')
    expect(await validateEntry(signed.bytes, { now: TS, limits: { perKind: { [kind]: size - 1 } } }))
      .toMatchObject({ status: 'reject', code: 'ERR_WIRE_ENTRY_TOO_LARGE' })
  })
})

describe('field limits of the schemas, at the limit and one over', () => {
  const body = (kind: EntryKind, author: Uint8Array) => sampleEntry(kind, author).body as unknown as Record<string, unknown>
  const withBody = <K extends EntryKind>(kind: K, author: Uint8Array, change: Record<string, unknown>) =>
    ({ ...sampleEntry(kind, author), body: { ...body(kind, author), ...change } }) as unknown as UnsignedEntry<K>
  /** `first` and n − 1 other distinct 32-byte keys. */
  const keys = (n: number, first: Uint8Array) => [first, ...Array.from({ length: n - 1 }, (_, i) => {
    const k = new Uint8Array(32).fill(9)
    k[0] = i >> 8
    k[1] = i & 0xff
    return k
  })]
  /** n distinct CIDs in ascending byte order. */
  const cids = (n: number) => Array.from({ length: n }, (_, i) => {
    const c = new Uint8Array(36)
    c.set([1, 0x55, 0x12, 0x20, i >> 8, i & 0xff])
    return c
  })
  const cases: Array<[string, EntryKind, (author: Uint8Array) => Record<string, unknown>, (author: Uint8Array) => Record<string, unknown>]> = [
    ['genesis name (128 characters)', 'genesis', () => ({ name: 'n'.repeat(128) }), () => ({ name: 'n'.repeat(129) })],
    ['genesis maintainers (64 keys)', 'genesis', (a) => ({ maintainers: keys(64, a) }), (a) => ({ maintainers: keys(65, a) })],
    ['verdict code (64 characters)', 'verdict', () => ({ code: 'C'.repeat(64) }), () => ({ code: 'C'.repeat(65) })],
    ['verdict reason (1,024 characters)', 'verdict', () => ({ reason: 'r'.repeat(1_024) }), () => ({ reason: 'r'.repeat(1_025) })],
    ['round-open maxContributions (10,000)', 'round-open', () => ({ maxContributions: 10_000 }), () => ({ maxContributions: 10_001 })],
    ['release contributions (10,000)', 'release', () => ({ contributions: cids(10_000), weights: new Array(10_000).fill(1) }),
      () => ({ contributions: cids(10_001), weights: new Array(10_001).fill(1) })]
  ]
  it.each(cases)('%s', async (_name, kind, at, over) => {
    const key = await keyFromSeed(1)
    const author = key.publicKey.raw
    const signed = await signEntry(withBody(kind, author, at(author)), key)
    expect((await validateEntry(signed.bytes, { now: TS })).status).toBe('accept')
    await expect(signEntry(withBody(kind, author, over(author)), key)).rejects.toMatchObject({ code: 'ERR_WIRE_BAD_BODY' })
  })
})

/** Values in a decoded value as the pre-scan counts them: every scalar, container and map key. */
function countItems (v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, x) => n + countItems(x), 0)
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return 1 + Object.values(v).reduce((n: number, x) => n + 1 + countItems(x), 0)
  return 1
}

describe('the entry item limit (maxEntryItems)', () => {
  /** A signed-shape release whose frame holds `items` values: 10,000 contributions and weights, and a metrics array. */
  function releaseOf (author: Uint8Array, items: number): UnsignedEntry<'release'> {
    const ids = Array.from({ length: 10_000 }, (_, i) => {
      const c = new Uint8Array(36)
      c.set([1, 0x55, 0x12, 0x20, i >> 8, i & 0xff])
      return c
    })
    const base = sampleEntry('release', author)
    const at = (pad: number): UnsignedEntry<'release'> => ({ ...base, body: { ...base.body, contributions: ids, weights: ids.map(() => 0.5), metrics: { ...base.body.metrics, pad: new Array<number>(pad).fill(0) } } })
    const without = countItems({ ...at(0), sig: new Uint8Array(64) })
    return at(items - without)
  }

  it('a release of exactly maxEntryItems values is accepted, one more value is refused by the pre-scan', async () => {
    const key = await keyFromSeed(1)
    expect(LIMITS.maxEntryItems).toBe(21_024)
    const at = await signEntry(releaseOf(key.publicKey.raw, LIMITS.maxEntryItems), key)
    expect((await validateEntry(at.bytes, { now: TS })).status).toBe('accept')
    const over = releaseOf(key.publicKey.raw, LIMITS.maxEntryItems + 1)
    await expect(signEntry(over, key)).rejects.toMatchObject({ code: 'ERR_WIRE_TOO_MANY_ITEMS' })
    const frame = encodeCanonical({ ...over, sig: await key.sign(signedBytesOf(over)) })
    expect(await validateEntry(frame, { now: TS })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_TOO_MANY_ITEMS' })
    // the generic codec limit still admits that many values outside entries
    expect(() => decodeCanonical(frame)).not.toThrow()
  })

  it('refuses a 900 KB release whose metrics hold 1,000 nested maps (~129,000 values), signed by its author', async () => {
    const key = await keyFromSeed(1)
    const metrics: Record<string, Record<string, number>> = {}
    for (let i = 0; i < 1_000; i++) metrics[String(i).padStart(8, '0')] = Object.fromEntries(Array.from({ length: 64 }, (_, j) => [String(j).padStart(12, 'k'), j]))
    const base = sampleEntry('release', key.publicKey.raw)
    const bomb: UnsignedEntry<'release'> = { ...base, body: { ...base.body, metrics } }
    const frame = encodeCanonical({ ...bomb, sig: await key.sign(signedBytesOf(bomb)) })
    expect(frame.length).toBeGreaterThan(900_000)
    expect(frame.length).toBeLessThanOrEqual(LIMITS.perKind.release)
    expect(await validateEntry(frame, { now: TS })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_TOO_MANY_ITEMS' })
  })

  it('is a limit a caller may tighten', async () => {
    const key = await keyFromSeed(1)
    const signed = await signEntry(sampleEntry('verdict', key.publicKey.raw), key)
    const items = countItems(decodeCanonical(signed.bytes))
    expect((await validateEntry(signed.bytes, { now: TS, limits: { maxEntryItems: items } })).status).toBe('accept')
    expect(await validateEntry(signed.bytes, { now: TS, limits: { maxEntryItems: items - 1 } })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_TOO_MANY_ITEMS' })
    expect(() => createLimits({ maxEntryItems: 0 })).toThrow(expect.objectContaining({ code: 'ERR_WIRE_BAD_LIMITS' }))
  })
})
