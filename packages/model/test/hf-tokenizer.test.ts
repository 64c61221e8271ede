/**
 * A checkpoint's tokenizer.json through @huggingface/tokenizers: GPT-2's byte-level BPE gives the ids of an
 * independent implementation (the npm package gpt-3-encoder, a port of OpenAI's encoder) on fixed and on seeded
 * random texts, and decodes them back to the text.
 */
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { codeOfAsync, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import { writeGpt2Tokenizer } from '@swarmtune/test-support/models'
import { loadHfTokenizer, type HfTokenizer } from '../src/index.js'

const reference = createRequire(import.meta.url)('gpt-3-encoder') as { encode: (text: string) => number[] }

let tmp: TempDir
let tok: HfTokenizer
beforeAll(async () => {
  tmp = await tempDir('swarmtune-tokenizer-')
  await writeGpt2Tokenizer(tmp.path)
  tok = await loadHfTokenizer(tmp.path)
})
afterAll(async () => { await tmp.cleanup() })

describe('GPT-2 tokenizer.json', () => {
  it('gives the reference encoder\'s ids on fixed texts and decodes them back', () => {
    for (const text of [
      'Hello World! It\'s 2026, and the café serves naïve crêpes.',
      'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse,',
      '  leading spaces, tabs\tand\nnew lines\r\n, digits 1234567890 and symbols #$%&*(){}[]',
      'emoji 😀🎉 and CJK 日本語のテキスト, Cyrillic текст'
    ]) {
      const ids = tok.encode(text)
      expect(ids).toEqual(reference.encode(text))
      expect(tok.decode(ids)).toBe(text)
    }
  })

  it('agrees with the reference on seeded random texts (replay with SWARMTUNE_SEED)', () => {
    const seed = testSeed('gpt2 tokenizer parity')
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'b', 'e', 'the', ' ', '  ', '\n', '\'s', '\'ll', '1', '23', '.', ',', '—', 'é', '日', '😀', 'T', 'ing'), maxLength: 60 }), (text) => {
      expect(tok.encode(text)).toEqual(reference.encode(text))
    }), { seed, numRuns: 300 })
  })

  it('a folder without tokenizer.json: a coded error saying what to do', async () => {
    expect(await codeOfAsync(loadHfTokenizer(join(tmp.path, 'none')))).toBe('ERR_MODEL_HF_CHECKPOINT_MALFORMED')
  })
})
