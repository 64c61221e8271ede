/**
 * LoRA adapters in the format of Hugging Face PEFT (https://github.com/huggingface/peft, `save_pretrained` of a
 * `LoraConfig`): a folder with `adapter_config.json` (`peft_type: "LORA"`, `r`, `lora_alpha`, `target_modules`, …)
 * and `adapter_model.safetensors` holding, for each adapted module, `base_model.model.<module>.lora_A.weight`
 * `[r, in]` and `base_model.model.<module>.lora_B.weight` `[out, r]` — nn.Linear layouts, so the adapted module
 * computes base(x) + (lora_alpha / r)·(x·Aᵀ)·Bᵀ (Hu et al. 2021). `<module>` is the transformers module path:
 * `model.layers.0.self_attn.q_proj` (Llama family), `transformer.h.0.attn.c_attn` (GPT-2, whose Conv1D weights are
 * `[in, out]`: PEFT sets `fan_in_fan_out` for them, which changes only how it merges, not the factors' shapes).
 * Our factors are the transposes: A `[in, r]`, B `[r, out]` (lm-lora.ts).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { z } from 'zod'
import { HfCheckpointError, InvalidWeightsError } from '../errors.js'
import { encodeSafetensors } from '../export/safetensors-format.js'
import { tf } from '../tf.js'
import type { Weights } from '../weights.js'
import { MAX_HF_CONFIG_BYTES, MAX_HF_WEIGHTS_FILE_BYTES, expectedTensors, parseJson, readBounded, readHfSafetensors } from './checkpoint.js'
import { transpose2d, type LmAdapters } from './causal-lm.js'
import type { CausalLmConfig } from './config.js'
import { LORA_MODULES, adaptedModules, type AdapterFactors, type LmLora } from './lm-lora.js'
import { loraScale } from '../adapters/lora.js'

/** A LoRA adapter read from a PEFT folder, in our orientation. */
export interface PeftAdapter {
  rank: number
  alpha: number
  /** α / r. */
  scale: number
  /** `target_modules` as the config lists them. */
  targets: string[]
  /** One per adapted projection, in the model's order: A `[in, r]`, B `[r, out]`. */
  factors: AdapterFactors[]
  origin: string
}

/** Largest `lora_alpha` accepted (published adapters use 8 to 512; a scale α/r far above that overflows float32). */
export const MAX_LORA_ALPHA = 1e5

const configSchema = z.object({
  peft_type: z.string(),
  r: z.number().int().min(1).max(256),
  lora_alpha: z.number().positive().max(MAX_LORA_ALPHA),
  target_modules: z.union([z.array(z.string()).min(1), z.string()]),
  bias: z.string().default('none'),
  use_rslora: z.boolean().default(false),
  use_dora: z.boolean().default(false),
  fan_in_fan_out: z.boolean().default(false),
  layers_to_transform: z.unknown().optional(),
  rank_pattern: z.record(z.string(), z.unknown()).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown()).nullish(),
  modules_to_save: z.array(z.string()).nullish()
})

/**
 * `adapter_config.json` fields that do not change what a plain LoRA adapter computes at inference. Every other
 * field not checked above must be absent or hold its no-op value (null, false, an empty list or object): PEFT keeps
 * adding variants (layer_replication, exclude_modules, lora_bias, target_parameters, trainable_token_indices, …)
 * and one silently ignored would give wrong numbers.
 */
const INERT_FIELDS = new Set([
  'peft_type', 'r', 'lora_alpha', 'target_modules', 'bias', 'use_rslora', 'use_dora', 'fan_in_fan_out', 'layers_to_transform', 'rank_pattern',
  'alpha_pattern', 'modules_to_save', 'base_model_name_or_path', 'revision', 'task_type', 'inference_mode', 'init_lora_weights', 'lora_dropout',
  'auto_mapping', 'megatron_config', 'megatron_core', 'loftq_config', 'layers_pattern', 'peft_version', 'eva_config', 'corda_config', 'runtime_config'
])

const isNoOp = (v: unknown): boolean => v === null || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)

const invalid = (message: string, cause?: unknown): HfCheckpointError => new HfCheckpointError('ERR_MODEL_PEFT_ADAPTER_INVALID', message, { cause })
const unsupported = (origin: string, what: string): HfCheckpointError =>
  new HfCheckpointError('ERR_MODEL_PEFT_UNSUPPORTED', `${origin}: ${what} is not supported; adapters here are plain LoRA (peft_type LORA, bias none, no rslora, DoRA, rank or alpha patterns, modules_to_save) on the listed projections`)

/** The PEFT module path of a canonical module name (GPT-2's gain the `transformer.` prefix GPT2LMHeadModel has). */
const peftModule = (c: CausalLmConfig, module: string): string => `base_model.model.${c.family === 'gpt2' ? 'transformer.' : ''}${module}`

