/**
 * Hugging Face checkpoint folders (random weights in the exact Hugging Face layout, written here): names with
 * GPT-2's transformer. prefix and the buffers published checkpoints carry, a sharded Llama 3 checkpoint, F16 and
 * BF16 tensors; and every way a folder can be wrong, each with its code.
 */
import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOfAsync, tempDir, type TempDir } from '@swarmtune/test-support'
import { writeRandomCheckpoint } from '@swarmtune/test-support/models'
import {
  createCausalLm, decodeSafetensors, encodeSafetensors, evaluateCausalLm, parseHfConfig, probeBackendStatus, readHfCheckpoint, ropeInverseFrequencies, tf
} from '../src/index.js'

const GPT2 = { model_type: 'gpt2', vocab_size: 97, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 }
const LLAMA3 = {
  model_type: 'llama', vocab_size: 101, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 24,
  rms_norm_eps: 1e-5, rope_theta: 500_000, max_position_embeddings: 128, tie_word_embeddings: false,
  rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 }
}
/** Checkpoint folders written for these tests (random weights, Hugging Face layout). */
const FIXTURES = { gpt2: '', llama3: '', sharded: '' }

/** Rewrites a folder's model.safetensors with `edit` applied to its tensors. */
async function rewrite (dir: string, edit: (w: ReturnType<typeof decodeSafetensors>['weights']) => void): Promise<void> {
  const file = join(dir, 'model.safetensors')
  const { weights } = decodeSafetensors(new Uint8Array(await readFile(file)))
  edit(weights)
  await writeFile(file, encodeSafetensors(weights))
}

let tmp: TempDir
beforeAll(async () => {
  await probeBackendStatus()
  await tf.setBackend('wasm')
  tmp = await tempDir('swarmtune-hf-')
  FIXTURES.gpt2 = join(tmp.path, 'gpt2')
  await writeRandomCheckpoint(FIXTURES.gpt2, GPT2, 1)
  // as the published gpt2 checkpoint: causal-mask buffers beside the parameters, names with the transformer. prefix
  await rewrite(FIXTURES.gpt2, (w) => {
    w.specs = w.specs.map((s) => ({ ...s, name: `transformer.${s.name}` }))
    for (let i = 0; i < 2; i++) {
      w.specs.push({ name: `transformer.h.${i}.attn.bias`, shape: [1, 1, 64, 64], dtype: 'float32' }, { name: `transformer.h.${i}.attn.masked_bias`, shape: [], dtype: 'float32' })
      w.values.push(new Float32Array(64 * 64).fill(1), Float32Array.of(-1e4))
    }
  })
  FIXTURES.llama3 = join(tmp.path, 'llama3')
  await writeRandomCheckpoint(FIXTURES.llama3, LLAMA3, 2)
  await rewrite(FIXTURES.llama3, (w) => {
    for (let i = 0; i < 2; i++) { w.specs.push({ name: `model.layers.${i}.self_attn.rotary_emb.inv_freq`, shape: [12], dtype: 'float32' }); w.values.push(new Float32Array(12)) }
  })
  // the same tensors in two shards with an index
  FIXTURES.sharded = join(tmp.path, 'sharded')
  await mkdir(FIXTURES.sharded)
  await cp(join(FIXTURES.llama3, 'config.json'), join(FIXTURES.sharded, 'config.json'))
  const { weights } = decodeSafetensors(new Uint8Array(await readFile(join(FIXTURES.llama3, 'model.safetensors'))))
  const half = Math.ceil(weights.specs.length / 2)
  const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']
  const map: Record<string, string> = {}
  for (const [k, range] of [[0, [0, half]], [1, [half, weights.specs.length]]] as const) {
    const part = { specs: weights.specs.slice(...range), values: weights.values.slice(...range) }
    for (const s of part.specs) map[s.name] = files[k]
    await writeFile(join(FIXTURES.sharded, files[k]), encodeSafetensors(part))
  }
  await writeFile(join(FIXTURES.sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }))
})
afterAll(async () => {
  await tf.setBackend('wasm')
  await tmp.cleanup()
})

