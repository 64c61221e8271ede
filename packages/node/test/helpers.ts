/**
 * Helpers for tests with real daemons on 127.0.0.1: temporary data folders, started daemons, polling,
 * seeded randomness.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createDaemon, initDataDir, type Daemon, type DaemonConfigInit, type DaemonInit } from '../src/index.js'

/** A temporary folder, removed by `cleanup()`. */
export async function tempDir (prefix = 'swarmtune-node-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Settings every test node uses: loopback only, ephemeral ports, no mDNS, no DHT unless asked, silent logs. */
export function testConfig (overrides: DaemonConfigInit = {}): DaemonConfigInit {
  return {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    dht: { mode: 'off', privateAddresses: true },
    control: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    ...overrides
  }
}

export interface TestNode {
  daemon: Daemon
  dir: string
  /** Stops the daemon (if running) and removes its folder. */
  destroy: () => Promise<void>
}

/** Starts a daemon on an initialised data folder, with silent logs and a 1 s maintenance interval. */
export async function runDaemon (dir: string, services?: DaemonInit['services']): Promise<Daemon> {
  const daemon = await createDaemon({ dataDir: dir, logger: pino({ level: 'silent' }), services, maintenanceIntervalMs: 1_000 })
  await daemon.start()
  return daemon
}

/** Initialises a data folder and starts a daemon on it. */
export async function startNode (options: { config?: DaemonConfigInit, dir?: string, services?: DaemonInit['services'] } = {}): Promise<TestNode> {
  const tmp = options.dir == null ? await tempDir() : null
  const dir = options.dir ?? (tmp as { path: string }).path
  if (options.dir == null) await initDataDir(dir, { config: testConfig(options.config) })
  const daemon = await runDaemon(dir, options.services)
  let stopped = false
  return {
    daemon,
    dir,
    destroy: async () => {
      if (!stopped) {
        stopped = true
        await daemon.stop().catch(() => {})
      }
      await tmp?.cleanup()
    }
  }
}

/** Polls `condition` every 50 ms until it holds; throws with `what` after `timeoutMs`. */
export async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The seed of a randomized test: `SWARMTUNE_SEED` if set, else a fresh one. Printed so a run can be replayed. */
export function testSeed (name: string): number {
  const env = process.env.SWARMTUNE_SEED
  const seed = env != null && env !== '' ? Number(env) >>> 0 : randomBytes(4).readUInt32LE(0)
  console.log(`${name}: seed ${seed} (replay with SWARMTUNE_SEED=${seed})`)
  return seed
}

/** Deterministic bytes from a seed (xorshift32), fast enough for tens of MiB. */
export function seededBytes (seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  const view = new Uint32Array(out.buffer, 0, Math.floor(length / 4))
  let x = seed === 0 ? 0x9e3779b9 : seed
  for (let i = 0; i < view.length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    view[i] = x
  }
  for (let i = view.length * 4; i < length; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) & 0xff
  return out
}
