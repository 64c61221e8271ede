/**
 * Full-parameter training of a causal LM from seeded weights: a trainable model computes what the frozen one does,
 * the loss falls, every parameter moves (the gradient reaches the projections, embeddings and norms), and the
 * trained checkpoint written in the Hugging Face layout reads back with identical logits. On wasm, the backend the
 * LoRA path uses (the embedding is read as a one-hot product, whose gradient wasm has).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import {
  createCausalLm, initCausalLmCheckpoint, parseHfConfig, pretrainCausalLm, pretrainLearningRate, probeBackendStatus, readHfCheckpoint, tf, writeHfCheckpoint,
  type CausalLm, type HfCheckpoint
} from '../src/index.js'
import { phraseStream } from './helpers.js'

const LLAMA = parseHfConfig({
  model_type: 'llama', vocab_size: 61, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
  max_position_embeddings: 32, rms_norm_eps: 1e-5, rope_theta: 10_000, tie_word_embeddings: true
}, 'llama test config')
const GPT2 = parseHfConfig({ model_type: 'gpt2', vocab_size: 61, n_positions: 32, n_embd: 16, n_layer: 2, n_head: 2 }, 'gpt2 test config')
/** A stream a model can learn: a fixed 12-token phrase repeated. */
const STREAM = phraseStream(480)

beforeAll(async () => {
  await probeBackendStatus()
  await tf.setBackend('wasm')
})

const logitsOf = (lm: CausalLm, ids: number[]): Float32Array =>
  tf.tidy(() => lm.logits(tf.tensor2d(ids, [1, ids.length], 'int32')).dataSync() as Float32Array)
const maxDiff = (x: Float32Array, y: Float32Array): number => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0)
const lossOn = (ckpt: HfCheckpoint, ids: number[]): number => {
  const lm = createCausalLm(ckpt)
  try {
    return tf.tidy(() => lm.nextTokenLoss(tf.tensor2d(ids, [1, ids.length], 'int32')))
  } finally {
    lm.dispose()
  }
}

describe('a trainable causal LM', () => {
  it.each([['llama', LLAMA], ['gpt2', GPT2]] as const)('%s: computes the frozen model\'s logits, and its gradient reaches every parameter', (_, config) => {
    const ckpt = initCausalLmCheckpoint(config, 5)
    const frozen = createCausalLm(ckpt)
    const trainable = createCausalLm(ckpt, { trainable: true })
    try {
      const ids = STREAM.slice(0, 20)
      expect(maxDiff(logitsOf(trainable, ids), logitsOf(frozen, ids))).toBeLessThan(1e-5)
      const names = [...ckpt.tensors.keys()]
      const vars = names.map((n) => trainable.parameter(n) as tf.Variable)
      expect(vars.every((v) => v instanceof tf.Variable && v.trainable)).toBe(true)
      const norms = tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.mean(tf.square(trainable.logits(tf.tensor2d(ids, [1, ids.length], 'int32')))) as tf.Scalar, vars)
        return vars.map((v) => tf.sum(tf.abs(grads[v.name])).dataSync()[0])
      })
      const without = names.filter((_, i) => !(norms[i] > 0))
      expect(without).toEqual([])
    } finally {
      frozen.dispose()
      trainable.dispose()
    }
  })
})

