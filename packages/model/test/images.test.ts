import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { codeOfAsync, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createRng, DataSourceError, type Dataset, encodePng, imageDimensions, loadData, loadImageFolder, loadMnist, subset, tf, writeImageFolder
} from '../src/index.js'

const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']

/** The examples of class `c`, in order, as one array. */
function examplesOf (ds: Dataset, c: number): Float32Array {
  const idx = [...ds.labels].flatMap((l, i) => l === c ? [i] : [])
  return subset(ds, idx).images
}

/** An RGB PNG of h × w pixels whose value at (y, x) is f(y, x) (0–255), for every channel. */
function rgbPng (h: number, w: number, f: (y: number, x: number) => number): Buffer {
  const px = Float32Array.from({ length: h * w * 3 }, (_, i) => f(Math.floor(i / 3 / w), Math.floor(i / 3) % w) / 255)
  return encodePng(px, h, w, 3)
}

async function put (dir: string, rel: string, bytes: Uint8Array | string): Promise<string> {
  const p = join(dir, rel)
  await mkdir(join(p, '..'), { recursive: true })
  await writeFile(p, bytes)
  return p
}

/** The DataSourceError a load throws (its code and path). */
async function failure (p: Promise<unknown>): Promise<{ code: string, path: string }> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(DataSourceError)
    return { code: (err as DataSourceError).code, path: (err as DataSourceError).path }
  }
  throw new Error('expected the load to fail')
}

