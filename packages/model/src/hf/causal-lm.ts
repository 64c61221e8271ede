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
import { HfCheckpointError, InvalidAdapterError, InvalidTokensError } from '../errors.js'
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
 * Adam update). Recorded with `tf.profile` on GPT-2, Llama and Qwen2 checkpoints on cpu and wasm (with a vocabulary
 * of 20,000, so that the loss is taken in several blocks);
 * test/hf-kernels.test.ts re-checks them. Every backend of `BACKEND_ORDER` has them all.
 */
export const CAUSAL_LM_KERNELS: KernelNeeds['kernels'] = Object.freeze({
  inference: Object.freeze(['Add', 'BatchMatMul', 'Cast', 'Concat', 'Exp', 'GatherV2', 'Log', 'Max', 'Mean', 'Multiply', 'Neg', 'Pow', 'RealDiv',
    'Reshape', 'Rsqrt', 'Sigmoid', 'Slice', 'Softmax', 'SplitV', 'Sqrt', 'Square', 'Sub', 'Sum', 'Tanh', 'Transpose']),
  train: Object.freeze(['Add', 'BatchMatMul', 'Cast', 'Concat', 'Exp', 'GatherV2', 'Identity', 'Log', 'Max', 'Maximum', 'Mean', 'Multiply', 'Neg',
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
   * constants, unless the model was made `trainable`: then to every parameter too). The caller owns the result.
   */
  logits (ids: tf.Tensor2D, adapters?: LmAdapters): tf.Tensor3D
  /**
   * Mean next-token cross-entropy of windows `ids` [n, t] (int32; 2 ≤ t ≤ `config.maxPositions`), in nats per
   * predicted token: in each window the token at position j ≥ 1 is predicted from positions < j, with `adapters`
   * when given. The logits are computed a block of rows at a time (`LOSS_BLOCK_BYTES`), never [n·t, vocab] at once.
   * @throws InvalidTokensError for windows of fewer than 2 or more than `config.maxPositions` tokens.
   */
  nextTokenLoss (ids: tf.Tensor2D, adapters?: LmAdapters): number
  /**
   * `nextTokenLoss` and its gradient with respect to each adapter's B, by the adapted weight's name (`[r, out]`,
   * float32; the caller owns them). Computed block by block with recomputation: the forward pass keeps only each
   * block's input `[n, t, hidden]`, and each block is computed again, on the gradient tape, when its gradient is
   * taken (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"), so the backend holds one block's
   * activations at a time; the base's weights are never copied but for the product that needs one, one at a time
   * (see `frozenLinear`).
   * @throws InvalidTokensError as `nextTokenLoss`; InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) when `adapters`
   *   adapts no projection of the model.
   */
  adapterGradients (ids: tf.Tensor2D, adapters: LmAdapters): { loss: number, grads: Map<string, tf.Tensor2D> }
  /**
   * The base's parameter tensor `name` as it is kept: projection weights in nn.Linear's layout `[out, in]` (GPT-2's
   * Conv1D weights transposed to it, see `keptTransposed`), the rest as stored; a `tf.Variable` when made `trainable`.
   * @throws HfCheckpointError ERR_MODEL_HF_TENSOR_MISSING for a name that is not a parameter of the model.
   */
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

/**
 * `x` [rows, in] · Wᵀ for a frozen weight W [out, in] (nn.Linear's layout): [rows, out], computed as (W·xᵀ)ᵀ. On
 * wasm a product x·B caches a packed copy of B (XNNPACK's fully connected operator) for as long as B lives and one
 * with a transposed operand is 6–11 × slower; as (W·xᵀ)ᵀ the packed operand is the small xᵀ, so no copy of a
 * weight outlives the product. The gradient with respect to x, dy·W, packs a copy of W made for it, freed with it;
 * W gets no gradient, and on the gradient tape nothing is saved (tfjs saves a copy of every input of an op it
 * tapes, a memcpy on wasm).
 */
function frozenLinear (x: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.transpose(tf.matMul(w as tf.Tensor2D, tf.transpose(args[0] as tf.Tensor2D))),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, tf.clone(w) as tf.Tensor2D)
  }))
  return op(x) as tf.Tensor2D
}

