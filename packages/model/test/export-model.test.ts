/**
 * A model task's release exported as the whole network (MobileNetV2 of nsfwjs, new 3-class head, LoRA on dense_1
 * and dense_2 merged into the kernels): a tfjs folder that tfjs loads and that predicts like the release, and
 * safetensors holding the same merged weights by name.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync, tempDir, type TempDir } from '@swarmtune/test-support'
import { mobilenetLoraSpec } from '@swarmtune/test-support/models'
import {
  createModelTask, createRng, exportSafetensors, exportTfjsFolder, loraFactorA, loraScale, mergeLora, mnist2nn,
  mobilenetV2Base, readSafetensors, registerTask, selectBackend, tf, tfjsFolderHandler, type LayersModelSource, type ModelTask, type Weights
} from '../src/index.js'

let tmp: TempDir
let base: LayersModelSource
let task: ModelTask
let release: Weights
const COUNT = 3

beforeAll(async () => {
  await selectBackend(mnist2nn, { backend: 'wasm', purpose: 'inference' })
  tmp = await tempDir('swarmtune-export-model-')
  base = await mobilenetV2Base()
  task = await createModelTask(mobilenetLoraSpec(base, ['cat', 'dog', 'fox'], 21), base)
  registerTask(task)
  // a release whose adapters are not zero, so that the merge matters
  const rng = createRng(9)
  const w = task.initWeights(2)
  release = { specs: w.specs, values: w.values.map((v, i) => (w.specs[i].name.endsWith('/lora_b') ? v.map(() => (rng.float() - 0.5) * 0.2) : v)) }
}, 120_000)
afterAll(async () => {
  task?.dispose()
  await tmp.cleanup()
})

/** A few seeded RGB images in [0, 1] of MobileNetV2's input. */
function images (): tf.Tensor4D {
  return tf.randomUniform([COUNT, 224, 224, 3], 0, 1, 'float32', 5) as tf.Tensor4D
}

describe('exporting a model task with its adapters merged', () => {
  it('writes a tfjs folder of the whole network that loads with tf.loadLayersModel and predicts like the release', async () => {
    const dir = join(tmp.path, 'tfjs')
    await exportTfjsFolder(task.id, release, dir, { release: 'bafy-test', round: 3 }, { base })
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'))
    expect(json.userDefinedMetadata.swarmtune).toEqual({ task: task.id, release: 'bafy-test', round: 3 })
    const model = await tf.loadLayersModel(tfjsFolderHandler(dir))
    const x = images()
    try {
      expect(model.inputs[0].shape).toEqual([null, 224, 224, 3])
      expect(model.outputs[0].shape).toEqual([null, COUNT])
      const got = (model.predict(x) as tf.Tensor).dataSync()
      // the release: features of the same images through the backbone, then the task's forward (unmerged LoRA)
      const features = (await task.features({ images: x.dataSync() as Float32Array, labels: new Uint8Array(COUNT), count: COUNT, exampleShape: [224, 224, 3], classes: 3 })).dataset
      const want = tf.tidy(() => {
        const params = release.values.map((v, i) => tf.tensor(v, release.specs[i].shape))
        return tf.softmax(task.forward(params, tf.tensor2d(features.images, [COUNT, 1280]))).dataSync()
      })
      expect(got.length).toBe(COUNT * 3)
      got.forEach((v, i) => { expect(Math.abs(v - want[i])).toBeLessThan(1e-5) })
      // the merge changed the prediction: a model without the adapters predicts otherwise
      const plain = tf.tidy(() => {
        const params = release.values.map((v, i) => tf.tensor(release.specs[i].name.endsWith('/lora_b') ? new Float32Array(v.length) : v, release.specs[i].shape))
        return tf.softmax(task.forward(params, tf.tensor2d(features.images, [COUNT, 1280]))).dataSync()
      })
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(1e-4)
    } finally {
      x.dispose()
      model.dispose()
    }
  }, 120_000)

  it('writes safetensors of the merged weights by name: W + α/r·A·B for the adapted kernels, the new head, the backbone as it was', async () => {
    const path = join(tmp.path, 'model.safetensors')
    await exportSafetensors(release, path, { task: task.id }, { task: task.id, base })
    const { weights, metadata } = await readSafetensors(path)
    expect(metadata).toEqual({ task: task.id })
    expect(weights.specs.length).toBe(base.weights.specs.length)
    const get = (w: Weights, name: string): Float32Array => w.values[w.specs.findIndex((s) => s.name === name)]
    const bytes = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength)
    const b1 = get(release, 'dense_1/lora_b')
    const merged = mergeLora(get(base.weights, 'dense_1/kernel'), [1280, 256], loraFactorA(21, 'dense_1', 1280, 4), b1, 4, loraScale(8, 4))
    expect(bytes(get(weights, 'dense_1/kernel')).equals(bytes(merged))).toBe(true)
    expect(bytes(get(weights, 'dense_1/kernel')).equals(bytes(get(base.weights, 'dense_1/kernel')))).toBe(false)
    expect(weights.specs.find((s) => s.name === 'dense_3/kernel')?.shape).toEqual([128, 3])
    expect(bytes(get(weights, 'dense_3/bias')).equals(bytes(get(release, 'dense_3/bias')))).toBe(true)
    expect(bytes(get(weights, 'Conv_1_bn/moving_mean')).equals(bytes(get(base.weights, 'Conv_1_bn/moving_mean')))).toBe(true)
  })

  it('refuses a model task without its base, or with another base, with coded errors', async () => {
    expect(await codeOfAsync(exportTfjsFolder(task.id, release, join(tmp.path, 'no-base')))).toBe('ERR_MODEL_SPEC_INVALID')
    const values = base.weights.values.slice()
    values[0] = values[0].map((v) => v + 1)
    const other = { ...base, weights: { specs: base.weights.specs, values } }
    expect(await codeOfAsync(exportTfjsFolder(task.id, release, join(tmp.path, 'other'), {}, { base: other }))).toBe('ERR_MODEL_BASE_MISMATCH')
    expect(await codeOfAsync(exportSafetensors(release, join(tmp.path, 'x.safetensors'), {}, { task: 'mnist-2nn', base }))).toBe('ERR_MODEL_SPEC_INVALID')
  })
})
