/**
 * `swarmtune model eval` and `model generate` on Hugging Face checkpoint folders: the loss and perplexity the
 * library computes, text through GPT-2's tokenizer.json, greedy and seeded generation; bad files and ids refused
 * with their codes.
 */
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { writeRandomCheckpoint, writeTinyGpt2 } from '@swarmtune/test-support/models'
import { createRequire } from 'node:module'

let tmp: TempDir
/** A GPT-2 checkpoint folder with random weights: vocabulary 97, 64 positions, width 32, 2 layers. */
let gpt2: string
beforeAll(async () => {
  tmp = await tempDir('swarmtune-model-eval-')
  gpt2 = join(tmp.path, 'gpt2-97')
  await writeRandomCheckpoint(gpt2, { model_type: 'gpt2', vocab_size: 97, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4 })
})
afterAll(async () => { await tmp.cleanup() })

async function idsFile (name: string, ids: ReadonlyArray<number | string>): Promise<string> {
  const f = join(tmp.path, name)
  await writeFile(f, ids.join(' ') + '\n')
  return f
}

describe('swarmtune model eval', () => {
  it.each(['gpt2-tiny-prefixed', 'llama3-tiny', 'qwen2-tiny'])('on the HF-layout checkpoint %s matches the PyTorch reference loss', async (name) => {
    const dir = join(fileURLToPath(new URL('../../model/test/fixtures/hf/', import.meta.url)), name)
    const golden = JSON.parse(await readFile(join(dir, 'golden.json'), 'utf8')) as { token_ids: number[], loss: number }
    const r = await runCli(['model', 'eval', dir, '--token-ids', await idsFile(`${name}.txt`, golden.token_ids), '--json'], { reject: 'failure' })
    const out = JSON.parse(r.stdout) as { loss: number, perplexity: number, tokens: number }
    expect(out.tokens).toBe(golden.token_ids.length)
    expect(Math.abs(out.loss - golden.loss)).toBeLessThan(1e-5)
    expect(Math.abs(out.perplexity - Math.exp(golden.loss))).toBeLessThan(1e-3)
  })

  it('--adapter evaluates a PEFT adapter on its base (the PyTorch reference loss); model merge writes a folder that evaluates the same', async () => {
    const fixtures = fileURLToPath(new URL('../../model/test/fixtures/hf/', import.meta.url))
    const golden = JSON.parse(await readFile(join(fixtures, 'llama-tiny-peft', 'golden.json'), 'utf8')) as { token_ids: number[], loss: number }
    const ids = await idsFile('peft-ids.txt', golden.token_ids)
    const base = join(fixtures, 'llama-tiny')
    const adapter = join(fixtures, 'llama-tiny-peft')
    const adapted = JSON.parse((await runCli(['model', 'eval', base, '--token-ids', ids, '--adapter', adapter, '--json'], { reject: 'failure' })).stdout) as { loss: number, adapter: unknown }
    expect(Math.abs(adapted.loss - golden.loss)).toBeLessThan(1e-5)
    expect(adapted.adapter).toEqual({ rank: 4, alpha: 8, targets: ['down_proj', 'q_proj', 'v_proj'], projections: 6 })
    const out = join(tmp.path, 'merged-llama')
    const merged = JSON.parse((await runCli(['model', 'merge', base, '--adapter', adapter, '--out', out, '--json'], { reject: 'failure' })).stdout) as { files: Array<{ file: string }>, merged: string[] }
    expect(merged.files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors'])
    expect(merged.merged).toHaveLength(6)
    const again = JSON.parse((await runCli(['model', 'eval', out, '--token-ids', ids, '--json'], { reject: 'failure' })).stdout) as { loss: number }
    expect(Math.abs(again.loss - adapted.loss)).toBeLessThan(1e-5)
    // the output exists now: refused without --force, written with it
    const twice = await runCli(['model', 'merge', base, '--adapter', adapter, '--out', out])
    expect(twice.stderr).toMatch(/exists; pass --force.*\(ERR_CLI_OUTPUT_EXISTS\)/)
    await runCli(['model', 'merge', base, '--adapter', adapter, '--out', out, '--force'], { reject: 'failure' })
    // an adapter for another base: its factors do not fit
    const wrong = await runCli(['model', 'eval', join(fixtures, 'qwen2-tiny'), '--token-ids', ids, '--adapter', join(fixtures, 'gpt2-tiny-peft')])
    expect(wrong.stderr).toMatch(/target module c_attn of qwen2.*\(ERR_MODEL_PEFT_UNSUPPORTED\)/)
    const generated = await runCli(['model', 'generate', base, '--prompt-ids', ids, '--max-tokens', '3', '--adapter', adapter], { reject: 'failure' })
    const fromMerged = await runCli(['model', 'generate', out, '--prompt-ids', ids, '--max-tokens', '3'], { reject: 'failure' })
    expect(generated.stdout.trim().split(' ')).toHaveLength(3)
    expect(generated.stdout).toBe(fromMerged.stdout)
  }, 120_000)

  it('model merge never mixes checkpoints: --force replaces a whole checkpoint folder, the base and adapter folders and odd --out values are refused', async () => {
    const fixtures = fileURLToPath(new URL('../../model/test/fixtures/hf/', import.meta.url))
    const golden = JSON.parse(await readFile(join(fixtures, 'llama-tiny-peft', 'golden.json'), 'utf8')) as { token_ids: number[], loss: number }
    const ids = await idsFile('merge-ids.txt', golden.token_ids)
    const base = join(tmp.path, 'merge-base')
    await cp(join(fixtures, 'llama-tiny'), base, { recursive: true })
    const adapter = join(fixtures, 'llama-tiny-peft')
    // --out holds a sharded checkpoint (index and shards): replaced whole, so what is read there is the merge
    const out = join(tmp.path, 'merge-over-sharded')
    await cp(join(fixtures, 'llama3-tiny'), out, { recursive: true })
    await runCli(['model', 'merge', base, '--adapter', adapter, '--out', out, '--force'], { reject: 'failure' })
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors'])
    const merged = JSON.parse((await runCli(['model', 'eval', out, '--token-ids', ids, '--json'], { reject: 'failure' })).stdout) as { loss: number }
    expect(Math.abs(merged.loss - golden.loss)).toBeLessThan(1e-5)
    const refusals: Array<[string[], string, RegExp]> = [
      [['--out', base, '--force'], 'ERR_CLI_BAD_OUTPUT', /is the base folder/],
      [['--out', adapter, '--force'], 'ERR_CLI_BAD_OUTPUT', /is --adapter/],
      [['--out', ''], 'ERR_CLI_BAD_OPTION_VALUE', /--out is empty/],
      [['--out', ids, '--force'], 'ERR_CLI_BAD_OUTPUT', /is a file; this output is a folder \(config\.json and model\.safetensors\)/],
      [['--out', join(tmp.path, 'not-a-checkpoint'), '--force'], 'ERR_CLI_BAD_OUTPUT', /holds no config\.json/]
    ]
    await mkdir(join(tmp.path, 'not-a-checkpoint'))
    await writeFile(join(tmp.path, 'not-a-checkpoint', 'notes.txt'), 'mine')
    for (const [args, code, message] of refusals) {
      const r = await runCli(['model', 'merge', base, '--adapter', adapter, ...args])
      expect({ args, code: /\((ERR_[A-Z_]+)\)/.exec(r.stderr)?.[1] }).toEqual({ args, code })
      expect(r.stderr).toMatch(message)
    }
    expect(await readFile(join(tmp.path, 'not-a-checkpoint', 'notes.txt'), 'utf8')).toBe('mine')
    // the base is as it was
    const again = JSON.parse((await runCli(['model', 'eval', base, '--token-ids', ids, '--adapter', adapter, '--json'], { reject: 'failure' })).stdout) as { loss: number }
    expect(again.loss).toBe(JSON.parse((await runCli(['model', 'eval', join(fixtures, 'llama-tiny'), '--token-ids', ids, '--adapter', adapter, '--json'], { reject: 'failure' })).stdout).loss)
  }, 120_000)

  it('refuses a --text file that is not UTF-8, and sampling options without --temperature', async () => {
    const dir = join(tmp.path, 'gpt2-utf8')
    await writeTinyGpt2(dir, { tokenizer: true })
    const latin1 = join(tmp.path, 'latin1.txt')
    await writeFile(latin1, Buffer.from('caf\xe9 au lait', 'latin1'))
    const r = await runCli(['model', 'eval', dir, '--text', latin1])
    expect(r.stderr).toMatch(/latin1\.txt is not UTF-8 text \(invalid bytes at offset 3\).*\(ERR_CLI_BAD_INPUT_FILE\)/)
    for (const opt of [['--top-k', '5'], ['--seed', '3']]) {
      const g = await runCli(['model', 'generate', dir, '--prompt', 'x', '--max-tokens', '2', ...opt])
      expect(g.stderr).toMatch(new RegExp(`${opt[0]} applies to sampling: add --temperature.*\\(ERR_CLI_OPTION_NOT_APPLICABLE\\)`))
    }
    const ids = await runCli(['model', 'generate', dir, '--prompt-ids', join(tmp.path, 'missing-prompt.txt'), '--max-tokens', '2'])
    expect(ids.stderr).toMatch(/token ids file \(--prompt-ids\)/)
  }, 120_000)

  it('prints the loss and perplexity the library computes, as JSON and as text', async () => {
    const { createCausalLm, evaluateCausalLm, readHfCheckpoint } = await import('@swarmtune/model')
    const ids = Array.from({ length: 24 }, (_, i) => (i * 31 + 7) % 97)
    const file = await idsFile('ids.txt', ids)
    const lm = createCausalLm(await readHfCheckpoint(gpt2))
    const want = evaluateCausalLm(lm, ids)
    lm.dispose()
    const r = await runCli(['model', 'eval', gpt2, '--token-ids', file, '--backend', 'wasm', '--json'], { reject: 'failure' })
    const out = JSON.parse(r.stdout) as { loss: number, perplexity: number, tokens: number, backend: string }
    expect(Math.abs(out.loss - want.loss)).toBeLessThan(1e-6)
    expect(out).toMatchObject({ tokens: 24, backend: 'wasm' })
    expect(out.perplexity).toBeCloseTo(Math.exp(out.loss), 8)
    const text = await runCli(['model', 'eval', gpt2, '--token-ids', file], { reject: 'failure' })
    expect(text.stdout).toMatch(new RegExp(`loss ${out.loss.toFixed(4)} nats/token, perplexity [\\d.]+ over 23 predicted of 24 tokens in 1 window`))
  }, 120_000)

  it('--text tokenizes with the checkpoint\'s tokenizer.json: the same loss as the ids it gives', async () => {
    const dir = join(tmp.path, 'gpt2-vocab')
    await writeTinyGpt2(dir, { tokenizer: true })
    const text = 'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and nothing particular to interest me on shore.'
    const textFile = join(tmp.path, 'moby.txt')
    await writeFile(textFile, text)
    const ids = (createRequire(import.meta.url)('gpt-3-encoder') as { encode: (t: string) => number[] }).encode(text)
    const byText = JSON.parse((await runCli(['model', 'eval', dir, '--text', textFile, '--json'], { reject: 'failure' })).stdout) as { loss: number, tokens: number }
    const byIds = JSON.parse((await runCli(['model', 'eval', dir, '--token-ids', await idsFile('moby-ids.txt', ids), '--json'], { reject: 'failure' })).stdout) as { loss: number, tokens: number }
    expect(byText).toMatchObject({ tokens: ids.length, loss: byIds.loss })
    // without a tokenizer.json, --text says what is missing
    const bare = join(tmp.path, 'gpt2-bare')
    await writeTinyGpt2(bare)
    const r = await runCli(['model', 'eval', bare, '--text', textFile])
    expect(r.stderr).toMatch(/tokenizer\.json does not exist: reading text needs the checkpoint's tokenizer\.json \(or pass token ids instead\) \(ERR_MODEL_HF_CHECKPOINT_MALFORMED\)/)
    const neither = await runCli(['model', 'eval', bare])
    expect(neither.stderr).toMatch(/needs --text <file> or --token-ids <file>.*\(ERR_CLI_BAD_OPTION_VALUE\)/)
  }, 120_000)

  it('generate: greedy continues with the most likely token; sampling repeats with its seed', async () => {
    const dir = join(tmp.path, 'gpt2-generate')
    await writeTinyGpt2(dir, { tokenizer: true, seed: 3 })
    const gen = async (...args: string[]): Promise<{ ids: number[], text: string }> =>
      JSON.parse((await runCli(['model', 'generate', dir, '--prompt', 'The whale', '--max-tokens', '6', ...args, '--json'], { reject: 'failure' })).stdout)
    const greedy = await gen()
    expect(greedy.ids).toHaveLength(6)
    expect(await gen()).toEqual(greedy)
    // the first greedy token is the arg-max of the last position's logits, computed here through the library
    const { createCausalLm, readHfCheckpoint, tf } = await import('@swarmtune/model')
    const prompt = (createRequire(import.meta.url)('gpt-3-encoder') as { encode: (t: string) => number[] }).encode('The whale')
    const lm = createCausalLm(await readHfCheckpoint(dir))
    const last = tf.tidy(() => tf.argMax(tf.slice(lm.logits(tf.tensor2d(prompt, [1, prompt.length], 'int32')), [0, prompt.length - 1, 0], [1, 1, -1]), -1).dataSync()[0])
    lm.dispose()
    expect(greedy.ids[0]).toBe(last)
    const sampled = await gen('--temperature', '1.5', '--seed', '7')
    expect(await gen('--temperature', '1.5', '--seed', '7')).toEqual(sampled)
    expect(typeof sampled.text).toBe('string')
    const text = await runCli(['model', 'generate', dir, '--prompt', 'The whale', '--max-tokens', '3'], { reject: 'failure' })
    expect(text.stdout.startsWith('The whale')).toBe(true)
    const ids = await runCli(['model', 'generate', dir, '--prompt-ids', await idsFile('prompt.txt', prompt), '--max-tokens', '6'], { reject: 'failure' })
    expect(ids.stdout.trim()).toBe(greedy.ids.join(' '))
    const bad = await runCli(['model', 'generate', dir, '--prompt', 'x', '--max-tokens', '0'])
    expect(bad.stderr).toMatch(/--max-tokens.*\(ERR_CLI_BAD_OPTION_VALUE\)/)
  }, 120_000)

  it('refuses a file that is not token ids, ids outside the vocabulary, a folder that is not a checkpoint', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [[gpt2, '--token-ids', await idsFile('words.txt', [1, 2, 'three'])], 'ERR_CLI_BAD_INPUT_FILE', /word 3 \("three"\) is not a token id/],
      [[gpt2, '--token-ids', await idsFile('big.txt', [1, 2, 97])], 'ERR_MODEL_INVALID_TOKENS', /token id 97 at position 2 is outside the vocabulary/],
      [[gpt2, '--token-ids', join(tmp.path, 'none.txt')], 'ERR_CLI_BAD_INPUT_FILE', /none\.txt/],
      [[tmp.path, '--token-ids', await idsFile('ok.txt', [1, 2, 3])], 'ERR_MODEL_HF_CHECKPOINT_MALFORMED', /config\.json/],
      [[gpt2, '--token-ids', await idsFile('ok2.txt', [1, 2, 3]), '--window', '1'], 'ERR_CLI_BAD_OPTION_VALUE', /--window/]
    ]
    for (const [args, code, message] of cases) {
      const r = await runCli(['model', 'eval', ...args])
      expect(r.exitCode).not.toBe(0)
      expect({ args, code: /\((ERR_[A-Z_]+)\)/.exec(r.stderr)?.[1] }).toEqual({ args, code })
      expect(r.stderr).toMatch(message)
    }
  }, 120_000)
})
