/**
 * tfjs layers-model folders (the format of tfjs-layers `model.save` and the tfjs converter): `model.json` holding
 * `modelTopology`, `format: "layers-model"` and a `weightsManifest` of weight groups, each group's bytes split
 * into `group<g>-shard<k>of<n>.bin` files of at most 4 MiB. Without `@tensorflow/tfjs-node` there is no
 * `file://` handler, so this module provides one: `tfjsFolderHandler(dir)` loads and saves such a folder and can
 * be passed to `tf.loadLayersModel` / `model.save`. Every file read is size-checked and confined to the folder.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { MAX_MODEL_JSON_BYTES, MAX_RELEASE_BYTES, TFJS_MODEL_JSON } from '../constants.js'
import { ModelFormatError } from '../errors.js'
import { tf } from '../tf.js'

/** Largest weight file the tfjs converter writes, in bytes (its default `weight_shard_size_bytes`, 4 MiB). */
export const TFJS_WEIGHT_FILE_BYTES = 4 * 1024 * 1024

export const malformed = (dir: string, why: string, cause?: unknown): ModelFormatError =>
  new ModelFormatError('ERR_MODEL_TFJS_FOLDER_MALFORMED', `tfjs model folder ${dir} is unusable: ${why}`, cause === undefined ? undefined : { cause })

async function readBounded (dir: string, file: string, maxBytes: number): Promise<Uint8Array> {
  if (file !== basename(file) || file === '.' || file === '..' || file.length === 0) {
    throw malformed(dir, `weight path ${JSON.stringify(file)} leaves the folder; only plain file names are accepted`)
  }
  const path = join(dir, file)
  let size: number
  try {
    const info = await stat(path)
    // a device or FIFO reports size 0 and would then be read without end
    if (!info.isFile()) throw malformed(dir, `${file} is not a regular file`)
    size = info.size
  } catch (err) {
    if (err instanceof ModelFormatError) throw err
    throw malformed(dir, `cannot read ${file}: ${(err as Error).message}`, err)
  }
  if (size > maxBytes) throw malformed(dir, `${file} is ${size} bytes; at most ${maxBytes} are accepted`)
  return new Uint8Array(await readFile(path))
}

function toArrayBuffers (data: tf.io.WeightData): ArrayBuffer[] {
  return Array.isArray(data) ? data : [data]
}

/**
 * An IOHandler over a folder on disk: `load()` reads `model.json` and its weight files, `save()` writes them.
 * Use with `tf.loadLayersModel(tfjsFolderHandler(dir))` and `model.save(tfjsFolderHandler(dir))`.
 * @throws ModelFormatError ERR_MODEL_TFJS_FOLDER_MALFORMED (from `load`) for a missing or malformed model.json,
 *   a weight path outside the folder, or weight files whose total size disagrees with the manifest.
 */
export function tfjsFolderHandler (dir: string): tf.io.IOHandler {
  return {
    async load () {
      const raw = await readBounded(dir, TFJS_MODEL_JSON, MAX_MODEL_JSON_BYTES)
      let json: tf.io.ModelJSON
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) as tf.io.ModelJSON
      } catch (err) {
        throw malformed(dir, `model.json is not JSON: ${(err as Error).message}`, err)
      }
      if (json === null || typeof json !== 'object' || typeof json.modelTopology !== 'object' || json.modelTopology === null) {
        throw malformed(dir, 'model.json has no modelTopology object')
      }
      if (json.format !== undefined && json.format !== 'layers-model') {
        throw malformed(dir, `model.json has format ${JSON.stringify(json.format)}; only layers-model folders can be loaded as a trainable model`)
      }
      const groups = json.weightsManifest
      if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g?.paths) && g.paths.every((p) => typeof p === 'string') && Array.isArray(g?.weights))) {
        throw malformed(dir, 'model.json has no valid weightsManifest: expected [{ paths: string[], weights: [...] }]')
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((g) => g.weights)
        const buffers: ArrayBuffer[] = []
        let total = 0
        for (const g of manifest) {
          for (const p of g.paths) {
            const bytes = await readBounded(dir, p, MAX_RELEASE_BYTES - total)
            total += bytes.length
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
          }
        }
        const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(dir, s), 0)
        if (total !== expected) throw malformed(dir, `weight files hold ${total} bytes; the manifest's ${specs.length} weights need ${expected}`)
        return [specs, buffers]
      })
    },
    async save (artifacts) {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw malformed(dir, 'only layers models (JSON topology) can be saved to a folder')
      await mkdir(dir, { recursive: true })
      const data = new Uint8Array(tf.io.concatenateArrayBuffers(toArrayBuffers(artifacts.weightData ?? [])))
      const count = Math.max(1, Math.ceil(data.length / TFJS_WEIGHT_FILE_BYTES))
      const paths = Array.from({ length: count }, (_, k) => `group1-shard${k + 1}of${count}.bin`)
      for (let k = 0; k < count; k++) {
        await writeFile(join(dir, paths[k]), data.subarray(k * TFJS_WEIGHT_FILE_BYTES, (k + 1) * TFJS_WEIGHT_FILE_BYTES))
      }
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig !== undefined ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata !== undefined ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {})
      }
      await writeFile(join(dir, TFJS_MODEL_JSON), JSON.stringify(json))
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.length } }
    }
  }
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2, int8: 1, uint16: 2, int16: 2 }

function bytesPerElement (dir: string, s: tf.io.WeightsManifestEntry): number {
  const q = s.quantization?.dtype
  const n = DTYPE_BYTES[q ?? s.dtype]
  if (n === undefined) throw malformed(dir, `weight ${s.name} has dtype ${q ?? s.dtype}, which cannot be read`)
  return n
}
