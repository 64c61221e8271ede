import { createReadStream } from 'node:fs'
import { readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import {
  assembleRelease, decodeSafetensors, encodeSafetensors, exportSafetensors, exportTfjsFolder, genesisFromTfjsFolder,
  importTfjsFolder, loadMnist, mnist2nn, mnistCnn, modelWithWeights, readSafetensors, tf, tfjsFolderHandler,
  trainLocal, weightsBitEqual, type Dataset, type Weights
} from '../src/index.js'

let dir: string
let remove: () => Promise<void>
let trained: Weights
let test: Dataset

beforeAll(async () => {
  ({ path: dir, cleanup: remove } = await tempDir('swarmtune-model-export-'))
  const m = await loadMnist({ train: 300, test: 200 })
  test = m.test
  trained = (await trainLocal({ task: 'mnist-2nn', weights: mnist2nn.initWeights(3), data: m.train, epochs: 1, backend: 'cpu' })).weights
})
afterAll(async () => { await remove() })

/** Serves a folder on 127.0.0.1 so tfjs's own HTTP loader can read it, as a browser or tfjs-node user would. */
async function serve (root: string): Promise<{ url: string, server: Server }> {
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1))
    if (name.includes('/') || name.includes('..')) { res.statusCode = 404; res.end(); return }
    const s = createReadStream(join(root, name))
    s.on('error', () => { res.statusCode = 404; res.end() })
    s.pipe(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

function predictions (model: tf.LayersModel, ds: Dataset): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(ds.images, [ds.count, 784])) as tf.Tensor).dataSync() as Float32Array).slice()
}

describe('tfjs model folder', () => {
  it('exports a folder that tf.loadLayersModel loads (over HTTP and from disk) and that predicts identically', async () => {
    const folder = join(dir, 'tfjs-2nn')
    await exportTfjsFolder('mnist-2nn', trained, folder, { round: 4 })
    const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'))
    expect(json.format).toBe('layers-model')
    expect(json.weightsManifest[0].paths).toEqual(['group1-shard1of1.bin'])
    expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual(mnist2nn.weightSpecs.map((s) => s.name))
    expect(json.userDefinedMetadata.swarmtune).toEqual({ task: 'mnist-2nn', round: 4 })

    await tf.setBackend('cpu')
    const reference = modelWithWeights(mnist2nn, trained)
    const { url, server } = await serve(folder)
    try {
      const viaHttp = await tf.loadLayersModel(`${url}/model.json`)
      const fromDisk = await tf.loadLayersModel(tfjsFolderHandler(folder))
      const want = predictions(reference, test)
      expect(Buffer.from(predictions(viaHttp, test).buffer).equals(Buffer.from(want.buffer))).toBe(true)
      expect(Buffer.from(predictions(fromDisk, test).buffer).equals(Buffer.from(want.buffer))).toBe(true)
      viaHttp.dispose()
      fromDisk.dispose()
    } finally {
      reference.dispose()
      server.close()
    }
  })

  it('splits large models into 4 MiB weight files and reads them back', async () => {
    const folder = join(dir, 'tfjs-cnn')
    const w = mnistCnn.initWeights(6)
    await exportTfjsFolder('mnist-cnn', w, folder)
    const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'))
    expect(json.weightsManifest[0].paths).toEqual(['group1-shard1of2.bin', 'group1-shard2of2.bin'])
    expect(weightsBitEqual(await importTfjsFolder(folder, { task: 'mnist-cnn' }), w)).toBe(true)
  })

  it('imports a tfjs folder as a genesis release whose weights are bit-exact', async () => {
    const folder = join(dir, 'tfjs-genesis')
    await exportTfjsFolder('mnist-2nn', trained, folder)
    const g = await genesisFromTfjsFolder(folder, 'mnist-2nn', { author: new Uint8Array(32).fill(1) })
    expect(g.manifest.round).toBe(0)
    expect(g.manifest.parent).toBeNull()
    const byCid = new Map(g.shards.map((s) => [s.cid.toString(), s.bytes]))
    const back = await assembleRelease(g.manifestBytes, (cid) => byCid.get(cid.toString())!)
    expect(weightsBitEqual(back.weights, trained)).toBe(true)
  })

  it('imports a model whose layers are named differently when the shapes fit, and refuses one that does not fit the task', async () => {
    const folder = join(dir, 'foreign')
    const model = tf.sequential({ layers: [
      tf.layers.dense({ inputShape: [784], units: 200, activation: 'relu' }),
      tf.layers.dense({ units: 200, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' })
    ] })
    await model.save(tfjsFolderHandler(folder))
    const values = model.getWeights().map((t) => t.dataSync() as Float32Array)
    model.dispose()
    const imported = await importTfjsFolder(folder, { task: 'mnist-2nn' })
    expect(imported.specs).toEqual(mnist2nn.weightSpecs)
    imported.values.forEach((v, i) => expect(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(values[i].buffer, values[i].byteOffset, values[i].byteLength))).toBe(true))
    await expect(importTfjsFolder(folder, { task: 'mnist-cnn' })).rejects.toMatchObject({ name: 'ModelFormatError', code: 'ERR_MODEL_TASK_MISMATCH' })
  })

  it('refuses malformed folders: no model.json, a weight path outside the folder, truncated weights, not JSON', async () => {
    await expect(importTfjsFolder(join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'ERR_MODEL_TFJS_FOLDER_MALFORMED' })
    const folder = join(dir, 'tfjs-bad')
    await exportTfjsFolder('mnist-2nn', trained, folder)
    const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'))
    await writeFile(join(folder, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: ['../tfjs-2nn/group1-shard1of1.bin'] }] }))
    await expect(importTfjsFolder(folder)).rejects.toMatchObject({ code: 'ERR_MODEL_TFJS_FOLDER_MALFORMED' })
    await writeFile(join(folder, 'model.json'), JSON.stringify(json))
    const bin = await readFile(join(folder, 'group1-shard1of1.bin'))
    await writeFile(join(folder, 'group1-shard1of1.bin'), bin.subarray(0, bin.length - 8))
    await expect(importTfjsFolder(folder)).rejects.toMatchObject({ code: 'ERR_MODEL_TFJS_FOLDER_MALFORMED' })
    await writeFile(join(folder, 'model.json'), '{ not json')
    await expect(importTfjsFolder(folder)).rejects.toMatchObject({ code: 'ERR_MODEL_TFJS_FOLDER_MALFORMED' })
  })

  it('refuses a weight file that is not a regular file (a link to /dev/zero) instead of reading it without end', async () => {
    const folder = join(dir, 'tfjs-device')
    await exportTfjsFolder('mnist-2nn', trained, folder)
    await rm(join(folder, 'group1-shard1of1.bin'))
    await symlink('/dev/zero', join(folder, 'group1-shard1of1.bin'))
    await expect(importTfjsFolder(folder)).rejects.toMatchObject({ code: 'ERR_MODEL_TFJS_FOLDER_MALFORMED', message: expect.stringContaining('not a regular file') })
  })
})

