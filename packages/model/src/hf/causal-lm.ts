/**
 * Causal language models from Hugging Face checkpoints, computed in tfjs ops (so on node-gpu, node, wasm and cpu
 * alike), float32:
 * - GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"; transformers'
 *   `GPT2LMHeadModel`): token + learned position embeddings, pre-LayerNorm blocks of causal multi-head attention
 *   and a GELU MLP (tanh form, `gelu_new`), final LayerNorm, output projection tied to the token embedding.
 * - The Llama family (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models"; transformers'
 *   `LlamaForCausalLM`, `Qwen2ForCausalLM`): RMSNorm (Zhang & Sennrich 2019), rotary position embeddings (Su et al.
 *   2021, "RoFormer") in the rotate-half form with `rope_theta` and Llama 3's frequency rule, grouped-query
 *   attention (Ainslie et al. 2023), a SwiGLU MLP (Shazeer 2020), tied or untied output projection; Qwen2 adds biases
 *   on q, k, v.
 */
import { createRng } from '../data/random.js'
import { HfCheckpointError, InvalidTokensError } from '../errors.js'
import { tf } from '../tf.js'
import type { KernelNeeds } from '../backends/backends.js'
import type { HfCheckpoint } from './checkpoint.js'
import type { CausalLmConfig } from './config.js'

/**
 * LoRA adapters applied in a forward pass, by the adapted projection's weight name (e.g.
 * `model.layers.0.self_attn.q_proj.weight`, `h.0.attn.c_attn.weight`): the projection computes
 * x·Wᵀ + scale·(x·A)·B (+ bias), A `[in, r]`, B `[r, out]` (Hu et al. 2021; see lm-lora.ts).
 */
export type LmAdapters = ReadonlyMap<string, { a: tf.Tensor2D, b: tf.Tensor2D, scale: number }>

/**
 * The tfjs kernels (tfjs-core `kernel_names.ts`) a causal LM dispatches, for every family: `inference` for
 * `logits`, `evaluateCausalLm` and `generateCausalLm`; `train` for `trainLmLora` (backpropagation to LoRA B and the
 * Adam update). Recorded with `tf.profile` on GPT-2, Llama and Qwen2 checkpoints on cpu and wasm;
 * test/hf-kernels.test.ts re-checks them. Every backend of `BACKEND_ORDER` has them all.
 */
export const CAUSAL_LM_KERNELS: KernelNeeds['kernels'] = Object.freeze({
  inference: Object.freeze(['Add', 'BatchMatMul', 'Cast', 'Concat', 'Exp', 'GatherV2', 'Log', 'Max', 'Mean', 'Multiply', 'Neg', 'Pow', 'RealDiv',
    'Reshape', 'Rsqrt', 'Sigmoid', 'Slice', 'Softmax', 'SplitV', 'Sqrt', 'Square', 'Sub', 'Sum', 'Tanh', 'Transpose']),
  train: Object.freeze(['Add', 'BatchMatMul', 'Cast', 'Concat', 'Exp', 'GatherV2', 'Identity', 'Log', 'Max', 'Mean', 'Multiply', 'Neg', 'OneHot', 'PadV2',
    'Pow', 'RealDiv', 'Reshape', 'Rsqrt', 'Sigmoid', 'Slice', 'Softmax', 'SplitV', 'Sqrt', 'Square', 'Sub', 'Sum', 'Tanh', 'Transpose', 'ZerosLike'])
})

/** Causal LMs of every family with LoRA as `probeBackends` takes them (the line `swarmtune doctor` prints for them). */
export const CAUSAL_LM_KERNEL_NEEDS: KernelNeeds = Object.freeze({ id: 'causal LM (gpt2, llama, qwen2) with LoRA', kernels: CAUSAL_LM_KERNELS })

/** A causal LM of `config` as `selectBackend` and `chooseBackend` take it: named by its model type, `CAUSAL_LM_KERNELS`. */
export function causalLmKernelNeeds (config: CausalLmConfig): KernelNeeds {
  return { id: `causal LM (${config.modelType})`, kernels: CAUSAL_LM_KERNELS }
}

