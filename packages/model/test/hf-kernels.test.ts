/**
 * The kernels a causal LM declares (`CAUSAL_LM_KERNELS`) cover every kernel its forward pass, evaluation,
 * generation and LoRA training dispatch, on cpu and wasm, for GPT-2, Llama (tied) and Qwen2 (untied, q/k/v biases);
 * every backend that loads here has them all, so `selectBackend` picks the first available one.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { writeRandomCheckpoint } from '@swarmtune/test-support/models'
import {
  BACKEND_ORDER, CAUSAL_LM_KERNELS, causalLmKernelNeeds, createCausalLm, createLmLora, evaluateCausalLm, generateCausalLm, missingKernels, parseHfConfig,
  probeBackendStatus, readHfCheckpoint, selectBackend, tf, trainLmLora
} from '../src/index.js'
import { kernelsOf } from './helpers.js'

const QWEN2 = {
  model_type: 'qwen2', vocab_size: 61, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
  max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10_000, tie_word_embeddings: false
}
const MODELS = [
  ['qwen2', QWEN2, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']],
  ['llama', { ...QWEN2, model_type: 'llama', tie_word_embeddings: true }, ['q_proj']],
  ['gpt2', { model_type: 'gpt2', vocab_size: 61, n_positions: 64, n_embd: 16, n_layer: 2, n_head: 2 }, ['c_attn', 'c_proj', 'c_fc']]
] as const

let tmp: TempDir
beforeAll(async () => {
  await probeBackendStatus()
  tmp = await tempDir('swarmtune-lm-kernels-')
  for (const [name, config] of MODELS) await writeRandomCheckpoint(join(tmp.path, name), config, 4)
})
afterAll(async () => { await tmp.cleanup() })

describe('causal LM kernels', () => {
  it.each(['cpu', 'wasm'])('on %s, inference and LoRA training dispatch only declared kernels', async (backend) => {
    await tf.setBackend(backend)
    const inference = new Set<string>()
    const train = new Set<string>()
    for (const [name, , targets] of MODELS) {
      const lm = createCausalLm(await readHfCheckpoint(join(tmp.path, name)))
      const ids = Array.from({ length: 30 }, (_, i) => (i * 7) % 61)
      const record = (into: Set<string>) => (p: Awaited<ReturnType<typeof tf.profile>>): void => { kernelsOf(p).forEach((k) => into.add(k)) }
      record(inference)(await tf.profile(() => { evaluateCausalLm(lm, ids, { window: 20 }) }))
      record(inference)(await tf.profile(() => { generateCausalLm(lm, ids.slice(0, 5), { maxTokens: 2 }) }))
      record(inference)(await tf.profile(() => { generateCausalLm(lm, ids.slice(0, 5), { maxTokens: 2, temperature: 1, topK: 5 }) }))
      const lora = createLmLora(lm, { rank: 2, alpha: 4, targets: [...targets], seed: 1 })
      record(train)(await tf.profile(() => { trainLmLora(lm, lora, lora.initWeights(), ids, { steps: 2, window: 10, batch: 2, learningRate: 0.01 }) }))
      lora.dispose()
      lm.dispose()
    }
    expect(inference.size).toBeGreaterThan(10)
    expect([...inference].filter((k) => !CAUSAL_LM_KERNELS.inference.includes(k))).toEqual([])
    expect([...train].filter((k) => !CAUSAL_LM_KERNELS.train.includes(k))).toEqual([])
  })

  it('every available backend has them all, so the first available is chosen', async () => {
    const needs = causalLmKernelNeeds(parseHfConfig(QWEN2, 'config.json'))
    for (const s of await probeBackendStatus()) {
      if (!s.available) continue
      expect(missingKernels(needs, s.tfjsName, 'inference'), s.id).toEqual([])
      expect(missingKernels(needs, s.tfjsName, 'train'), s.id).toEqual([])
    }
    const first = (await probeBackendStatus()).find((s) => s.available)!
    const sel = await selectBackend(needs, { purpose: 'train' })
    expect(sel.backend).toBe(first.id)
    expect(BACKEND_ORDER).toContain(sel.backend)
    expect(tf.getBackend()).toBe(first.tfjsName)
  })
})