/** A safetensors file of one tensor `x` of `dtype` with the given little-endian 16-bit words. */
function halfFile (dtype: 'F16' | 'BF16', words: number[]): Uint8Array {
  const header = Buffer.from(JSON.stringify({ x: { dtype, shape: [words.length], data_offsets: [0, 2 * words.length] } }))
  const out = Buffer.alloc(8 + header.length + 2 * words.length)
  out.writeBigUInt64LE(BigInt(header.length), 0)
  header.copy(out, 8)
  words.forEach((w, i) => out.writeUInt16LE(w, 8 + header.length + 2 * i))
  return new Uint8Array(out)
}

describe('F16 and BF16 tensors', () => {
  it('convert exactly to float32: normal, subnormal, largest, infinite values; refused where only F32 is read', () => {
    const f16 = decodeSafetensors(halfFile('F16', [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x3555, 0x8000]), { dtypes: ['F16'] })
    expect(f16.dtypes).toEqual(['F16'])
    expect(Array.from(f16.weights.values[0])).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, 0.333251953125, -0])
    const bf16 = decodeSafetensors(halfFile('BF16', [0x3f80, 0x4049, 0xc2f7, 0x0001, 0x7f7f]), { dtypes: ['BF16'] })
    expect(Array.from(bf16.weights.values[0])).toEqual([1, 3.140625, -123.5, new Float32Array(new Uint32Array([0x00010000]).buffer)[0], new Float32Array(new Uint32Array([0x7f7f0000]).buffer)[0]])
    let code: string | undefined
    try {
      decodeSafetensors(halfFile('F16', [0x3c00]))
    } catch (err) {
      code = (err as { code?: string }).code
    }
    expect(code).toBe('ERR_MODEL_SAFETENSORS_MALFORMED')
  })
})

