/**
 * Every file the CLI reads goes through here: stat first (a regular file, at most `maxBytes`), then read at most
 * `maxBytes + 1` bytes, so a device, a FIFO or a file growing under us can never make a command hang or eat memory.
 * Outputs are checked before any work starts.
 */
import { constants as fsConstants } from 'node:fs'
import { access, stat, type FileHandle } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { MAX_MODEL_JSON_BYTES, MAX_RELEASE_BYTES } from '@swarmtune/model'
import { openBoundedFile, readBoundedFile, type BoundedFileFailure } from '@swarmtune/node'
import { CliError } from './errors.js'

/** The CLI's coded error for a refused input file (the bounded read itself is `@swarmtune/node`'s). */
function inputFileError (f: BoundedFileFailure): CliError {
  if (f.problem === 'too-large') return new CliError('ERR_CLI_INPUT_TOO_LARGE', `${f.message}. Is this the right file?`)
  if (f.problem === 'not-a-file') return new CliError('ERR_CLI_BAD_INPUT_FILE', `${f.message}; pass the path of a file.`)
  return new CliError('ERR_CLI_BAD_INPUT_FILE', `${f.message}. Check the path.`, { cause: f.cause })
}

/**
 * Opens `path` for reading and checks it is a regular file of at most `maxBytes` bytes.
 * `what` names the file in errors ("genesis file", "IDX image file" …).
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE` (missing, unreadable, not a regular file), `ERR_CLI_INPUT_TOO_LARGE`.
 */
async function openRegular (path: string, maxBytes: number, what: string): Promise<{ fh: FileHandle, size: number }> {
  return await openBoundedFile(path, maxBytes, what, inputFileError)
}

/**
 * Checks that `path` is a regular file of at most `maxBytes` bytes, without reading it; returns its size in bytes.
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE`, `ERR_CLI_INPUT_TOO_LARGE`.
 */
export async function checkInputFile (path: string, maxBytes: number, what: string): Promise<number> {
  const { fh, size } = await openRegular(path, maxBytes, what)
  await fh.close()
  return size
}

/**
 * Reads a whole regular file of at most `maxBytes` bytes; never reads more than `maxBytes + 1` bytes even if
 * the file grows after the stat.
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE`, `ERR_CLI_INPUT_TOO_LARGE`.
 */
export async function readInputFile (path: string, maxBytes: number, what: string): Promise<Uint8Array> {
  return await readBoundedFile(path, maxBytes, what, inputFileError)
}

/**
 * The lines of a regular text file (split at `\n`, a trailing `\r` removed), each at most `maxLineBytes` bytes,
 * the file at most `maxFileBytes`. Reads in 64 KiB chunks; memory stays below `maxLineBytes` + one chunk.
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE`, `ERR_CLI_INPUT_TOO_LARGE` (file, or a line, naming its number).
 */
export async function * readInputLines (path: string, opts: { maxLineBytes: number, maxFileBytes: number, what: string }): AsyncGenerator<string> {
  const { fh } = await openRegular(path, opts.maxFileBytes, opts.what)
  try {
    const chunk = new Uint8Array(64 * 1024)
    let pending: Buffer[] = []
    let pendingBytes = 0
    let line = 0
    let total = 0
    const take = (): string => {
      line++
      const text = Buffer.concat(pending).toString('utf8')
      pending = []
      pendingBytes = 0
      return text.endsWith('\r') ? text.slice(0, -1) : text
    }
    const tooLong = (): CliError => new CliError('ERR_CLI_INPUT_TOO_LARGE',
      `line ${line + 1} of the ${opts.what} ${path} is longer than ${opts.maxLineBytes} bytes, the most one exported entry takes; is this a \`swarmtune ledger export --format jsonl\` file?`)
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      total += bytesRead
      if (total > opts.maxFileBytes) throw new CliError('ERR_CLI_INPUT_TOO_LARGE', `the ${opts.what} ${path} grew past ${opts.maxFileBytes} bytes while being read.`)
      let start = 0
      for (let nl = chunk.indexOf(10, 0); nl !== -1 && nl < bytesRead; nl = chunk.indexOf(10, start)) {
        pendingBytes += nl - start
        if (pendingBytes > opts.maxLineBytes) throw tooLong()
        pending.push(Buffer.from(chunk.subarray(start, nl)))
        start = nl + 1
        yield take()
      }
      pendingBytes += bytesRead - start
      if (pendingBytes > opts.maxLineBytes) throw tooLong()
      pending.push(Buffer.from(chunk.subarray(start, bytesRead)))
    }
    if (pendingBytes > 0) yield take()
  } finally {
    await fh.close()
  }
}

