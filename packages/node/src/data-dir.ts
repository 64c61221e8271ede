/**
 * The data folder of a daemon (default `~/.swarmtune`, or `$SWARMTUNE_HOME`):
 *
 * ```
 * <root>/                 mode 0700
 *   config.json           daemon configuration (DaemonConfig), mode 0600
 *   identity.key          Ed25519 private key, libp2p protobuf encoding, mode 0600 — the peer id derives from it
 *   control.token         bearer token of the control API, mode 0600
 *   daemon.lock           pid, host and start time of the daemon holding the folder (exists while one runs; lock.ts)
 *   daemon.json           control URL, peer id and addresses of the running daemon (for the CLI)
 *   blobs/                content-addressed blob store (see blob-store.ts)
 *   ledger/               the ledger's LevelDB store (owned by @swarmtune/ledger)
 * ```
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'
import { writeSynced } from '@swarmtune/ledger'
import { createConfig, mergeConfig, validateConfig, type DaemonConfig, type DaemonConfigInit } from './config.js'
import { readBoundedFile } from './bounded-file.js'
import {
  CONTROL_TOKEN_BYTES, DATA_DIR_ENV, DATA_DIR_MODE, MAX_CONFIG_FILE_BYTES, MAX_CONTROL_TOKEN_FILE_BYTES, MAX_IDENTITY_KEY_FILE_BYTES,
  SECRET_FILE_MODE
} from './constants.js'
import { ConfigError, DataDirError } from './errors.js'

export interface DataDirPaths {
  root: string
  config: string
  key: string
  token: string
  lock: string
  daemonInfo: string
  blobs: string
  ledger: string
}

/** An opened data folder: validated configuration, identity and control token. */
export interface DataDir {
  paths: DataDirPaths
  config: DaemonConfig
  privateKey: Ed25519PrivateKey
  peerId: PeerId
  token: string
}

/** `$SWARMTUNE_HOME` if set, otherwise `~/.swarmtune`. */
export function defaultDataDir (): string {
  const env = process.env[DATA_DIR_ENV]
  return env != null && env !== '' ? resolve(env) : join(homedir(), '.swarmtune')
}

export function dataDirPaths (root: string): DataDirPaths {
  const r = resolve(root)
  return {
    root: r,
    config: join(r, 'config.json'),
    key: join(r, 'identity.key'),
    token: join(r, 'control.token'),
    lock: join(r, 'daemon.lock'),
    daemonInfo: join(r, 'daemon.json'),
    blobs: join(r, 'blobs'),
    ledger: join(r, 'ledger')
  }
}

export interface InitDataDirOptions {
  /** Settings written into config.json over the defaults (or, with `update`, over the folder's config.json). */
  config?: DaemonConfigInit
  /** On an initialised folder: rewrite config.json (defaults + `config`) and keep the key and token. */
  resetConfig?: boolean
  /**
   * On an initialised folder: write `config` over its config.json, keeping every other setting, the key and the
   * token (`swarmtune init -d <folder> --listen …`). Ignored with `resetConfig`; on a new folder it changes nothing.
   */
  update?: boolean
}

/** One setting of config.json that `initDataDir` changed, as a dotted path (`control.port`) and JSON values. */
export interface ConfigChange {
  field: string
  from: unknown
  to: unknown
}

export interface InitDataDirResult {
  paths: DataDirPaths
  peerId: PeerId
  /** false when the folder already had a key (only `resetConfig` or `update` was applied). */
  created: boolean
  /** On an initialised folder: each setting whose value changed (with `resetConfig`, also those set back to their defaults). */
  changes: ConfigChange[]
}

/**
 * Creates a data folder: an Ed25519 identity key and a control token (both mode 0600) and a validated
 * config.json. On a folder that already has a key, `resetConfig` rewrites config.json from the defaults and
 * `update` changes only the settings given; both report what changed.
 *
 * @throws DataDirError `ERR_NODE_DATA_DIR_EXISTS` when the folder already holds a key and neither `resetConfig`
 *   nor `update` is set; `ERR_NODE_DATA_DIR_NOT_FOLDER` when the path, or a folder above it, is a file;
 *   `ERR_NODE_DATA_DIR_UNWRITABLE` when the folder cannot be created there (read-only, or a virtual file system
 *   such as /proc)
 * @throws ConfigError `ERR_NODE_CONFIG_INVALID` when `config` is not valid, or (with `update`) the folder's
 *   config.json is not
 */
