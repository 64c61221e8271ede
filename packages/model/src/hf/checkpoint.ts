/**
 * Reading a Hugging Face checkpoint folder — `config.json` and `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` — into named float32 tensors checked against the config: every tensor the
 * architecture defines present with its shape, nothing else but the non-parameter buffers published checkpoints
 * carry. Names are the transformers library's (GPT-2's with or without the `transformer.` prefix, both occur).
 */
import { open, readFile, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { z } from 'zod'
import { MAX_SAFETENSORS_HEADER_BYTES } from '../constants.js'
import { HfCheckpointError, ModelFormatError } from '../errors.js'
import { decodeSafetensors, encodeSafetensors, type SafetensorsDtype } from '../export/safetensors-format.js'
import { parseHfConfig, type CausalLmConfig } from './config.js'

/** Largest `config.json` read, in bytes. */
export const MAX_HF_CONFIG_BYTES = 1024 * 1024
/** Largest `model.safetensors.index.json` read, in bytes. */
export const MAX_HF_INDEX_BYTES = 16 * 1024 * 1024
/**
 * Largest weights file read, in bytes: 8 GiB (single-file checkpoints of 1–2 B parameters, e.g. TinyLlama-1.1B's
 * 2.2 GB, and the ≤ 5 GB shards transformers writes). Files above 2 GiB − 1 (fs.readFile's limit) are read in parts.
 */
export const MAX_HF_WEIGHTS_FILE_BYTES = 8 * 2 ** 30
/** Bytes read per call from a large file (below fs.read's 2 GiB − 1 per call). */
const READ_PART_BYTES = 2 ** 30

/** One tensor of a checkpoint, as float32, with the dtype it was stored in. */
export interface HfTensor {
  shape: number[]
  dtype: SafetensorsDtype
  values: Float32Array
}

/** A checked checkpoint. */
export interface HfCheckpoint {
  config: CausalLmConfig
  /** Every parameter, by the canonical name (see `expectedTensors`). */
  tensors: Map<string, HfTensor>
  /** Non-parameter buffers and duplicates found and not used (e.g. GPT-2's `h.0.attn.bias` masks). */
  ignored: string[]
  origin: string
  /** The `config.json` object as read (absent for a checkpoint made in memory); `writeHfCheckpoint` writes it back. */
  configJson?: Record<string, unknown>
}

/**
 * The parameters an architecture defines and their shapes, by canonical name: GPT-2's without the `transformer.`
 * prefix (`wte.weight`, `h.0.attn.c_attn.weight` in Conv1D layout `[in, out]`, …), the Llama family's as published
 * (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight` in nn.Linear layout `[out, in]`, …,
 * `lm_head.weight` when untied).
 */
export function expectedTensors (c: CausalLmConfig): Map<string, number[]> {
  const m = new Map<string, number[]>()
  const h = c.hidden
  if (c.family === 'gpt2') {
    m.set('wte.weight', [c.vocabSize, h])
    m.set('wpe.weight', [c.maxPositions, h])
    for (let i = 0; i < c.layers; i++) {
      const p = `h.${i}.`
      m.set(`${p}ln_1.weight`, [h]).set(`${p}ln_1.bias`, [h])
      m.set(`${p}attn.c_attn.weight`, [h, 3 * h]).set(`${p}attn.c_attn.bias`, [3 * h])
      m.set(`${p}attn.c_proj.weight`, [h, h]).set(`${p}attn.c_proj.bias`, [h])
      m.set(`${p}ln_2.weight`, [h]).set(`${p}ln_2.bias`, [h])
      m.set(`${p}mlp.c_fc.weight`, [h, c.intermediate]).set(`${p}mlp.c_fc.bias`, [c.intermediate])
      m.set(`${p}mlp.c_proj.weight`, [c.intermediate, h]).set(`${p}mlp.c_proj.bias`, [h])
    }
    m.set('ln_f.weight', [h]).set('ln_f.bias', [h])
    return m
  }
  const q = c.heads * c.headDim
  const kv = c.kvHeads * c.headDim
  m.set('model.embed_tokens.weight', [c.vocabSize, h])
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`
    m.set(`${p}input_layernorm.weight`, [h])
    m.set(`${p}self_attn.q_proj.weight`, [q, h]).set(`${p}self_attn.k_proj.weight`, [kv, h]).set(`${p}self_attn.v_proj.weight`, [kv, h])
    if (c.qkvBias) m.set(`${p}self_attn.q_proj.bias`, [q]).set(`${p}self_attn.k_proj.bias`, [kv]).set(`${p}self_attn.v_proj.bias`, [kv])
    m.set(`${p}self_attn.o_proj.weight`, [h, q])
    m.set(`${p}post_attention_layernorm.weight`, [h])
    m.set(`${p}mlp.gate_proj.weight`, [c.intermediate, h]).set(`${p}mlp.up_proj.weight`, [c.intermediate, h]).set(`${p}mlp.down_proj.weight`, [h, c.intermediate])
  }
  m.set('model.norm.weight', [h])
  if (!c.tied) m.set('lm_head.weight', [c.vocabSize, h])
  return m
}

/** Index of the first NaN or ±∞ of `v`, or −1. */
export function firstNonFinite (v: Float32Array): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return i
  return -1
}

/** Tensors published checkpoints carry that are not parameters: causal masks, rotary frequencies, a tied head's copy. */
function ignorable (c: CausalLmConfig, name: string): boolean {
  if (c.family === 'gpt2') return /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name) || name === 'lm_head.weight'
  return /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name) || (c.tied && name === 'lm_head.weight')
}

const malformed = (message: string, cause?: unknown): HfCheckpointError => new HfCheckpointError('ERR_MODEL_HF_CHECKPOINT_MALFORMED', message, { cause })

/** A file of at most `limit` bytes. @throws HfCheckpointError ERR_MODEL_HF_CHECKPOINT_MALFORMED for a missing, non-regular or larger file. */
export async function readBounded (path: string, limit: number, what: string): Promise<Buffer> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw malformed(`${path}: cannot read the ${what} (${err.code ?? err.message}); a Hugging Face checkpoint folder holds config.json and model.safetensors (or its shards and model.safetensors.index.json)`, err)
  })
  if (!info.isFile()) throw malformed(`${path} is not a file; expected the ${what}`)
  if (info.size > limit) throw malformed(`${path} is ${info.size} bytes; the ${what} may be at most ${limit} bytes${what === 'weights file' ? ': split it into shards (transformers\' save_pretrained(max_shard_size=…) writes them with model.safetensors.index.json)' : ''}`)
  if (info.size < 2 ** 31 - 1) return await readFile(path)
  const out = Buffer.allocUnsafe(info.size)
  const handle = await open(path, 'r')
  try {
    for (let at = 0; at < info.size;) {
      const { bytesRead } = await handle.read(out, at, Math.min(READ_PART_BYTES, info.size - at), at)
      if (bytesRead === 0) throw malformed(`${path} ended after ${at} of ${info.size} bytes while being read (it changed meanwhile?)`)
      at += bytesRead
    }
  } finally {
    await handle.close()
  }
  return out
}

/** UTF-8 JSON. @throws HfCheckpointError ERR_MODEL_HF_CHECKPOINT_MALFORMED */
export function parseJson (bytes: Buffer, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw malformed(`${path} is not UTF-8 JSON (${(err as Error).message})`, err)
  }
}

/**
 * A safetensors file of a Hugging Face folder (at most 8 GiB, header at most 100 MB; F32, F16, BF16 as float32).
 * @throws HfCheckpointError ERR_MODEL_HF_CHECKPOINT_MALFORMED (missing, oversized); ModelFormatError
 *   ERR_MODEL_SAFETENSORS_MALFORMED (a header over its limit, a truncated file, another dtype).
 */
export async function readHfSafetensors (path: string, what: string): Promise<ReturnType<typeof decodeSafetensors>> {
  const bytes = await readBounded(path, MAX_HF_WEIGHTS_FILE_BYTES, what)
  if (bytes.length >= 8 && bytes.readBigUInt64LE(0) > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw new ModelFormatError('ERR_MODEL_SAFETENSORS_MALFORMED', `${path}: safetensors header of ${bytes.readBigUInt64LE(0)} bytes is over the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`)
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { dtypes: ['F32', 'F16', 'BF16'], origin: path })
}

const indexSchema = z.object({ weight_map: z.record(z.string(), z.string()) })

/** The weights files of a folder and, for a sharded one, which file each tensor is in. */
async function weightFiles (dir: string): Promise<{ files: string[], map?: Map<string, string> }> {
  const indexPath = join(dir, 'model.safetensors.index.json')
  const sharded = await stat(indexPath).then((s) => s.isFile(), () => false)
  if (!sharded) return { files: ['model.safetensors'] }
  const parsed = indexSchema.safeParse(parseJson(await readBounded(indexPath, MAX_HF_INDEX_BYTES, 'shard index'), indexPath))
  if (!parsed.success) throw malformed(`${indexPath} has no weight_map of tensor names to file names`)
  const map = new Map(Object.entries(parsed.data.weight_map))
  const files = [...new Set(map.values())]
  for (const f of files) {
    if (f !== basename(f) || f === '..' || f === '.' || !f.endsWith('.safetensors')) throw malformed(`${indexPath} names the file ${JSON.stringify(f)}; shards must be .safetensors files in the checkpoint folder itself`)
  }
  return { files, map }
}

/**
 * The parameters of `config` from the tensors a checkpoint stores (canonical names): each present with its shape
 * and finite; anything else must be a known non-parameter buffer (returned as `ignored`).
 * @throws HfCheckpointError ERR_MODEL_HF_TENSOR_MISSING / _UNEXPECTED / _SHAPE, ERR_MODEL_HF_NOT_FINITE (naming the tensor)
 */
function checkTensors (config: CausalLmConfig, stored: ReadonlyMap<string, HfTensor>, dir: string): { tensors: Map<string, HfTensor>, ignored: string[] } {
  const expected = expectedTensors(config)
  const tensors = new Map<string, HfTensor>()
  for (const [name, shape] of expected) {
    const t = stored.get(name)
    if (t === undefined) throw new HfCheckpointError('ERR_MODEL_HF_TENSOR_MISSING', `${dir}: tensor ${name} of shape [${shape.join(', ')}] is missing; the config (${config.modelType}, ${config.layers} layers) defines it`, { tensor: name })
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new HfCheckpointError('ERR_MODEL_HF_TENSOR_SHAPE', `${dir}: tensor ${name} has shape [${t.shape.join(', ')}]; the config gives [${shape.join(', ')}]`, { tensor: name })
    }
    const bad = firstNonFinite(t.values)
    if (bad >= 0) throw new HfCheckpointError('ERR_MODEL_HF_NOT_FINITE', `${dir}: tensor ${name} holds ${t.values[bad]} at index ${bad}; a checkpoint's weights must be finite (a broken conversion or download?)`, { tensor: name })
    tensors.set(name, { shape: t.shape, dtype: t.dtype, values: t.values })
  }
  const ignored: string[] = []
  for (const name of stored.keys()) {
    if (expected.has(name)) continue
    if (!ignorable(config, name)) throw new HfCheckpointError('ERR_MODEL_HF_TENSOR_UNEXPECTED', `${dir}: tensor ${name} is not a parameter of ${config.modelType} as its config describes it (${config.layers} layers${config.family === 'llama' ? `, tie_word_embeddings ${String(config.tied)}` : ''})`, { tensor: name })
    ignored.push(name)
  }
  return { tensors, ignored }
}