describe('image folders', () => {
  let tmp: TempDir
  let mnist: Dataset
  let n = 0
  const fresh = (): string => join(tmp.path, `case-${n++}`)

  beforeAll(async () => {
    tmp = await tempDir('swarmtune-images-')
    mnist = (await loadMnist({ train: 40, test: 0 })).train
  })
  afterAll(async () => { await tmp.cleanup() })

  it('writes MNIST as a PNG folder and reads the same pixels back, class by class in order', async () => {
    const dir = fresh()
    const written = await writeImageFolder(mnist, dir, { labels: DIGITS })
    expect(written.files).toBe(40)
    const back = await loadImageFolder(dir, { labels: DIGITS, channels: 1 })
    expect(back.exampleShape).toEqual([28, 28])
    expect(back.classes).toBe(10)
    expect(back.classNames).toEqual(DIGITS)
    expect(back.count).toBe(40)
    expect([...back.labels]).toEqual([...mnist.labels].sort((a, b) => a - b))
    for (let c = 0; c < 10; c++) expect(Buffer.from(examplesOf(back, c).buffer).equals(Buffer.from(examplesOf(mnist, c).buffer))).toBe(true)
    // grey → RGB repeats the value in the three channels
    const rgb = await loadImageFolder(dir, { labels: DIGITS })
    expect(rgb.exampleShape).toEqual([28, 28, 3])
    for (let i = 0; i < back.images.length; i += 97) {
      expect([rgb.images[3 * i], rgb.images[3 * i + 1], rgb.images[3 * i + 2]]).toEqual([back.images[i], back.images[i], back.images[i]])
    }
    // without labels the classes are the folder names sorted by code point
    const sorted = await loadImageFolder(dir, { channels: 1 })
    expect(sorted.classNames).toEqual([...new Set([...mnist.labels].map((l) => DIGITS[l]))].sort())
    // through a DataSpec, with a partition
    const part = await loadData({ source: 'images', path: dir, labels: DIGITS, channels: 1, partition: { scheme: 'iid', clients: 2, client: 1, seed: 3 } })
    expect(part.count).toBe(20)
    expect(part.exampleShape).toEqual([28, 28])
  })

  it('round-trips RGB exactly and converts RGB to grey by BT.601 luma', async () => {
    const rng = createRng(testSeed('images rgb'))
    const ds: Dataset = {
      images: Float32Array.from({ length: 6 * 5 * 4 * 3 }, () => rng.int(256) / 255),
      labels: Uint8Array.from([0, 1, 0, 1, 1, 0]),
      count: 6,
      exampleShape: [5, 4, 3],
      classes: 2
    }
    const dir = fresh()
    await writeImageFolder(ds, dir, { labels: ['cat', 'dog'] })
    const back = await loadImageFolder(dir, { labels: ['cat', 'dog'] })
    for (const c of [0, 1]) expect(Buffer.from(examplesOf(back, c).buffer).equals(Buffer.from(examplesOf(ds, c).buffer))).toBe(true)
    const grey = await loadImageFolder(dir, { labels: ['cat', 'dog'], channels: 1 })
    const src = examplesOf(ds, 0)
    const got = examplesOf(grey, 0)
    for (let p = 0; p < got.length; p++) {
      const [r, g, b] = [src[3 * p], src[3 * p + 1], src[3 * p + 2]].map((v) => Math.round(v * 255))
      const want = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b
      expect(got[p]).toBe(Math.fround(Math.fround(want) / 255)) // luma kept as float32, then scaled
    }
  })

  it('reads PNG and JPEG by magic bytes, not by name; drops alpha', async () => {
    const dir = fresh()
    const digit = mnist.images.subarray(0, 784)
    const rgba = Buffer.alloc(28 * 28 * 4)
    for (let p = 0; p < 784; p++) {
      rgba.fill(Math.round(digit[p] * 255), 4 * p, 4 * p + 3)
      rgba[4 * p + 3] = p % 2 === 0 ? 0 : 255 // alpha is dropped, whatever it is
    }
    await put(dir, 'a/photo.png', jpeg.encode({ data: rgba, width: 28, height: 28 }, 95).data) // a JPEG named .png
    const png = new PNG({ width: 28, height: 28 })
    png.data = rgba
    await put(dir, 'b/photo.jpg', PNG.sync.write(png, { colorType: 6 })) // an RGBA PNG named .jpg
    await put(dir, 'b/.DS_Store', 'hidden files are ignored')
    await put(dir, 'README.txt', 'files beside the class folders are ignored')
    const ds = await loadImageFolder(dir, { channels: 1 })
    expect(ds.classNames).toEqual(['a', 'b'])
    expect(ds.count).toBe(2)
    const [fromJpeg, fromPng] = [ds.images.subarray(0, 784), ds.images.subarray(784)]
    expect(Buffer.from(fromPng.slice().buffer).equals(Buffer.from(digit.slice().buffer))).toBe(true)
    let err = 0
    for (let p = 0; p < 784; p++) err += Math.abs(fromJpeg[p] - digit[p])
    expect(err / 784).toBeLessThan(0.02) // lossy, but close
  })

  it('resizes by the stated policy: crop keeps the centre, stretch the whole; bilinear as tf.image.resizeBilinear when enlarging, antialiased when shrinking', async () => {
    const dir = fresh()
    // 2 × 6 (h × w): white borders of two columns each side, a black centre
    await put(dir, 'wide/a.png', rgbPng(2, 6, (_, x) => x >= 2 && x < 4 ? 0 : 255))
    // 6 × 2: white top rows, black middle
    await put(dir, 'tall/b.png', rgbPng(6, 2, (y) => y >= 2 && y < 4 ? 0 : 255))
    const crop = await loadImageFolder(dir, { size: [2, 2], channels: 1 })
    expect([...crop.images]).toEqual(new Array(8).fill(0))
    // stretch shrinks the long side 3×, antialiased: a triangle of support 3 over white, white, black, black
    // (weights 2/3, 1, 2/3, 1/3), so 5/8 white
    const stretch = await loadImageFolder(dir, { size: [2, 2], channels: 1, resize: 'stretch' })
    for (const v of stretch.images) expect(v).toBeCloseTo(0.625, 6)
    const none = await failure(loadImageFolder(dir, { size: [2, 2], resize: 'none' }))
    expect(none.code).toBe('ERR_MODEL_IMAGE_SIZE_MISMATCH')
    // without a size, images of different sizes are refused
    expect((await failure(loadImageFolder(dir))).code).toBe('ERR_MODEL_IMAGE_SIZE_MISMATCH')

    // enlarging is bilinear with half-pixel centres: the same numbers as tfjs (to float32 rounding)
    const rng = createRng(testSeed('images resize'))
    const values = Array.from({ length: 3 * 5 }, () => rng.int(256))
    const dir2 = fresh()
    await put(dir2, 'x/a.png', rgbPng(3, 5, (y, x) => values[y * 5 + x]))
    await put(dir2, 'y/a.png', rgbPng(3, 5, () => 0))
    const mine = (await loadImageFolder(dir2, { size: [4, 9], channels: 1, resize: 'stretch' })).images.subarray(0, 36)
    const theirs = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(values.map((v) => v / 255), [3, 5, 1]), [4, 9], false, true).dataSync())
    for (let i = 0; i < 36; i++) expect(Math.abs(mine[i] - theirs[i])).toBeLessThan(1e-6)

    // shrinking is antialiased: stripes one pixel wide, shrunk 3×, come out grey, where plain bilinear (tfjs)
    // samples every third column and gives black and white
    const dir3 = fresh()
    await put(dir3, 'x/a.png', rgbPng(2, 12, (_, x) => (x % 2) * 255))
    await put(dir3, 'y/a.png', rgbPng(2, 12, () => 0))
    const shrunk = (await loadImageFolder(dir3, { size: [2, 4], channels: 1, resize: 'stretch' })).images.subarray(0, 8)
    for (const v of shrunk) expect(Math.abs(v - 0.5)).toBeLessThan(0.15)
    const aliased = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(Array.from({ length: 24 }, (_, i) => i % 2), [2, 12, 1]), [2, 4], false, true).dataSync())
    expect(Math.max(...aliased.map((v) => Math.abs(v - 0.5)))).toBe(0.5)
  })

  it('gives each bad input its own code, naming the file', async () => {
    const good = encodePng(mnist.images.subarray(0, 784), 28, 28, 1)
    const two = async (extra: (dir: string) => Promise<unknown>): Promise<string> => {
      const dir = fresh()
      await put(dir, 'one/a.png', good)
      await put(dir, 'two/a.png', good)
      await extra(dir)
      return dir
    }
    // truncated PNG
    let dir = await two((d) => put(d, 'two/b.png', good.subarray(0, 60)))
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_IMAGE_UNREADABLE', path: join(dir, 'two/b.png') })
    // truncated JPEG
    const rgba = Buffer.alloc(28 * 28 * 4, 200)
    const jpg = jpeg.encode({ data: rgba, width: 28, height: 28 }, 90).data
    dir = await two((d) => put(d, 'two/c.jpg', jpg.subarray(0, Math.floor(jpg.length / 2))))
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_IMAGE_UNREADABLE', path: join(dir, 'two/c.jpg') })
    // neither PNG nor JPEG, whatever its name
    dir = await two((d) => put(d, 'one/notes.png', 'GIF89a, or just text'))
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_IMAGE_UNSUPPORTED', path: join(dir, 'one/notes.png') })
    // an empty class folder
    dir = await two((d) => mkdir(join(d, 'three')))
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_EMPTY_CLASS', path: join(dir, 'three') })
    // too few examples
    dir = await two(async () => {})
    expect((await failure(loadImageFolder(dir, { minExamples: 3 }))).code).toBe('ERR_MODEL_TOO_FEW_EXAMPLES')
    expect((await loadImageFolder(dir, { minExamples: 2 })).count).toBe(2)
    expect((await failure(loadImageFolder(fresh()))).code).toBe('ERR_MODEL_DATA_NOT_FOUND')
    const empty = fresh()
    await mkdir(empty)
    expect((await failure(loadImageFolder(empty))).code).toBe('ERR_MODEL_TOO_FEW_EXAMPLES')
    // over the pixel bound: by the header, before decoding (here a forged IHDR claiming 10,000 × 10,000)
    const forged = Buffer.from(good)
    forged.writeUInt32BE(10_000, 16)
    forged.writeUInt32BE(10_000, 20)
    dir = await two((d) => put(d, 'one/huge.png', forged))
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_IMAGE_TOO_LARGE', path: join(dir, 'one/huge.png') })
    // the same from a JPEG's frame header (SOF0: FF C0, length, precision, height, width)
    const sof = Buffer.from(jpg).indexOf(Buffer.from([0xff, 0xc0]))
    expect(imageDimensions(jpg, 'jpeg')).toEqual({ width: 28, height: 28 })
    expect(Buffer.from(jpg).readUInt16BE(sof + 5)).toBe(28)
    const bigJpg = Buffer.from(jpg)
    bigJpg.writeUInt16BE(20_000, sof + 5)
    bigJpg.writeUInt16BE(20_000, sof + 7)
    expect(imageDimensions(bigJpg, 'jpeg')).toEqual({ width: 20_000, height: 20_000 })
    dir = await two((d) => put(d, 'one/huge.jpg', bigJpg))
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_IMAGE_TOO_LARGE', path: join(dir, 'one/huge.jpg') })
    dir = await two(async () => {})
    expect((await failure(loadImageFolder(dir, { maxPixels: 28 * 27 }))).code).toBe('ERR_MODEL_IMAGE_TOO_LARGE')
    // over the file size bound
    expect((await failure(loadImageFolder(dir, { maxFileBytes: good.length - 1 }))).code).toBe('ERR_MODEL_DATA_FILE_TOO_LARGE')
    // options with unknown values
    expect((await failure(loadImageFolder(dir, { resize: 'zoom' as 'crop' }))).code).toBe('ERR_MODEL_INVALID_IMAGE_OPTIONS')
    expect((await failure(loadImageFolder(dir, { channels: 2 as 1 }))).code).toBe('ERR_MODEL_INVALID_IMAGE_OPTIONS')
    expect((await failure(loadImageFolder(dir, { size: [0, 28] }))).code).toBe('ERR_MODEL_INVALID_IMAGE_OPTIONS')
    expect((await failure(loadImageFolder(dir, { labels: ['one', 'one'] }))).code).toBe('ERR_MODEL_INVALID_LABELS')
    const single = fresh()
    await put(single, 'only/a.png', good)
    expect((await failure(loadImageFolder(single))).code).toBe('ERR_MODEL_INVALID_LABELS')
  })

  it('refuses a class folder that is not among the community\'s labels, and accepts a subset of them', async () => {
    const good = encodePng(mnist.images.subarray(0, 784), 28, 28, 1)
    const dir = fresh()
    await put(dir, 'cat/a.png', good)
    await put(dir, 'dog/a.png', good)
    expect(await failure(loadImageFolder(dir, { labels: ['dog', 'bird'] }))).toEqual({ code: 'ERR_MODEL_UNKNOWN_CLASS', path: join(dir, 'cat') })
    const ds = await loadImageFolder(dir, { labels: ['bird', 'dog', 'cat'], channels: 1 })
    expect(ds.classes).toBe(3)
    expect([...ds.labels]).toEqual([1, 2]) // class-index order: dog (1) before cat (2)
  })

  it('follows links inside the folder but none that leave it', async () => {
    const good = encodePng(mnist.images.subarray(0, 784), 28, 28, 1)
    const outside = await put(fresh(), 'secret.png', good)
    const dir = fresh()
    await put(dir, 'one/a.png', good)
    await put(dir, 'two/a.png', good)
    await symlink(join(dir, 'one/a.png'), join(dir, 'two/b.png'))
    expect((await loadImageFolder(dir)).count).toBe(3)
    // the folder itself may be a link; errors name files under the path given
    const alias = fresh()
    await symlink(dir, alias)
    expect((await loadImageFolder(alias)).count).toBe(3)
    await symlink(outside, join(dir, 'two/c.png'))
    expect(await failure(loadImageFolder(alias))).toEqual({ code: 'ERR_MODEL_DATA_PATH_ESCAPE', path: join(alias, 'two/c.png') })
    expect(await failure(loadImageFolder(dir))).toEqual({ code: 'ERR_MODEL_DATA_PATH_ESCAPE', path: join(dir, 'two/c.png') })
    const dir2 = fresh()
    await put(dir2, 'one/a.png', good)
    await symlink(join(outside, '..'), join(dir2, 'two'))
    expect((await failure(loadImageFolder(dir2))).code).toBe('ERR_MODEL_DATA_PATH_ESCAPE')
  })

  it('writeImageFolder refuses labels that are not folder names and datasets that are not images', async () => {
    expect(await codeOfAsync(writeImageFolder(mnist, fresh(), { labels: ['a/b', ...DIGITS.slice(1)] }))).toBe('ERR_MODEL_INVALID_LABELS')
    expect(await codeOfAsync(writeImageFolder(mnist, fresh(), { labels: DIGITS.slice(1) }))).toBe('ERR_MODEL_INVALID_LABELS')
    const flat: Dataset = { ...mnist, exampleShape: [784] }
    expect(await codeOfAsync(writeImageFolder(flat, fresh()))).toBe('ERR_MODEL_INVALID_DATA')
    // the default labels are the class indices
    const dir = fresh()
    const w = await writeImageFolder(subset(mnist, [0, 1, 2]), dir)
    expect(w.classNames).toEqual(DIGITS.map((_, i) => String(i)))
    expect((await readFile(join(dir, String(mnist.labels[0]), '0.png'))).subarray(1, 4).toString()).toBe('PNG')
  })
})