export async function initDataDir (root: string, options: InitDataDirOptions = {}): Promise<InitDataDirResult> {
  const paths = dataDirPaths(root)
  const given = 'Correct the options given to `swarmtune init` (`swarmtune init --help`; doc/daemon.md, "Configuration").'
  let config = validateConfig(createConfig(options.config), 'the configuration given to init', given)
  await makeFolder(paths.root)
  const existing = await exists(paths.key)
  if (existing && options.resetConfig !== true && options.update !== true) {
    const key = await readKey(paths.key)
    throw new DataDirError('ERR_NODE_DATA_DIR_EXISTS',
      `${paths.root} is already initialised (peer id ${peerIdFromPrivateKey(key).toString()}). ` +
      `Keep using it; change settings with \`swarmtune init -d ${paths.root} --listen …\` (the other settings, the key and the token are kept); ` +
      'pass --reset-config to rewrite config.json from defaults (the key is kept); or choose another folder with --data-dir.')
  }
  let before: DaemonConfig | undefined
  if (existing) {
    if (options.update === true && options.resetConfig !== true) {
      before = await readConfig(paths.config)
      config = validateConfig(createConfig(mergeConfig(before, options.config ?? {})), `the settings given to init over ${paths.config}`, given)
    } else {
      before = await readConfig(paths.config).catch(() => undefined)
    }
  }
  let key: Ed25519PrivateKey
  if (existing) {
    key = await readKey(paths.key)
  } else {
    key = await generateKeyPair('Ed25519')
    await writeSecret(paths.key, privateKeyToProtobuf(key), true)
  }
  if (!existing || !(await exists(paths.token))) {
    await writeSecret(paths.token, randomBytes(CONTROL_TOKEN_BYTES).toString('base64url') + '\n', false)
  }
  await writeFileAtomic(paths.config, JSON.stringify(config, null, 2) + '\n', SECRET_FILE_MODE)
  return { paths, peerId: peerIdFromPrivateKey(key), created: !existing, changes: before === undefined ? [] : configChanges(before, config) }
}

/** The settings that differ between two configurations, as dotted paths, in the order of `after`. */
export function configChanges (before: DaemonConfig, after: DaemonConfig): ConfigChange[] {
  const changes: ConfigChange[] = []
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (isRecord(a) && isRecord(b)) {
      for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) walk(a[k], b[k], path === '' ? k : `${path}.${k}`)
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      changes.push({ field: path, from: a, to: b })
    }
  }
  walk(before, after, '')
  return changes
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Creates the folder `dir` and the missing folders above it, one level at a time. Node's recursive mkdir is not
 * used: on a file system that refuses new folders with ENOENT (/proc) it retries for ever at full CPU.
 * @throws DataDirError `ERR_NODE_DATA_DIR_NOT_FOLDER` (`dir` or a folder above it is a file or a device),
 *   `ERR_NODE_DATA_DIR_UNWRITABLE` (a folder cannot be created in its parent)
 */
async function makeFolder (dir: string): Promise<void> {
  const missing: string[] = []
  let at = dir
  for (;;) {
    const s = await stat(at).catch((err: NodeJS.ErrnoException) => err)
    if (!(s instanceof Error)) {
      if (!s.isDirectory()) {
        const what = s.isFile() ? 'a file' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : 'not a folder'
        throw new DataDirError('ERR_NODE_DATA_DIR_NOT_FOLDER', at === dir
          ? `${dir} is ${what}, not a folder: a data folder holds config.json, identity.key and the stores. Choose a folder path that does not exist yet (or an empty folder).`
          : `cannot create the data folder ${dir}: ${at} is ${what}, not a folder. Choose a path under a folder (e.g. under your home folder).`)
      }
      break
    }
    if (s.code === 'ENOTDIR') {
      // a file further up: keep walking until it is found and named
    } else if (s.code !== 'ENOENT') {
      throw new DataDirError('ERR_NODE_DATA_DIR_UNWRITABLE', `cannot create the data folder ${dir}: ${at} cannot be read (${s.code ?? s.message}). Choose another folder.`, { cause: s })
    }
    missing.unshift(at)
    const up = dirname(at)
    if (up === at) break
    at = up
  }
  for (const d of missing) {
    try {
      await mkdir(d, { mode: DATA_DIR_MODE })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST' && (await stat(d).then((x) => x.isDirectory(), () => false))) continue
      throw new DataDirError('ERR_NODE_DATA_DIR_UNWRITABLE', `cannot create the data folder ${dir}: ${dirname(d)} does not accept a new folder ${basename(d)} ` +
        `(${code ?? (err as Error).message}${code === 'EACCES' || code === 'EPERM' ? ': no write permission' : code === 'EROFS' ? ': read-only file system' : code === 'ENOENT' ? ': it is not a normal folder, e.g. a virtual file system such as /proc' : ''}). ` +
        'Choose a folder on a writable disk, e.g. under your home folder.', { cause: err })
    }
  }
}

/**
 * Opens an initialised data folder.
 *
 * @param overrides - settings that replace those of config.json for this run (CLI flags, tests)
 * @throws DataDirError `ERR_NODE_DATA_DIR_MISSING` (no folder or no key: run `swarmtune init`),
 *   `ERR_NODE_KEY_PERMISSIONS` (key or token readable by others), `ERR_NODE_KEY_INVALID` (not an Ed25519 key;
 *   key or token not a regular file, or larger than `MAX_IDENTITY_KEY_FILE_BYTES` / `MAX_CONTROL_TOKEN_FILE_BYTES`)
 * @throws ConfigError `ERR_NODE_CONFIG_INVALID` (also: config.json not a regular file, or larger than
 *   `MAX_CONFIG_FILE_BYTES`)
 */