/** A loaded causal LM: its config and parameter tensors (kept until `dispose`). */
export interface CausalLm {
  readonly config: CausalLmConfig
  readonly origin: string
  /**
   * Logits `[batch, seq, vocab]` (float32) of token ids `[batch, seq]` (int32; seq ≤ `config.maxPositions`), with
   * `adapters` on their projections when given. Gradients flow to the adapters' tensors (the base's are
   * constants). The caller owns the result.
   */
  logits (ids: tf.Tensor2D, adapters?: LmAdapters): tf.Tensor3D
  /** The base's parameter tensor `name` as it is kept (nn.Linear weights and a tied embedding transposed: `[in, out]`). */
  parameter (name: string): tf.Tensor
  dispose (): void
}

/**
 * Rotary inverse frequencies θ^(−2i/d), i = 0 … d/2 − 1, with Llama 3's rule when the config has it (transformers
 * `_compute_llama3_parameters`: wavelengths above original/low_freq_factor divided by `factor`, below
 * original/high_freq_factor kept, smoothly interpolated between). Float64.
 */
export function ropeInverseFrequencies (c: CausalLmConfig): Float64Array {
  const half = c.headDim / 2
  const inv = Float64Array.from({ length: half }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / c.headDim))
  const s = c.ropeScaling
  if (s === undefined) return inv
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor
  const highWavelen = s.originalMaxPositions / s.highFreqFactor
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f
    if (wavelen < highWavelen) return f
    if (wavelen > lowWavelen) return f / s.factor
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
    return (1 - smooth) * (f / s.factor) + smooth * f
  })
}

function layerNorm (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), w), b)
}

function rmsNorm (x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w)
}

/** gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Hendrycks & Gimpel 2016, tanh approximation). */
function geluNew (x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)))
}

/** [b, t, heads·d] → [b, heads, t, d]. */
const splitHeads = (x: tf.Tensor, b: number, t: number, heads: number, d: number): tf.Tensor4D => tf.transpose(tf.reshape(x, [b, t, heads, d]), [0, 2, 1, 3])
/** [b, heads, t, d] → [b, t, heads·d]. */
const mergeHeads = (x: tf.Tensor, b: number, t: number): tf.Tensor3D => tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, -1])

/**
 * Causal attention of q [b, heads, t, d] over k, v [b, kvHeads, t, d]: softmax(q·kᵀ/√d + mask)·v, each key/value
 * head serving heads/kvHeads consecutive query heads (grouped-query attention; transformers' `repeat_kv` order).
 * The query heads of a group are stacked as rows ([b, kv, group·t, d]) instead of repeating k and v, so no tensor
 * is tiled (tfjs has no gradient for a rank-5 tile) and k and v are read once per group.
 * @param mask [group·t, t]: `causalMask(t, group)`
 */
function causalAttention (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D): tf.Tensor4D {
  const [b, heads, t, d] = q.shape
  const kv = k.shape[1]
  const grouped = tf.reshape(q, [b, kv, (heads / kv) * t, d])
  const scores = tf.add(tf.div(tf.matMul(grouped, k, false, true), Math.sqrt(d)), mask)
  return tf.reshape(tf.matMul(tf.softmax(scores), v), [b, heads, t, d])
}

/** For `group` stacked query heads of t positions: 0 where a position may attend (itself and earlier ones), −∞ elsewhere; [group·t, t]. */
function causalMask (t: number, group: number): tf.Tensor2D {
  const m = new Float32Array(group * t * t)
  for (let g = 0; g < group; g++) for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[(g * t + i) * t + j] = -Infinity
  return tf.tensor2d(m, [group * t, t])
}

/** `x` [rows, in] · Wᵀ (+ bias [out]) for a weight kept transposed, Wᵀ [in, out] (see `createCausalLm`). */
const linear = (x: tf.Tensor, wT: tf.Tensor, bias?: tf.Tensor): tf.Tensor => {
  const y = tf.matMul(x as tf.Tensor2D, wT as tf.Tensor2D)
  return bias === undefined ? y : tf.add(y, bias)
}

