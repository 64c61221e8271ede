/**
 * Images of a volunteer's own: format by magic bytes, dimensions from the header (checked against a pixel bound
 * before decoding), decoding with maintained pure-JS libraries (`pngjs`, `jpeg-js`), channel conversion, bilinear
 * resizing to a task's input, and PNG encoding. Pixels come out as float32 in [0, 1], row-major [h, w, c].
 */
import jpeg from 'jpeg-js'
import { PNG } from 'pngjs'
import { MAX_DATASET_CLASSES, MAX_IMAGE_PIXELS } from '../constants.js'
import { DataSourceError } from '../errors.js'

/** Formats read by magic bytes: PNG (`89 50 4E 47 0D 0A 1A 0A`, RFC 2083 §3.1) and JPEG (SOI `FF D8 FF`, ITU T.81 B.1.1.2). */
export type ImageFormat = 'png' | 'jpeg'

/**
 * How an image of another size is brought to the requested [h, w]:
 * - `crop` (default): the largest centred window of the target's aspect ratio is cut out, then resized — nothing is
 *   distorted, the borders of the longer side are lost (as torchvision's `Resize` + `CenterCrop`);
 * - `stretch`: the whole image is resized to [h, w], changing its aspect ratio when it differs;
 * - `none`: no resizing: an image of another size is refused (`ERR_MODEL_IMAGE_SIZE_MISMATCH`).
 * Resizing is bilinear with half-pixel centres: when enlarging, exactly `tf.image.resizeBilinear(…,
 * halfPixelCenters = true)`; when shrinking, the triangle filter widened by the shrink factor (antialiased, as
 * Pillow's `BILINEAR`), so a large photo brought down to 224 × 224 does not alias. Each axis on its own.
 */
export type ResizePolicy = 'crop' | 'stretch' | 'none'

/** The resize policies, the first the default. */
export const RESIZE_POLICIES: readonly ResizePolicy[] = Object.freeze(['crop', 'stretch', 'none'])

/** A decoded image: `data` holds width × height RGBA pixels, 8 bits per channel, row-major. */
export interface DecodedImage {
  width: number
  height: number
  data: Uint8Array
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

/** The image format of `bytes` by its magic bytes (never the file name), or undefined for anything else. */
export function sniffImageFormat (bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b)) return 'png'
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg'
  return undefined
}

/** SOFn markers of ITU T.81 Table B.1 (C0–CF less DHT C4, JPG C8 and DAC CC). */
function isStartOfFrame (marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc
}

/**
 * Width and height from an image's header, without decoding it: PNG's IHDR chunk (which must come first), JPEG's
 * first start-of-frame segment. Undefined when the header is truncated or malformed.
 */
export function imageDimensions (bytes: Uint8Array, format: ImageFormat): { width: number, height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (format === 'png') {
    if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return undefined
    return { width: view.getUint32(16), height: view.getUint32(20) }
  }
  let at = 2
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined
    const marker = bytes[at + 1]
    if (marker === 0xff) { at += 1; continue } // fill byte
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { at += 2; continue } // no length
    const length = view.getUint16(at + 2)
    if (length < 2) return undefined
    if (isStartOfFrame(marker)) {
      if (at + 9 > bytes.length) return undefined
      return { height: view.getUint16(at + 5), width: view.getUint16(at + 7) }
    }
    if (marker === 0xda || marker === 0xd9) return undefined // scan or end before any frame header
    at += 2 + length
  }
  return undefined
}

/**
 * Decodes a PNG or JPEG file's bytes to RGBA (8 bits per channel; a 16-bit PNG is rescaled, a palette expanded,
 * grey replicated). `path` only names the file in errors.
 * @throws DataSourceError `ERR_MODEL_IMAGE_UNSUPPORTED` (neither PNG nor JPEG by magic bytes),
 *   `ERR_MODEL_IMAGE_TOO_LARGE` (over `maxPixels`, from the header, before decoding),
 *   `ERR_MODEL_IMAGE_UNREADABLE` (a corrupt or truncated file; the decoder's error is the `cause`).
 */