/**
 * Checks, before any work, that an output can be written at `path`: it does not exist (unless `force`), it is
 * not a folder when a file is wanted (`kind: 'file'`), and its parent folder exists and is writable. `holds` says
 * what a folder output holds, for the message (default: a tfjs model's model.json and weights).
 * @throws CliError `ERR_CLI_OUTPUT_EXISTS` (exists, no `force`), `ERR_CLI_BAD_OUTPUT` (folder where a file is
 * wanted or the reverse, missing or read-only parent folder).
 */
export async function checkOutputPath (path: string, opts: { kind: 'file' | 'folder', force?: boolean, flag?: string, holds?: string }): Promise<void> {
  const full = resolve(path)
  const existing = await stat(full).catch(() => undefined)
  if (existing !== undefined) {
    if (opts.force !== true) {
      throw new CliError('ERR_CLI_OUTPUT_EXISTS', `${full} exists; pass --force to overwrite it${opts.flag === undefined ? '' : ` or ${opts.flag} to write elsewhere`}.`)
    }
    if (opts.kind === 'file' && existing.isDirectory()) {
      throw new CliError('ERR_CLI_BAD_OUTPUT', `${full} is a folder; this output is a file: name a file path.`)
    }
    if (opts.kind === 'folder' && !existing.isDirectory()) {
      throw new CliError('ERR_CLI_BAD_OUTPUT', `${full} is a file; this output is a folder (${opts.holds ?? 'model.json and weights'}): name a folder path.`)
    }
  }
  const parent = dirname(full)
  const dir = await stat(parent).catch(() => undefined)
  if (dir === undefined || !dir.isDirectory()) {
    throw new CliError('ERR_CLI_BAD_OUTPUT', `cannot write ${full}: the folder ${parent} does not exist; create it first or choose another path.`)
  }
  try {
    await access(parent, fsConstants.W_OK)
  } catch (err) {
    throw new CliError('ERR_CLI_BAD_OUTPUT', `cannot write ${full}: the folder ${parent} is not writable by this user; choose another path.`, { cause: err })
  }
}

/**
 * Checks a tfjs model folder (`community create --from`) before the model package loads it: model.json is a
 * regular file within MAX_MODEL_JSON_BYTES, and every weight file its weightsManifest names is a regular file
 * (not a device, FIFO or link to one) within MAX_RELEASE_BYTES. The model package then checks the content.
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE`, `ERR_CLI_INPUT_TOO_LARGE`.
 */
export async function checkTfjsFolder (dir: string, flag = '--from'): Promise<void> {
  const modelJson = join(dir, 'model.json')
  const hf = await stat(join(dir, 'config.json')).then((x) => x.isFile(), () => false) && !(await stat(modelJson).then((x) => x.isFile(), () => false))
  if (hf) throw new CliError('ERR_CLI_BAD_INPUT_FILE', `${dir} is a Hugging Face checkpoint folder (config.json, no model.json), not a tfjs layers-model folder: language models are read by \`swarmtune model eval\` and \`model generate\``)
  const text = Buffer.from(await readInputFile(modelJson, MAX_MODEL_JSON_BYTES, `tfjs model.json (${flag})`)).toString('utf8')
  let groups: unknown
  try {
    groups = (JSON.parse(text) as { weightsManifest?: unknown }).weightsManifest
  } catch (err) {
    throw new CliError('ERR_CLI_BAD_INPUT_FILE', `${modelJson} is not JSON (${(err as Error).message}); ${flag} takes a tfjs layers-model folder (model.json and its weight files).`, { cause: err })
  }
  if (!Array.isArray(groups)) return // the model package names what is missing
  for (const g of groups as Array<{ paths?: unknown }>) {
    if (!Array.isArray(g?.paths)) continue
    for (const p of g.paths) {
      if (typeof p === 'string' && p !== '' && !p.includes('/') && p !== '.' && p !== '..') await checkInputFile(join(dir, p), MAX_RELEASE_BYTES, `tfjs weight file (${flag})`)
    }
  }
}