export async function openDataDir (root: string, overrides: DaemonConfigInit = {}): Promise<DataDir> {
  const paths = dataDirPaths(root)
  if (!(await exists(paths.key))) {
    throw new DataDirError('ERR_NODE_DATA_DIR_MISSING',
      `no swarmtune data folder at ${paths.root} (identity.key is missing). Create one with \`swarmtune init --data-dir ${paths.root}\`.`)
  }
  await checkSecretMode(paths.key)
  await checkSecretMode(paths.token)
  const privateKey = await readKey(paths.key)
  const token = Buffer.from(await readBoundedFile(paths.token, MAX_CONTROL_TOKEN_FILE_BYTES, 'control token', (f) =>
    new DataDirError(f.problem === 'unreadable' ? 'ERR_NODE_DATA_DIR_MISSING' : 'ERR_NODE_KEY_INVALID',
      `${f.message}. Delete it and run \`swarmtune init --reset-config\` to create a new one.`, { cause: f.cause }))).toString('utf8').trim()
  if (token.length < 16) {
    throw new DataDirError('ERR_NODE_KEY_INVALID', `${paths.token} holds no usable token. Delete it and run \`swarmtune init --reset-config\` to create a new one.`)
  }
  const config = await readConfig(paths.config, overrides)
  return { paths, config, privateKey, peerId: peerIdFromPrivateKey(privateKey), token }
}

/**
 * Reads (bounded: a regular file of at most `MAX_CONFIG_FILE_BYTES`) and validates config.json, applying
 * `overrides` over it.
 * @throws ConfigError `ERR_NODE_CONFIG_INVALID`
 */
export async function readConfig (file: string, overrides: DaemonConfigInit = {}): Promise<DaemonConfig> {
  const text = Buffer.from(await readBoundedFile(file, MAX_CONFIG_FILE_BYTES, 'configuration file', (f) =>
    new ConfigError(`${f.message}. Re-create it with \`swarmtune init --reset-config\`.`, { cause: f.cause }))).toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON (${(err as Error).message}). Fix the syntax or re-create it with \`swarmtune init --reset-config\`.`, { cause: err })
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${file} must hold a JSON object. Re-create it with \`swarmtune init --reset-config\`.`)
  }
  // the file on its own first, so that a bad option of this run is not blamed on config.json
  validateConfig(createConfig(parsed as DaemonConfigInit), file)
  return validateConfig(createConfig(mergeConfig(parsed as DaemonConfigInit, overrides)), `the settings given for this run over ${file} (command-line options or createDaemon's config)`,
    `${file} itself is valid: correct those options (\`swarmtune daemon --help\`; doc/daemon.md, "Configuration").`)
}

async function readKey (file: string): Promise<Ed25519PrivateKey> {
  const bytes = await readBoundedFile(file, MAX_IDENTITY_KEY_FILE_BYTES, 'identity key', (f) =>
    new DataDirError('ERR_NODE_KEY_INVALID', `${f.message}; an identity key is a 68-byte libp2p private key. Restore it from a backup; deleting it and running \`swarmtune init\` gives this node a new peer id.`, { cause: f.cause }))
  let key
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new DataDirError('ERR_NODE_KEY_INVALID', `${file} is not a libp2p private key (${(err as Error).message}). Restore it from a backup; deleting it and running \`swarmtune init\` gives this node a new peer id.`, { cause: err })
  }
  if (key.type !== 'Ed25519') {
    throw new DataDirError('ERR_NODE_KEY_INVALID', `${file} holds a ${key.type} key; swarmtune identities are Ed25519. Use another data folder or restore the Ed25519 key.`)
  }
  return key
}

async function checkSecretMode (file: string): Promise<void> {
  if (process.platform === 'win32') return
  let s
  try {
    s = await stat(file)
  } catch (err) {
    throw new DataDirError('ERR_NODE_DATA_DIR_MISSING', `${file} is missing (${(err as Error).message}). Run \`swarmtune init --reset-config\` to re-create the control token.`, { cause: err })
  }
  if ((s.mode & 0o077) !== 0) {
    throw new DataDirError('ERR_NODE_KEY_PERMISSIONS',
      `${file} is readable by other users (mode ${(s.mode & 0o777).toString(8)}); it must be 600 because it holds a secret. Run \`chmod 600 ${file}\`.`)
  }
}

async function writeSecret (file: string, data: Uint8Array | string, exclusive: boolean): Promise<void> {
  if (!exclusive) {
    await writeFileAtomic(file, data, SECRET_FILE_MODE)
    return
  }
  await writeSynced(file, data, { flag: 'wx', mode: SECRET_FILE_MODE })
  await chmod(file, SECRET_FILE_MODE)
}

/** Writes through a temporary file and a rename, so readers see the old or the new file, never half of one. */
export async function writeFileAtomic (file: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, data, { mode })
  await chmod(tmp, mode)
  await rename(tmp, file)
}

async function exists (file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}