export function decodeImage (bytes: Uint8Array, path: string, maxPixels = MAX_IMAGE_PIXELS): DecodedImage {
  const format = sniffImageFormat(bytes)
  if (format === undefined) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex')
    throw new DataSourceError('ERR_MODEL_IMAGE_UNSUPPORTED', path, `${path} is neither a PNG nor a JPEG (its first bytes are ${head || 'none'}): convert it to PNG or JPEG, or move it out of the folder`)
  }
  const dims = imageDimensions(bytes, format)
  if (dims === undefined || dims.width === 0 || dims.height === 0) {
    throw new DataSourceError('ERR_MODEL_IMAGE_UNREADABLE', path, `${path} has no valid ${format.toUpperCase()} header: the file is damaged; replace it or remove it from the folder`)
  }
  if (dims.width * dims.height > maxPixels) {
    throw new DataSourceError('ERR_MODEL_IMAGE_TOO_LARGE', path, `${path} is ${dims.width} × ${dims.height} = ${dims.width * dims.height} pixels, above the limit of ${maxPixels}: scale it down first`)
  }
  try {
    if (format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) }
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxResolutionInMP: maxPixels / 1e6 })
    if (img.width !== dims.width || img.height !== dims.height || img.data.length !== img.width * img.height * 4) {
      throw new Error(`decoded ${img.width} × ${img.height} from a header of ${dims.width} × ${dims.height}`)
    }
    return { width: img.width, height: img.height, data: img.data }
  } catch (err) {
    throw new DataSourceError('ERR_MODEL_IMAGE_UNREADABLE', path, `${path} could not be decoded as ${format.toUpperCase()} (${(err as Error).message}): the file is damaged or truncated; replace it or remove it from the folder`, { cause: err })
  }
}

/**
 * The image as `channels` planes interleaved, values 0–255 as float32 (4 bytes a value, so a 40 MP photo takes
 * 480 MB, not twice that), [height, width, channels]: RGB drops alpha;
 * grey is R when R = G = B (so grey images stay exact), else the ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B
 * (as Pillow's `convert('L')`).
 */
function toChannels (img: DecodedImage, channels: 1 | 3): Float32Array {
  const n = img.width * img.height
  const out = new Float32Array(n * channels)
  const d = img.data
  for (let p = 0; p < n; p++) {
    const r = d[4 * p]
    const g = d[4 * p + 1]
    const b = d[4 * p + 2]
    if (channels === 3) {
      out[3 * p] = r
      out[3 * p + 1] = g
      out[3 * p + 2] = b
    } else {
      out[p] = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b
    }
  }
  return out
}

/** Taps of one output pixel along one axis: source indices and their weights (summing to 1). */
interface Taps { index: number[], weight: number[] }

/**
 * The taps along an axis of `srcLen` pixels for `dstLen` outputs sampling the window [start, start + win):
 * enlarging (win ≤ dstLen), bilinear with half-pixel centres and clamped edges, exactly as
 * `tf.image.resizeBilinear(…, halfPixelCenters = true)`; shrinking by a factor s > 1, the same triangle filter
 * widened to a support of s source pixels each side and normalised (antialiased, as Pillow's `BILINEAR`), so that
 * every source pixel counts instead of 2 of each s.
 */
function axisTaps (srcLen: number, dstLen: number, start: number, win: number): Taps[] {
  const scale = win / dstLen
  const taps: Taps[] = []
  for (let o = 0; o < dstLen; o++) {
    if (scale <= 1) {
      const f = Math.min(Math.max(start + (o + 0.5) * scale - 0.5, 0), srcLen - 1)
      const i0 = Math.floor(f)
      const w = f - i0
      taps.push({ index: [i0, Math.min(i0 + 1, srcLen - 1)], weight: [1 - w, w] })
      continue
    }
    const centre = start + (o + 0.5) * scale
    const lo = Math.max(0, Math.floor(centre - scale))
    const hi = Math.min(srcLen, Math.ceil(centre + scale))
    const index: number[] = []
    const weight: number[] = []
    let sum = 0
    for (let i = lo; i < hi; i++) {
      const w = 1 - Math.abs((i + 0.5 - centre) / scale)
      if (w > 0) {
        index.push(i)
        weight.push(w)
        sum += w
      }
    }
    taps.push({ index, weight: weight.map((w) => w / sum) })
  }
  return taps
}

/**
 * Separable resampling of an interleaved [srcH, srcW, c] image from the source window [x0, x0 + w) × [y0, y0 + h)
 * (pixel units) to [dstH, dstW, c]: rows first, then columns (see `axisTaps`).
 */
function resample (src: Float32Array, srcH: number, srcW: number, c: number, win: { x0: number, y0: number, w: number, h: number }, dstH: number, dstW: number): Float64Array {
  const xs = axisTaps(srcW, dstW, win.x0, win.w)
  const ys = axisTaps(srcH, dstH, win.y0, win.h)
  const rows = new Float64Array(srcH * dstW * c)
  for (let y = 0; y < srcH; y++) {
    for (let x = 0; x < dstW; x++) {
      const t = xs[x]
      for (let k = 0; k < c; k++) {
        let v = 0
        for (let i = 0; i < t.index.length; i++) v += src[(y * srcW + t.index[i]) * c + k] * t.weight[i]
        rows[(y * dstW + x) * c + k] = v
      }
    }
  }
  const out = new Float64Array(dstH * dstW * c)
  for (let y = 0; y < dstH; y++) {
    const t = ys[y]
    for (let x = 0; x < dstW; x++) {
      for (let k = 0; k < c; k++) {
        let v = 0
        for (let i = 0; i < t.index.length; i++) v += rows[(t.index[i] * dstW + x) * c + k] * t.weight[i]
        out[(y * dstW + x) * c + k] = v
      }
    }
  }
  return out
}