describe('safetensors', () => {
  it('writes a header and data that read back: independent parse of the header, then the decoder', async () => {
    const path = join(dir, 'model.safetensors')
    await exportSafetensors(trained, path, { task: 'mnist-2nn', release: 'bafy-test' })
    const bytes = new Uint8Array(await readFile(path))
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))
    expect(n % 8).toBe(0)
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))
    expect(header.__metadata__).toEqual({ task: 'mnist-2nn', release: 'bafy-test' })
    expect(header['hidden1/kernel']).toEqual({ dtype: 'F32', shape: [784, 200], data_offsets: [0, 784 * 200 * 4] })
    const b = header['logits/bias'].data_offsets
    const bias = new Float32Array(bytes.slice(8 + n + b[0], 8 + n + b[1]).buffer)
    expect(Buffer.from(bias.buffer).equals(Buffer.from(trained.values[5].buffer, trained.values[5].byteOffset, trained.values[5].byteLength))).toBe(true)
    const back = await readSafetensors(path)
    expect(weightsBitEqual(back.weights, trained)).toBe(true)
    expect(back.metadata.release).toBe('bafy-test')
  })

  it('rejects malformed files with ERR_MODEL_SAFETENSORS_MALFORMED', () => {
    const good = encodeSafetensors(trained)
    const n = Number(new DataView(good.buffer).getBigUint64(0, true))
    const withHeader = (h: unknown): Uint8Array => {
      const json = new TextEncoder().encode(JSON.stringify(h))
      const out = new Uint8Array(8 + json.length + good.length - 8 - n)
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
      out.set(json, 8)
      out.set(good.subarray(8 + n), 8 + json.length)
      return out
    }
    const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + n)))
    const bad = [
      good.subarray(0, 5),
      (() => { const b = good.slice(); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b })(),
      good.subarray(0, good.length - 4),
      withHeader({ ...header, 'hidden1/bias': { ...header['hidden1/bias'], dtype: 'F16' } }),
      withHeader({ ...header, 'hidden1/bias': { ...header['hidden1/bias'], data_offsets: [0, 800] } }),
      withHeader({ ...header, 'hidden1/bias': { ...header['hidden1/bias'], shape: [199] } }),
      withHeader([1, 2])
    ]
    for (const b of bad) expect(() => decodeSafetensors(b)).toThrow(expect.objectContaining({ code: 'ERR_MODEL_SAFETENSORS_MALFORMED' }))
    expect(weightsBitEqual(decodeSafetensors(good).weights, trained)).toBe(true)
  })
})
