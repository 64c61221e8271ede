/**
 * A Hugging Face checkpoint's `config.json`, for the causal language models this package computes: GPT-2
 * (`GPT2LMHeadModel`: gpt2, distilgpt2) and the Llama family (`LlamaForCausalLM`: SmolLM, TinyLlama, Llama 3.x;
 * `Qwen2ForCausalLM`). Checked with zod, then normalised into one `CausalLmConfig` (field names as in the
 * transformers library's `GPT2Config`, `LlamaConfig`, `Qwen2Config`).
 */
import { z } from 'zod'
import { HfCheckpointError } from '../errors.js'

/** The architectures computed, by `model_type`. */
export const HF_MODEL_TYPES = ['gpt2', 'llama', 'qwen2'] as const
export type HfModelType = typeof HF_MODEL_TYPES[number]

/** Llama 3's frequency rule (`rope_scaling.rope_type: 'llama3'`, transformers `_compute_llama3_parameters`). */
export interface Llama3RopeScaling {
  factor: number
  lowFreqFactor: number
  highFreqFactor: number
  originalMaxPositions: number
}

/** One description of a causal LM, whichever family it comes from. */
export interface CausalLmConfig {
  modelType: HfModelType
  /** `gpt2`: learned positions, LayerNorm, GELU (tanh) MLP; `llama`: rotary, RMSNorm, SwiGLU MLP. */
  family: 'gpt2' | 'llama'
  vocabSize: number
  hidden: number
  layers: number
  heads: number
  /** Key/value heads (grouped-query attention); `heads` for GPT-2. */
  kvHeads: number
  headDim: number
  /** MLP width: GPT-2's `n_inner` (default 4 × hidden), Llama's `intermediate_size`. */
  intermediate: number
  /** LayerNorm / RMSNorm epsilon. */
  normEps: number
  /** Longest sequence: GPT-2's `n_positions` (its position table), Llama's `max_position_embeddings`. */
  maxPositions: number
  /** Whether the output projection is the token embedding (`tie_word_embeddings`; always for GPT-2). */
  tied: boolean
  /** Biases on the q, k, v projections (Qwen2; GPT-2's fused `c_attn` always has one). */
  qkvBias: boolean
  /** Rotary base θ (Llama family). */
  ropeTheta: number
  ropeScaling?: Llama3RopeScaling
}

/** Largest dimensions accepted (a bound on what a config can make us allocate, far above published models'). */
const MAX_DIM = 1 << 20
const MAX_LAYERS = 1024
const dim = z.number().int().min(1).max(MAX_DIM)

const gpt2 = z.object({
  model_type: z.literal('gpt2'),
  vocab_size: dim,
  n_positions: z.number().int().min(2).max(MAX_DIM),
  n_embd: dim,
  n_layer: z.number().int().min(1).max(MAX_LAYERS),
  n_head: dim,
  n_inner: dim.nullish(),
  layer_norm_epsilon: z.number().positive().max(1).default(1e-5),
  activation_function: z.string().default('gelu_new'),
  tie_word_embeddings: z.boolean().default(true),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  reorder_and_upcast_attn: z.boolean().default(false)
})

const ropeScaling = z.object({
  rope_type: z.string().optional(),
  type: z.string().optional(),
  factor: z.number().positive().optional(),
  low_freq_factor: z.number().positive().optional(),
  high_freq_factor: z.number().positive().optional(),
  original_max_position_embeddings: dim.optional()
}).nullish()

const llama = z.object({
  model_type: z.enum(['llama', 'qwen2']),
  vocab_size: dim,
  hidden_size: dim,
  intermediate_size: dim,
  num_hidden_layers: z.number().int().min(1).max(MAX_LAYERS),
  num_attention_heads: dim,
  num_key_value_heads: dim.nullish(),
  head_dim: dim.nullish(),
  hidden_act: z.string().default('silu'),
  max_position_embeddings: z.number().int().min(2).max(MAX_DIM).default(2048),
  rms_norm_eps: z.number().positive().max(1).default(1e-6),
  rope_theta: z.number().positive().default(10_000),
  rope_scaling: ropeScaling,
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  use_sliding_window: z.boolean().default(false)
})

const unsupported = (what: string, origin: string): HfCheckpointError =>
  new HfCheckpointError('ERR_MODEL_HF_UNSUPPORTED', `${origin}: ${what}; supported: model_type ${HF_MODEL_TYPES.join(', ')} (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM) as documented in doc/model.md, "Language models"`)