/**
 * A decoded image as one example: [size[0], size[1], channels] float32 in [0, 1] (value / 255), brought to `size`
 * by `policy` (see `ResizePolicy`). An image already of `size` is copied exactly, whatever the policy.
 * @throws DataSourceError `ERR_MODEL_IMAGE_SIZE_MISMATCH` when the policy is `none` and the size differs.
 */
export function imageToExample (img: DecodedImage, size: readonly [number, number], channels: 1 | 3, policy: ResizePolicy, path: string): Float32Array {
  const [h, w] = size
  let px: Float32Array | Float64Array = toChannels(img, channels)
  if (img.height !== h || img.width !== w) {
    if (policy === 'none') {
      throw new DataSourceError('ERR_MODEL_IMAGE_SIZE_MISMATCH', path, `${path} is ${img.height} × ${img.width} (h × w) but the images must be ${h} × ${w}: resize it, or load with resize 'crop' or 'stretch'`)
    }
    let win = { x0: 0, y0: 0, w: img.width, h: img.height }
    if (policy === 'crop') {
      // the largest centred window with the target's aspect ratio w / h
      if (img.width * h > w * img.height) {
        const cw = img.height * w / h
        win = { x0: (img.width - cw) / 2, y0: 0, w: cw, h: img.height }
      } else {
        const ch = img.width * h / w
        win = { x0: 0, y0: (img.height - ch) / 2, w: img.width, h: ch }
      }
    }
    px = resample(px, img.height, img.width, channels, win, h, w)
  }
  const out = new Float32Array(px.length)
  for (let i = 0; i < px.length; i++) out[i] = px[i] / 255
  return out
}

/**
 * Encodes one example ([h, w] or [h, w, 1] grey, or [h, w, 3] RGB; float values in [0, 1], clamped) as an 8-bit
 * PNG (grey or RGB colour type) with `pngjs`. Each value v is stored as round(255 v), so k / 255 comes back exactly.
 */
export function encodePng (pixels: ArrayLike<number>, height: number, width: number, channels: 1 | 3): Buffer {
  const png = new PNG({ width, height, colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2, inputHasAlpha: false, bitDepth: 8 })
  const data = Buffer.alloc(width * height * channels)
  for (let i = 0; i < data.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, pixels[i])) * 255)
  png.data = data
  return PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2, inputHasAlpha: false, bitDepth: 8 })
}

/** Orders strings by Unicode code point (Python's `sorted`, which torchvision's ImageFolder uses for class names). */
export function compareCodePoints (a: string, b: string): number {
  const x = [...a]
  const y = [...b]
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i].codePointAt(0) ?? 0) - (y[i].codePointAt(0) ?? 0)
    if (d !== 0) return d
  }
  return x.length - y.length
}

/**
 * Checks a community's class names: 2 to 256 distinct non-empty strings; with `asFolders`, each also usable as one
 * folder name (no `/`, `\`, NUL, not `.` or `..`).
 * @throws DataSourceError `ERR_MODEL_INVALID_LABELS` naming the first problem; `path` is the data's path.
 */
export function validateLabels (labels: readonly string[], path: string, asFolders = false): void {
  if (!Array.isArray(labels) || labels.length < 2 || labels.length > MAX_DATASET_CLASSES) {
    throw new DataSourceError('ERR_MODEL_INVALID_LABELS', path, `labels must be a list of 2 to ${MAX_DATASET_CLASSES} class names, got ${Array.isArray(labels) ? `${labels.length}` : typeof labels}: pass the community's labels`)
  }
  const seen = new Set<string>()
  for (const l of labels) {
    if (typeof l !== 'string' || l === '') throw new DataSourceError('ERR_MODEL_INVALID_LABELS', path, `label ${JSON.stringify(l)} is not a non-empty string: every class needs a name`)
    if (seen.has(l)) throw new DataSourceError('ERR_MODEL_INVALID_LABELS', path, `label ${JSON.stringify(l)} appears twice: class names must be distinct`)
    if (asFolders && (/[/\\\0]/.test(l) || l === '.' || l === '..')) {
      throw new DataSourceError('ERR_MODEL_INVALID_LABELS', path, `label ${JSON.stringify(l)} cannot be a folder name: use names without /, \\ or NUL, other than . and ..`)
    }
    seen.add(l)
  }
}