/** Rows `ids` [b, t] of an embedding kept transposed, Eᵀ [hidden, vocab]: [b, t, hidden]. */
const embed = (eT: tf.Tensor, ids: tf.Tensor2D): tf.Tensor => {
  const [b, t] = ids.shape
  return tf.reshape(tf.transpose(tf.gather(eT, tf.reshape(ids, [b * t]), 1)), [b, t, eT.shape[0]])
}

/** A row-major [rows, cols] matrix transposed, in JS (so that no second copy is made on the backend, whose memory does not shrink). */
export function transpose2d (v: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(v.length)
  const block = 64
  for (let r0 = 0; r0 < rows; r0 += block) {
    for (let c0 = 0; c0 < cols; c0 += block) {
      const r1 = Math.min(rows, r0 + block)
      const c1 = Math.min(cols, c0 + block)
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = v[r * cols + c]
    }
  }
  return out
}

/**
 * Weights kept transposed on load: nn.Linear weights [out, in] as [in, out], and an embedding the output
 * projection shares as [hidden, vocab], so that every product is a plain x·W — measured on wasm, a matmul with a
 * transposed second operand is 6–11 × slower (npm run bench -- lm).
 */
function keptTransposed (c: CausalLmConfig, name: string): boolean {
  if (c.family === 'gpt2') return name === 'wte.weight'
  return /_proj\.weight$/.test(name) || name === 'lm_head.weight' || (c.tied && name === 'model.embed_tokens.weight')
}

/**
 * Makes a computable model of a checkpoint (see `readHfCheckpoint`): every parameter becomes a tfjs tensor of the
 * active backend.
 */
