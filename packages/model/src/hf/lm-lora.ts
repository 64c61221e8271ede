/**
 * LoRA adapters on a causal LM's projections (Hu et al. 2021), federated as FFA-LoRA (Sun et al. 2024): each
 * adapted projection y = x·Wᵀ gets + (α/r)·(x·A)·B with A `[in, r]` frozen at `loraFactorA(seed, module, in, r)` —
 * the same on every machine — and only B `[r, out]` trained and shipped, so FedAvg of B is the exact average of
 * the adapted weights (doc/model.md, "Adapters (LoRA)"). Targets are module names as PEFT's `target_modules`:
 * `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj` (Llama family) or `c_attn`, `c_proj`,
 * `c_fc` (GPT-2; `c_proj` adapts both the attention's and the MLP's). The base stays frozen; a frozen embedding
 * needs no gradient kernel (no UnsortedSegmentSum), so training runs on wasm too.
 */
import { loraFactorA, loraScale, mergeLora } from '../adapters/lora.js'
import { createRng } from '../data/random.js'
import { InvalidAdapterError, InvalidTokensError } from '../errors.js'
import { tf } from '../tf.js'
import type { Weights, WeightSpec } from '../weights.js'
import type { HfCheckpoint } from './checkpoint.js'
import type { CausalLmConfig } from './config.js'
import { transpose2d, type CausalLm, type LmAdapters } from './causal-lm.js'

/** Which projections to adapt, and how. */
export interface LmLoraSpec {
  /** Rank r, 1 … 256. */
  rank: number
  /** α: the adapter's output is scaled by α / r. */
  alpha: number
  /** Module names (PEFT `target_modules`), e.g. `['q_proj', 'v_proj']`. */
  targets: string[]
  /** Seed of the frozen factors A. */
  seed: number
}

/** One adapted projection. */
interface Site { weight: string, module: string, inDim: number, outDim: number, a: Float32Array }

/** Adapters planned on one model: their trained tensors' specs (`<module>.lora_B` `[r, out]`) and frozen factors. */
export interface LmLora {
  readonly spec: LmLoraSpec
  readonly scale: number
  /** The trained weights, one per adapted projection in the model's order: `<module>.lora_B` `[rank, out]`. */
  readonly specs: readonly WeightSpec[]
  /** Zeros: a fresh adapter leaves the base unchanged (Hu et al. 2021, §4.1). */
  initWeights (): Weights
  /** The adapters as tensors for `CausalLm.logits` (A kept here until `dispose`; B from `b`, in `specs` order). */
  adapters (b: readonly tf.Tensor[]): LmAdapters
  dispose (): void
  /** @internal */
  readonly sites: readonly Site[]
}

/** The projections LoRA can adapt, by family, as PEFT's `target_modules` names them. */
export const LORA_MODULES: Readonly<Record<CausalLmConfig['family'], readonly string[]>> = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  gpt2: ['c_attn', 'c_proj', 'c_fc']
}

/**
 * The module paths (canonical names without `.weight`, e.g. `model.layers.0.self_attn.q_proj`, `h.0.mlp.c_proj`)
 * of every projection whose last name is in `targets`, in the model's order.
 */