/**
 * Reads and checks a Hugging Face checkpoint folder: `config.json` (at most 1 MiB, see `parseHfConfig`), then
 * `model.safetensors` or the shards `model.safetensors.index.json` lists (each at most 8 GiB, header at most 100 MB;
 * F32, F16 and BF16 tensors converted exactly to float32). GPT-2 names lose a `transformer.` prefix.
 * @throws HfCheckpointError ERR_MODEL_HF_UNSUPPORTED, ERR_MODEL_HF_CONFIG_INVALID (see `parseHfConfig`),
 *   ERR_MODEL_HF_CHECKPOINT_MALFORMED (a missing or oversized file, a bad index, a tensor listed in another shard
 *   than the index says, a tensor stored twice), ERR_MODEL_HF_TENSOR_MISSING / _UNEXPECTED / _SHAPE (naming the
 *   tensor), ERR_MODEL_HF_NOT_FINITE (a NaN or infinite weight); ModelFormatError ERR_MODEL_SAFETENSORS_MALFORMED (a truncated file, a header over its limit, a dtype
 *   other than F32, F16, BF16).
 */
export async function readHfCheckpoint (dir: string): Promise<HfCheckpoint> {
  const configPath = join(dir, 'config.json')
  const configJson = parseJson(await readBounded(configPath, MAX_HF_CONFIG_BYTES, 'config.json'), configPath)
  const config = parseHfConfig(configJson, dir)
  const { files, map } = await weightFiles(dir)
  const stored = new Map<string, HfTensor & { file: string }>()
  for (const f of files) {
    const path = join(dir, f)
    const { weights, dtypes } = await readHfSafetensors(path, 'weights file')
    weights.specs.forEach((s, i) => {
      const name = config.family === 'gpt2' && s.name.startsWith('transformer.') ? s.name.slice('transformer.'.length) : s.name
      if (map !== undefined && map.get(s.name) !== f) throw malformed(`${path} holds tensor ${s.name}, which the shard index puts in ${map.get(s.name) ?? 'no file'}`)
      if (stored.has(name)) throw malformed(`${dir}: tensor ${name} is stored twice (${stored.get(name)!.file} and ${f})`)
      stored.set(name, { shape: s.shape, dtype: dtypes[i], values: weights.values[i], file: f })
    })
  }
  if (map !== undefined) {
    for (const [name, file] of map) if (!stored.has(config.family === 'gpt2' ? name.replace(/^transformer\./, '') : name)) throw malformed(`${dir}: the shard index lists tensor ${name} in ${file}, which does not hold it`)
  }
  const { tensors, ignored } = checkTensors(config, stored, dir)
  return { config, tensors, ignored, origin: dir, configJson: configJson as Record<string, unknown> }
}

