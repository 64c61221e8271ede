/**
 * A volunteer's photos as a dataset: a folder with one sub-folder per class (torchvision's `ImageFolder`
 * convention), PNG and JPEG files inside; and the reverse, a dataset written out as such a folder of PNG files.
 */
import type { Dirent } from 'node:fs'
import { mkdir, open, readdir, realpath, stat, writeFile } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS } from '../constants.js'
import { DataSourceError, InvalidDataError } from '../errors.js'
import type { Dataset } from './dataset.js'
import { exampleSize, validateDataset } from './dataset.js'
import { compareCodePoints, decodeImage, encodePng, imageToExample, RESIZE_POLICIES, type ResizePolicy, validateLabels } from './images.js'

/** How to read an image folder (see `loadImageFolder`). */
export interface ImageFolderOptions {
  /** [height, width] of every example, in pixels; default: the first image's, which every image must then have. */
  size?: readonly [number, number]
  /** 1 (grey) or 3 (RGB, the default). */
  channels?: 1 | 3
  /**
   * The community's class names, in class-index order: each sub-folder must be one of them (a class may have no
   * folder). Default: the sub-folders' names, sorted by code point (as torchvision).
   */
  labels?: readonly string[]
  /** How images of another size are brought to `size` (default `crop`; see `ResizePolicy`). */
  resize?: ResizePolicy
  /** Fewest examples accepted (default 1). */
  minExamples?: number
  /** Largest image file read, in bytes (default and at most `MAX_IMAGE_FILE_BYTES`). */
  maxFileBytes?: number
  /** Largest image accepted, in pixels (default and at most `MAX_IMAGE_PIXELS`). */
  maxPixels?: number
}

/** A dataset read from named classes: `classNames[i]` is the name of class i. */
export interface NamedDataset extends Dataset {
  classNames: string[]
}

function checkOptions (path: string, o: ImageFolderOptions): void {
  const bad = (what: string): never => { throw new DataSourceError('ERR_MODEL_INVALID_IMAGE_OPTIONS', path, `${what}`) }
  if (o.size !== undefined) {
    const ok = Array.isArray(o.size) && o.size.length === 2 && o.size.every((n) => Number.isSafeInteger(n) && n >= 1)
    if (!ok) bad(`image size ${JSON.stringify(o.size)} is not [height, width] in whole pixels ≥ 1: pass e.g. [224, 224]`)
    if (o.size[0] * o.size[1] > MAX_IMAGE_PIXELS) bad(`image size ${o.size[0]} × ${o.size[1]} is above the limit of ${MAX_IMAGE_PIXELS} pixels: choose a smaller input size`)
  }
  if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) bad(`channels ${JSON.stringify(o.channels)} is not known: expected 1 (grey) or 3 (RGB)`)
  if (o.resize !== undefined && !RESIZE_POLICIES.includes(o.resize)) bad(`resize policy ${JSON.stringify(o.resize)} is not known: expected one of ${RESIZE_POLICIES.join(', ')}`)
  if (o.minExamples !== undefined && !(Number.isSafeInteger(o.minExamples) && o.minExamples >= 1)) bad(`minExamples ${String(o.minExamples)} is not an integer ≥ 1`)
  for (const [key, max] of [['maxFileBytes', MAX_IMAGE_FILE_BYTES], ['maxPixels', MAX_IMAGE_PIXELS]] as const) {
    const v = o[key]
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1 && v <= max)) bad(`${key} ${String(v)} is not an integer in [1, ${max}]`)
  }
  if (o.labels !== undefined) validateLabels(o.labels, path)
}

/** The real path of `p` if it lies inside `root` (a real path), else a coded error. */
async function inside (root: string, p: string): Promise<string> {
  let real: string
  try {
    real = await realpath(p)
  } catch (err) {
    throw new DataSourceError('ERR_MODEL_DATA_NOT_FOUND', p, `${p} cannot be resolved (${(err as Error).message}): a broken link? Fix or remove it`, { cause: err })
  }
  if (real !== root && !real.startsWith(root + sep)) {
    throw new DataSourceError('ERR_MODEL_DATA_PATH_ESCAPE', p, `${p} leads to ${real}, outside the data folder ${root}: copy the file into the folder instead of linking to it`)
  }
  return real
}

async function list (dir: string): Promise<Dirent[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => compareCodePoints(a.name, b.name))
  } catch (err) {
    throw new DataSourceError('ERR_MODEL_DATA_NOT_FOUND', dir, `folder ${dir} cannot be read (${(err as Error).message}): check that it exists and is readable`, { cause: err })
  }
}