/**
 * Reads a PEFT LoRA adapter folder for a model of `config`: `adapter_config.json` (at most 1 MiB) and
 * `adapter_model.safetensors` (F32, F16 or BF16; at most 2 GiB), every adapted module of `target_modules` in every
 * layer with both factors of the config's rank and the projection's shape, and nothing else.
 * @throws HfCheckpointError ERR_MODEL_PEFT_UNSUPPORTED for another peft_type, a bias, rslora, DoRA, rank or alpha
 *   patterns, layers_to_transform, modules_to_save, a regular-expression target_modules, a target that is not a
 *   projection of the family, fan_in_fan_out on a Llama-family model, any other field with a value that is not a
 *   no-op (null, false, [], {}) unless it is one of the fields that change nothing at inference (`INERT_FIELDS`);
 *   ERR_MODEL_PEFT_ADAPTER_INVALID for a missing file, a bad config field (lora_alpha above `MAX_LORA_ALPHA`), a factor missing, of another shape, holding a non-finite value, or a tensor that is no factor
 *   of a target (naming it);
 *   ERR_MODEL_HF_CHECKPOINT_MALFORMED for a missing, oversized or non-JSON file; ModelFormatError
 *   ERR_MODEL_SAFETENSORS_MALFORMED for a bad safetensors file.
 */
export async function readPeftAdapter (dir: string, config: CausalLmConfig): Promise<PeftAdapter> {
  const configPath = join(dir, 'adapter_config.json')
  const json = parseJson(await readAdapterFile(configPath, MAX_HF_CONFIG_BYTES, 'adapter config'), configPath)
  const parsed = configSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw invalid(`${configPath}: ${issue.path.join('.') || 'the object'}: ${issue.message}; a PEFT LoRA config has peft_type, r (1 to 256), lora_alpha (> 0, at most ${MAX_LORA_ALPHA}) and target_modules`, parsed.error)
  }
  const a = parsed.data
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (!INERT_FIELDS.has(key) && !isNoOp(value)) throw unsupported(configPath, `${key} ${JSON.stringify(value).slice(0, 80)}`)
  }
  if (a.peft_type !== 'LORA') throw unsupported(configPath, `peft_type ${a.peft_type}`)
  if (a.bias !== 'none') throw unsupported(configPath, `bias ${a.bias}`)
  if (a.use_rslora) throw unsupported(configPath, 'use_rslora (scale α/√r)')
  if (a.use_dora) throw unsupported(configPath, 'use_dora (DoRA)')
  if (a.layers_to_transform != null) throw unsupported(configPath, 'layers_to_transform')
  if (Object.keys(a.rank_pattern ?? {}).length > 0 || Object.keys(a.alpha_pattern ?? {}).length > 0) throw unsupported(configPath, 'rank_pattern or alpha_pattern')
  if ((a.modules_to_save ?? []).length > 0) throw unsupported(configPath, `modules_to_save (${a.modules_to_save!.join(', ')})`)
  if (typeof a.target_modules === 'string') throw unsupported(configPath, `target_modules given as one string (${JSON.stringify(a.target_modules)}: a regular expression or a keyword such as all-linear) rather than a list of module names`)
  const targets = a.target_modules
  const known = LORA_MODULES[config.family]
  for (const t of targets) if (!known.includes(t)) throw unsupported(configPath, `target module ${t} of ${config.modelType} (its projections are ${known.join(', ')})`)
  if (a.fan_in_fan_out && config.family === 'llama') throw unsupported(configPath, `fan_in_fan_out on ${config.modelType}, whose projections are nn.Linear`)

  const weightsPath = join(dir, 'adapter_model.safetensors')
  await readAdapterFile(weightsPath, MAX_HF_WEIGHTS_FILE_BYTES, 'adapter weights', true)
  const { weights } = await readHfSafetensors(weightsPath, 'adapter weights (adapter_model.safetensors)')
  const stored = new Map(weights.specs.map((s, i) => [s.name, { shape: s.shape, values: weights.values[i] }]))
  const shapes = expectedTensors(config)
  const r = a.r
  const factors: AdapterFactors[] = adaptedModules(config, targets).map((module) => {
    const weight = `${module}.weight`
    const [d0, d1] = shapes.get(weight)!
    const [inDim, outDim] = config.family === 'gpt2' ? [d0, d1] : [d1, d0]
    const factor = (which: 'lora_A' | 'lora_B', want: number[]): Float32Array => {
      const name = `${peftModule(config, module)}.${which}.weight`
      const t = stored.get(name)
      if (t === undefined) throw invalid(`${weightsPath}: ${name} of shape [${want.join(', ')}] is missing; target_modules ${targets.join(', ')} adapt ${module}`)
      if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) throw invalid(`${weightsPath}: ${name} has shape [${t.shape.join(', ')}]; rank ${r} on ${module} (${inDim} → ${outDim}) needs [${want.join(', ')}]`)
      const bad = t.values.findIndex((x) => !Number.isFinite(x))
      if (bad >= 0) throw invalid(`${weightsPath}: ${name} holds ${t.values[bad]} at index ${bad}; LoRA factors must be finite`)
      stored.delete(name)
      return t.values
    }
    const aT = factor('lora_A', [r, inDim])
    const bT = factor('lora_B', [outDim, r])
    return { weight, inDim, outDim, a: transpose2d(aT, r, inDim), b: transpose2d(bT, outDim, r) }
  })
  const extra = [...stored.keys()]
  if (extra.length > 0) throw invalid(`${weightsPath}: ${extra[0]}${extra.length > 1 ? ` and ${extra.length - 1} more` : ''} is no LoRA factor of the target modules ${targets.join(', ')} of ${config.modelType} (${config.layers} layers)`)
  return { rank: r, alpha: a.lora_alpha, scale: loraScale(a.lora_alpha, r), targets: [...targets], factors, origin: dir }
}