export function createCausalLm (ckpt: HfCheckpoint): CausalLm {
  const c = ckpt.config
  const p = new Map<string, tf.Tensor>()
  for (const [name, t] of ckpt.tensors) {
    p.set(name, keptTransposed(c, name) ? tf.tensor2d(transpose2d(t.values, t.shape[0], t.shape[1]), [t.shape[1], t.shape[0]]) : tf.tensor(t.values, t.shape, 'float32'))
  }
  const get = (name: string): tf.Tensor => p.get(name)!
  const inv = ropeInverseFrequencies(c)
  const rope = new Map<number, { cos: tf.Tensor2D, sin: tf.Tensor2D }>()
  const masks = new Map<number, tf.Tensor2D>()
  const group = c.heads / c.kvHeads
  const maskOf = (t: number): tf.Tensor2D => {
    let m = masks.get(t)
    if (m === undefined) masks.set(t, m = tf.keep(causalMask(t, group)))
    return m
  }
  /** cos and sin of position·inv_freq, [t, headDim] (the half duplicated), computed in float64. */
  const ropeOf = (t: number): { cos: tf.Tensor2D, sin: tf.Tensor2D } => {
    let r = rope.get(t)
    if (r === undefined) {
      const d = c.headDim
      const cos = new Float32Array(t * d)
      const sin = new Float32Array(t * d)
      for (let pos = 0; pos < t; pos++) {
        for (let i = 0; i < d; i++) {
          const angle = pos * inv[i % (d / 2)]
          cos[pos * d + i] = Math.cos(angle)
          sin[pos * d + i] = Math.sin(angle)
        }
      }
      rope.set(t, r = { cos: tf.keep(tf.tensor2d(cos, [t, d])), sin: tf.keep(tf.tensor2d(sin, [t, d])) })
    }
    return r
  }
  const applyRope = (x: tf.Tensor4D, t: number): tf.Tensor4D => {
    const { cos, sin } = ropeOf(t)
    const half = c.headDim / 2
    const [x1, x2] = tf.split(x, [half, half], 3)
    const rotated = tf.concat([tf.neg(x2), x1], 3)
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D
  }

  let adapters: LmAdapters | undefined
  /** x [rows, in] through the projection whose weight is `name` (kept [in, out]), with its adapter if any. */
  const proj = (x: tf.Tensor, name: string, bias?: tf.Tensor): tf.Tensor => {
    const y = linear(x, get(name), bias)
    const ad = adapters?.get(name)
    return ad === undefined ? y : tf.add(y, tf.mul(tf.matMul(tf.matMul(x as tf.Tensor2D, ad.a), ad.b), ad.scale))
  }

  const gpt2 = (ids: tf.Tensor2D): tf.Tensor3D => {
    const [b, t] = ids.shape
    const h = c.hidden
    let x: tf.Tensor = tf.add(embed(get('wte.weight'), ids), tf.slice(get('wpe.weight'), [0, 0], [t, h]))
    for (let i = 0; i < c.layers; i++) {
      const n = `h.${i}.`
      const a = tf.reshape(layerNorm(x, get(`${n}ln_1.weight`), get(`${n}ln_1.bias`), c.normEps), [b * t, h])
      const qkv = proj(a, `${n}attn.c_attn.weight`, get(`${n}attn.c_attn.bias`))
      const [q, k, v] = tf.split(qkv, 3, 1).map((y) => splitHeads(y, b, t, c.heads, c.headDim))
      const o = tf.reshape(mergeHeads(causalAttention(q, k, v, maskOf(t)), b, t), [b * t, h])
      x = tf.add(x, tf.reshape(proj(o, `${n}attn.c_proj.weight`, get(`${n}attn.c_proj.bias`)), [b, t, h]))
      const m = tf.reshape(layerNorm(x, get(`${n}ln_2.weight`), get(`${n}ln_2.bias`), c.normEps), [b * t, h])
      const f = geluNew(proj(m, `${n}mlp.c_fc.weight`, get(`${n}mlp.c_fc.bias`)))
      x = tf.add(x, tf.reshape(proj(f, `${n}mlp.c_proj.weight`, get(`${n}mlp.c_proj.bias`)), [b, t, h]))
    }
    const out = tf.reshape(layerNorm(x, get('ln_f.weight'), get('ln_f.bias'), c.normEps), [b * t, h])
    return tf.reshape(linear(out, get('wte.weight')), [b, t, c.vocabSize])
  }

  const llama = (ids: tf.Tensor2D): tf.Tensor3D => {
    const [b, t] = ids.shape
    const h = c.hidden
    let x: tf.Tensor = c.tied ? embed(get('model.embed_tokens.weight'), ids) : tf.gather(get('model.embed_tokens.weight'), ids)
    for (let i = 0; i < c.layers; i++) {
      const n = `model.layers.${i}.`
      const a = tf.reshape(rmsNorm(x, get(`${n}input_layernorm.weight`), c.normEps), [b * t, h])
      const bias = (w: string): tf.Tensor | undefined => c.qkvBias ? get(`${n}self_attn.${w}.bias`) : undefined
      const q = applyRope(splitHeads(proj(a, `${n}self_attn.q_proj.weight`, bias('q_proj')), b, t, c.heads, c.headDim), t)
      const k = applyRope(splitHeads(proj(a, `${n}self_attn.k_proj.weight`, bias('k_proj')), b, t, c.kvHeads, c.headDim), t)
      const v = splitHeads(proj(a, `${n}self_attn.v_proj.weight`, bias('v_proj')), b, t, c.kvHeads, c.headDim)
      const o = tf.reshape(mergeHeads(causalAttention(q, k, v, maskOf(t)), b, t), [b * t, c.heads * c.headDim])
      x = tf.add(x, tf.reshape(proj(o, `${n}self_attn.o_proj.weight`), [b, t, h]))
      const m = tf.reshape(rmsNorm(x, get(`${n}post_attention_layernorm.weight`), c.normEps), [b * t, h])
      const gate = proj(m, `${n}mlp.gate_proj.weight`)
      // SwiGLU: silu(gate) · up, silu(z) = z·σ(z)
      const swiglu = tf.mul(tf.mul(gate, tf.sigmoid(gate)), proj(m, `${n}mlp.up_proj.weight`))
      x = tf.add(x, tf.reshape(proj(swiglu, `${n}mlp.down_proj.weight`), [b, t, h]))
    }
    const out = tf.reshape(rmsNorm(x, get('model.norm.weight'), c.normEps), [b * t, h])
    return tf.reshape(linear(out, get(c.tied ? 'model.embed_tokens.weight' : 'lm_head.weight')), [b, t, c.vocabSize])
  }

  return {
    config: c,
    origin: ckpt.origin,
    logits (ids, withAdapters) {
      const t = ids.shape[1]
      if (t < 1 || t > c.maxPositions) throw new InvalidTokensError(`a sequence of ${t} tokens: ${ckpt.origin} takes 1 to ${c.maxPositions} (its maximum positions)`)
      adapters = withAdapters
      try {
        return tf.tidy(() => c.family === 'gpt2' ? gpt2(ids) : llama(ids))
      } finally {
        adapters = undefined
      }
    },
    parameter (name) {
      const t = p.get(name)
      if (t === undefined) throw new HfCheckpointError('ERR_MODEL_HF_TENSOR_MISSING', `${ckpt.origin} has no parameter ${name}`, { tensor: name })
      return t
    },
    dispose () {
      tf.dispose([...p.values(), ...[...rope.values()].flatMap((r) => [r.cos, r.sin]), ...masks.values()])
      p.clear()
      rope.clear()
      masks.clear()
    }
  }
}

