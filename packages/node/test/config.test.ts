/**
 * Configuration and data folder: validation with clear, field-level errors; init creating secrets with mode
 * 0600; refusing unsafe permissions, missing folders and double initialisation; the folder lock.
 */
import { chmod, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import { acquireLock } from '../src/lock.js'
import { createConfig, DEFAULT_CONFIG, mergeConfig, validateConfig } from '../src/config.js'
import { dataDirPaths, initDataDir, openDataDir } from '../src/data-dir.js'
import { MAX_CONFIG_FILE_BYTES, MAX_CONTROL_TOKEN_FILE_BYTES, MAX_IDENTITY_KEY_FILE_BYTES } from '../src/constants.js'
import { ConfigError } from '../src/errors.js'

describe('config validation', () => {
  it('accepts the defaults and merges groups one level deep', () => {
    expect(validateConfig(createConfig())).toEqual(DEFAULT_CONFIG)
    const c = createConfig({ control: { port: 0 }, dht: { mode: 'server' } })
    expect(c.control).toEqual({ host: '127.0.0.1', port: 0 })
    expect(c.dht).toEqual({ mode: 'server', privateAddresses: true })
    expect(mergeConfig({ listen: ['/ip4/0.0.0.0/tcp/1'] }, { listen: ['/ip4/127.0.0.1/tcp/2'] })).toEqual({ listen: ['/ip4/127.0.0.1/tcp/2'] })
  })

  it('lists every bad field with its path, and what is expected', () => {
    const bad = {
      ...createConfig(),
      listen: ['not-a-multiaddr'],
      bootstrap: ['/ip4/192.0.2.7/tcp/4101'],
      control: { host: '0.0.0.0', port: 70000 },
      communities: ['hello'],
      surprise: true
    }
    let err: unknown
    try {
      validateConfig(bad, 'config.json')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toMatchObject({ name: 'ConfigError', code: 'ERR_NODE_CONFIG_INVALID' })
    const message = (err as Error).message
    for (const path of ['listen.0', 'bootstrap.0', 'control.host', 'control.port', 'communities.0', '(top level)']) {
      expect(message).toContain(`  ${path}:`)
    }
  })

  it('accepts only loopback control hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1']) expect(() => validateConfig(createConfig({ control: { host } }))).not.toThrow()
    for (const host of ['0.0.0.0', '::', '192.0.2.2', 'localhost']) expect(() => validateConfig(createConfig({ control: { host } }))).toThrow(ConfigError)
  })

  it('refuses a connection target above the maximum', () => {
    expect(() => validateConfig(createConfig({ connections: { target: 10, max: 5 } }))).toThrow(/connections.target/)
  })
})

describe('data folder', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeEach(async () => { dir = await tempDir() })
  afterEach(async () => { await dir.cleanup() })

  it('init creates an Ed25519 identity and a token with mode 0600, and a valid config', async () => {
    const { peerId, paths, created } = await initDataDir(dir.path, { config: { control: { port: 0 } } })
    expect(created).toBe(true)
    expect((await stat(paths.key)).mode & 0o777).toBe(0o600)
    expect((await stat(paths.token)).mode & 0o777).toBe(0o600)
    expect((await stat(paths.root)).mode & 0o077).toBe(0)
    const opened = await openDataDir(dir.path)
    expect(opened.peerId.toString()).toBe(peerId.toString())
    expect(opened.privateKey.type).toBe('Ed25519')
    expect(opened.token.length).toBeGreaterThanOrEqual(40)
    expect(opened.config.control.port).toBe(0)
  })

  it('refuses to initialise twice, and --reset-config keeps the identity', async () => {
    const first = await initDataDir(dir.path)
    await expect(initDataDir(dir.path)).rejects.toMatchObject({ name: 'DataDirError', code: 'ERR_NODE_DATA_DIR_EXISTS' })
    const token = await readFile(first.paths.token, 'utf8')
    const again = await initDataDir(dir.path, { resetConfig: true, config: { mdns: false } })
    expect(again.created).toBe(false)
    expect(again.peerId.toString()).toBe(first.peerId.toString())
    expect(await readFile(first.paths.token, 'utf8')).toBe(token)
    expect((await openDataDir(dir.path)).config.mdns).toBe(false)
  })

  it('refuses a key or token readable by others', async () => {
    const { paths } = await initDataDir(dir.path)
    await chmod(paths.key, 0o644)
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_KEY_PERMISSIONS' })
    await chmod(paths.key, 0o600)
    await chmod(paths.token, 0o640)
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_KEY_PERMISSIONS' })
  })

  it('reports a missing folder, a damaged key and a broken config with their codes', async () => {
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_MISSING' })
    const { paths } = await initDataDir(dir.path)
    await writeFile(paths.config, '{ "listen": [ ')
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_CONFIG_INVALID' })
    await writeFile(paths.config, JSON.stringify({ control: { host: '0.0.0.0' } }))
    await expect(openDataDir(dir.path)).rejects.toThrow(/control\.host/)
    await writeFile(paths.config, '{}')
    expect((await openDataDir(dir.path)).config).toEqual(DEFAULT_CONFIG)
    await writeFile(paths.key, new Uint8Array([1, 2, 3]), { mode: 0o600 })
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_KEY_INVALID' })
  })

  it('refuses a config.json, key or token that is a link to /dev/zero or oversized, with a code and without reading it', async () => {
    const { paths } = await initDataDir(dir.path)
    const opened = await openDataDir(dir.path)
    const sameAsFirst = (d: Awaited<ReturnType<typeof openDataDir>>): void => {
      expect(d.peerId.equals(opened.peerId)).toBe(true)
      expect(d.token).toBe(opened.token)
      expect(d.config).toEqual(opened.config)
    }
    const config = await readFile(paths.config)
    await rm(paths.config)
    await symlink('/dev/zero', paths.config)
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_CONFIG_INVALID', message: expect.stringMatching(/not a regular file/) })
    await rm(paths.config)
    await writeFile(paths.config, Buffer.concat([config, Buffer.alloc(MAX_CONFIG_FILE_BYTES, 0x20)]))
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_CONFIG_INVALID', message: expect.stringMatching(/at most 65536/) })
    await writeFile(paths.config, config)
    sameAsFirst(await openDataDir(dir.path))

    const token = await readFile(paths.token)
    await writeFile(paths.token, Buffer.alloc(MAX_CONTROL_TOKEN_FILE_BYTES + 1, 0x61), { mode: 0o600 })
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_KEY_INVALID', message: expect.stringMatching(/control token/) })
    await writeFile(paths.token, token)
    const key = await readFile(paths.key)
    await writeFile(paths.key, Buffer.concat([key, Buffer.alloc(MAX_IDENTITY_KEY_FILE_BYTES)]))
    await expect(openDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_KEY_INVALID', message: expect.stringMatching(/identity key/) })
    await writeFile(paths.key, key)
    sameAsFirst(await openDataDir(dir.path))
  })

  it('the lock admits one holder at a time and is taken over from a dead process', async () => {
    const { lock } = dataDirPaths(dir.path)
    const held = await acquireLock(lock)
    await expect(acquireLock(lock)).rejects.toMatchObject({ name: 'DaemonLockedError', code: 'ERR_NODE_LOCKED' })
    await held.release()
    // a lock file left by a process that no longer exists (pid far above the kernel's pid_max of 2^22)
    await writeFile(lock, '99999999\n')
    const taken = await acquireLock(lock)
    await taken.release()
  })
})
