/**
 * A tfjs LayersModel as plain, content-addressed data: its topology (the `modelTopology` object of `model.json`,
 * a Keras config) and its weights by name, dequantised to float32. Two CIDs pin it:
 * - the **topology CID**: `blobCid` of the topology's canonical JSON (object keys sorted, no whitespace);
 * - the **base CID**: `blobCid` of the base weights blob, the safetensors encoding of the weights sorted by name.
 * Weights always go into a model by name (`setModelWeights`), never by position.
 */
import { blobCid, type CID } from '@swarmtune/wire'
import { MAX_RELEASE_BYTES } from '../constants.js'
import { ModelFormatError, ModelSpecError } from '../errors.js'
import { encodeSafetensors } from '../export/safetensors-format.js'
import { tfjsFolderHandler } from '../export/tfjs-folder-io.js'
import { tf } from '../tf.js'
import { setModelWeights } from '../train/model-state.js'
import type { Weights } from '../weights.js'
import { validateWeights } from '../weights.js'

/** A layers model as data: Keras topology JSON and float32 weights named `<layer>/<weight>`. */
export interface LayersModelSource {
  /** The `modelTopology` object of `model.json` (Keras `model_config` and friends). */
  topology: Record<string, unknown>
  /** Every weight of the model, float32, named as tfjs names them (`originalName`, e.g. `Conv1_bn/moving_mean`). */
  weights: Weights
  /** Where it came from (a folder path, a package), for messages. */
  origin: string
}

/** The two content ids of a base model: its topology and its weights. */
export interface LayersModelCids {
  topology: CID
  base: CID
}

/**
 * Canonical JSON of plain data: object keys sorted by UTF-16 code unit order, no whitespace, numbers as
 * `JSON.stringify` writes them. `undefined` fields are left out, as `JSON.stringify` does.
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID for a non-finite number, a bigint, a function or a cycle.
 */
export function canonicalJson (value: unknown): string {
  const seen = new Set<object>()
  const walk = (v: unknown, at: string): string => {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v)
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `${at} is ${v}: canonical JSON holds finite numbers only`)
      return JSON.stringify(v)
    }
    if (typeof v !== 'object') throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `${at} is a ${typeof v}: canonical JSON holds plain data only`)
    if (seen.has(v)) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `${at} refers back to itself: canonical JSON holds trees only`)
    seen.add(v)
    let out: string
    if (Array.isArray(v)) {
      out = `[${v.map((x, i) => walk(x ?? null, `${at}[${i}]`)).join(',')}]`
    } else {
      const o = v as Record<string, unknown>
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
      out = `{${keys.map((k) => `${JSON.stringify(k)}:${walk(o[k], `${at}.${k}`)}`).join(',')}}`
    }
    seen.delete(v)
    return out
  }
  return walk(value, 'value')
}

/** UTF-8 bytes of the topology's canonical JSON (what the topology CID hashes). */
export function encodeTopology (topology: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(canonicalJson(topology))
}

/**
 * The base weights blob: a safetensors file (F32, little-endian) of the weights sorted by name, no metadata.
 * @throws InvalidWeightsError for weights that do not match their specs.
 */
export function encodeBaseWeights (weights: Weights): Uint8Array {
  validateWeights(weights)
  const order = weights.specs.map((s, i) => i).sort((a, b) => (weights.specs[a].name < weights.specs[b].name ? -1 : 1))
  return encodeSafetensors({ specs: order.map((i) => weights.specs[i]), values: order.map((i) => weights.values[i]) })
}

/** Topology CID and base CID of a model source (hashing ~10 MB takes ~30 ms for MobileNetV2). */
export function layersModelCids (source: Pick<LayersModelSource, 'topology' | 'weights'>): LayersModelCids {
  return { topology: blobCid(encodeTopology(source.topology)), base: blobCid(encodeBaseWeights(source.weights)) }
}

const folderError = (dir: string, why: string, cause?: unknown): ModelFormatError =>
  new ModelFormatError('ERR_MODEL_TFJS_FOLDER_MALFORMED', `tfjs model folder ${dir} is unusable: ${why}; export the model again with model.save or the tfjs converter`, cause === undefined ? undefined : { cause })

/**
 * Weights of a tfjs weights manifest and its concatenated bytes, dequantised (uint8/uint16/float16 → float32)
 * and cast to float32, named by the manifest.
 */
