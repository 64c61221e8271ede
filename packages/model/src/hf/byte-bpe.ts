/**
 * A byte-level BPE tokenizer the project makes (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with
 * Subword Units"; byte-level as GPT-2's, Radford et al. 2019): the 256 byte symbols (ids 0 … 255, byte b ↦ id b)
 * and merges learned on a corpus by a deterministic trainer, written as a `tokenizer.json` of the Hugging Face
 * `tokenizers` format (BPE model, ByteLevel pre-tokenizer and decoder) that `loadHfTokenizer` reads. Every UTF-8
 * text encodes (all bytes are symbols; no unknown token) and decodes back to itself.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidDataError } from '../errors.js'

/**
 * GPT-2's pre-tokenization pattern (OpenAI's `encoder.py`; the ByteLevel pre-tokenizer's with `use_regex`): the
 * trainer counts pairs inside these pieces only, as the tokenizer applies merges inside them.
 */
export const BYTE_LEVEL_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

/** Most merges `trainByteLevelBpe` learns (a vocabulary of at most 256 + 65,280 = 65,536 ids). */
export const MAX_BPE_MERGES = 65_280

/**
 * GPT-2's map of bytes to printable characters (`bytes_to_unicode`): the printable Latin-1 bytes map to themselves,
 * the others to U+0100 … in byte order; index b holds byte b's symbol.
 */
export const BYTE_SYMBOLS: readonly string[] = Object.freeze((() => {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  let next = 256
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++))
})())

/** A trained byte-level BPE: `vocab[id]` is the token's symbol string (distinct), ids 256 … in the order merges made them. */
export interface ByteLevelBpe {
  vocab: string[]
  merges: Array<[string, string]>
}

/**
 * Learns up to `merges` merges on `text`: the text is cut into pieces by `BYTE_LEVEL_PATTERN`, each piece's UTF-8
 * bytes are symbols, and each round merges the most frequent adjacent pair over all pieces (weighted by the piece's
 * count), the smaller pair of ids on a tie, until `merges` are learned or no pair occurs `minFrequency` times
 * (default 2). Deterministic: the same text and options give the same merges on every machine.
 * @throws InvalidDataError (`ERR_MODEL_INVALID_DATA`) for merges not an integer in 0 … `MAX_BPE_MERGES` or
 *   minFrequency < 1.
 */
export function trainByteLevelBpe (text: string, options: { merges: number, minFrequency?: number }): ByteLevelBpe {
  const { merges } = options
  const minFrequency = options.minFrequency ?? 2
  if (!Number.isSafeInteger(merges) || merges < 0 || merges > MAX_BPE_MERGES) throw new InvalidDataError(`BPE merges ${merges}: expected an integer from 0 to ${MAX_BPE_MERGES}`)
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) throw new InvalidDataError(`BPE minFrequency ${minFrequency}: expected a positive integer`)
  const counts = new Map<string, number>()
  for (const piece of text.match(BYTE_LEVEL_PATTERN) ?? []) counts.set(piece, (counts.get(piece) ?? 0) + 1)
  const encoder = new TextEncoder()
  // pieces in a fixed order (their first occurrence), as arrays of ids
  const words = [...counts].map(([piece, count]) => ({ ids: Array.from(encoder.encode(piece)), count }))
  const vocab = [...BYTE_SYMBOLS]
  const ids = new Map(vocab.map((token, id) => [token, id]))
  const learned: Array<[string, string]> = []
  const key = (a: number, b: number): number => a * 65_536 + b
  while (learned.length < merges) {
    const pairs = new Map<number, number>()
    for (const w of words) for (let i = 0; i + 1 < w.ids.length; i++) { const k = key(w.ids[i], w.ids[i + 1]); pairs.set(k, (pairs.get(k) ?? 0) + w.count) }
    let best = -1
    let bestCount = 0
    for (const [k, n] of pairs) if (n > bestCount || (n === bestCount && k < best)) { best = k; bestCount = n }
    if (best < 0 || bestCount < minFrequency) break
    const a = Math.floor(best / 65_536)
    const b = best % 65_536
    // two merges can spell the same token (a·bc, ab·c): it keeps one id
    const token = vocab[a] + vocab[b]
    let id = ids.get(token)
    if (id === undefined) {
      ids.set(token, id = vocab.length)
      vocab.push(token)
    }
    learned.push([vocab[a], vocab[b]])
    for (const w of words) {
      if (w.ids.length < 2) continue
      const out: number[] = []
      for (let i = 0; i < w.ids.length; i++) {
        if (i + 1 < w.ids.length && w.ids[i] === a && w.ids[i + 1] === b) { out.push(id); i++ } else out.push(w.ids[i])
      }
      w.ids = out
    }
  }
  return { vocab, merges: learned }
}

/**
 * The `tokenizer.json` object of `bpe` in the Hugging Face `tokenizers` format (as GPT-2's): no normalizer, the
 * ByteLevel pre-tokenizer (no prefix space, GPT-2's pattern), the BPE model with `vocab` and `merges` ("a b"; byte
 * symbols hold no space), the ByteLevel decoder; no special tokens.
 */
export function byteLevelTokenizerJson (bpe: ByteLevelBpe): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab: Object.fromEntries(bpe.vocab.map((token, id) => [token, id])),
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`)
    }
  }
}

/**
 * Writes `byteLevelTokenizerJson(bpe)` as `<dir>/tokenizer.json` (the folder created if missing; written under a
 * temporary name and renamed into place).
 * @returns the file's path
 */
export async function writeByteLevelTokenizer (bpe: ByteLevelBpe, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'tokenizer.json')
  const temp = join(dir, `.tokenizer.json.${process.pid}.tmp`)
  await writeFile(temp, JSON.stringify(byteLevelTokenizerJson(bpe)))
  await rename(temp, path)
  return path
}
