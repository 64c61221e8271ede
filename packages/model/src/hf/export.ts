/**
 * Writing a causal LM back as a Hugging Face checkpoint folder: `config.json` and one `model.safetensors` with the
 * transformers library's tensor names, which `readHfCheckpoint` (and transformers' `from_pretrained`) read. Each
 * tensor is stored in the dtype its `HfTensor.dtype` records — a tensor read as F16 or BF16 and not changed is
 * written back bit for bit; one `mergeLmLora` changed is F32, so that the folder computes exactly what was merged.
 */
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HfCheckpointError } from '../errors.js'
import { encodeSafetensors } from '../export/safetensors-format.js'
import { MAX_HF_WEIGHTS_FILE_BYTES, type HfCheckpoint } from './checkpoint.js'
import type { CausalLmConfig } from './config.js'

/** The tokenizer and generation files `writeHfCheckpoint` copies from `tokenizerFrom` when they exist there. */
export const HF_TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json', 'vocab.json', 'merges.txt', 'tokenizer.model',
  'chat_template.jinja', 'chat_template.json', 'generation_config.json'
] as const

/**
 * A `config.json` object for `c`: the fields `parseHfConfig` reads (so that it gives `c` back) with transformers'
 * names and the architecture's class (`GPT2LMHeadModel`, `LlamaForCausalLM`, `Qwen2ForCausalLM`).
 */
export function hfConfigJson (c: CausalLmConfig): Record<string, unknown> {
  if (c.family === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: c.vocabSize, n_positions: c.maxPositions, n_ctx: c.maxPositions,
      n_embd: c.hidden, n_layer: c.layers, n_head: c.heads, n_inner: c.intermediate, layer_norm_epsilon: c.normEps,
      activation_function: 'gelu_new', tie_word_embeddings: true
    }
  }
  return {
    architectures: [c.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'], model_type: c.modelType, vocab_size: c.vocabSize,
    hidden_size: c.hidden, intermediate_size: c.intermediate, num_hidden_layers: c.layers, num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads, head_dim: c.headDim, max_position_embeddings: c.maxPositions, rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta, tie_word_embeddings: c.tied, hidden_act: 'silu',
    rope_scaling: c.ropeScaling === undefined
      ? null
      : {
          rope_type: 'llama3', factor: c.ropeScaling.factor, low_freq_factor: c.ropeScaling.lowFreqFactor,
          high_freq_factor: c.ropeScaling.highFreqFactor, original_max_position_embeddings: c.ropeScaling.originalMaxPositions
        }
  }
}

/** Options of `writeHfCheckpoint`. */
export interface WriteHfCheckpointOptions {
  /** A checkpoint folder whose tokenizer files (`HF_TOKENIZER_FILES`, those that exist) are copied along. */
  tokenizerFrom?: string
  /** String pairs stored in the safetensors header's `__metadata__` (`format: pt` is always set, as transformers expects). */
  metadata?: Record<string, string>
}

/**
 * Writes `ckpt` into the folder `dir` (created if missing): `config.json` (the one read, `ckpt.configJson`, else
 * `hfConfigJson`), `model.safetensors` (every parameter by its canonical name in the checkpoint's order, each in its
 * recorded dtype; GPT-2 without the `transformer.` prefix, as gpt2 itself is published), and the tokenizer files of
 * `options.tokenizerFrom`. Each file is written under a temporary name and renamed into place, so a failure (a full
 * disk) leaves no partial file; files of the same names are replaced — the caller decides about overwriting.
 * @returns the files written, with their sizes in bytes
 * @throws HfCheckpointError ERR_MODEL_HF_EXPORT_FAILED when the weights would exceed `MAX_HF_WEIGHTS_FILE_BYTES`,
 *   when `dir` holds another checkpoint's shards or shard index (a reader would take those instead), or when a file
 *   cannot be written (the cause attached); InvalidWeightsError when a tensor's values are not all of its dtype.
 */
export async function writeHfCheckpoint (ckpt: HfCheckpoint, dir: string, options: WriteHfCheckpointOptions = {}): Promise<Array<{ file: string, bytes: number }>> {
  const names = [...ckpt.tensors.keys()]
  const tensors = names.map((n) => ckpt.tensors.get(n)!)
  const total = tensors.reduce((a, t) => a + t.values.length * (t.dtype === 'F32' ? 4 : 2), 0)
  if (total > MAX_HF_WEIGHTS_FILE_BYTES) {
    throw failed(`${ckpt.origin}: ${total} bytes of weights do not fit one model.safetensors (at most ${MAX_HF_WEIGHTS_FILE_BYTES} bytes, what readHfCheckpoint reads); sharded export is not supported`)
  }
  const stale = (await readdir(dir).catch(() => [] as string[])).filter((f) => f === 'model.safetensors.index.json' || (f.endsWith('.safetensors') && f !== 'model.safetensors'))
  if (stale.length > 0) throw failed(`${dir} holds ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''} of another checkpoint, which a reader would load instead of model.safetensors: write into an empty folder`)
  const bytes = encodeSafetensors(
    { specs: names.map((name, i) => ({ name, shape: [...tensors[i].shape], dtype: 'float32' as const })), values: tensors.map((t) => t.values) },
    { format: 'pt', ...options.metadata },
    { dtypes: tensors.map((t) => t.dtype) })
  const config = JSON.stringify(ckpt.configJson ?? hfConfigJson(ckpt.config), null, 2) + '\n'
  const files: Array<{ file: string, write: (path: string) => Promise<unknown>, bytes: number }> = [
    { file: 'config.json', write: async (p) => { await writeFile(p, config) }, bytes: Buffer.byteLength(config) },
    { file: 'model.safetensors', write: async (p) => { await writeFile(p, bytes) }, bytes: bytes.length }
  ]
  for (const f of options.tokenizerFrom === undefined ? [] : HF_TOKENIZER_FILES) {
    const from = join(options.tokenizerFrom!, f)
    const info = await stat(from).catch(() => undefined)
    if (info?.isFile() === true) files.push({ file: f, write: async (p) => { await copyFile(from, p) }, bytes: info.size })
  }
  const temp = (f: string): string => join(dir, `.${f}.${process.pid}.tmp`)
  try {
    await mkdir(dir, { recursive: true })
    for (const f of files) await f.write(temp(f.file))
    for (const f of files) await rename(temp(f.file), join(dir, f.file))
  } catch (err) {
    await Promise.all(files.map(async (f) => { await rm(temp(f.file), { force: true }) }))
    throw failed(`cannot write the checkpoint into ${dir} (${(err as Error).message}); no partly written file was left there`, err)
  }
  return files.map((f) => ({ file: f.file, bytes: f.bytes }))
}

const failed = (message: string, cause?: unknown): HfCheckpointError => new HfCheckpointError('ERR_MODEL_HF_EXPORT_FAILED', message, { cause })
