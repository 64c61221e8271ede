/**
 * Hugging Face and PEFT folders out and in: PEFT LoRA adapters written by scripts/reference/hf_reference.py (GPT-2
 * F16 with `transformer.` keys and fan_in_fan_out, Llama F32) computed on their base match the PyTorch logits of the
 * base with the adapter merged as PEFT merges it, adapted and merged; a checkpoint written by `writeHfCheckpoint`
 * reads back with every tensor's dtype and value; our trained adapters exported as PEFT and as a merged checkpoint
 * reproduce the adapted model's loss; F16 and BF16 encoding is exact for every 16-bit pattern; every bad adapter
 * gets its code.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeOf, codeOfAsync, tempDir, type TempDir } from '@swarmtune/test-support'
import {
  createCausalLm, createLmLora, decodeSafetensors, encodeSafetensors, evaluateCausalLm, hfConfigJson, mergeAdapterFactors, mergeLmLora, parseHfConfig,
  peftAdapterTensors, probeBackendStatus, readHfCheckpoint, readPeftAdapter, tf, trainLmLora, writeHfCheckpoint, writePeftAdapter, type CausalLm, type LmAdapters
} from '../src/index.js'

const FIXTURES = fileURLToPath(new URL('./fixtures/hf/', import.meta.url))
const BASES = ['gpt2-tiny', 'gpt2-tiny-prefixed', 'llama-tiny', 'llama3-tiny', 'qwen2-tiny']

let tmp: TempDir
beforeAll(async () => {
  await probeBackendStatus()
  tmp = await tempDir('swarmtune-hf-export-')
})
afterAll(async () => { await tmp.cleanup() })

async function golden (name: string): Promise<{ base?: string, token_ids: number[], loss: number, logits: Float32Array }> {
  const g = JSON.parse(await readFile(join(FIXTURES, name, 'golden.json'), 'utf8')) as { base?: string, token_ids: number[], loss: number }
  const buf = await readFile(join(FIXTURES, name, 'golden-logits.f32'))
  return { ...g, logits: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) }
}

function logitsOf (lm: CausalLm, ids: number[], adapters?: LmAdapters): Float32Array {
  return tf.tidy(() => lm.logits(tf.tensor2d(ids, [1, ids.length], 'int32'), adapters).dataSync() as Float32Array)
}
const maxDiff = (x: Float32Array, y: Float32Array): number => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0)

describe.each(['cpu', 'wasm'])('PEFT adapters against the PyTorch reference, on %s', (backend) => {
  beforeAll(async () => { await tf.setBackend(backend) })

  it.each(['gpt2-tiny-peft', 'llama-tiny-peft'])('%s: adapted and merged logits within 1e-4 of PEFT\'s merge, loss within 1e-5', async (name) => {
    const g = await golden(name)
    const base = await readHfCheckpoint(join(FIXTURES, g.base!))
    const adapter = await readPeftAdapter(join(FIXTURES, name), base.config)
    expect(adapter.factors.length).toBe(6)
    const lm = createCausalLm(base)
    const t = peftAdapterTensors(adapter)
    const merged = createCausalLm(mergeAdapterFactors(base, adapter.factors, adapter.rank, adapter.scale))
    try {
      const plain = logitsOf(lm, g.token_ids)
      const adapted = logitsOf(lm, g.token_ids, t.adapters)
      const fromMerge = logitsOf(merged, g.token_ids)
      console.log(`${name} on ${backend}: adapted ${maxDiff(adapted, g.logits).toExponential(2)}, merged ${maxDiff(fromMerge, g.logits).toExponential(2)} from the golden; the base is ${maxDiff(plain, g.logits).toFixed(2)} away`)
      expect(maxDiff(plain, g.logits)).toBeGreaterThan(0.1)
      expect(maxDiff(adapted, g.logits)).toBeLessThan(1e-4)
      expect(maxDiff(fromMerge, g.logits)).toBeLessThan(1e-4)
      expect(Math.abs(evaluateCausalLm(lm, g.token_ids, { adapters: t.adapters }).loss - g.loss)).toBeLessThan(1e-5)
    } finally {
      t.dispose()
      lm.dispose()
      merged.dispose()
    }
  })
})

describe('writeHfCheckpoint', () => {
  it.each(BASES)('%s reads back tensor by tensor, dtype and value; its config gives the same model', async (name) => {
    const ckpt = await readHfCheckpoint(join(FIXTURES, name))
    const out = join(tmp.path, `copy-${name}`)
    const files = await writeHfCheckpoint(ckpt, out)
    expect(files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors'])
    const back = await readHfCheckpoint(out)
    expect(back.config).toEqual(ckpt.config)
    expect([...back.tensors.keys()]).toEqual([...ckpt.tensors.keys()])
    for (const [n, t] of ckpt.tensors) {
      const u = back.tensors.get(n)!
      expect({ n, dtype: u.dtype, shape: u.shape }).toEqual({ n, dtype: t.dtype, shape: t.shape })
      expect(Buffer.from(u.values.buffer, u.values.byteOffset, u.values.byteLength).equals(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength))).toBe(true)
    }
    // without the config.json object read, the one made from the normalised config describes the same model
    expect(parseHfConfig(hfConfigJson(ckpt.config), name)).toEqual(ckpt.config)
  })

  it('refuses a folder holding another checkpoint\'s shards or index (a reader would load those), writing nothing', async () => {
    const ckpt = await readHfCheckpoint(join(FIXTURES, 'llama3-tiny'))
    const out = join(tmp.path, 'over-shards')
    await mkdir(out, { recursive: true })
    for (const f of ['model.safetensors.index.json', 'model-00001-of-00002.safetensors']) await copyFile(join(FIXTURES, 'llama3-tiny', f), join(out, f))
    expect(await codeOfAsync(writeHfCheckpoint(ckpt, out))).toBe('ERR_MODEL_HF_EXPORT_FAILED')
    expect((await readdir(out)).sort()).toEqual(['model-00001-of-00002.safetensors', 'model.safetensors.index.json'])
  })

  it('copies the tokenizer files that exist', async () => {
    const src = join(tmp.path, 'with-tokenizer')
    await mkdir(src, { recursive: true })
    for (const f of ['config.json', 'model.safetensors']) await copyFile(join(FIXTURES, 'gpt2-tiny', f), join(src, f))
    await writeFile(join(src, 'tokenizer.json'), '{"version":"1.0"}')
    const files = await writeHfCheckpoint(await readHfCheckpoint(src), join(tmp.path, 'tok-out'), { tokenizerFrom: src })
    expect(files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
    expect(await readFile(join(tmp.path, 'tok-out', 'tokenizer.json'), 'utf8')).toBe('{"version":"1.0"}')
  })
})

describe('our adapters exported', () => {
  it.each([['llama-tiny', ['q_proj', 'v_proj', 'down_proj']], ['gpt2-tiny-prefixed', ['c_attn', 'c_proj', 'c_fc']]] as const)(
    '%s: as PEFT and as a merged checkpoint, re-imported, each gives the adapted loss', async (name, targets) => {
      await tf.setBackend('wasm')
      const ckpt = await readHfCheckpoint(join(FIXTURES, name))
      const lm = createCausalLm(ckpt)
      const lora = createLmLora(lm, { rank: 4, alpha: 8, targets: [...targets], seed: 5 })
      const ids = Array.from({ length: 64 }, (_, i) => [5, 17, 29, 8, 41, 3, 60, 13][i % 8] % ckpt.config.vocabSize)
      try {
        const trained = trainLmLora(lm, lora, lora.initWeights(), ids, { steps: 10, window: 16, batch: 2, learningRate: 0.05, seed: 2 })
        const b = trained.weights.values.map((v, i) => tf.tensor(v, trained.weights.specs[i].shape))
        const adaptedLoss = evaluateCausalLm(lm, ids, { adapters: lora.adapters(b) }).loss
        tf.dispose(b)
        const plainLoss = evaluateCausalLm(lm, ids).loss
        expect(Math.abs(adaptedLoss - plainLoss)).toBeGreaterThan(0.05)

        const peftDir = join(tmp.path, `peft-${name}`)
        await writePeftAdapter(lora, trained.weights, ckpt.config, peftDir, { baseModel: name })
        const cfg = JSON.parse(await readFile(join(peftDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>
        expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: [...targets], fan_in_fan_out: name.startsWith('gpt2'), base_model_name_or_path: name })
        const keys = decodeSafetensors(new Uint8Array(await readFile(join(peftDir, 'adapter_model.safetensors')))).weights.specs.map((s) => s.name)
        expect(keys[0]).toBe(name.startsWith('gpt2') ? 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight' : 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')
        const adapter = await readPeftAdapter(peftDir, ckpt.config)
        const t = peftAdapterTensors(adapter)
        expect(evaluateCausalLm(lm, ids, { adapters: t.adapters }).loss).toBe(adaptedLoss)
        t.dispose()

        const mergedDir = join(tmp.path, `merged-${name}`)
        await writeHfCheckpoint(mergeLmLora(ckpt, lora, trained.weights), mergedDir)
        const merged = await readHfCheckpoint(mergedDir)
        for (const s of adapter.factors) expect(merged.tensors.get(s.weight)!.dtype).toBe('F32')
        const untouched = [...merged.tensors.keys()].find((n) => !adapter.factors.some((f) => f.weight === n))!
        expect(merged.tensors.get(untouched)!.dtype).toBe(ckpt.tensors.get(untouched)!.dtype)
        const mlm = createCausalLm(merged)
        const mergedLoss = evaluateCausalLm(mlm, ids).loss
        mlm.dispose()
        console.log(`${name}: loss ${plainLoss.toFixed(4)} → adapted ${adaptedLoss.toFixed(6)}, PEFT re-import identical, merged re-import ${mergedLoss.toFixed(6)}`)
        expect(Math.abs(mergedLoss - adaptedLoss)).toBeLessThan(1e-5)
      } finally {
        lora.dispose()
        lm.dispose()
      }
    })
})

describe('F16 and BF16 encoding', () => {
  it.each(['F16', 'BF16'] as const)('%s: every one of the 65,536 bit patterns decodes and encodes back to itself (NaN to NaN)', (dtype) => {
    const bits = new Uint16Array(65536).map((_, i) => i)
    const raw = new Uint8Array(bits.buffer)
    // a file holding all patterns, written by hand
    const header = JSON.stringify({ x: { dtype, shape: [65536], data_offsets: [0, raw.length] } }).padEnd(64, ' ')
    const all = new Uint8Array(8 + header.length + raw.length)
    new DataView(all.buffer).setBigUint64(0, BigInt(header.length), true)
    all.set(new TextEncoder().encode(header), 8)
    all.set(raw, 8 + header.length)
    const decoded = decodeSafetensors(all, { dtypes: [dtype] }).weights
    const again = encodeSafetensors(decoded, {}, { dtypes: [dtype] })
    const back = new Uint16Array(again.slice(again.length - raw.length).buffer)
    let nans = 0
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(decoded.values[0][i])) {
        nans++
        // a NaN is written as a NaN pattern (all exponent bits set, a fraction bit set)
        const [exp, frac] = dtype === 'F16' ? [0x7c00, 0x3ff] : [0x7f80, 0x7f]
        if ((back[i] & exp) !== exp || (back[i] & frac) === 0) expect({ pattern: i, back: back[i] }).toEqual({ pattern: i, back: 'a NaN pattern' })
      } else if (back[i] !== i) {
        expect({ pattern: i, back: back[i] }).toEqual({ pattern: i, back: i })
      }
    }
    expect(nans).toBe(dtype === 'F16' ? 2046 : 254)
  })

  it('refuses to round: a value F16 or BF16 cannot hold is ERR_MODEL_INVALID_WEIGHTS naming it', () => {
    const w = (v: number): Parameters<typeof encodeSafetensors>[0] => ({ specs: [{ name: 'w', shape: [2], dtype: 'float32' }], values: [Float32Array.of(0.5, v)] })
    for (const [dtype, v] of [['F16', 0.1], ['F16', 65520], ['F16', 2 ** -25], ['BF16', 1 + 2 ** -10]] as const) {
      expect(codeOf(() => encodeSafetensors(w(v), {}, { dtypes: [dtype] })), `${dtype} ${v}`).toBe('ERR_MODEL_INVALID_WEIGHTS')
    }
    expect(codeOf(() => encodeSafetensors(w(2 ** -24), {}, { dtypes: ['F16'] }))).toBeUndefined()
    expect(codeOf(() => encodeSafetensors(w(65504), {}, { dtypes: ['F16'] }))).toBeUndefined()
  })
})

describe('readPeftAdapter refuses bad adapters with their codes', () => {
  const SRC = join(FIXTURES, 'llama-tiny-peft')
  let config: Awaited<ReturnType<typeof readHfCheckpoint>>['config']
  let good: Record<string, unknown>
  beforeAll(async () => {
    config = (await readHfCheckpoint(join(FIXTURES, 'llama-tiny'))).config
    good = JSON.parse(await readFile(join(SRC, 'adapter_config.json'), 'utf8')) as Record<string, unknown>
  })
  async function variant (name: string, change: Record<string, unknown>, weights?: (w: ReturnType<typeof decodeSafetensors>['weights']) => ReturnType<typeof decodeSafetensors>['weights']): Promise<string> {
    const dir = join(tmp.path, `bad-${name}`)
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...good, ...change }))
    const bytes = await readFile(join(SRC, 'adapter_model.safetensors'))
    await writeFile(join(dir, 'adapter_model.safetensors'), weights === undefined ? bytes : encodeSafetensors(weights(decodeSafetensors(new Uint8Array(bytes)).weights)))
    return dir
  }
  it.each([
    ['ia3', { peft_type: 'IA3' }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['dora', { use_dora: true }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['rslora', { use_rslora: true }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['bias', { bias: 'lora_only' }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['regex', { target_modules: '.*proj' }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['lm-head', { target_modules: ['q_proj', 'lm_head'] }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['save', { modules_to_save: ['lm_head'] }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['fan-in', { fan_in_fan_out: true }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['rank-0', { r: 0 }, 'ERR_MODEL_PEFT_ADAPTER_INVALID'],
    ['no-alpha', { lora_alpha: 'eight' }, 'ERR_MODEL_PEFT_ADAPTER_INVALID'],
    ['rank-3', { r: 3 }, 'ERR_MODEL_PEFT_ADAPTER_INVALID'],
    ['more-targets', { target_modules: ['q_proj', 'v_proj', 'down_proj', 'k_proj'] }, 'ERR_MODEL_PEFT_ADAPTER_INVALID'],
    ['fewer-targets', { target_modules: ['q_proj', 'v_proj'] }, 'ERR_MODEL_PEFT_ADAPTER_INVALID'],
    ['huge-alpha', { lora_alpha: 1e308 }, 'ERR_MODEL_PEFT_ADAPTER_INVALID'],
    // newer PEFT variants that change what the adapter computes: refused, not ignored
    ['layer-replication', { layer_replication: [[1, 2], [0, 1]] }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['lora-bias', { lora_bias: true }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['exclude', { exclude_modules: ['model.layers.0.self_attn.q_proj'] }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    ['trainable-tokens', { trainable_token_indices: [1, 2] }, 'ERR_MODEL_PEFT_UNSUPPORTED'],
    // their no-op values, as saved configs carry them, are fine
    ['no-ops', { layer_replication: null, lora_bias: false, exclude_modules: null, trainable_token_indices: null, target_parameters: [], peft_version: '0.15.2' }, undefined]
  ] as const)('%s → %s', async (name, change, code) => {
    expect(await codeOfAsync(readPeftAdapter(await variant(name, change), config))).toBe(code)
  })

  it('a factor missing, of another shape or not finite, or no adapter_config.json → ERR_MODEL_PEFT_ADAPTER_INVALID', async () => {
    const dropped = await variant('dropped', {}, (w) => ({ specs: w.specs.slice(1), values: w.values.slice(1) }))
    expect(await codeOfAsync(readPeftAdapter(dropped, config))).toBe('ERR_MODEL_PEFT_ADAPTER_INVALID')
    const reshaped = await variant('reshaped', {}, (w) => ({ specs: w.specs.map((s, i) => i === 0 ? { ...s, shape: [s.shape[1], s.shape[0]] } : s), values: w.values }))
    expect(await codeOfAsync(readPeftAdapter(reshaped, config))).toBe('ERR_MODEL_PEFT_ADAPTER_INVALID')
    expect(await codeOfAsync(readPeftAdapter(join(tmp.path, 'nowhere'), config))).toBe('ERR_MODEL_PEFT_ADAPTER_INVALID')
    // a checkpoint folder given as the adapter
    expect(await readPeftAdapter(join(FIXTURES, 'llama-tiny'), config).catch((e: Error) => e.message)).toMatch(/adapter_config\.json does not exist: a PEFT LoRA adapter folder holds/)
    const nan = await variant('nan', {}, (w) => ({ specs: w.specs, values: w.values.map((v, i) => i === 3 ? Float32Array.from(v, (x, j) => j === 2 ? NaN : x) : v) }))
    expect(await codeOfAsync(readPeftAdapter(nan, config))).toBe('ERR_MODEL_PEFT_ADAPTER_INVALID')
    // the unchanged copy reads
    expect(await codeOfAsync(readPeftAdapter(await variant('same', {}), config))).toBeUndefined()
  })
})