describe('pretrainCausalLm', () => {
  it('llama: the loss falls, every tensor moves, and the checkpoint written reads back with identical logits', async () => {
    const init = initCausalLmCheckpoint(LLAMA, 7)
    const before = new Map([...init.tensors].map(([n, t]) => [n, Float32Array.from(t.values)]))
    const progress: number[] = []
    const r = await pretrainCausalLm(init, STREAM, { steps: 40, window: 24, batch: 4, learningRate: 0.01, seed: 1, onProgress: (p) => progress.push(p.step) })
    const first = r.losses.slice(0, 3).reduce((a, b) => a + b) / 3
    const last = r.losses.slice(-3).reduce((a, b) => a + b) / 3
    console.log(`llama pretraining on ${tf.getBackend()}: loss ${first.toFixed(3)} → ${last.toFixed(3)} in 40 steps, ${r.tokensPerSecond.toFixed(0)} tokens/s`)
    expect(tf.getBackend()).toBe('wasm')
    expect(progress).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    expect(last).toBeLessThan(0.5 * first)
    // the input is not changed; the result has its names, in its order, and every tensor moved
    expect([...init.tensors].every(([n, t]) => maxDiff(t.values, before.get(n)!) === 0)).toBe(true)
    expect([...r.checkpoint.tensors.keys()]).toEqual([...init.tensors.keys()])
    const unmoved = [...r.checkpoint.tensors].filter(([n, t]) => maxDiff(t.values, before.get(n)!) === 0).map(([n]) => n)
    expect(unmoved).toEqual([])
    const tmp = await tempDir('swarmtune-lm-pretrain-')
    let back: HfCheckpoint
    try {
      await writeHfCheckpoint(r.checkpoint, tmp.path)
      back = await readHfCheckpoint(tmp.path)
    } finally {
      await tmp.cleanup()
    }
    const a = createCausalLm(r.checkpoint)
    const b = createCausalLm(back)
    try {
      const ids = STREAM.slice(3, 27)
      expect(logitsOf(b, ids)).toEqual(logitsOf(a, ids))
    } finally {
      a.dispose()
      b.dispose()
    }
    expect(lossOn(back, STREAM.slice(0, 32))).toBeLessThan(0.5 * lossOn(init, STREAM.slice(0, 32)))
  })

  it('gpt2: the Conv1D weights come back in their stored layout (the trained model predicts the stream)', async () => {
    const init = initCausalLmCheckpoint(GPT2, 2)
    const r = await pretrainCausalLm(init, STREAM, { steps: 40, window: 24, batch: 4, learningRate: 0.01, seed: 3 })
    expect(r.checkpoint.tensors.get('h.0.attn.c_attn.weight')!.shape).toEqual([16, 48])
    expect(lossOn(r.checkpoint, STREAM.slice(0, 32))).toBeLessThan(0.5 * lossOn(init, STREAM.slice(0, 32)))
  })

  it('the same seed and options give the same weights', async () => {
    const run = async (): Promise<HfCheckpoint> => (await pretrainCausalLm(initCausalLmCheckpoint(LLAMA, 1), STREAM, { steps: 3, window: 16, batch: 2, learningRate: 0.01, seed: 4 })).checkpoint
    const [x, y] = [await run(), await run()]
    expect([...x.tensors].every(([n, t]) => maxDiff(t.values, y.tensors.get(n)!.values) === 0)).toBe(true)
  })

  it('refuses options out of range, ids outside the vocabulary, and stops when aborted', async () => {
    const init = initCausalLmCheckpoint(LLAMA, 1)
    const base = { steps: 2, window: 16, batch: 2, learningRate: 0.01 }
    await expect(pretrainCausalLm(init, STREAM, { ...base, steps: 0 })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
    await expect(pretrainCausalLm(init, STREAM, { ...base, batch: 1.5 })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
    await expect(pretrainCausalLm(init, STREAM, { ...base, learningRate: Number.NaN })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
    await expect(pretrainCausalLm(init, STREAM, { ...base, warmupSteps: 3 })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TRAIN_OPTIONS' })
    await expect(pretrainCausalLm(init, STREAM, { ...base, window: 33 })).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TOKENS' })
    await expect(pretrainCausalLm(init, STREAM.slice(0, 10), base)).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TOKENS' })
    await expect(pretrainCausalLm(init, [...STREAM, 61], base)).rejects.toMatchObject({ code: 'ERR_MODEL_INVALID_TOKENS' })
    const tensorsBefore = tf.memory().numTensors
    const controller = new AbortController()
    await expect(pretrainCausalLm(init, STREAM, { ...base, steps: 50, signal: controller.signal, onProgress: (p) => { if (p.step === 2) controller.abort(new Error('stop')) } })).rejects.toThrow('stop')
    expect(tf.memory().numTensors).toBe(tensorsBefore)
  })

  it('warms the learning rate up linearly, then decays it on a cosine to a tenth', () => {
    expect(pretrainLearningRate(0, 100, 10, 1)).toBeCloseTo(0.1)
    expect(pretrainLearningRate(9, 100, 10, 1)).toBeCloseTo(1)
    expect(pretrainLearningRate(10, 100, 10, 1)).toBeCloseTo(1)
    expect(pretrainLearningRate(99, 100, 10, 1)).toBeCloseTo(0.1)
    expect(pretrainLearningRate(0, 1, 0, 0.5)).toBeCloseTo(0.5)
  })
})