const notFinite = (lm: CausalLm, what: string): HfCheckpointError =>
  new HfCheckpointError('ERR_MODEL_HF_NOT_FINITE', `${what} of ${lm.origin} is not finite: its weights (or the adapter's, or its scale) overflow float32`)

/** What `evaluateCausalLm` reports. */
export interface CausalLmEvaluation {
  /** Mean next-token cross-entropy, nats per predicted token. */
  loss: number
  /** exp(loss). */
  perplexity: number
  /** Tokens read. */
  tokens: number
  /** Tokens predicted (each window's first token is not). */
  predicted: number
  /** Windows the tokens were cut into (of at most the model's maximum positions, or `window`). */
  windows: number
}

/**
 * Mean next-token cross-entropy of a token sequence: the ids are cut into consecutive windows of at most
 * `window` tokens (default the model's maximum positions) and in each the token at position j ≥ 1 is predicted
 * from positions < j; loss = −(1/N)·Σ log softmax(logits)[next token] over all predicted tokens, in nats (as
 * transformers' `CausalLMOutput.loss` for one window), perplexity = e^loss; with `options.adapters` (e.g.
 * `peftAdapterTensors`) on their projections.
 * @throws InvalidTokensError for fewer than two ids, an id that is not an integer in [0, vocab), a window < 2;
 *   HfCheckpointError ERR_MODEL_HF_NOT_FINITE when a window's loss overflows.
 */
export function evaluateCausalLm (lm: CausalLm, ids: ArrayLike<number>, options: { window?: number, adapters?: LmAdapters } = {}): CausalLmEvaluation {
  const c = lm.config
  const window = options.window ?? c.maxPositions
  if (!Number.isSafeInteger(window) || window < 2 || window > c.maxPositions) throw new InvalidTokensError(`window ${window}: expected an integer from 2 to ${c.maxPositions} (the model's maximum positions)`)
  if (ids.length < 2) throw new InvalidTokensError(`${ids.length} token id(s): at least two are needed to predict one`)
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new InvalidTokensError(`token id ${id} at position ${i} is outside the vocabulary of ${lm.origin} (0 to ${c.vocabSize - 1})`)
  }
  let sum = 0
  let predicted = 0
  let windows = 0
  for (let start = 0; start < ids.length - 1; start += window) {
    const chunk = Int32Array.from({ length: Math.min(window, ids.length - start) }, (_, i) => ids[start + i])
    if (chunk.length < 2) break
    windows++
    const nll = tf.tidy(() => {
      const n = chunk.length - 1
      const logits = lm.logits(tf.tensor2d(chunk, [1, chunk.length], 'int32'), options.adapters)
      const logp = tf.logSoftmax(tf.reshape(tf.slice(logits, [0, 0, 0], [1, n, c.vocabSize]), [n, c.vocabSize]))
      // log p of each next token, read at row·vocab + id of the flattened rows (no [n, vocab] one-hot)
      const at = Int32Array.from({ length: n }, (_, j) => j * c.vocabSize + chunk[j + 1])
      return tf.neg(tf.sum(tf.gather(tf.reshape(logp, [-1]), tf.tensor1d(at, 'int32')))).dataSync()[0]
    })
    if (!Number.isFinite(nll)) throw notFinite(lm, `the loss of the window at token ${start}`)
    sum += nll
    predicted += chunk.length - 1
  }
  const loss = sum / predicted
  return { loss, perplexity: Math.exp(loss), tokens: ids.length, predicted, windows }
}