describe('reading checkpoints', () => {
  it('drops GPT-2\'s transformer. prefix, lists the buffers it ignores, reads a sharded checkpoint', async () => {
    const gpt2 = await readHfCheckpoint(FIXTURES.gpt2)
    expect(gpt2.tensors.get('wte.weight')?.dtype).toBe('F32')
    expect(gpt2.ignored).toEqual(expect.arrayContaining(['h.0.attn.bias', 'h.0.attn.masked_bias', 'h.1.attn.bias']))
    expect([...gpt2.tensors.keys()].every((n) => !n.startsWith('transformer.'))).toBe(true)
    const llama = await readHfCheckpoint(FIXTURES.llama3)
    expect(llama.config).toMatchObject({ headDim: 24, kvHeads: 2, heads: 4, tied: false })
    expect(llama.ignored).toContain('model.layers.0.self_attn.rotary_emb.inv_freq')
    // the same weights computed from one file and from two shards give the same logits
    const one = createCausalLm(llama)
    const two = createCausalLm(await readHfCheckpoint(FIXTURES.sharded))
    try {
      const ids = [1, 5, 9, 2, 7, 3]
      const a = tf.tidy(() => one.logits(tf.tensor2d(ids, [1, 6], 'int32')).dataSync())
      const b = tf.tidy(() => two.logits(tf.tensor2d(ids, [1, 6], 'int32')).dataSync())
      expect(Array.from(b)).toEqual(Array.from(a))
    } finally {
      one.dispose()
      two.dispose()
    }
  })

  it('applies Llama 3\'s frequency rule: long wavelengths divided by the factor, short ones kept, the band between interpolated', async () => {
    const json = JSON.parse(await readFile(join(FIXTURES.llama3, 'config.json'), 'utf8')) as Record<string, unknown>
    const scaled = ropeInverseFrequencies(parseHfConfig(json, 'llama3'))
    const plain = ropeInverseFrequencies(parseHfConfig({ ...json, rope_scaling: null }, 'llama3'))
    const ratios = Array.from(scaled, (f, i) => plain[i] / f)
    // original_max 16: wavelengths above 16 divided by 8, below 16/4 = 4 kept (none at head_dim 24: the shortest is 2π)
    ratios.forEach((r, i) => { expect(r).toBeGreaterThanOrEqual(i === 0 ? 1 : ratios[i - 1] - 1e-12) })
    expect(ratios.at(-1)).toBeCloseTo(8, 10)
    // with original_max 64 the shortest wavelength (2π) is below 64/4 and is kept
    const wide = ropeInverseFrequencies(parseHfConfig({ ...json, rope_scaling: { ...(json.rope_scaling as object), original_max_position_embeddings: 64 } }, 'llama3'))
    expect(wide[0]).toBe(plain[0])
    expect(ratios.some((r) => r > 1 && r < 8)).toBe(true)
  })

  /** A copy of a fixture in the temporary folder, changed by `edit`. */
  async function broken (name: string, edit: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(tmp.path, `${name}-${Math.random().toString(36).slice(2)}`)
    await cp(FIXTURES[name as keyof typeof FIXTURES], dir, { recursive: true })
    await edit(dir)
    return dir
  }
  const editConfig = (change: (c: Record<string, unknown>) => void) => async (dir: string): Promise<void> => {
    const c = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>
    change(c)
    await writeFile(join(dir, 'config.json'), JSON.stringify(c))
  }
  const editWeights = (change: (w: ReturnType<typeof decodeSafetensors>['weights']) => void) => async (dir: string): Promise<void> => {
    const file = join(dir, 'model.safetensors')
    const { weights } = decodeSafetensors(new Uint8Array(await readFile(file)))
    change(weights)
    await writeFile(file, encodeSafetensors(weights))
  }

  it('refuses a bad folder with a coded error naming the tensor or field, and reads nothing of it', async () => {
    const cases: Array<[string, string, (dir: string) => Promise<void>, RegExp]> = [
      ['gpt2', 'ERR_MODEL_HF_UNSUPPORTED', editConfig((c) => { c.model_type = 'bert' }), /model_type "bert"; supported: model_type gpt2, llama, qwen2/],
      ['llama3', 'ERR_MODEL_HF_UNSUPPORTED', editConfig((c) => { c.rope_scaling = { rope_type: 'yarn', factor: 4 } }), /rope_scaling type yarn/],
      ['gpt2', 'ERR_MODEL_HF_CONFIG_INVALID', editConfig((c) => { c.n_head = 'four' }), /field n_head is invalid/],
      ['llama3', 'ERR_MODEL_HF_CONFIG_INVALID', editConfig((c) => { c.num_key_value_heads = 3 }), /not a multiple of num_key_value_heads 3/],
      ['gpt2', 'ERR_MODEL_HF_TENSOR_MISSING', editWeights((w) => { const i = w.specs.findIndex((s) => s.name === 'transformer.h.1.mlp.c_fc.bias'); w.specs.splice(i, 1); w.values.splice(i, 1) }), /tensor h\.1\.mlp\.c_fc\.bias of shape \[128\] is missing/],
      ['gpt2', 'ERR_MODEL_HF_TENSOR_UNEXPECTED', editWeights((w) => { w.specs.push({ name: 'h.2.ln_1.weight', shape: [32], dtype: 'float32' }); w.values.push(new Float32Array(32)) }), /tensor h\.2\.ln_1\.weight is not a parameter of gpt2/],
      ['gpt2', 'ERR_MODEL_HF_TENSOR_SHAPE', editConfig((c) => { c.n_positions = 32 }), /tensor wpe\.weight has shape \[64, 32\]; the config gives \[32, 32\]/],
      ['llama3', 'ERR_MODEL_HF_TENSOR_SHAPE', editConfig((c) => { c.intermediate_size = 96 }), /mlp\.gate_proj\.weight has shape \[128, 64\]; the config gives \[96, 64\]/],
      ['gpt2', 'ERR_MODEL_SAFETENSORS_MALFORMED', async (dir) => { const f = join(dir, 'model.safetensors'); const b = await readFile(f); await writeFile(f, b.subarray(0, b.length - 100)) }, /model\.safetensors: .*(data bytes|spans)/],
      ['gpt2', 'ERR_MODEL_SAFETENSORS_MALFORMED', async (dir) => { const f = join(dir, 'model.safetensors'); const b = Buffer.from(await readFile(f)); b.writeBigUInt64LE(200_000_000n, 0); await writeFile(f, b) }, /header of 200000000 bytes is over the 100000000-byte limit/],
      ['gpt2', 'ERR_MODEL_HF_CHECKPOINT_MALFORMED', async (dir) => { await rm(join(dir, 'model.safetensors')) }, /cannot read the weights file \(ENOENT\)/],
      ['sharded', 'ERR_MODEL_HF_CHECKPOINT_MALFORMED', async (dir) => { await rm(join(dir, 'model-00002-of-00002.safetensors')) }, /model-00002-of-00002\.safetensors: cannot read the weights file/],
      ['sharded', 'ERR_MODEL_HF_CHECKPOINT_MALFORMED', async (dir) => {
        const f = join(dir, 'model.safetensors.index.json')
        const idx = JSON.parse(await readFile(f, 'utf8')) as { weight_map: Record<string, string> }
        idx.weight_map['model.norm.weight'] = '../elsewhere.safetensors'
        await writeFile(f, JSON.stringify(idx))
      }, /shards must be \.safetensors files in the checkpoint folder itself/],
      ['gpt2', 'ERR_MODEL_HF_NOT_FINITE', editWeights((w) => { const i = w.specs.findIndex((x) => x.name === 'transformer.h.0.mlp.c_fc.weight'); w.values[i][7] = NaN }), /tensor h\.0\.mlp\.c_fc\.weight holds NaN at index 7/],
      ['llama3', 'ERR_MODEL_HF_NOT_FINITE', editWeights((w) => { w.values[0][0] = -Infinity }), /holds -Infinity at index 0/],
      ['gpt2', 'ERR_MODEL_HF_CONFIG_INVALID', async (dir) => { await writeFile(join(dir, 'config.json'), '[1, 2]') }, /config\.json is an array, not a JSON object/],
      ['gpt2', 'ERR_MODEL_HF_CONFIG_INVALID', editConfig((c) => { c.n_positions = 1 }), /field n_positions is invalid/]
    ]
    for (const [name, code, edit, message] of cases) {
      const dir = await broken(name, edit)
      const err = await readHfCheckpoint(dir).then(() => undefined, (e: unknown) => e as Error & { code?: string })
      expect({ code: err?.code, name }).toEqual({ code, name })
      expect(err?.message).toMatch(message)
    }
    expect(await codeOfAsync(readHfCheckpoint(join(tmp.path, 'nowhere')))).toBe('ERR_MODEL_HF_CHECKPOINT_MALFORMED')
  })

  it('reads a weights file above 2 GiB − 1 (fs.readFile\'s limit) in parts, so it reaches the format checks', async () => {
    // a sparse 2.1 GB file of zeros: read whole, its header length 0 is what the safetensors check refuses
    const dir = await broken('gpt2', async (d) => { await truncate(join(d, 'model.safetensors'), 2 ** 31 + 4096) })
    const err = await readHfCheckpoint(dir).then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err?.code).toBe('ERR_MODEL_SAFETENSORS_MALFORMED')
    await rm(join(dir, 'model.safetensors'))
  }, 120_000)

  it('refuses token ids it cannot evaluate', async () => {
    await tf.setBackend('cpu')
    const lm = createCausalLm(await readHfCheckpoint(FIXTURES.gpt2))
    try {
      for (const ids of [[5], [1, 2, 97], [1, 2.5, 3], [-1, 2]]) {
        let code: string | undefined
        try {
          evaluateCausalLm(lm, ids)
        } catch (err) {
          code = (err as { code?: string }).code
        }
        expect({ ids, code }).toEqual({ ids, code: 'ERR_MODEL_INVALID_TOKENS' })
      }
      // longer than the 64 positions: cut into windows, each one's first token not predicted
      const long = Array.from({ length: 150 }, (_, i) => (i * 13) % 97)
      expect(evaluateCausalLm(lm, long)).toMatchObject({ tokens: 150, windows: 3, predicted: 63 + 63 + 21 })
    } finally {
      lm.dispose()
    }
  })
})