/**
 * A checkpoint's weights as one safetensors blob: every parameter under its canonical name, names sorted, each in
 * the dtype it was stored in (F16 and BF16 values are float32 ones that round-trip exactly, so nothing is rounded
 * and a 16-bit base is not inflated), metadata `format: pt`. The same checkpoint always gives the same bytes, so
 * their CID names the base. Decode with `checkpointFromBlobs`.
 * @throws InvalidWeightsError when a tensor's values are not all of its dtype.
 */
export function encodeCheckpointWeights (ckpt: HfCheckpoint): Uint8Array {
  const names = [...ckpt.tensors.keys()].sort()
  const tensors = names.map((n) => ckpt.tensors.get(n)!)
  return encodeSafetensors(
    { specs: names.map((name, i) => ({ name, shape: [...tensors[i].shape], dtype: 'float32' as const })), values: tensors.map((t) => t.values) },
    { format: 'pt' },
    { dtypes: tensors.map((t) => t.dtype) })
}

/**
 * A checkpoint from blobs (a community's base as its members fetch it): the `config.json` bytes and a weights blob
 * of canonical names (`encodeCheckpointWeights`), checked as `readHfCheckpoint` checks a folder.
 * @throws HfCheckpointError as `readHfCheckpoint` (the config, each tensor); ModelFormatError
 *   ERR_MODEL_SAFETENSORS_MALFORMED for a weights blob that is not safetensors of F32, F16 or BF16 tensors.
 */
export function checkpointFromBlobs (configBytes: Uint8Array, weightsBytes: Uint8Array, origin: string): HfCheckpoint {
  if (configBytes.length > MAX_HF_CONFIG_BYTES) throw malformed(`${origin}: config.json is ${configBytes.length} bytes; at most ${MAX_HF_CONFIG_BYTES} are read`)
  const configJson = parseJson(Buffer.from(configBytes.buffer, configBytes.byteOffset, configBytes.byteLength), `${origin} config.json`)
  const config = parseHfConfig(configJson, origin)
  const { weights, dtypes } = decodeSafetensors(weightsBytes, { dtypes: ['F32', 'F16', 'BF16'], origin: `${origin} weights` })
  const stored = new Map<string, HfTensor>()
  weights.specs.forEach((s, i) => { stored.set(s.name, { shape: s.shape, dtype: dtypes[i], values: weights.values[i] }) })
  const { tensors, ignored } = checkTensors(config, stored, origin)
  return { config, tensors, ignored, origin, configJson: configJson as Record<string, unknown> }
}