/** Every non-hidden file under `dir` (following links that stay inside `root`), sorted by path, each once. */
export async function filesUnder (root: string, dir: string, seen: Set<string>): Promise<string[]> {
  const out: string[] = []
  for (const e of await list(dir)) {
    const p = join(dir, e.name)
    const real = await inside(root, p)
    const s = await stat(real)
    if (s.isDirectory()) {
      if (seen.has(real)) continue // a link back to a folder already read
      seen.add(real)
      out.push(...await filesUnder(root, p, seen))
    } else if (s.isFile()) {
      out.push(p)
    }
  }
  return out
}

/** Reads at most `max` bytes of a file, refusing a larger one before reading it. */
async function readBounded (path: string, max: number): Promise<Uint8Array> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw new DataSourceError('ERR_MODEL_IMAGE_UNREADABLE', path, `${path} cannot be opened (${(err as Error).message}): check its permissions`, { cause: err })
  }
  try {
    const { size } = await handle.stat()
    if (size > max) {
      throw new DataSourceError('ERR_MODEL_DATA_FILE_TOO_LARGE', path, `${path} has ${size} bytes, above the limit of ${max}: scale the image down or remove it`)
    }
    const bytes = new Uint8Array(size)
    const { bytesRead } = await handle.read(bytes, 0, size, 0)
    return bytes.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/**
 * Reads a volunteer's image folder: `path/<class>/…/<image>`, one sub-folder per class (torchvision's
 * `ImageFolder`), nested folders inside a class allowed; hidden entries (`.…`) and files directly in `path` are
 * ignored. Every other file must be a PNG or JPEG by its magic bytes, whatever its name. Examples come class by
 * class (in class-index order), files in code-point order of their paths: the same dataset on every machine.
 * Each image is converted to `channels` (grey → RGB by repetition, RGBA → RGB dropping alpha, RGB → grey by BT.601
 * luma), brought to `size` by the `resize` policy (`crop` by default), scaled to float32 in [0, 1].
 * Links are followed only while they stay inside `path`. EXIF orientation is not applied (nor by torchvision's
 * default loader): pixels are used as stored.
 * @returns a dataset of `exampleShape` [h, w] (1 channel, as MNIST) or [h, w, 3], `classes` = the labels' count
 *   (or the sub-folders'), and `classNames`.
 * @throws DataSourceError: `ERR_MODEL_DATA_NOT_FOUND` (no such folder), `ERR_MODEL_INVALID_IMAGE_OPTIONS`,
 *   `ERR_MODEL_INVALID_LABELS`, `ERR_MODEL_UNKNOWN_CLASS` (a sub-folder not among `labels`),
 *   `ERR_MODEL_EMPTY_CLASS`, `ERR_MODEL_TOO_FEW_EXAMPLES`, `ERR_MODEL_DATA_PATH_ESCAPE`,
 *   `ERR_MODEL_DATA_FILE_TOO_LARGE`, `ERR_MODEL_IMAGE_UNSUPPORTED`, `ERR_MODEL_IMAGE_UNREADABLE`,
 *   `ERR_MODEL_IMAGE_TOO_LARGE`, `ERR_MODEL_IMAGE_SIZE_MISMATCH`.
 */
export async function loadImageFolder (path: string, options: ImageFolderOptions = {}): Promise<NamedDataset> {
  checkOptions(path, options)
  let root: string
  try {
    root = await realpath(path)
    if (!(await stat(root)).isDirectory()) throw new Error('not a folder')
  } catch (err) {
    throw new DataSourceError('ERR_MODEL_DATA_NOT_FOUND', path, `image folder ${path} cannot be used (${(err as Error).message}): pass a folder holding one sub-folder of images per class`, { cause: err })
  }
  const channels = options.channels ?? 3
  const seen = new Set([root])
  const classDirs: Array<{ name: string, dir: string }> = []
  for (const e of await list(path)) {
    const p = join(path, e.name)
    const real = await inside(root, p)
    if ((await stat(real)).isDirectory()) {
      seen.add(real)
      classDirs.push({ name: e.name, dir: p })
    }
  }
  const classNames = options.labels !== undefined ? [...options.labels] : classDirs.map((c) => c.name)
  for (const c of classDirs) {
    if (!classNames.includes(c.name)) {
      throw new DataSourceError('ERR_MODEL_UNKNOWN_CLASS', c.dir, `class folder ${JSON.stringify(c.name)} is not one of the community's labels (${classNames.map((l) => JSON.stringify(l)).join(', ')}): rename or remove the folder`)
    }
  }
  const byClass = await Promise.all(classDirs.map(async (c) => ({ ...c, files: await filesUnder(root, c.dir, seen) })))
  byClass.sort((a, b) => classNames.indexOf(a.name) - classNames.indexOf(b.name))
  for (const c of byClass) {
    if (c.files.length === 0) {
      throw new DataSourceError('ERR_MODEL_EMPTY_CLASS', c.dir, `class folder ${c.dir} holds no images: add PNG or JPEG files to it, or remove it`)
    }
  }
  const total = byClass.reduce((s, c) => s + c.files.length, 0)
  const needed = options.minExamples ?? 1
  if (total < needed) {
    throw new DataSourceError('ERR_MODEL_TOO_FEW_EXAMPLES', path, `image folder ${path} holds ${total} images in ${byClass.length} class folders; at least ${needed} are needed: add images (one sub-folder per class)`)
  }
  if (options.labels === undefined && classNames.length < 2) {
    throw new DataSourceError('ERR_MODEL_INVALID_LABELS', path, `image folder ${path} has ${classNames.length} class folder; a classifier needs at least 2: add a sub-folder per class, or pass the community's labels`)
  }
  let size = options.size
  const policy = size === undefined ? 'none' : options.resize ?? 'crop'
  const maxBytes = options.maxFileBytes ?? MAX_IMAGE_FILE_BYTES
  const maxPixels = options.maxPixels ?? MAX_IMAGE_PIXELS
  let images: Float32Array | undefined
  const labels = new Uint8Array(total)
  let k = 0
  for (const c of byClass) {
    const label = classNames.indexOf(c.name)
    for (const file of c.files) {
      const img = decodeImage(await readBounded(file, maxBytes), file, maxPixels)
      size ??= [img.height, img.width]
      images ??= new Float32Array(total * size[0] * size[1] * channels)
      images.set(imageToExample(img, size, channels, policy, file), k * size[0] * size[1] * channels)
      labels[k++] = label
    }
  }
  const ds: NamedDataset = {
    images: images ?? new Float32Array(0),
    labels,
    count: total,
    exampleShape: size === undefined ? [] : channels === 1 ? [size[0], size[1]] : [size[0], size[1], 3],
    classes: classNames.length,
    classNames
  }
  validateDataset(ds)
  return ds
}

/** Where `writeImageFolder` put the examples. */
export interface WrittenImageFolder {
  /** The folder written. */
  path: string
  /** Files written (one per example). */
  files: number
  /** Class names, in class-index order (the sub-folders' names). */
  classNames: string[]
}

/**
 * Writes a dataset as an image folder that `loadImageFolder` reads back: `dir/<label>/<index>.png`, an 8-bit PNG
 * per example (grey for `exampleShape` [h, w] or [h, w, 1], RGB for [h, w, 3]; values in [0, 1] stored as
 * round(255 v), so k / 255 comes back exactly), `<index>` the example's index zero-padded (so reading keeps the
 * order within a class). Only classes with examples get a folder. Existing files of the same names are replaced.
 * @param options.labels class names in class-index order (default `0`, `1`, …); they must be usable as folder names
 * @throws InvalidDataError (the dataset is inconsistent or not images), DataSourceError `ERR_MODEL_INVALID_LABELS`.
 */
export async function writeImageFolder (dataset: Dataset, dir: string, options: { labels?: readonly string[] } = {}): Promise<WrittenImageFolder> {
  validateDataset(dataset)
  const shape = dataset.exampleShape
  const channels = shape.length === 2 || (shape.length === 3 && shape[2] === 1) ? 1 : shape.length === 3 && shape[2] === 3 ? 3 : undefined
  if (channels === undefined) {
    throw new InvalidDataError(`examples of shape [${shape.join(', ')}] are not images: expected [h, w], [h, w, 1] or [h, w, 3]`)
  }
  const classNames = options.labels !== undefined ? [...options.labels] : Array.from({ length: dataset.classes }, (_, i) => String(i))
  validateLabels(classNames, dir, true)
  if (classNames.length !== dataset.classes) {
    throw new DataSourceError('ERR_MODEL_INVALID_LABELS', dir, `${classNames.length} labels given for a dataset of ${dataset.classes} classes: pass one name per class`)
  }
  const size = exampleSize(dataset)
  const digits = String(Math.max(dataset.count - 1, 0)).length
  const made = new Set<number>()
  for (let i = 0; i < dataset.count; i++) {
    const label = dataset.labels[i]
    const classDir = join(dir, classNames[label])
    if (!made.has(label)) {
      await mkdir(classDir, { recursive: true })
      made.add(label)
    }
    const png = encodePng(dataset.images.subarray(i * size, (i + 1) * size), shape[0], shape[1], channels)
    await writeFile(join(classDir, `${String(i).padStart(digits, '0')}.png`), png)
  }
  return { path: dir, files: dataset.count, classNames }
}

