/**
 * Numerics against an independent implementation: the checkpoints under fixtures/hf/ (Hugging Face layout, random
 * weights: GPT-2 with and without the `transformer.` prefix in F32 and F16, Llama with tied embeddings and
 * inv_freq buffers, Llama 3 rope scaling with head_dim and two BF16 shards, Qwen2 with q/k/v biases) and their
 * golden logits and losses were written by scripts/reference/hf_reference.py, a forward pass in PyTorch computed
 * in float64. Our float32 logits match within 1e-4 on cpu and wasm, and the mean next-token cross-entropy within 1e-5.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { createCausalLm, evaluateCausalLm, probeBackendStatus, readHfCheckpoint, tf } from '../src/index.js'

const FIXTURES = fileURLToPath(new URL('./fixtures/hf/', import.meta.url))
const NAMES = ['gpt2-tiny', 'gpt2-tiny-prefixed', 'llama-tiny', 'llama3-tiny', 'qwen2-tiny'] as const

interface Golden { token_ids: number[], loss: number, logits: Float32Array }

async function golden (name: string): Promise<Golden> {
  const g = JSON.parse(await readFile(join(FIXTURES, name, 'golden.json'), 'utf8')) as { token_ids: number[], loss: number, logits_file: string }
  const buf = await readFile(join(FIXTURES, name, g.logits_file))
  return { ...g, logits: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) }
}

beforeAll(async () => { await probeBackendStatus() })

describe.each(['cpu', 'wasm'])('Hugging Face checkpoints against the PyTorch reference, on %s', (backend) => {
  beforeAll(async () => { await tf.setBackend(backend) })

  it.each(NAMES)('%s: logits within 1e-4, loss within 1e-5', async (name) => {
    const g = await golden(name)
    const ckpt = await readHfCheckpoint(join(FIXTURES, name))
    const lm = createCausalLm(ckpt)
    try {
      const t = g.token_ids.length
      expect(g.logits.length).toBe(t * ckpt.config.vocabSize)
      const got = tf.tidy(() => lm.logits(tf.tensor2d(g.token_ids, [1, t], 'int32')).dataSync() as Float32Array)
      expect(got.length).toBe(g.logits.length)
      let worst = 0
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - g.logits[i]))
      const spread = Math.max(...g.logits) - Math.min(...g.logits)
      console.log(`${name} on ${backend}: max |logit − golden| ${worst.toExponential(2)} (logits span ${spread.toFixed(2)})`)
      expect(spread).toBeGreaterThan(1)
      expect(worst).toBeLessThan(1e-4)
      const e = evaluateCausalLm(lm, g.token_ids)
      expect(e.predicted).toBe(t - 1)
      expect(Math.abs(e.loss - g.loss)).toBeLessThan(1e-5)
    } finally {
      lm.dispose()
    }
  })
})
