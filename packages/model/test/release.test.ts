import { blobCid, encodeCanonical, parseCid } from '@swarmtune/wire'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { testSeed } from '@swarmtune/test-support'
import {
  assembleRelease, buildRelease, createRng, decodeManifest, genesisFromTask, getTask, weightsBitEqual,
  type BuiltRelease, type GetShard, type Weights
} from '../src/index.js'

/** Shard and manifest CIDs of the seeded genesis releases (seed 42, default 4 MiB shards, no author, no metrics). */
const EXPECTED = {
  'mnist-2nn': {
    manifest: 'bafkreie6kyebqsq2bfla6kgwfqvhknvnfss7cdjmybbb55phcbfhk765ky',
    shards: ['bafkreih45m6khuoonlkup6yshkwatx56sioviuvcsxi22dhskugvwjrlnu']
  },
  'mnist-cnn': {
    manifest: 'bafkreiehc3ivdvcvfxfoaddt2ocovz5mrmfkfr5dlbzk6i3ueejggi74iy',
    shards: ['bafkreif554w7uojllspkpa4ong3zybo3caveq4jg5pwc6nlyfjks2peqve', 'bafkreifgn2ku7raadkvn6m3zmu5xu4mkhcv52yonsgvlwxza7rsnn4bqyy']
  }
}

function store (r: BuiltRelease): GetShard {
  const m = new Map(r.shards.map((s) => [s.cid.toString(), s.bytes]))
  return (cid) => {
    const b = m.get(cid.toString())
    if (b === undefined) throw new Error(`no shard ${cid.toString()}`)
    return b.slice()
  }
}

/** Weights with arbitrary finite float32 bit patterns (including −0, subnormals, extremes) for the 2nn specs. */
function randomWeights (seed: number): Weights {
  const rng = createRng(seed)
  const specs = getTask('mnist-2nn').weightSpecs.map((s) => ({ ...s, shape: [...s.shape] }))
  const values = specs.map((s) => {
    const v = new Float32Array(s.shape.reduce((a, b) => a * b, 1))
    const bits = new Uint32Array(v.buffer)
    for (let i = 0; i < bits.length; i++) {
      bits[i] = (rng.int(0x10000) << 16 | rng.int(0x10000)) >>> 0
      if (!Number.isFinite(v[i])) bits[i] &= 0xbf7fffff // clear an exponent bit: finite
    }
    v[0] = -0
    return v
  })
  return { specs, values }
}

const author = new Uint8Array(32).fill(7)
const community = blobCid(new TextEncoder().encode('community genesis entry'))

