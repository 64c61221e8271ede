/**
 * lm benchmark: a Llama-architecture model of SmolLM2-135M's shape (30 layers, hidden 576, 9 heads, 3 KV heads,
 * MLP 1536, vocabulary 49,152, tied embeddings: 134.5 M parameters) with seeded random weights, on the first
 * available backend (node-gpu, node, wasm, cpu), each figure beside a reference from the same run:
 *
 *   forward: tokens/s of one forward pass over a 128-token sequence (`createCausalLm(…).logits`, best of 3), as
 *            GFLOP/s of its matrix products, vs one [128, 576] × [576, n] matmul of the same FLOPs on the same
 *            backend (the backend's own matmul rate: the forward pass cannot beat it).
 *   lora:    tokens/s of a LoRA training step (r = 8 on q_proj and v_proj, FFA-LoRA: only B trained, Adam; one
 *            128-token window per step, best of 2 runs of 2 steps) vs the forward pass alone (tokens/s above).
 *   memory:  peak RSS (the kernel's high-water mark, `process.resourceUsage().maxRSS`) while making the weights and
 *            loading them (`createCausalLm(…, { consume: true })`), and then while running and LoRA-training the
 *            model (before the reference matmul), vs the goal 2 × the base's fp32 bytes + 300 MB; and the RSS after
 *            the LoRA steps, which holds the wasm memory's high-water mark (that memory never shrinks).
 * Run: `npm run bench -- lm`.
 */
import { performance } from 'node:perf_hooks'
import {
  createCausalLm, createLmLora, createRng, expectedTensors, trainLmLora, parseHfConfig, probeBackendStatus, tf, type HfCheckpoint, type HfTensor
} from '../../packages/model/src/index.js'

const SEQ = 128
const RUNS = 3

function line (area: string, figure: string, value: number, unit: string, ref: string, refValue: number, refUnit: string, goal?: string): void {
  process.stdout.write(`${area}: ${figure} = ${fmt(value)} ${unit}  (vs ${ref} = ${fmt(refValue)} ${refUnit}, ratio ${(value / refValue).toFixed(3)}${goal === undefined ? '' : `; goal ${goal}`})\n`)
}
const fmt = (v: number): string => v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3)

/** The process's peak resident set so far, bytes. */
const peakRss = (): number => process.resourceUsage().maxRSS * 1024

const status = (await probeBackendStatus()).find((s) => s.available)!
await tf.setBackend(status.tfjsName)
await tf.ready()

const config = parseHfConfig({
  model_type: 'llama', vocab_size: 49_152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100_000, tie_word_embeddings: true
}, 'SmolLM2-135M shape')
const rng = createRng(1)
const tensors = new Map<string, HfTensor>()
let params = 0
for (const [name, shape] of expectedTensors(config)) {
  const n = shape.reduce((a, b) => a * b, 1)
  params += n
  const values = new Float32Array(n)
  for (let i = 0; i < n; i++) values[i] = (rng.float() - 0.5) * 0.04
  tensors.set(name, { shape, dtype: 'F32', values })
}
const ckpt: HfCheckpoint = { config, tensors, ignored: [], origin: 'SmolLM2-135M shape, random weights' }
const lm = createCausalLm(ckpt, { consume: true })
const loadPeakRss = peakRss()

const ids = tf.tensor2d(Int32Array.from({ length: SEQ }, () => Math.floor(rng.float() * config.vocabSize)), [1, SEQ], 'int32')
let best = Infinity
for (let r = 0; r < RUNS; r++) {
  const t = performance.now()
  const logits = lm.logits(ids)
  await logits.data()
  best = Math.min(best, performance.now() - t)
  logits.dispose()
}
const lora = createLmLora(lm, { rank: 8, alpha: 16, targets: ['q_proj', 'v_proj'], seed: 1 })
const stream = Array.from({ length: 4 * SEQ }, () => Math.floor(rng.float() * config.vocabSize))
let loraTps = 0
for (let r = 0; r < 2; r++) {
  loraTps = Math.max(loraTps, trainLmLora(lm, lora, lora.initWeights(), stream, { steps: 2, window: SEQ, batch: 1, learningRate: 1e-3, seed: r }).tokensPerSecond)
}
lora.dispose()
const lmPeakRss = peakRss()
const afterLoraRss = process.memoryUsage().rss
// matrix-product FLOPs of the forward pass: projections and MLP per layer, attention scores and mixing, the head
const h = config.hidden
const perLayer = 2 * SEQ * h * (config.heads * config.headDim + 2 * config.kvHeads * config.headDim) + 2 * SEQ * config.heads * config.headDim * h +
  3 * 2 * SEQ * h * config.intermediate + 2 * 2 * config.heads * SEQ * SEQ * config.headDim
const flops = config.layers * perLayer + 2 * SEQ * h * config.vocabSize
// the reference: one matmul of the same FLOPs, [SEQ, h] × [h, n]
const n = Math.round(flops / (2 * SEQ * h))
const a = tf.randomUniform([SEQ, h])
const b = tf.randomUniform([h, n])
let refBest = Infinity
for (let r = 0; r < RUNS; r++) {
  const t = performance.now()
  const c = tf.matMul(a, b)
  await c.data()
  refBest = Math.min(refBest, performance.now() - t)
  c.dispose()
}
tf.dispose([a, b, ids])
lm.dispose()

const gflops = flops / (best / 1000) / 1e9
const refGflops = flops / (refBest / 1000) / 1e9
process.stdout.write(`lm: ${status.id}, ${(params / 1e6).toFixed(1)} M parameters, ${SEQ} tokens: forward ${best.toFixed(0)} ms (${(SEQ / (best / 1000)).toFixed(0)} tokens/s), ${(flops / 1e9).toFixed(1)} GFLOP of matrix products\n`)
line('lm', `forward matrix-product rate on ${status.id}`, gflops, 'GFLOP/s', `one matmul of the same FLOPs`, refGflops, 'GFLOP/s')
line('lm', `LoRA training step on ${status.id} (r = 8, q_proj and v_proj)`, loraTps, 'tokens/s', 'the forward pass alone', SEQ / (best / 1000), 'tokens/s')
const baseBytes = params * 4
const goal = (2 * baseBytes + 300e6) / 2 ** 20
line('lm', 'peak RSS making the weights and loading the model', loadPeakRss / 2 ** 20, 'MiB', 'goal 2 × base fp32 + 300 MB', goal, 'MiB', '≤ 1')
line('lm', 'RSS after the LoRA steps (wasm memory keeps its high-water mark)', afterLoraRss / 2 ** 20, 'MiB', 'goal 2 × base fp32 + 300 MB', goal, 'MiB')
line('lm', 'peak RSS loading, running and LoRA-training the model', lmPeakRss / 2 ** 20, 'MiB', 'goal 2 × base fp32 + 300 MB', goal, 'MiB', '≤ 1')