/**
 * An adapter folder's file, with a hint for a folder that is not a PEFT adapter; `statOnly` checks it exists.
 * @throws HfCheckpointError ERR_MODEL_PEFT_ADAPTER_INVALID when it is missing or not a file; as `readBounded`.
 */
async function readAdapterFile (path: string, limit: number, what: string, statOnly = false): Promise<Buffer> {
  const info = await stat(path).catch(() => undefined)
  if (info?.isFile() !== true) {
    throw invalid(`${path} ${info === undefined ? 'does not exist' : 'is not a file'}: a PEFT LoRA adapter folder holds adapter_config.json and adapter_model.safetensors (the base model's folder goes before --adapter)`)
  }
  return statOnly ? Buffer.alloc(0) : await readBounded(path, limit, `${what} (${basename(path)})`)
}

/**
 * The adapter as tensors for `CausalLm.logits`, `evaluateCausalLm` and `generateCausalLm` (on the active
 * backend); `dispose` frees them.
 */
export function peftAdapterTensors (adapter: PeftAdapter): { adapters: LmAdapters, dispose: () => void } {
  const all: tf.Tensor[] = []
  const adapters = new Map(adapter.factors.map((f) => {
    const a = tf.tensor2d(f.a, [f.inDim, adapter.rank])
    const b = tf.tensor2d(f.b, [adapter.rank, f.outDim])
    all.push(a, b)
    return [f.weight, { a, b, scale: adapter.scale }]
  }))
  return { adapters, dispose: () => { tf.dispose(all) } }
}

/** Options of `writePeftAdapter`. */
export interface WritePeftAdapterOptions {
  /** `base_model_name_or_path`: the base's Hugging Face id or folder (default: the empty string). */
  baseModel?: string
}

/**
 * Writes trained adapters (`createLmLora`'s spec, B weights in `lora.specs` order) as a PEFT folder in `dir`
 * (created if missing; files of the same names replaced): `adapter_config.json` (LoRA, r, lora_alpha, target_modules,
 * `fan_in_fan_out` true for GPT-2, task_type CAUSAL_LM) and `adapter_model.safetensors` (F32 factors, transposed to
 * PEFT's `[r, in]` and `[out, r]`), which `PeftModel.from_pretrained` and `readPeftAdapter` read.
 * @returns the files written, with their sizes in bytes
 * @throws InvalidWeightsError when `b` does not match `lora.specs`; fs errors.
 */
export async function writePeftAdapter (lora: Pick<LmLora, 'spec' | 'sites'>, b: Weights, config: CausalLmConfig, dir: string, options: WritePeftAdapterOptions = {}): Promise<Array<{ file: string, bytes: number }>> {
  const r = lora.spec.rank
  if (b.values.length !== lora.sites.length) throw new InvalidWeightsError(`${b.values.length} adapter weights for ${lora.sites.length} adapted projections`)
  const specs: Weights['specs'] = []
  const values: Float32Array[] = []
  lora.sites.forEach((s, i) => {
    const m = peftModule(config, s.module)
    specs.push({ name: `${m}.lora_A.weight`, shape: [r, s.inDim], dtype: 'float32' }, { name: `${m}.lora_B.weight`, shape: [s.outDim, r], dtype: 'float32' })
    values.push(transpose2d(s.a, s.inDim, r), transpose2d(b.values[i], r, s.outDim))
  })
  const bytes = encodeSafetensors({ specs, values }, { format: 'pt' })
  const adapterConfig = JSON.stringify({
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: options.baseModel ?? '', r, lora_alpha: lora.spec.alpha,
    target_modules: [...lora.spec.targets], lora_dropout: 0, bias: 'none', fan_in_fan_out: config.family === 'gpt2', use_rslora: false,
    use_dora: false, modules_to_save: null, inference_mode: true
  }, null, 2) + '\n'
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'adapter_config.json'), adapterConfig)
  await writeFile(join(dir, 'adapter_model.safetensors'), bytes)
  return [{ file: 'adapter_config.json', bytes: Buffer.byteLength(adapterConfig) }, { file: 'adapter_model.safetensors', bytes: bytes.length }]
}