/**
 * `x` [rows, in] · Wᵀ for a trainable weight W [out, in]: a plain product on the gradient tape, so that W gets its
 * gradient (tfjs saves x and W for it). Products of explicitly transposed operands, as `frozenLinear` makes, ran no
 * faster here: on the 64-wide models trained this way wasm's Transpose cost what the slower path saved.
 */
const trainableLinear = (x: tf.Tensor, w: tf.Tensor): tf.Tensor2D => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true)

/**
 * Rows `ids` of a trainable embedding table [entries, hidden] by a gather, with the gradient one-hot(ids)ᵀ·dy: a
 * product, where a gather's own gradient is an UnsortedSegmentSum, a kernel the wasm backend lacks.
 */
function trainableLookup (table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const entries = table.shape[0]
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [t, at, save] = args as [tf.Tensor2D, tf.Tensor, tf.GradSaveFunc]
    // the ids are an input, saved: the gradient may be taken after the caller's ids tensor is gone
    save([at])
    return {
      value: tf.gather(t, at),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // one-hot as int32, then cast: wasm's OneHot writes int32 bits whatever dtype it is asked for (tfjs 4.22)
        const rows = tf.cast(tf.oneHot(tf.reshape(saved[0], [-1]) as tf.Tensor1D, entries), 'float32') as tf.Tensor2D
        return [tf.matMul(tf.transpose(rows), tf.reshape(dy, [-1, t.shape[1]]) as tf.Tensor2D), tf.zerosLike(saved[0])]
      }
    }
  })
  return op(table, ids)
}

/**
 * Bytes of one float32 block of logits (rows × vocabulary entries) or of the output embedding (vocabulary entries ×
 * hidden) in `nextTokenLoss` and `adapterGradients`: 8 MiB, 42 rows of a 49,152-token vocabulary. The backend's
 * memory does not shrink on wasm, so no window's whole logits, softmax or gradient is ever held.
 */
export const LOSS_BLOCK_BYTES = 8 * 2 ** 20

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

/** GPT-2's Conv1D weights, stored [in, out], are kept [out, in] like nn.Linear's, the layout `frozenLinear` takes. */
export function keptTransposed (c: CausalLmConfig, name: string): boolean {
  return c.family === 'gpt2' && /^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/.test(name)
}

/**
 * Frees an array's memory now rather than at a later garbage collection: its buffer is detached
 * (`ArrayBuffer.prototype.transfer(0)`, Node.js ≥ 21) when the array spans all of it; otherwise left to the collector.
 */
function release (values: Float32Array): void {
  const buffer = values.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }
  if (buffer instanceof ArrayBuffer && typeof buffer.transfer === 'function' && values.byteOffset === 0 && values.byteLength === buffer.byteLength) buffer.transfer(0)
}

/** Options of `createCausalLm`. */
export interface CreateCausalLmOptions {
  /**
   * Take the checkpoint's arrays: each tensor is removed from `ckpt.tensors` as soon as the backend holds it, so
   * that the checkpoint's float32 arrays and the backend's copies are not all alive together while loading (the
   * checkpoint is left with no tensors; don't pass a checkpoint used afterwards, e.g. for `mergeLmLora`). On wasm,
   * which copies an array into its own memory when the tensor is made, each array's buffer is also detached then
   * (when the array spans all of it), so its memory is returned at once and not at a later garbage collection: no
   * view of those buffers may be read afterwards. Default false.
   */
  consume?: boolean
  /**
   * Keep every parameter as a trainable `tf.Variable` and compute each projection as a plain product x·Wᵀ, so that
   * gradients reach every weight, the embeddings and the norms (full-parameter training: `pretrainCausalLm`).
   * The embeddings' gradient is then the product one-hot(ids)ᵀ·dy, which every backend computes (a gather's own,
   * UnsortedSegmentSum, is not on wasm), and the gradient tape holds every op's inputs, the weights included: meant
   * for small models. Default false: the base is constant (`frozenLinear`), as LoRA
   * training wants it.
   */
  trainable?: boolean
}

