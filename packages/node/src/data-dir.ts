/**
 * The data folder of a daemon (default `~/.swarmtune`, or `$SWARMTUNE_HOME`):
 *
 * ```
 * <root>/                 mode 0700
 *   config.json           daemon configuration (DaemonConfig), mode 0600
 *   identity.key          Ed25519 private key, libp2p protobuf encoding, mode 0600 — the peer id derives from it
 *   control.token         bearer token of the control API, mode 0600
 *   daemon.lock           pid of the daemon holding the folder (exists while one runs)
 *   daemon.json           control URL, peer id and addresses of the running daemon (for the CLI)
 *   blobs/                content-addressed blob store (see blob-store.ts)
 *   ledger/               the ledger's LevelDB store (owned by @swarmtune/ledger)
 * ```
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, rename, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'
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
  /** Settings written into config.json over the defaults. */
  config?: DaemonConfigInit
  /** On an initialised folder: rewrite config.json (defaults + `config`) and keep the key and token. */
  resetConfig?: boolean
}

export interface InitDataDirResult {
  paths: DataDirPaths
  peerId: PeerId
  /** false when the folder already had a key (only `resetConfig` was applied). */
  created: boolean
}

/**
 * Creates a data folder: an Ed25519 identity key and a control token (both mode 0600) and a validated
 * config.json.
 *
 * @throws DataDirError `ERR_NODE_DATA_DIR_EXISTS` when the folder already holds a key and `resetConfig` is not set
 * @throws ConfigError `ERR_NODE_CONFIG_INVALID` when `config` is not valid
 */
export async function initDataDir (root: string, options: InitDataDirOptions = {}): Promise<InitDataDirResult> {
  const paths = dataDirPaths(root)
  const config = validateConfig(createConfig(options.config), 'the configuration given to init')
  await mkdir(paths.root, { recursive: true, mode: DATA_DIR_MODE })
  const existing = await exists(paths.key)
  if (existing && options.resetConfig !== true) {
    const key = await readKey(paths.key)
    throw new DataDirError('ERR_NODE_DATA_DIR_EXISTS',
      `${paths.root} is already initialised (peer id ${peerIdFromPrivateKey(key).toString()}). ` +
      'Keep using it, pass --reset-config to rewrite config.json with defaults (the key is kept), or choose another folder with --data-dir.')
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
  return { paths, peerId: peerIdFromPrivateKey(key), created: !existing }
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
  return validateConfig(createConfig(mergeConfig(parsed as DaemonConfigInit, overrides)), file)
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
  const fh = await open(file, 'wx', SECRET_FILE_MODE)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
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
