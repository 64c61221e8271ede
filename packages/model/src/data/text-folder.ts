/**
 * A volunteer's own text as a dataset for a causal language model: every `.txt` file of a folder (and its
 * sub-folders), UTF-8, tokenized with the community's tokenizer and packed into windows of the community's context
 * length — consecutive, non-overlapping windows of each file's tokens (a file's tail shorter than a window is
 * dropped), so that every window is text a person wrote in one piece.
 */
import { open, realpath, stat } from 'node:fs/promises'
import { MAX_TEXT_FILE_BYTES, MAX_TEXT_FOLDER_BYTES } from '../constants.js'
import { DataSourceError } from '../errors.js'
import type { Dataset } from './dataset.js'
import { filesUnder } from './image-folder.js'

/** How to read a text folder. */
export interface TextFolderOptions {
  /** Tokens per window (the community's context length), ≥ 2. */
  window: number
  /** Text → token ids (the community's tokenizer, without special tokens). */
  encode: (text: string) => number[]
  /** Fewest windows accepted (default 1). */
  minExamples?: number
}

/** What `loadTextFolder` read besides the windows. */
export interface TextFolderDataset extends Dataset {
  /** The `.txt` files read, in reading order (sorted by path). */
  files: string[]
  /** Tokens of all files, and of those that are in a window. */
  tokens: number
  tokensInWindows: number
}

async function readText (path: string, max: number): Promise<string> {
  const handle = await open(path, 'r').catch((err: Error) => {
    throw new DataSourceError('ERR_MODEL_DATA_NOT_FOUND', path, `${path} cannot be opened (${err.message}): check its permissions`, { cause: err })
  })
  try {
    const { size } = await handle.stat()
    if (size > max) throw new DataSourceError('ERR_MODEL_DATA_FILE_TOO_LARGE', path, `${path} has ${size} bytes, above the limit of ${max}: split it into smaller .txt files or remove it`)
    const bytes = new Uint8Array(size)
    const { bytesRead } = await handle.read(bytes, 0, size, 0)
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, bytesRead)).replace(/^\uFEFF/, '')
    } catch (err) {
      throw new DataSourceError('ERR_MODEL_TEXT_NOT_UTF8', path, `${path} is not UTF-8 text (${(err as Error).message}): convert it (e.g. \`iconv -f latin1 -t utf-8\`) or remove it`, { cause: err })
    }
  } finally {
    await handle.close()
  }
}

/**
 * Reads a volunteer's text folder: each non-hidden `*.txt` file under `path` (links must stay inside it), sorted by
 * path, UTF-8 (a leading byte-order mark dropped), at most `MAX_TEXT_FILE_BYTES` each and `MAX_TEXT_FOLDER_BYTES`
 * in all; other files are ignored. Each file's token ids are cut into windows of `window` tokens.
 * @returns windows as examples: `images` holds the ids (float32, exact below 2^24), `exampleShape` `[window]`, one
 *   class (every label 0), plus the files read and token counts.
 * @throws DataSourceError ERR_MODEL_DATA_NOT_FOUND (no such folder, no .txt file), ERR_MODEL_DATA_PATH_ESCAPE,
 *   ERR_MODEL_DATA_FILE_TOO_LARGE (a file or the folder over its limit), ERR_MODEL_TEXT_NOT_UTF8,
 *   ERR_MODEL_TOO_FEW_EXAMPLES (fewer than `minExamples` whole windows: too little text).
 */
export async function loadTextFolder (path: string, options: TextFolderOptions): Promise<TextFolderDataset> {
  const { window, encode } = options
  const min = options.minExamples ?? 1
  let root: string
  try {
    root = await realpath(path)
    if (!(await stat(root)).isDirectory()) throw new Error('not a folder')
  } catch (err) {
    throw new DataSourceError('ERR_MODEL_DATA_NOT_FOUND', path, `text folder ${path} cannot be read (${(err as Error).message}): pass a folder of .txt files`, { cause: err })
  }
  const files = (await filesUnder(root, path, new Set([root]))).filter((f) => f.toLowerCase().endsWith('.txt'))
  if (files.length === 0) throw new DataSourceError('ERR_MODEL_DATA_NOT_FOUND', path, `${path} holds no .txt file: put the volunteer's text there as UTF-8 .txt files (one or many)`)
  let total = 0
  let tokens = 0
  const windows: number[][] = []
  for (const f of files) {
    const text = await readText(f, MAX_TEXT_FILE_BYTES)
    total += Buffer.byteLength(text)
    if (total > MAX_TEXT_FOLDER_BYTES) throw new DataSourceError('ERR_MODEL_DATA_FILE_TOO_LARGE', path, `the .txt files of ${path} hold more than ${MAX_TEXT_FOLDER_BYTES} bytes in all: use a part of them`)
    const ids = encode(text)
    tokens += ids.length
    for (let at = 0; at + window <= ids.length; at += window) windows.push(ids.slice(at, at + window))
  }
  if (windows.length < min) {
    throw new DataSourceError('ERR_MODEL_TOO_FEW_EXAMPLES', path, `${path} gives ${windows.length} window(s) of ${window} tokens (${tokens} tokens in ${files.length} file(s)); at least ${min} are needed: add text`)
  }
  const images = new Float32Array(windows.length * window)
  windows.forEach((w, i) => { images.set(w, i * window) })
  return { images, labels: new Uint8Array(windows.length), count: windows.length, exampleShape: [window], classes: 1, files, tokens, tokensInWindows: windows.length * window }
}
