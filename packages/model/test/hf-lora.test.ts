/**
 * LoRA on a causal LM's projections (FFA-LoRA: A frozen and seeded, B trained): training B lowers the loss on
 * wasm with the base frozen; a fresh adapter changes nothing; the merged checkpoint computes what the adapted model
 * does; FedAvg of two clients' B is the average of their merged weights.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { writeRandomCheckpoint } from '@swarmtune/test-support/models'
import {
  createCausalLm, createLmLora, mergeLmLora, probeBackendStatus, readHfCheckpoint, tf, trainLmLora, type CausalLm, type HfCheckpoint, type LmLora, type Weights
} from '../src/index.js'
import { phraseStream } from './helpers.js'

const LLAMA = {
  model_type: 'llama', vocab_size: 61, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
  max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10_000, tie_word_embeddings: true
}
const GPT2 = { model_type: 'gpt2', vocab_size: 61, n_positions: 64, n_embd: 16, n_layer: 2, n_head: 2 }
/** A stream the adapters can learn: a fixed 12-token phrase repeated. */
const STREAM = phraseStream(240)

let tmp: TempDir
beforeAll(async () => {
  await probeBackendStatus()
  await tf.setBackend('wasm')
  tmp = await tempDir('swarmtune-lm-lora-')
})
afterAll(async () => { await tmp.cleanup() })

async function logitsOf (lm: CausalLm, ids: number[], lora?: LmLora, b?: Weights): Promise<Float32Array> {
  return tf.tidy(() => {
    const bt = b?.values.map((v, i) => tf.tensor(v, b.specs[i].shape))
    return lm.logits(tf.tensor2d(ids, [1, ids.length], 'int32'), lora === undefined || bt === undefined ? undefined : lora.adapters(bt)).dataSync() as Float32Array
  })
}
const maxDiff = (x: Float32Array, y: Float32Array): number => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0)

describe.each([['llama', LLAMA, ['q_proj', 'v_proj', 'down_proj']], ['gpt2', GPT2, ['c_attn', 'c_proj']]] as const)('LoRA on %s', (name, config, targets) => {
  let ckpt: HfCheckpoint
  let lm: CausalLm
  let lora: LmLora
  beforeAll(async () => {
    const dir = join(tmp.path, name)
    await writeRandomCheckpoint(dir, config, 4)
    ckpt = await readHfCheckpoint(dir)
    lm = createCausalLm(ckpt)
    lora = createLmLora(lm, { rank: 4, alpha: 8, targets: [...targets], seed: 3 })
  })
  afterAll(() => { lora.dispose(); lm.dispose() })

  it('trains only B on wasm, loss falling; a fresh adapter leaves the logits as they were', async () => {
    expect(lora.specs.length).toBe(config === LLAMA ? 2 * 3 : 2 * 3)
    expect(lora.specs.every((s) => s.name.endsWith('.lora_B') && s.shape[0] === 4)).toBe(true)
    const ids = STREAM.slice(0, 20)
    expect(maxDiff(await logitsOf(lm, ids, lora, lora.initWeights()), await logitsOf(lm, ids))).toBe(0)
    const r = trainLmLora(lm, lora, lora.initWeights(), STREAM, { steps: 40, window: 24, batch: 4, learningRate: 0.05, seed: 1 })
    console.log(`${name} LoRA on ${tf.getBackend()}: loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)} in 40 steps, ${r.tokensPerSecond.toFixed(0)} tokens/s`)
    expect(tf.getBackend()).toBe('wasm')
    expect(r.lossAfter).toBeLessThan(0.8 * r.lossBefore)
    // merged into the base's weights, the adapters compute the same logits
    const merged = createCausalLm(mergeLmLora(ckpt, lora, r.weights))
    try {
      const d = maxDiff(await logitsOf(merged, ids), await logitsOf(lm, ids, lora, r.weights))
      expect(d).toBeLessThan(1e-4)
    } finally {
      merged.dispose()
    }
  })

  it('FedAvg of two clients\' B merges to the average of their merged weights (A is shared)', () => {
    const b1 = trainLmLora(lm, lora, lora.initWeights(), STREAM, { steps: 3, window: 16, batch: 2, learningRate: 0.05, seed: 1 }).weights
    const b2 = trainLmLora(lm, lora, lora.initWeights(), STREAM.slice(5), { steps: 3, window: 16, batch: 2, learningRate: 0.05, seed: 2 }).weights
    const w1 = 3
    const w2 = 1
    const avg: Weights = { specs: b1.specs, values: b1.values.map((v, i) => v.map((x, j) => (w1 * x + w2 * b2.values[i][j]) / (w1 + w2))) }
    const m1 = mergeLmLora(ckpt, lora, b1)
    const m2 = mergeLmLora(ckpt, lora, b2)
    const mAvg = mergeLmLora(ckpt, lora, avg)
    for (const s of lora.specs) {
      const weight = s.name.replace('.lora_B', '.weight')
      const got = mAvg.tensors.get(weight)!.values
      const want = m1.tensors.get(weight)!.values.map((x, j) => (w1 * x + w2 * m2.tensors.get(weight)!.values[j]) / (w1 + w2))
      expect(maxDiff(got, want)).toBeLessThan(1e-6)
    }
  })
})

describe('LoRA targets', () => {
  it('a module that is not a projection of the family: a coded error listing them', async () => {
    const dir = join(tmp.path, 'gpt2-targets')
    await writeRandomCheckpoint(dir, GPT2, 1)
    const lm = createCausalLm(await readHfCheckpoint(dir))
    try {
      let err: (Error & { code?: string }) | undefined
      try {
        createLmLora(lm, { rank: 4, alpha: 8, targets: ['q_proj'], seed: 1 })
      } catch (e) {
        err = e as Error & { code?: string }
      }
      expect(err?.code).toBe('ERR_MODEL_INVALID_ADAPTER')
      expect(err?.message).toMatch(/q_proj is not a projection of gpt2; its projections are c_attn, c_proj, c_fc/)
    } finally {
      lm.dispose()
    }
  })
})
