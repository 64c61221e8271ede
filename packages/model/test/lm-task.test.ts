/**
 * A causal LM as a task (tasks/causal-lm-task.ts): a Hugging Face Llama folder and a volunteer's text folder go
 * through trainLocal, evaluate and the training worker like any task; the average of two adapters' B is the merge
 * of the averaged adapter (FFA-LoRA: A frozen); bad text and a base that is not the spec's get coded errors.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOf, codeOfAsync, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import { writeTinyLlama } from '@swarmtune/test-support/models'
import {
  causalLmSourceCids, causalLmSourceFromFolder, createCausalLm, createCausalLmTask, createRng, evaluate, evaluateCausalLm, registerTask,
  trainInWorker, trainLocal, validateCausalLmSpec, type CausalLmSource, type CausalLmSpec, type CausalLmTask, tf
} from '../src/index.js'

const WORDS = ['the', 'whale', 'sea', 'ship', 'captain', 'sailed', 'over', 'a', 'white', 'storm', 'and', 'night', 'crew']

/** Seeded sentences over a small vocabulary: text a LoRA adapter can learn quickly. */
function sentences (seed: number, n: number): string {
  const rng = createRng(seed)
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const k = 4 + Math.floor(rng.float() * 5)
    const words = Array.from({ length: k }, () => WORDS[Math.floor(rng.float() * WORDS.length)])
    out.push(words.join(' ') + '.')
  }
  return out.join(' ')
}

let tmp: TempDir
let source: CausalLmSource
let spec: CausalLmSpec
let task: CausalLmTask
const seed = testSeed('lm task')

beforeAll(async () => {
  tmp = await tempDir('swarmtune-lm-task-')
  await writeTinyLlama(join(tmp.path, 'base'), { seed })
  source = await causalLmSourceFromFolder(join(tmp.path, 'base'))
  spec = { kind: 'causal-lm', ...causalLmSourceCids(source), context: 32, adapters: { kind: 'lora', rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'up_proj', 'down_proj'], seed: 7 } }
  task = await createCausalLmTask(spec, source)
  registerTask(task)
  for (const [name, s] of [['a', 1], ['b', 2], ['eval', 3]] as const) {
    await mkdir(join(tmp.path, name, 'nested'), { recursive: true })
    await writeFile(join(tmp.path, name, 'one.txt'), sentences(seed + s, 120))
    await writeFile(join(tmp.path, name, 'nested', 'two.txt'), sentences(seed + 10 * s, 60))
    await writeFile(join(tmp.path, name, 'ignored.md'), 'not read')
  }
})
afterAll(async () => {
  task?.dispose()
  await tmp.cleanup()
})

describe('a causal LM as a task', () => {
  it('has the adapters\' B as its weights, zero at the start, and the base\'s facts', () => {
    expect(task.id.startsWith('causal-lm/')).toBe(true)
    expect(task.weightSpecs.map((s) => s.name).slice(0, 4)).toEqual([
      'model.layers.0.self_attn.q_proj.lora_B', 'model.layers.0.self_attn.v_proj.lora_B', 'model.layers.0.mlp.up_proj.lora_B', 'model.layers.0.mlp.down_proj.lora_B'
    ])
    expect(task.weightSpecs).toHaveLength(8)
    expect(task.weightSpecs[0].shape).toEqual([4, 32])
    expect(task.weightSpecs[1].shape).toEqual([4, 16]) // 2 key/value heads × head dim 8
    expect(task.paramCount).toBe(2 * 4 * (32 + 16 + 64 + 32))
    expect(task.initWeights(0).values.every((v) => v.every((x) => x === 0))).toBe(true)
    expect(task.metrics).toEqual(['loss', 'perplexity'])
  })

  it('reads a text folder as windows of the context (only .txt files, nested ones too)', async () => {
    const ds = await task.loadData({ source: 'text', path: join(tmp.path, 'a') })
    expect(ds.exampleShape).toEqual([32])
    const text = sentences(seed + 1, 120)
    const other = sentences(seed + 10, 60)
    // the character tokenizer gives one id per character: each file's whole windows
    expect(ds.count).toBe(Math.floor(other.length / 32) + Math.floor(text.length / 32))
    expect(Array.from(ds.images.subarray(0, 32))).toEqual(task.tokenizer.encode(other.slice(0, 32)))
  })

  it('trains on text with trainLocal: loss falls, evaluate gives perplexity = e^loss', async () => {
    const r = await trainLocal({ task: task.id, weights: task.initWeights(0), data: { source: 'text', path: join(tmp.path, 'a') }, steps: 20, batchSize: 8, learningRate: 0.03, optimizer: { name: 'adam' }, seed: 1, backend: 'wasm' })
    console.log(`tiny llama LoRA, 20 steps of 8 windows: loss ${r.lossBefore.toFixed(4)} → ${r.lossAfter.toFixed(4)} nats/token`)
    expect(r.lossAfter).toBeLessThan(r.lossBefore - 0.3)
    expect(r.weights.values.some((v) => v.some((x) => x !== 0))).toBe(true)
    const before = await evaluate({ task: task.id, weights: task.initWeights(0), data: { source: 'text', path: join(tmp.path, 'eval') }, backend: 'wasm' })
    const after = await evaluate({ task: task.id, weights: r.weights, data: { source: 'text', path: join(tmp.path, 'eval') }, backend: 'wasm' })
    expect(after.perplexity).toBeCloseTo(Math.exp(after.loss), 6)
    expect(after.accuracy).toBeUndefined()
    expect(after.loss).toBeLessThan(before.loss - 0.2)
  }, 300_000)

  it('the training worker gets the same result as in-process training (the base sent as bytes)', async () => {
    const options = { task: task.id, weights: task.initWeights(0), data: { source: 'text' as const, path: join(tmp.path, 'b') }, steps: 4, batchSize: 4, learningRate: 0.01, optimizer: { name: 'sgd' as const }, seed: 3, backend: 'wasm' }
    const local = await trainLocal(options)
    const remote = await trainInWorker({ ...options, model: { spec, base: source } })
    expect(remote.lossAfter).toBe(local.lossAfter)
    remote.weights.values.forEach((v, i) => { expect(Array.from(v)).toEqual(Array.from(local.weights.values[i])) })
  }, 300_000)

  it('FedAvg of B is exact: the averaged adapter, merged into the base, computes what the adapted model does', async () => {
    const data = { source: 'text' as const, path: join(tmp.path, 'a') }
    const run = async (s: number): Promise<Float32Array[]> => (await trainLocal({ task: task.id, weights: task.initWeights(0), data, steps: 5, batchSize: 4, learningRate: 0.02, optimizer: { name: 'adam' }, seed: s, backend: 'wasm' })).weights.values
    const [b1, b2] = [await run(1), await run(2)]
    const avg = { specs: task.weightSpecs.map((s) => ({ ...s, shape: [...s.shape] })), values: b1.map((v, i) => v.map((x, j) => (x + b2[i][j]) / 2)) }
    const adapted = await evaluate({ task: task.id, weights: avg, data: { source: 'text', path: join(tmp.path, 'eval') }, backend: 'wasm' })
    await tf.setBackend('wasm')
    const merged = createCausalLm(task.mergedCheckpoint(avg))
    try {
      const ids = task.tokenizer.encode(sentences(seed + 3, 120)).slice(0, 32 * Math.floor(sentences(seed + 3, 120).length / 32))
      const windows = (await task.loadData({ source: 'text', path: join(tmp.path, 'eval') })).count
      expect(windows).toBe(adapted.count)
      const direct = evaluateCausalLm(merged, ids, { window: 32 })
      const viaTask = await evaluate({ task: task.id, weights: avg, data: { images: Float32Array.from(ids), labels: new Uint8Array(ids.length / 32), count: ids.length / 32, exampleShape: [32], classes: 1 }, backend: 'wasm' })
      expect(Math.abs(direct.loss - viaTask.loss)).toBeLessThan(1e-4)
    } finally {
      merged.dispose()
    }
  }, 300_000)
})