export function adaptedModules (c: CausalLmConfig, targets: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < c.layers; i++) {
    const mods = c.family === 'gpt2'
      ? [`h.${i}.attn.c_attn`, `h.${i}.attn.c_proj`, `h.${i}.mlp.c_fc`, `h.${i}.mlp.c_proj`]
      : [...['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((m) => `model.layers.${i}.self_attn.${m}`), ...['gate_proj', 'up_proj', 'down_proj'].map((m) => `model.layers.${i}.mlp.${m}`)]
    out.push(...mods.filter((m) => targets.includes(m.slice(m.lastIndexOf('.') + 1))))
  }
  return out
}

/**
 * Plans adapters on `lm`'s projections named by `spec.targets`.
 * @throws InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) for a rank outside 1 … 256, α not finite and > 0, no
 *   target, or a target that is not a projection of the family (the message lists them).
 */
export function createLmLora (lm: CausalLm, spec: LmLoraSpec): LmLora {
  if (!Number.isSafeInteger(spec.rank) || spec.rank < 1 || spec.rank > 256) throw new InvalidAdapterError(`LoRA rank ${spec.rank}: expected an integer from 1 to 256`)
  if (!Number.isFinite(spec.alpha) || spec.alpha <= 0) throw new InvalidAdapterError(`LoRA alpha ${spec.alpha}: expected a finite number > 0`)
  const c = lm.config
  const known = LORA_MODULES[c.family]
  if (spec.targets.length === 0) throw new InvalidAdapterError(`no LoRA targets: name modules of ${c.modelType} (${known.join(', ')})`)
  for (const t of spec.targets) if (!known.includes(t)) throw new InvalidAdapterError(`LoRA target ${t} is not a projection of ${c.modelType}; its projections are ${known.join(', ')}`)
  const sites: Site[] = adaptedModules(c, spec.targets).map((module) => {
    const weight = `${module}.weight`
    const [outDim, inDim] = lm.parameter(weight).shape
    return { weight, module, inDim, outDim, a: loraFactorA(spec.seed, module, inDim, spec.rank) }
  })
  const scale = loraScale(spec.alpha, spec.rank)
  const specs = sites.map((s) => ({ name: `${s.module}.lora_B`, shape: [spec.rank, s.outDim], dtype: 'float32' as const }))
  let aTensors: tf.Tensor2D[] | undefined
  return {
    spec: { ...spec, targets: [...spec.targets] },
    scale,
    specs,
    sites,
    initWeights: () => ({ specs: specs.map((s) => ({ ...s, shape: [...s.shape] })), values: specs.map((s) => new Float32Array(s.shape[0] * s.shape[1])) }),
    adapters (b) {
      aTensors ??= sites.map((s) => tf.keep(tf.tensor2d(s.a, [s.inDim, spec.rank])))
      return new Map(sites.map((s, i) => [s.weight, { a: aTensors![i], b: b[i] as tf.Tensor2D, scale }]))
    },
    dispose () {
      if (aTensors !== undefined) tf.dispose(aTensors)
      aTensors = undefined
    }
  }
}

/** Options of `trainLmLora`. */
export interface TrainLmLoraOptions {
  steps: number
  /** Tokens per training window (2 … max positions). */
  window: number
  /** Windows per step. */
  batch: number
  /** Adam learning rate (Kingma & Ba 2015; β₁ 0.9, β₂ 0.999, ε 1e-8, tfjs' defaults). */
  learningRate: number
  /** Seed of the window positions. */
  seed?: number
}

/** What `trainLmLora` returns. */
export interface TrainLmLoraResult {
  weights: Weights
  /** Mean next-token cross-entropy over the first batch's windows, before and after, nats per token. */
  lossBefore: number
  lossAfter: number
  /** Optimizer steps' wall time, ms, and tokens processed per second in them. */
  trainMs: number
  tokensPerSecond: number
}

/**
 * Trains the adapters' B on a token stream: each step draws `batch` windows of `window` consecutive tokens at
 * seeded random offsets and takes one Adam step on their mean next-token cross-entropy; the base is frozen.
 * @throws InvalidTokensError for a stream shorter than one window or ids outside the vocabulary, options out of range.
 */
export function trainLmLora (lm: CausalLm, lora: LmLora, start: Weights, tokens: ArrayLike<number>, options: TrainLmLoraOptions): TrainLmLoraResult {
  const c = lm.config
  const { steps, window, batch, learningRate } = options
  if (!Number.isSafeInteger(window) || window < 2 || window > c.maxPositions) throw new InvalidTokensError(`window ${window}: expected 2 to ${c.maxPositions}`)
  if (tokens.length < window) throw new InvalidTokensError(`${tokens.length} tokens: training needs at least one window of ${window}`)
  if (!Number.isSafeInteger(steps) || steps < 1 || !Number.isSafeInteger(batch) || batch < 1 || !(learningRate > 0)) throw new InvalidTokensError('steps and batch must be positive integers, the learning rate > 0')
  for (let i = 0; i < tokens.length; i++) if (!Number.isInteger(tokens[i]) || tokens[i] < 0 || tokens[i] >= c.vocabSize) throw new InvalidTokensError(`token id ${tokens[i]} at position ${i} is outside the vocabulary (0 to ${c.vocabSize - 1})`)
  const rng = createRng(options.seed ?? 0)
  const draw = (): tf.Tensor2D => {
    const out = new Int32Array(batch * window)
    for (let k = 0; k < batch; k++) {
      const at = Math.floor(rng.float() * (tokens.length - window + 1))
      for (let j = 0; j < window; j++) out[k * window + j] = tokens[at + j]
    }
    return tf.tensor2d(out, [batch, window], 'int32')
  }
  const vars = start.values.map((v, i) => tf.variable(tf.tensor(v, start.specs[i].shape), true))
  const optimizer = tf.train.adam(learningRate)
  const first = draw()
  try {
    const adapters = lora.adapters(vars)
    const lossBefore = lm.nextTokenLoss(first, adapters)
    const t0 = performance.now()
    for (let s = 0; s < steps; s++) {
      const ids = s === 0 ? first : draw()
      try {
        const { grads } = lm.adapterGradients(ids, adapters)
        optimizer.applyGradients(lora.sites.map((site, i) => ({ name: vars[i].name, tensor: grads.get(site.weight)! })))
        tf.dispose([...grads.values()])
      } finally {
        if (ids !== first) ids.dispose()
      }
    }
    const trainMs = performance.now() - t0
    const lossAfter = lm.nextTokenLoss(first, adapters)
    const weights: Weights = { specs: lora.specs.map((s) => ({ ...s, shape: [...s.shape] })), values: vars.map((v) => Float32Array.from(v.dataSync())) }
    return { weights, lossBefore, lossAfter, trainMs, tokensPerSecond: (steps * batch * window) / (trainMs / 1000) }
  } finally {
    first.dispose()
    optimizer.dispose()
    tf.dispose(vars)
  }
}

/**
 * The checkpoint with the adapters folded into the base's weights: for each adapted projection W + (α/r)·(A·B)ᵀ
 * in nn.Linear layout [out, in] (GPT-2's Conv1D [in, out]: W + (α/r)·A·B), each element summed in float64 and
 * rounded once (`mergeLora`), so the merged model computes what the adapted one does. A merged tensor's dtype
 * becomes F32 (its values are float32 ones; `writeHfCheckpoint` stores it so, unrounded).
 */
export function mergeLmLora (ckpt: HfCheckpoint, lora: LmLora, b: Weights): HfCheckpoint {
  return mergeAdapterFactors(ckpt, lora.sites.map((s, i) => ({ weight: s.weight, inDim: s.inDim, outDim: s.outDim, a: s.a, b: b.values[i] })), lora.spec.rank, lora.scale)
}

/** LoRA factors of one projection: A `[in, r]` and B `[r, out]`, row-major float32. */
export interface AdapterFactors { weight: string, inDim: number, outDim: number, a: Float32Array, b: Float32Array }

/** `mergeLmLora` for factors of any origin (e.g. a PEFT adapter, `readPeftAdapter`). */
export function mergeAdapterFactors (ckpt: HfCheckpoint, factors: readonly AdapterFactors[], rank: number, scale: number): HfCheckpoint {
  const tensors = new Map(ckpt.tensors)
  const conv1d = ckpt.config.family === 'gpt2'
  for (const f of factors) {
    const t = ckpt.tensors.get(f.weight)!
    const kernel = conv1d ? t.values : transpose2d(t.values, f.outDim, f.inDim)
    const merged = mergeLora(kernel, [f.inDim, f.outDim], f.a, f.b, rank, scale)
    // the merged values are float32 ones: stored as F32, whatever the base's dtype (nothing is rounded)
    tensors.set(f.weight, { ...t, dtype: 'F32', values: conv1d ? merged : transpose2d(merged, f.inDim, f.outDim) })
  }
  return { ...ckpt, tensors, origin: `${ckpt.origin} with LoRA merged` }
}
