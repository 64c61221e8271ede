/**
 * A checkpoint's tokenizer: `tokenizer.json` (and `tokenizer_config.json` when present) of the Hugging Face
 * `tokenizers` format, run by `@huggingface/tokenizers` (the pure-JS port Transformers.js uses; no network access).
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { HfCheckpointError } from '../errors.js'

/** Largest `tokenizer.json` read, in bytes (published ones are 1–20 MB). */
export const MAX_TOKENIZER_JSON_BYTES = 64 * 1024 * 1024

/** Text ↔ token ids of one checkpoint. */
export interface HfTokenizer {
  /** Token ids of `text`, without special tokens added (what a causal LM reads as plain text). @throws HfCheckpointError ERR_MODEL_HF_CHECKPOINT_MALFORMED when the tokenizer gives no id for a token. */
  encode (text: string): number[]
  /** The text of `ids`, special tokens skipped, spacing kept as encoded. */
  decode (ids: readonly number[]): string
}

async function readJson (path: string, limit: number, required: boolean): Promise<unknown> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) {
    if (!required) return undefined
    throw new HfCheckpointError('ERR_MODEL_HF_CHECKPOINT_MALFORMED', `${path} does not exist: reading text needs the checkpoint's tokenizer.json (or pass token ids instead)`)
  }
  if (!info.isFile() || info.size > limit) throw new HfCheckpointError('ERR_MODEL_HF_CHECKPOINT_MALFORMED', `${path} is not a file of at most ${limit} bytes`)
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new HfCheckpointError('ERR_MODEL_HF_CHECKPOINT_MALFORMED', `${path} is not JSON (${(err as Error).message})`, { cause: err })
  }
}

/**
 * Loads the tokenizer of a checkpoint folder.
 * @throws HfCheckpointError ERR_MODEL_HF_CHECKPOINT_MALFORMED when `tokenizer.json` is missing, over 64 MiB, not JSON,
 *   or not a tokenizer the library can build (its error is the `cause`).
 */
export async function loadHfTokenizer (dir: string): Promise<HfTokenizer> {
  const json = await readJson(join(dir, 'tokenizer.json'), MAX_TOKENIZER_JSON_BYTES, true)
  const config = await readJson(join(dir, 'tokenizer_config.json'), MAX_TOKENIZER_JSON_BYTES, false)
  return createHfTokenizer(json, config, join(dir, 'tokenizer.json'))
}

/**
 * A tokenizer from the parsed `tokenizer.json` (and `tokenizer_config.json`, when there is one) of `origin`.
 * @throws HfCheckpointError ERR_MODEL_HF_CHECKPOINT_MALFORMED when the library cannot build it (its error is the `cause`).
 */
export function createHfTokenizer (json: unknown, config: unknown, origin: string): HfTokenizer {
  let tok: Tokenizer
  try {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object')
    tok = new Tokenizer(json, (config ?? {}) as object)
  } catch (err) {
    throw new HfCheckpointError('ERR_MODEL_HF_CHECKPOINT_MALFORMED', `${origin} is not a tokenizer @huggingface/tokenizers can build (${(err as Error).message})`, { cause: err })
  }
  return {
    encode: (text) => {
      const ids = tok.encode(text, { add_special_tokens: false }).ids
      const gap = ids.findIndex((id: unknown) => !Number.isSafeInteger(id))
      if (gap >= 0) throw new HfCheckpointError('ERR_MODEL_HF_CHECKPOINT_MALFORMED', `${origin} gives no id for token ${gap + 1} of the text (its vocabulary lacks it and it has no working unk_token); use the checkpoint's own tokenizer.json`)
      return ids
    },
    // the library refuses an empty list; no ids are the empty text
    decode: (ids) => ids.length === 0 ? '' : tok.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false })
  }
}