describe('bad input to a causal-LM task', () => {
  it('text that is not UTF-8, a folder without .txt files, too little text: coded errors', async () => {
    await mkdir(join(tmp.path, 'latin1'), { recursive: true })
    await writeFile(join(tmp.path, 'latin1', 'x.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x61]))
    expect(await codeOfAsync(task.loadData({ source: 'text', path: join(tmp.path, 'latin1') }))).toBe('ERR_MODEL_TEXT_NOT_UTF8')
    await mkdir(join(tmp.path, 'none'), { recursive: true })
    await writeFile(join(tmp.path, 'none', 'a.md'), 'markdown')
    expect(await codeOfAsync(task.loadData({ source: 'text', path: join(tmp.path, 'none') }))).toBe('ERR_MODEL_DATA_NOT_FOUND')
    expect(await codeOfAsync(task.loadData({ source: 'text', path: join(tmp.path, 'missing') }))).toBe('ERR_MODEL_DATA_NOT_FOUND')
    await mkdir(join(tmp.path, 'short'), { recursive: true })
    await writeFile(join(tmp.path, 'short', 'a.txt'), 'too short for a window')
    expect(await codeOfAsync(task.loadData({ source: 'text', path: join(tmp.path, 'short') }))).toBe('ERR_MODEL_TOO_FEW_EXAMPLES')
    expect(await codeOfAsync(task.loadData({ source: 'mnist', split: 'test' }))).toBe('ERR_MODEL_INVALID_DATA')
  })

  it('a base other than the spec\'s, a context over the model\'s positions, an unknown target, a malformed spec', async () => {
    const other = { ...source, tokenizer: new TextEncoder().encode('{}') }
    expect(await codeOfAsync(createCausalLmTask(spec, other))).toBe('ERR_MODEL_BASE_MISMATCH')
    expect(await codeOfAsync(createCausalLmTask({ ...spec, context: 129 }, source))).toBe('ERR_MODEL_SPEC_INVALID')
    expect(await codeOfAsync(createCausalLmTask({ ...spec, adapters: { ...spec.adapters, targets: ['c_attn'] } }, source))).toBe('ERR_MODEL_SPEC_INVALID')
    expect(codeOf(() => validateCausalLmSpec({ ...spec, context: 1 }))).toBe('ERR_MODEL_SPEC_INVALID')
    expect(codeOf(() => validateCausalLmSpec({ ...spec, extra: 1 }))).toBe('ERR_MODEL_SPEC_INVALID')
    expect(codeOf(() => validateCausalLmSpec({ ...spec, base: 'not a cid' }))).toBe('ERR_MODEL_SPEC_INVALID')
  })
})