async function decodeManifestWeights (specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, origin: string): Promise<Weights> {
  const names = new Set<string>()
  for (const s of specs) {
    if (names.has(s.name)) throw folderError(origin, `the weights manifest names ${s.name} twice`)
    names.add(s.name)
    if (!Array.isArray(s.shape) || !s.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw folderError(origin, `weight ${s.name} has shape ${JSON.stringify(s.shape)}: expected integer dimensions ≥ 1`)
    }
  }
  let map: tf.NamedTensorMap
  try {
    map = tf.io.decodeWeights(data, specs)
  } catch (err) {
    throw folderError(origin, `its weight bytes do not decode: ${(err as Error).message}`, err)
  }
  try {
    const values = await Promise.all(specs.map(async (s) => Float32Array.from(await map[s.name].data() as ArrayLike<number>)))
    return { specs: specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' as const })), values }
  } finally {
    tf.dispose(Object.values(map))
  }
}

/**
 * Reads a tfjs LayersModel folder (`model.json` + weight files, the format of `model.save` and the tfjs
 * converter; quantised weights are dequantised). Reads are bounded (model.json ≤ 32 MiB, weights ≤ 2 GiB),
 * confined to the folder, JSON- and size-checked against the manifest.
 * @throws ModelFormatError ERR_MODEL_TFJS_FOLDER_MALFORMED naming the file and the problem (no model.json, not
 *   JSON, not layers-model format, a weight file missing, too large or of the wrong size, a duplicated weight name).
 */
export async function loadLayersModelFolder (dir: string): Promise<LayersModelSource> {
  const artifacts = await tfjsFolderHandler(dir).load!()
  const topology = artifacts.modelTopology
  if (topology === undefined || topology === null || topology instanceof ArrayBuffer || typeof topology !== 'object') {
    throw folderError(dir, 'model.json has no modelTopology object')
  }
  const specs = artifacts.weightSpecs ?? []
  if (specs.length === 0) throw folderError(dir, 'model.json lists no weights')
  const data = tf.io.concatenateArrayBuffers(Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData ?? new ArrayBuffer(0)])
  return { topology: topology as Record<string, unknown>, weights: await decodeManifestWeights(specs, data, dir), origin: dir }
}

/** Where the pretrained MobileNetV2 comes from. */
export const MOBILENET_V2_ORIGIN = 'nsfwjs@4.4.0 (MIT), models/mobilenet_v2: MobileNetV2 (Sandler et al. 2018), ImageNet backbone, Keras 2.2.4'

/** Side of the square RGB input MobileNetV2 takes, in pixels. */
export const MOBILENET_V2_INPUT_PX = 224

/**
 * The pretrained MobileNetV2 shipped by the npm package `nsfwjs@4.4.0` (MIT): Sandler, Howard, Zhu, Zhmoginov &
 * Chen 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR), width 1.0, 224 × 224 input, with an
 * ImageNet backbone and nsfwjs' head (`dense_1` 256 → `dense_2` 128 → `dense_3` 5 NSFW classes, which a community
 * replaces). 162 layers, 2,619,461 parameters; its uint8-quantised weights are dequantised to float32 here.
 * Input: float32 `[batch, 224, 224, 3]`, RGB scaled to [0, 1] (pixel / 255, nsfwjs' own preprocessing).
 * @throws ModelFormatError ERR_MODEL_TFJS_FOLDER_MALFORMED when the package's modules are not what they should be.
 */
export async function mobilenetV2Base (): Promise<LayersModelSource> {
  const mod = await import('nsfwjs/models/mobilenet_v2')
  const def = mod.MobileNetV2Model
  const json = ((await def.modelJson()) as { default: tf.io.ModelJSON }).default
  const groups = json.weightsManifest
  if (json?.modelTopology === undefined || !Array.isArray(groups)) throw folderError(MOBILENET_V2_ORIGIN, 'its model module has no modelTopology and weightsManifest')
  const bundles = await Promise.all(def.weightBundles.map(async (load) => ((await load()) as { default: unknown }).default))
  const paths = groups.flatMap((g) => g.paths)
  if (bundles.length !== paths.length || !bundles.every((b) => typeof b === 'string')) {
    throw folderError(MOBILENET_V2_ORIGIN, `its ${paths.length} weight paths do not match its ${bundles.length} base64 weight bundles`)
  }
  let total = 0
  const buffers = (bundles as string[]).map((b) => {
    const bytes = Buffer.from(b, 'base64')
    total += bytes.length
    if (total > MAX_RELEASE_BYTES) throw folderError(MOBILENET_V2_ORIGIN, 'its weights exceed 2 GiB')
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  })
  const weights = await decodeManifestWeights(groups.flatMap((g) => g.weights), tf.io.concatenateArrayBuffers(buffers), MOBILENET_V2_ORIGIN)
  return { topology: json.modelTopology as Record<string, unknown>, weights, origin: MOBILENET_V2_ORIGIN }
}

/**
 * Builds the topology as a tfjs LayersModel and loads the weights into it by name (see `setModelWeights`).
 * The caller must `dispose()` it.
 * @throws ModelFormatError ERR_MODEL_TFJS_FOLDER_MALFORMED when tfjs cannot build the topology;
 *   WeightsMismatchError ERR_MODEL_WEIGHTS_MISMATCH when weights are missing, unexpected or of another shape
 *   (nothing is written then).
 */
export async function buildLayersModel (source: LayersModelSource): Promise<tf.LayersModel> {
  let model: tf.LayersModel
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: source.topology }))
  } catch (err) {
    throw folderError(source.origin, `tfjs cannot build its topology: ${(err as Error).message}`, err)
  }
  try {
    setModelWeights(model, source.weights)
  } catch (err) {
    model.dispose()
    throw err
  }
  return model
}