function invalid (err: z.ZodError, origin: string): HfCheckpointError {
  const issue = err.issues[0]
  return new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: config.json field ${issue.path.join('.') || '(root)'} is invalid: ${issue.message}. Use the config.json the checkpoint was published with`)
}

/**
 * Checks a parsed `config.json` and normalises it.
 * @param origin where it came from, for messages
 * @throws HfCheckpointError ERR_MODEL_HF_UNSUPPORTED (another `model_type`, an activation, rope scaling or attention
 *   variant this package does not compute), ERR_MODEL_HF_CONFIG_INVALID (a missing or malformed field, heads that
 *   do not divide the width).
 */
export function parseHfConfig (json: unknown, origin: string): CausalLmConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: config.json is ${Array.isArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`}, not a JSON object of the model's settings`)
  const type = (json as { model_type?: unknown }).model_type
  if (typeof type !== 'string' || !(HF_MODEL_TYPES as readonly string[]).includes(type)) throw unsupported(`config.json has model_type ${JSON.stringify(type)}`, origin)
  if (type === 'gpt2') {
    const r = gpt2.safeParse(json)
    if (!r.success) throw invalid(r.error, origin)
    const c = r.data
    if (c.activation_function !== 'gelu_new') throw unsupported(`activation_function ${c.activation_function} (only gelu_new, the tanh form)`, origin)
    if (!c.scale_attn_weights || c.scale_attn_by_inverse_layer_idx || c.reorder_and_upcast_attn) throw unsupported('a GPT-2 attention variant (scale_attn_weights false, scale_attn_by_inverse_layer_idx or reorder_and_upcast_attn)', origin)
    if (c.n_embd % c.n_head !== 0) throw new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: n_embd ${c.n_embd} is not a multiple of n_head ${c.n_head}`)
    return {
      modelType: 'gpt2', family: 'gpt2', vocabSize: c.vocab_size, hidden: c.n_embd, layers: c.n_layer, heads: c.n_head, kvHeads: c.n_head,
      headDim: c.n_embd / c.n_head, intermediate: c.n_inner ?? 4 * c.n_embd, normEps: c.layer_norm_epsilon, maxPositions: c.n_positions,
      tied: true, qkvBias: true, ropeTheta: 0
    }
  }
  const r = llama.safeParse(json)
  if (!r.success) throw invalid(r.error, origin)
  const c = r.data
  if (c.hidden_act !== 'silu') throw unsupported(`hidden_act ${c.hidden_act} (only silu)`, origin)
  if (c.attention_bias || c.mlp_bias) throw unsupported('attention_bias or mlp_bias', origin)
  if (c.use_sliding_window) throw unsupported('sliding-window attention (use_sliding_window)', origin)
  const kvHeads = c.num_key_value_heads ?? c.num_attention_heads
  if (c.num_attention_heads % kvHeads !== 0) throw new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${kvHeads}`)
  if (c.head_dim == null && c.hidden_size % c.num_attention_heads !== 0) throw new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}, and head_dim is not given`)
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads
  if (headDim % 2 !== 0) throw new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: head_dim ${headDim} is odd; rotary embeddings need an even one`)
  let scaling: Llama3RopeScaling | undefined
  if (c.rope_scaling != null) {
    const kind = c.rope_scaling.rope_type ?? c.rope_scaling.type ?? 'default'
    if (kind === 'llama3') {
      const s = c.rope_scaling
      if (s.factor === undefined || s.low_freq_factor === undefined || s.high_freq_factor === undefined || s.original_max_position_embeddings === undefined || s.high_freq_factor <= s.low_freq_factor) {
        throw new HfCheckpointError('ERR_MODEL_HF_CONFIG_INVALID', `${origin}: rope_scaling llama3 needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings`)
      }
      scaling = { factor: s.factor, lowFreqFactor: s.low_freq_factor, highFreqFactor: s.high_freq_factor, originalMaxPositions: s.original_max_position_embeddings }
    } else if (kind !== 'default') throw unsupported(`rope_scaling type ${kind} (only llama3, or none)`, origin)
  }
  return {
    modelType: c.model_type, family: 'llama', vocabSize: c.vocab_size, hidden: c.hidden_size, layers: c.num_hidden_layers, heads: c.num_attention_heads,
    kvHeads, headDim, intermediate: c.intermediate_size, normEps: c.rms_norm_eps, maxPositions: c.max_position_embeddings, tied: c.tie_word_embeddings,
    qkvBias: c.model_type === 'qwen2', ropeTheta: c.rope_theta, ropeScaling: scaling
  }
}