/** Options of `generateCausalLm`. */
export interface GenerateOptions {
  /** Tokens to add, ≥ 1. */
  maxTokens: number
  /** Sampling temperature; 0 (the default) is greedy: the most likely token each step (the lowest id on a tie). */
  temperature?: number
  /** With temperature > 0: sample among the k most likely tokens only (default: all). */
  topK?: number
  /** Seed of the sampling (`createRng`); the same seed, prompt and model give the same tokens. */
  seed?: number
  /** Stop after emitting this id (e.g. the tokenizer's end-of-text), which is included. */
  stopId?: number
  /** LoRA adapters on their projections (e.g. `peftAdapterTensors`). */
  adapters?: LmAdapters
}

/**
 * Continues `prompt` token by token: each step runs the model over the last `maxPositions` tokens (no key/value
 * cache: step cost grows with the sequence) and picks the next token from the last position's logits — greedily,
 * or sampled from softmax(logits / temperature) restricted to the top k, with a seeded RNG.
 * @returns the new token ids (not the prompt)
 * @throws InvalidTokensError for an empty prompt, ids outside the vocabulary, maxTokens < 1, temperature < 0 or
 *   not finite, topK < 1; HfCheckpointError ERR_MODEL_HF_NOT_FINITE when the logits hold a NaN.
 */
export function generateCausalLm (lm: CausalLm, prompt: ArrayLike<number>, options: GenerateOptions): number[] {
  const c = lm.config
  const { maxTokens, temperature = 0, topK = c.vocabSize } = options
  if (prompt.length < 1) throw new InvalidTokensError('an empty prompt: give at least one token to continue')
  for (let i = 0; i < prompt.length; i++) {
    const id = prompt[i]
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new InvalidTokensError(`prompt token id ${id} at position ${i} is outside the vocabulary of ${lm.origin} (0 to ${c.vocabSize - 1})`)
  }
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new InvalidTokensError(`maxTokens ${maxTokens}: expected a positive integer`)
  if (!Number.isFinite(temperature) || temperature < 0) throw new InvalidTokensError(`temperature ${temperature}: expected a finite number ≥ 0 (0 is greedy)`)
  if (!Number.isSafeInteger(topK) || topK < 1) throw new InvalidTokensError(`topK ${topK}: expected a positive integer`)
  const rng = createRng(options.seed ?? 0)
  const seq = Array.from(prompt)
  const out: number[] = []
  while (out.length < maxTokens) {
    const window = seq.slice(-c.maxPositions)
    const last = tf.tidy(() => {
      const logits = lm.logits(tf.tensor2d(window, [1, window.length], 'int32'), options.adapters)
      return tf.slice(logits, [0, window.length - 1, 0], [1, 1, c.vocabSize]).dataSync() as Float32Array
    })
    if (last.some((x) => Number.isNaN(x))) throw notFinite(lm, `the logits after ${seq.length} tokens`)
    let next = 0
    if (temperature === 0) {
      for (let i = 1; i < last.length; i++) if (last[i] > last[next]) next = i
    } else {
      const order = Array.from(last.keys()).sort((a, b) => last[b] - last[a] || a - b).slice(0, Math.min(topK, last.length))
      const top = last[order[0]]
      const weights = order.map((i) => Math.exp((last[i] - top) / temperature))
      let u = rng.float() * weights.reduce((a, b) => a + b, 0)
      next = order[order.length - 1]
      for (let j = 0; j < order.length; j++) {
        u -= weights[j]
        if (u < 0) { next = order[j]; break }
      }
    }
    seq.push(next)
    out.push(next)
    if (next === options.stopId) break
  }
  return out
}
