/**
 * Cached backbone features on disk, so that a frozen backbone runs once per example. A cache folder holds one
 * namespace per (topology CID, base CID, cut layer) — a sub-folder named by the SHA-256 of those three — with a
 * `meta.json` naming them and the feature shape, and one file per example: `<hh>/<sha256 of the example>.f32`,
 * the feature values as float32 little-endian. A changed base or cut is another namespace, so stale features are
 * never served; an entry of the wrong length (a torn write, a foreign file) is a miss and is written again.
 * Entries are written to a temporary name and renamed, so a reader sees a whole entry or none.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FLOAT32_BYTES } from '../constants.js'
import { FeatureCacheError } from '../errors.js'
import { sizeOf } from '../weights.js'

/** What features depend on: the base model (topology and weights CIDs, as strings) and the layer cut at. */
export interface FeatureKey {
  topology: string
  base: string
  layer: string
}

/** Version of the cache layout (`meta.json` `version`). */
export const FEATURE_CACHE_VERSION = 1
const META = 'meta.json'
const MAX_META_BYTES = 64 * 1024

const sha256 = (...parts: Array<Uint8Array | string>): string => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

/**
 * The content hash of one example: SHA-256 (hex) of its shape (each dimension as uint32 little-endian, then the
 * rank) and its float32 values, little-endian.
 */
export function exampleHash (values: Float32Array, shape: readonly number[]): string {
  const dims = new Uint8Array(4 * (shape.length + 1))
  const view = new DataView(dims.buffer)
  shape.forEach((d, i) => view.setUint32(4 * i, d, true))
  view.setUint32(4 * shape.length, shape.length, true)
  return sha256(dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
}

/** The namespace folder name of a feature key: SHA-256 (hex) of `topology \n base \n layer`. */
export function featureNamespace (key: FeatureKey): string {
  return sha256(`${key.topology}\n${key.base}\n${key.layer}`)
}

/** Hit and miss counts of a cache since it was opened. */
export interface FeatureCacheStats {
  hits: number
  misses: number
  writes: number
}

/** One namespace of a feature cache folder (see the module comment). Open it with `FeatureCache.open`. */
export class FeatureCache {
  readonly dir: string
  readonly key: Readonly<FeatureKey>
  readonly featureShape: readonly number[]
  readonly stats: FeatureCacheStats = { hits: 0, misses: 0, writes: 0 }
  private readonly bytes: number

  private constructor (dir: string, key: FeatureKey, featureShape: readonly number[]) {
    this.dir = dir
    this.key = Object.freeze({ ...key })
    this.featureShape = Object.freeze([...featureShape])
    this.bytes = sizeOf(featureShape) * FLOAT32_BYTES
  }

  /**
   * Opens (creating it when absent) the namespace of `key` inside the cache folder `root`.
   * @param featureShape shape of one example's features, e.g. `[1280]`
   * @throws FeatureCacheError ERR_MODEL_FEATURE_CACHE_UNUSABLE when `root` cannot be created or written, or the
   *   namespace's meta.json is unreadable or names another key or shape.
   */
  static async open (root: string, key: FeatureKey, featureShape: readonly number[]): Promise<FeatureCache> {
    const dir = join(root, featureNamespace(key))
    const meta = { version: FEATURE_CACHE_VERSION, ...key, featureShape: [...featureShape] }
    try {
      await mkdir(dir, { recursive: true })
    } catch (err) {
      throw new FeatureCacheError(`feature cache folder ${root} cannot be created (${(err as Error).message}): pass a writable folder`, { cause: err })
    }
    const path = join(dir, META)
    let existing: string | undefined
    try {
      const info = await stat(path)
      if (!info.isFile() || info.size > MAX_META_BYTES) throw new FeatureCacheError(`feature cache ${path} is not a small regular file: delete the folder ${dir}`)
      existing = await readFile(path, 'utf8')
    } catch (err) {
      if (err instanceof FeatureCacheError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FeatureCacheError(`feature cache ${path} cannot be read (${(err as Error).message}): delete the folder ${dir}`, { cause: err })
    }
    const text = JSON.stringify(meta)
    if (existing === undefined) {
      await writeAtomic(path, new TextEncoder().encode(text))
    } else if (existing !== text) {
      throw new FeatureCacheError(`feature cache ${path} holds ${existing.slice(0, 300)}; expected ${text}: the folder holds foreign data — delete ${dir}`)
    }
    return new FeatureCache(dir, key, featureShape)
  }

  private entry (hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new FeatureCacheError(`feature cache key ${JSON.stringify(hash)} is not a SHA-256 hex digest`)
    return join(this.dir, hash.slice(0, 2), `${hash}.f32`)
  }

  /** The cached features of the example with content hash `hash` (see `exampleHash`), or undefined. */
  async get (hash: string): Promise<Float32Array | undefined> {
    let buf: Buffer
    try {
      buf = await readFile(this.entry(hash))
    } catch (err) {
      if (err instanceof FeatureCacheError) throw err
      this.stats.misses++
      return undefined
    }
    if (buf.length !== this.bytes) {
      this.stats.misses++
      return undefined
    }
    this.stats.hits++
    const out = new Float32Array(buf.length / FLOAT32_BYTES)
    new Uint8Array(out.buffer).set(buf)
    return out
  }

  /**
   * Stores one example's features (`sizeOf(featureShape)` float32 values).
   * @throws FeatureCacheError when the values have another length or the entry cannot be written.
   */
  async put (hash: string, features: Float32Array): Promise<void> {
    if (features.byteLength !== this.bytes) {
      throw new FeatureCacheError(`features of ${features.length} values cannot be cached under shape [${this.featureShape.join(', ')}]`)
    }
    const path = this.entry(hash)
    try {
      await mkdir(join(this.dir, hash.slice(0, 2)), { recursive: true })
      await writeAtomic(path, new Uint8Array(features.buffer, features.byteOffset, features.byteLength))
    } catch (err) {
      throw new FeatureCacheError(`feature cache entry ${path} cannot be written (${(err as Error).message}): check the folder's permissions and free space`, { cause: err })
    }
    this.stats.writes++
  }
}

let tmpCounter = 0

async function writeAtomic (path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${tmpCounter++}.tmp`
  await writeFile(tmp, bytes)
  await rename(tmp, path)
}