describe('releases', () => {
  it('a seeded genesis has the committed shard and manifest CIDs (same bytes on every machine)', () => {
    for (const [task, want] of Object.entries(EXPECTED)) {
      const g = genesisFromTask(task, 42)
      expect(g.shards.map((s) => s.cid.toString())).toEqual(want.shards)
      expect(g.manifestCid.toString()).toBe(want.manifest)
      expect(genesisFromTask(task, 43).shards[0].cid.toString()).not.toBe(want.shards[0])
    }
  })

  it('round-trips weights bit-exact with 4 KiB shards, and the manifest says what it was given', async () => {
    const seed = testSeed('release round trip')
    const w = randomWeights(seed)
    const parent = genesisFromTask('mnist-2nn', 1).manifestCid
    const r = buildRelease(w, { community, parent, round: 3, task: 'mnist-2nn', metrics: { loss: 0.25, accuracy: 0.93 }, author }, { shardBytes: 4096 })
    expect(r.shards.length).toBe(Math.ceil(199_210 * 4 / 4096))
    expect(r.shards.slice(0, -1).every((s) => s.bytes.length === 4096)).toBe(true)
    const shardEvents: Array<{ type: string, shards: number, of: number, bytes: number }> = []
    const back = await assembleRelease(r.manifestBytes, store(r), { expectedCid: r.manifestCid, onProgress: (evt) => { shardEvents.push({ type: evt.type, ...evt.detail }) } })
    expect(weightsBitEqual(back.weights, w)).toBe(true)
    // one release:shard event per verified shard, the last one at the whole size
    expect(shardEvents).toHaveLength(r.shards.length)
    expect(shardEvents.at(-1)).toEqual({ type: 'release:shard', shards: r.shards.length, of: r.shards.length, bytes: 199_210 * 4 })
    expect(Object.is(back.weights.values[0][0], -0)).toBe(true)
    expect(back.manifest.round).toBe(3)
    expect(back.manifest.metrics).toEqual({ accuracy: 0.93, loss: 0.25 })
    expect(parseCid(back.manifest.parent!).toString()).toBe(parent.toString())
    expect(parseCid(back.manifest.community).toString()).toBe(community.toString())
    expect(back.manifest.author).toEqual(author)
    expect(blobCid(r.manifestBytes).toString()).toBe(r.manifestCid.toString())
  })

  it('the same weights give the same CIDs on every build; one changed bit changes exactly one shard', () => {
    const seed = testSeed('release determinism')
    const w = randomWeights(seed)
    const a = buildRelease(w, { round: 1, task: 'mnist-2nn' }, { shardBytes: 65536 })
    const b = buildRelease(structuredClone(w), { round: 1, task: 'mnist-2nn' }, { shardBytes: 65536 })
    expect(b.manifestCid.toString()).toBe(a.manifestCid.toString())
    const w2 = structuredClone(w)
    new Uint32Array(w2.values[2].buffer)[100] ^= 1
    const c = buildRelease(w2, { round: 1, task: 'mnist-2nn' }, { shardBytes: 65536 })
    const changed = c.shards.filter((s, i) => s.cid.toString() !== a.shards[i].cid.toString())
    expect(changed.length).toBe(1)
    expect(c.manifestCid.toString()).not.toBe(a.manifestCid.toString())
  })

  it('rejects a corrupted, truncated or missing shard with its own code', async () => {
    const r = genesisFromTask('mnist-2nn', 5, { shardBytes: 65536 })
    const good = store(r)
    const flip: GetShard = (cid, where) => { const b = good(cid, where) as Uint8Array; if (where.index === 3) b[17] ^= 0x40; return b }
    const cut: GetShard = (cid, where) => (good(cid, where) as Uint8Array).subarray(0, where.index === 2 ? 100 : undefined)
    const lose: GetShard = (cid, where) => { if (where.index === 1) throw new Error('peer went away'); return good(cid, where) }
    await expect(assembleRelease(r.manifestBytes, flip)).rejects.toMatchObject({ code: 'ERR_MODEL_SHARD_HASH_MISMATCH' })
    await expect(assembleRelease(r.manifestBytes, cut)).rejects.toMatchObject({ code: 'ERR_MODEL_SHARD_SIZE_MISMATCH' })
    await expect(assembleRelease(r.manifestBytes, lose)).rejects.toMatchObject({ code: 'ERR_MODEL_SHARD_MISSING' })
    await expect(assembleRelease(r.manifestBytes, good, { expectedCid: community })).rejects.toMatchObject({ code: 'ERR_MODEL_MANIFEST_MALFORMED' })
    const ac = new AbortController()
    ac.abort()
    await expect(assembleRelease(r.manifestBytes, good, { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('rejects manifests whose layout disagrees with their shapes, or that are too large, before fetching anything', () => {
    const r = genesisFromTask('mnist-2nn', 5, { shardBytes: 65536 })
    const m = r.manifest
    const variants: unknown[] = [
      { ...m, weights: m.weights.map((w, i) => (i === 1 ? { ...w, length: w.length + 4 } : w)) },
      { ...m, weights: m.weights.map((w, i) => (i === 2 ? { ...w, shape: [200, 201] } : w)) },
      { ...m, shards: m.shards.slice(1) },
      { ...m, shards: m.shards.map((s, i) => (i === 0 ? { ...s, length: s.length - 1 } : s)) },
      { ...m, totalBytes: m.totalBytes + 4 },
      { ...m, weights: m.weights.map((w) => ({ ...w, dtype: 'float16' })) },
      { ...m, v: 2 },
      { ...m, author: new Uint8Array(31) },
      { ...m, extra: 1 },
      [1, 2, 3]
    ]
    for (const v of variants) {
      expect(() => decodeManifest(encodeCanonical(v))).toThrow(expect.objectContaining({ code: 'ERR_MODEL_MANIFEST_MALFORMED' }))
    }
    expect(() => decodeManifest(new Uint8Array(1024 * 1024 + 1))).toThrow(expect.objectContaining({ code: 'ERR_MODEL_MANIFEST_TOO_LARGE' }))
  })

  it('never crashes on a mutated manifest: every failure is a ReleaseError with a code (fuzz)', async () => {
    const seed = testSeed('manifest fuzz')
    const r = genesisFromTask('mnist-2nn', 5, { shardBytes: 65536 })
    const get = store(r)
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.nat(r.manifestBytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), async (flips) => {
      const bytes = r.manifestBytes.slice()
      for (const [at, x] of flips) bytes[at] ^= x
      try {
        const back = await assembleRelease(bytes, get)
        // A mutation that survives every check must still describe the same weight stream.
        expect(back.manifest.totalBytes).toBe(r.manifest.totalBytes)
      } catch (err) {
        expect((err as { name: string }).name).toBe('ReleaseError')
        expect((err as { code: string }).code).toMatch(/^ERR_MODEL_/)
      }
    }), { seed, numRuns: 300 })
  })

  it('refuses bad inputs to buildRelease: non-finite weights, shard size out of range, a malformed author', () => {
    const w = getTask('mnist-2nn').initWeights(1)
    const nan = structuredClone(w)
    nan.values[0][5] = Number.NaN
    expect(() => buildRelease(nan, { round: 0, task: 'mnist-2nn' })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_WEIGHTS' }))
    expect(() => buildRelease(w, { round: 0, task: 'mnist-2nn' }, { shardBytes: 100 })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_RELEASE_OPTIONS' }))
    expect(() => buildRelease(w, { round: 0, task: 'mnist-2nn', author: new Uint8Array(5) })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_MANIFEST_MALFORMED' }))
    expect(() => buildRelease(w, { round: 0, task: 'mnist-2nn', metrics: { loss: Infinity } })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_MANIFEST_MALFORMED' }))
    const short = structuredClone(w)
    short.values[1] = short.values[1].subarray(1)
    expect(() => buildRelease(short, { round: 0, task: 'mnist-2nn' })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_WEIGHTS' }))
  })
})