/**
 * Makes a computable model of a checkpoint (see `readHfCheckpoint`): every parameter becomes a tfjs tensor of the
 * active backend, weights in nn.Linear's layout [out, in] (GPT-2's Conv1D weights transposed to it), embeddings
 * [vocab, hidden] as stored.
 */
export function createCausalLm (ckpt: HfCheckpoint, options: CreateCausalLmOptions = {}): CausalLm {
  const c = ckpt.config
  const p = new Map<string, tf.Tensor>()
  const copiesOnUpload = tf.getBackend() === 'wasm'
  const trainable = options.trainable === true
  const keep = (t: tf.Tensor): tf.Tensor => {
    if (!trainable) return t
    const v = tf.variable(t, true)
    t.dispose()
    return v
  }
  const product = trainable ? trainableLinear : frozenLinear
  /** Rows `ids` of an embedding table [entries, hidden]: [...ids.shape, hidden]. */
  const lookup = trainable ? trainableLookup : (table: tf.Tensor, ids: tf.Tensor): tf.Tensor => tf.gather(table, ids)
  const linear = (x: tf.Tensor, w: tf.Tensor, bias?: tf.Tensor): tf.Tensor => {
    const y = product(x, w)
    return bias === undefined ? y : tf.add(y, bias)
  }
  // consumed, the arrays are let go last-made first: a heap returns freed memory from its top at once (glibc's
  // does) and memory freed below live arrays only once they go too (the lm bench's load peaked at 1,102 MiB RSS in
  // the checkpoint's order, 800 MiB reversed)
  const names = [...ckpt.tensors.keys()]
  if (options.consume === true) names.reverse()
  try {
    for (const name of names) {
      const t = ckpt.tensors.get(name)!
      if (keptTransposed(c, name)) {
        const values = transpose2d(t.values, t.shape[0], t.shape[1])
        p.set(name, keep(tf.tensor2d(values, [t.shape[1], t.shape[0]])))
        if (copiesOnUpload) release(values)
      } else {
        p.set(name, keep(tf.tensor(t.values, t.shape, 'float32')))
      }
      if (options.consume === true) {
        ckpt.tensors.delete(name)
        if (copiesOnUpload) release(t.values)
      }
    }
  } catch (err) {
    tf.dispose([...p.values()])
    throw err
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

  /** x [rows, in] through the projection whose weight is `name` (kept [out, in]), with its adapter in `ad` if any. */
  const proj = (x: tf.Tensor, name: string, ad: LmAdapters | undefined, bias?: tf.Tensor): tf.Tensor => {
    const y = linear(x, get(name), bias)
    const a = ad?.get(name)
    return a === undefined ? y : tf.add(y, tf.mul(tf.matMul(tf.matMul(x as tf.Tensor2D, a.a), a.b), a.scale))
  }
  const h = c.hidden
  /** The weight names of block i's projections (those an adapter can sit on). */
  const projections = (i: number): string[] => c.family === 'gpt2'
    ? ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((m) => `h.${i}.${m}.weight`)
    : [...['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((m) => `model.layers.${i}.self_attn.${m}.weight`), ...['gate_proj', 'up_proj', 'down_proj'].map((m) => `model.layers.${i}.mlp.${m}.weight`)]

  /** Token (and GPT-2's position) embeddings of ids [b, t]: [b, t, hidden]. */
  const embedIds = (ids: tf.Tensor2D): tf.Tensor => {
    const t = ids.shape[1]
    // positions 0 … t − 1 by a gather: wasm's Slice reads the whole input back into JS first
    if (c.family === 'gpt2') return tf.add(lookup(get('wte.weight'), ids), lookup(get('wpe.weight'), tf.tensor1d(Int32Array.from({ length: t }, (_, i) => i), 'int32')))
    return lookup(get('model.embed_tokens.weight'), ids)
  }

  /** Block i (a pre-norm transformer layer) on x [b, t, hidden]: [b, t, hidden]. */
  const block = (i: number, x: tf.Tensor, ad: LmAdapters | undefined): tf.Tensor => {
    const [b, t] = x.shape
    if (c.family === 'gpt2') {
      const n = `h.${i}.`
      const a = tf.reshape(layerNorm(x, get(`${n}ln_1.weight`), get(`${n}ln_1.bias`), c.normEps), [b * t, h])
      const qkv = proj(a, `${n}attn.c_attn.weight`, ad, get(`${n}attn.c_attn.bias`))
      const [q, k, v] = tf.split(qkv, 3, 1).map((y) => splitHeads(y, b, t, c.heads, c.headDim))
      const o = tf.reshape(mergeHeads(causalAttention(q, k, v, maskOf(t)), b, t), [b * t, h])
      const x1 = tf.add(x, tf.reshape(proj(o, `${n}attn.c_proj.weight`, ad, get(`${n}attn.c_proj.bias`)), [b, t, h]))
      const m = tf.reshape(layerNorm(x1, get(`${n}ln_2.weight`), get(`${n}ln_2.bias`), c.normEps), [b * t, h])
      const f = geluNew(proj(m, `${n}mlp.c_fc.weight`, ad, get(`${n}mlp.c_fc.bias`)))
      return tf.add(x1, tf.reshape(proj(f, `${n}mlp.c_proj.weight`, ad, get(`${n}mlp.c_proj.bias`)), [b, t, h]))
    }
    const n = `model.layers.${i}.`
    const a = tf.reshape(rmsNorm(x, get(`${n}input_layernorm.weight`), c.normEps), [b * t, h])
    const bias = (w: string): tf.Tensor | undefined => c.qkvBias ? get(`${n}self_attn.${w}.bias`) : undefined
    const q = applyRope(splitHeads(proj(a, `${n}self_attn.q_proj.weight`, ad, bias('q_proj')), b, t, c.heads, c.headDim), t)
    const k = applyRope(splitHeads(proj(a, `${n}self_attn.k_proj.weight`, ad, bias('k_proj')), b, t, c.kvHeads, c.headDim), t)
    const v = splitHeads(proj(a, `${n}self_attn.v_proj.weight`, ad, bias('v_proj')), b, t, c.kvHeads, c.headDim)
    const o = tf.reshape(mergeHeads(causalAttention(q, k, v, maskOf(t)), b, t), [b * t, c.heads * c.headDim])
    const x1 = tf.add(x, tf.reshape(proj(o, `${n}self_attn.o_proj.weight`, ad), [b, t, h]))
    const m = tf.reshape(rmsNorm(x1, get(`${n}post_attention_layernorm.weight`), c.normEps), [b * t, h])
    const gate = proj(m, `${n}mlp.gate_proj.weight`, ad)
    // SwiGLU: silu(gate) · up, silu(z) = z·σ(z)
    const swiglu = tf.mul(tf.mul(gate, tf.sigmoid(gate)), proj(m, `${n}mlp.up_proj.weight`, ad))
    return tf.add(x1, tf.reshape(proj(swiglu, `${n}mlp.down_proj.weight`, ad), [b, t, h]))
  }

  /** The final norm of x [b, t, hidden], as rows [b·t, hidden]. */
  const finalNorm = (x: tf.Tensor): tf.Tensor2D => {
    const [b, t] = x.shape
    const y = c.family === 'gpt2' ? layerNorm(x, get('ln_f.weight'), get('ln_f.bias'), c.normEps) : rmsNorm(x, get('model.norm.weight'), c.normEps)
    return tf.reshape(y, [b * t, h])
  }
  const headWeight = (): tf.Tensor => get(c.family === 'gpt2' ? 'wte.weight' : c.tied ? 'model.embed_tokens.weight' : 'lm_head.weight')

  /** The blocks' inputs (embedding, block 0's output, …) and the last block's output, each in its own scope. */
  const blocks = (ids: tf.Tensor2D, ad: LmAdapters | undefined, keepInputs: boolean): { inputs: tf.Tensor[], out: tf.Tensor } => {
    const inputs: tf.Tensor[] = []
    let x = tf.tidy(() => embedIds(ids))
    for (let i = 0; i < c.layers; i++) {
      const xi = x
      x = tf.tidy(() => block(i, xi, ad))
      if (keepInputs) inputs.push(xi)
      else xi.dispose()
    }
    return { inputs, out: x }
  }

  const checkWindows = (ids: tf.Tensor2D): void => {
    const t = ids.shape[1]
    if (t < 1 || t > c.maxPositions) throw new InvalidTokensError(`a sequence of ${t} tokens: ${ckpt.origin} takes 1 to ${c.maxPositions} (its maximum positions)`)
  }

  /** Targets of the rows of windows `ids` [n, t] (flat): row k·t + j predicts ids[k][j + 1] (weight 1), a window's last row nothing (weight 0). */
  const targetsOf = (ids: Int32Array, n: number, t: number): { target: Int32Array, weight: Float32Array } => {
    const target = new Int32Array(n * t)
    const weight = new Float32Array(n * t)
    for (let r = 0; r < n * t; r++) if (r % t < t - 1) { target[r] = ids[r + 1]; weight[r] = 1 }
    return { target, weight }
  }

  /** Σ weight·(−log softmax(normed·Eᵀ)[target]) over the rows of `normed` [rows, hidden], a block of rows at a time. */
  const headNll = (normed: tf.Tensor2D, target: Int32Array, weight: Float32Array): number => {
    const e = headWeight()
    const v = c.vocabSize
    const rows = normed.shape[0]
    const step = Math.max(1, Math.floor(LOSS_BLOCK_BYTES / (4 * v)))
    let sum = 0
    for (let r0 = 0; r0 < rows; r0 += step) {
      const r1 = Math.min(rows, r0 + step)
      sum += tf.tidy(() => {
        const z = product(tf.slice(normed, [r0, 0], [r1 - r0, h]), e)
        // −log softmax(z)[target] = logsumexp(z) − z[target], read at row·vocab + target (no [rows, vocab] one-hot)
        const at = tf.tensor1d(Int32Array.from({ length: r1 - r0 }, (_, k) => k * v + target[r0 + k]), 'int32')
        const nll = tf.sub(tf.reshape(tf.logSumExp(z, 1), [-1]), tf.gather(tf.reshape(z, [-1]), at))
        return tf.sum(tf.mul(nll, tf.tensor1d(weight.subarray(r0, r1)))).dataSync()[0]
      })
    }
    return sum
  }

  /**
   * `headNll` and d(scale·headNll)/d normed [rows, hidden], a block of vocabulary entries at a time with a running
   * maximum and sum of the softmax (as Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"):
   * d/d normed_r = scale·weight_r·(Σ_v softmax_rv·E_v − E_target), so no [rows, vocab] tensor is ever made, and each
   * block of E is copied for its products (and packed, on wasm) and let go.
   */
  const headNllGrad = (normed: tf.Tensor2D, target: Int32Array, weight: Float32Array, scale: number): { sum: number, dNormed: tf.Tensor2D } => {
    const e = headWeight()
    const v = c.vocabSize
    const rows = normed.shape[0]
    const step = Math.max(1, Math.floor(LOSS_BLOCK_BYTES / (4 * Math.max(rows, h))))
    let state: { max: tf.Tensor, sum: tf.Tensor, acc: tf.Tensor } | undefined
    const nT = tf.transpose(normed)
    try {
      for (let v0 = 0; v0 < v; v0 += step) {
        const prev = state
        state = tf.tidy(() => {
          // rows v0 … by a gather: wasm's Slice reads the whole input back into JS first
          const ev = tf.gather(e, tf.tensor1d(Int32Array.from({ length: Math.min(step, v - v0) }, (_, k) => v0 + k), 'int32'))
          const z = tf.transpose(tf.matMul(ev as tf.Tensor2D, nT as tf.Tensor2D))
          const max = prev === undefined ? tf.max(z, 1, true) : tf.maximum(prev.max, tf.max(z, 1, true))
          const p = tf.exp(tf.sub(z, max))
          const part = { sum: tf.sum(p, 1, true), acc: tf.matMul(p as tf.Tensor2D, ev as tf.Tensor2D) }
          if (prev === undefined) return { max, ...part }
          const rescale = tf.exp(tf.sub(prev.max, max))
          return { max, sum: tf.add(tf.mul(prev.sum, rescale), part.sum), acc: tf.add(tf.mul(prev.acc, rescale), part.acc) }
        })
        if (prev !== undefined) tf.dispose([prev.max, prev.sum, prev.acc])
      }
      const s = state!
      return tf.tidy(() => {
        const et = tf.gather(e, tf.tensor1d(target, 'int32'))
        const w = tf.tensor2d(weight, [rows, 1])
        const lse = tf.add(s.max, tf.log(s.sum))
        const nll = tf.sum(tf.mul(tf.sub(lse, tf.sum(tf.mul(normed, et), 1, true)), w)).dataSync()[0]
        return { sum: nll, dNormed: tf.mul(tf.sub(tf.div(s.acc, s.sum), et), tf.mul(w, scale)) as tf.Tensor2D }
      })
    } finally {
      nT.dispose()
      if (state !== undefined) tf.dispose([state.max, state.sum, state.acc])
    }
  }

  const windowsOf = (ids: tf.Tensor2D): { n: number, t: number, flat: Int32Array } => {
    checkWindows(ids)
    const [n, t] = ids.shape
    if (t < 2) throw new InvalidTokensError(`windows of ${t} token(s): at least two are needed to predict one`)
    return { n, t, flat: Int32Array.from(ids.dataSync()) }
  }

  return {
    config: c,
    origin: ckpt.origin,
    logits (ids, withAdapters) {
      checkWindows(ids)
      const [b, t] = ids.shape
      return tf.tidy(() => {
        const { out } = blocks(ids, withAdapters, false)
        return tf.reshape(linear(finalNorm(out), headWeight()), [b, t, c.vocabSize])
      })
    },
    nextTokenLoss (ids, withAdapters) {
      const { n, t, flat } = windowsOf(ids)
      const { target, weight } = targetsOf(flat, n, t)
      const { out } = blocks(ids, withAdapters, false)
      const normed = tf.tidy(() => finalNorm(out))
      out.dispose()
      try {
        return headNll(normed, target, weight) / (n * (t - 1))
      } finally {
        normed.dispose()
      }
    },
    adapterGradients (ids, withAdapters) {
      const { n, t, flat } = windowsOf(ids)
      const { target, weight } = targetsOf(flat, n, t)
      const predicted = n * (t - 1)
      const adapted = Array.from({ length: c.layers }, (_, i) => projections(i).filter((w) => withAdapters.has(w)))
      const lowest = adapted.findIndex((a) => a.length > 0)
      if (lowest < 0) throw new InvalidAdapterError(`no adapter on a projection of ${ckpt.origin}: nothing to take a gradient with respect to`)
      const grads = new Map<string, tf.Tensor2D>()
      const { inputs, out } = blocks(ids, withAdapters, true)
      let dy: tf.Tensor | undefined
      try {
        // the head: d loss / d normed by hand, then through the final norm
        let loss = 0
        dy = tf.tidy(() => {
          const normed = finalNorm(out)
          const r = headNllGrad(normed, target, weight, 1 / predicted)
          loss = r.sum / predicted
          return tf.grads((x: tf.Tensor) => finalNorm(x))([out], r.dNormed)[0]
        })
        // the blocks, last to first: each computed again on the tape, its gradient taken, its input let go
        for (let i = c.layers - 1; i >= lowest; i--) {
          const x = inputs[i]
          const bs = adapted[i].map((w) => withAdapters.get(w)!.b)
          const wrt = i > lowest ? [x, ...bs] : bs
          const dOut: tf.Tensor = dy!
          const g: tf.Tensor[] = tf.tidy(() => tf.grads(() => block(i, x, withAdapters))(wrt, dOut))
          dOut.dispose()
          dy = i > lowest ? g.shift() : undefined
          adapted[i].forEach((w, k) => grads.set(w, g[k] as tf.Tensor2D))
        }
        return { loss, grads }
      } catch (err) {
        tf.dispose([...grads.values()])
        throw err
      } finally {
        tf.dispose([...inputs, out])
        dy?.dispose()
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
