/**
 * Test daemons on 127.0.0.1: the settings every test node uses, a daemon started on a data folder (a fresh
 * one unless told), and a logger whose JSON lines a test can read. The rounds tests' maintainer and volunteers
 * build on these in `@swarmtune/test-support/rounds`.
 *
 * ```ts
 * import { startNode, testConfig } from '@swarmtune/test-support/daemons'
 *
 * const a = await startNode()                                              // a fresh folder, loopback only
 * const b = await startNode({ config: { bootstrap: [a.daemon.addresses()[0]] } })
 * await b.destroy(); await a.destroy()                                     // stops each daemon, removes its folder
 * ```
 */
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { createDaemon, initDataDir, type Daemon, type DaemonConfigInit, type DaemonEvent, type ServiceFactoryMap, type ServiceMap } from '@swarmtune/node'
import { tempDir } from './index.js'

/** A TCP port on 127.0.0.1 nothing listens on (bound, then released): a bootstrap address that refuses. */
export async function closedPort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => { resolve(port) })
    })
  })
}

/**
 * Settings every test node uses: loopback only, ephemeral ports, no mDNS, no DHT unless asked, no AutoNAT, UPnP or
 * relaying (nothing to learn on loopback), silent logs; `overrides` win.
 */
export function testConfig (overrides: DaemonConfigInit = {}): DaemonConfigInit {
  return {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    dht: { mode: 'off', privateAddresses: true },
    nat: { upnp: false, autonat: false, holePunching: true },
    relay: { serve: 'off', reserve: 'off' },
    control: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    ...overrides
  }
}

/** Initialises the data folder `path` with {@link testConfig}(`overrides`); resolves with `path`. */
export async function testDataDir (path: string, overrides: DaemonConfigInit = {}): Promise<string> {
  await initDataDir(path, { config: testConfig(overrides) })
  return path
}

/** A started test daemon and its data folder. */
export interface TestNode<S extends ServiceMap = ServiceMap> {
  daemon: Daemon<S>
  dir: string
  /** Stops the daemon (if running) and removes its folder when {@link startNode} made it. */
  destroy: () => Promise<void>
}

/** How {@link runDaemon} starts a daemon: its `logger` (default silent), and an array that receives every event it emits from before its start on. */
export interface RunDaemonOptions {
  logger?: Logger
  events?: DaemonEvent[]
}

/** Starts a daemon on the initialised data folder `dir` with a 1 s maintenance interval. */
export async function runDaemon<S extends ServiceMap = ServiceMap> (dir: string, services?: ServiceFactoryMap<S>, options: RunDaemonOptions = {}): Promise<Daemon<S>> {
  const daemon = await createDaemon<S>({ dataDir: dir, logger: options.logger ?? pino({ level: 'silent' }), services, maintenanceIntervalMs: 1_000 })
  const events = options.events
  if (events !== undefined) daemon.events.subscribe((e) => { events.push(e) })
  await daemon.start()
  return daemon
}

/** What {@link startNode} starts: `config` for a fresh folder, or the initialised folder `dir`; the daemon's `services`, `logger` and `events` ({@link RunDaemonOptions}). */
export interface StartNodeOptions<S extends ServiceMap = ServiceMap> extends RunDaemonOptions {
  config?: DaemonConfigInit
  dir?: string
  services?: ServiceFactoryMap<S>
}

/** Destroys every node given (in parallel; `undefined` entries, of a set-up that failed half-way, are skipped). */
export async function destroyAll (nodes: ReadonlyArray<{ destroy: () => Promise<void> } | undefined>): Promise<void> {
  await Promise.all(nodes.map(async (n) => { await n?.destroy() }))
}

/** Starts a daemon on `options.dir`, or on a fresh folder initialised with {@link testConfig}(`options.config`). */
export async function startNode<S extends ServiceMap = ServiceMap> (options: StartNodeOptions<S> = {}): Promise<TestNode<S>> {
  const tmp = options.dir == null ? await tempDir('swarmtune-node-') : null
  const dir = options.dir ?? (tmp as { path: string }).path
  if (options.dir == null) await testDataDir(dir, options.config)
  const daemon = await runDaemon<S>(dir, options.services, { logger: options.logger, events: options.events })
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

/** A pino logger at `level` (default info) that parses each JSON line it writes into `lines`, to check what a daemon logged. */
export function jsonLogger (lines: Array<Record<string, unknown>>, level = 'info'): Logger {
  const sink = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return pino({ level }, sink)
}
