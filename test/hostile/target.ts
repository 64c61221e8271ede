/**
 * The daemon under attack: a `swarmtune daemon` process of its own (the maintainer of a fresh mnist-2nn
 * community, made with `swarmtune init` and `swarmtune community create` as a user makes one), watched from
 * outside — its event stream through the control API, its JSON log lines on stdout (level `debug`, where
 * refused streams are recorded with their code), and its memory and CPU time from `/proc/<pid>`.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { ControlClient, dataDirPaths, type DaemonEvent, type DaemonInfo } from '@swarmtune/node'
import { parseCid, type CID } from '@swarmtune/wire'
import { tempDir } from '@swarmtune/test-support'
import { SWARMTUNE_BIN, swarmtuneJson } from '../../scripts/lib/cli.js'
import { Supervisor, type Child } from '../../scripts/lib/processes.js'

/** One JSON log line of the daemon (pino), reduced to what the suite reads. */
export interface LogLine {
  level: number
  /** ms since the Unix epoch. */
  time: number
  msg: string
  peer?: string
  /** The line's `code`, or the `err.code` of an error it logs. */
  code?: string
  errName?: string
  /** The line's `handlingMs` (the daemon's handling time of what it logs, ms), when it has one. */
  handlingMs?: number
}

/** Memory and CPU time of a process, read from /proc (Linux proc(5)). */
export interface ProcSample {
  /** Resident set size, bytes (`VmRSS` of /proc/<pid>/status). */
  rssBytes: number
  /** User + system CPU time, ms (`utime` + `stime` of /proc/<pid>/stat, in clock ticks of 10 ms). */
  cpuMs: number
}

/** Clock ticks per second of /proc/<pid>/stat times: `sysconf(_SC_CLK_TCK)`, 100 on every Linux ABI node runs on. */
const CLOCK_TICKS_PER_S = 100

/** Reads a process's resident memory and CPU time. @throws when the process is gone */
export async function sampleProcess (pid: number): Promise<ProcSample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (rss === null) throw new Error(`no VmRSS line in /proc/${pid}/status`)
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return { rssBytes: Number(rss[1]) * 1024, cpuMs: ticks * 1000 / CLOCK_TICKS_PER_S }
}

/** The daemon's own view of its memory (`memory` of GET /v1/status: `process.memoryUsage()`), bytes. */
export interface HeapSample { rssBytes: number, heapUsedBytes: number, heapTotalBytes: number, externalBytes: number, arrayBuffersBytes: number }

/** What {@link watchMemory} saw: the samples at its start and end, and the largest of each figure in between, bytes. */
export interface MemoryWatch {
  before: ProcSample & { heap?: HeapSample }
  after: ProcSample & { heap?: HeapSample }
  peakRssBytes: number
  /** Largest V8 heap in use, and largest `external` (C++ objects and array buffers), of the samples. */
  peakHeapUsedBytes: number
  peakExternalBytes: number
  samples: number
}

/**
 * Samples the daemon every `intervalMs` — resident memory from /proc and its heap figures from its status —
 * until the returned function is called. @returns a function that stops sampling and gives the figures
 */
export async function watchMemory (target: Target, intervalMs = 1_000): Promise<() => Promise<MemoryWatch>> {
  const sample = async (): Promise<ProcSample & { heap?: HeapSample }> => {
    const [proc, status] = await Promise.all([sampleProcess(target.pid), target.client.status().catch(() => undefined)])
    return { ...proc, heap: (status as { memory?: HeapSample } | undefined)?.memory }
  }
  const before = await sample()
  const seen = [before]
  const timer = setInterval(() => { sample().then((s) => { seen.push(s) }, () => {}) }, intervalMs)
  return async () => {
    clearInterval(timer)
    const after = await sample()
    seen.push(after)
    return {
      before,
      after,
      peakRssBytes: Math.max(...seen.map((s) => s.rssBytes)),
      peakHeapUsedBytes: Math.max(...seen.map((s) => s.heap?.heapUsedBytes ?? 0)),
      peakExternalBytes: Math.max(...seen.map((s) => s.heap?.externalBytes ?? 0)),
      samples: seen.length
    }
  }
}

/** One line of a {@link MemoryWatch}, MiB: RSS before / peak / after and the heap's and external memory's share of the growth. */
export function memoryText (m: MemoryWatch): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1)
  const heap0 = m.before.heap?.heapUsedBytes ?? NaN
  const ext0 = m.before.heap?.externalBytes ?? NaN
  return `target RSS before ${mib(m.before.rssBytes)} MiB, peak ${mib(m.peakRssBytes)} MiB (growth ${mib(m.peakRssBytes - m.before.rssBytes)} MiB; goal ≤ 20 MiB), after ${mib(m.after.rssBytes)} MiB; ` +
    `V8 heap used ${mib(heap0)} → peak ${mib(m.peakHeapUsedBytes)} → ${mib(m.after.heap?.heapUsedBytes ?? NaN)} MiB (heap allocated ${mib(m.before.heap?.heapTotalBytes ?? NaN)} → ${mib(m.after.heap?.heapTotalBytes ?? NaN)} MiB), ` +
    `external ${mib(ext0)} → peak ${mib(m.peakExternalBytes)} → ${mib(m.after.heap?.externalBytes ?? NaN)} MiB; CPU ${((m.after.cpuMs - m.before.cpuMs) / 1000).toFixed(1)} s over ${m.samples} samples`
}

export interface TargetInit {
  /** Fields merged into the data folder's config.json before the daemon starts (one level deep, as `mergeConfig`). */
  config?: Record<string, unknown>
}

/** A running daemon under test and what it reported. */
export interface Target {
  dir: string
  genesisFile: string
  community: CID
  peerId: string
  addrs: Multiaddr[]
  /** The daemon's own process id (the one that holds the data folder). */
  pid: number
  client: ControlClient
  /** Every event of the daemon's event stream, in order. */
  readonly events: DaemonEvent[]
  /** Log lines that name a peer or an error code, in order. */
  readonly logs: LogLine[]
  /** True while the daemon process runs. */
  running: () => boolean
  stop: () => Promise<void>
}

async function until<T> (find: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const found = await find().catch(() => undefined)
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * Makes a maintainer's data folder and community under a temporary folder, starts its daemon (loopback,
 * ephemeral ports, no mDNS, no DHT, log level debug) and subscribes to its event stream.
 */
export async function startTarget (init: TargetInit = {}): Promise<Target> {
  const supervisor = new Supervisor()
  const { path: root, cleanup: removeRoot } = await tempDir('swarmtune-hostile-')
  const dir = join(root, 'target')
  const genesisFile = join(root, 'hostile.genesis')
  let child: Child | undefined
  const stopController = new AbortController()
  const cleanup = async (): Promise<void> => {
    stopController.abort()
    await supervisor.stopAll()
    supervisor.dispose()
    await removeRoot()
  }
  try {
    await swarmtuneJson(supervisor, ['init', '-d', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--dht', 'off', '--control-port', '0'])
    const created = await swarmtuneJson<{ id: string }>(supervisor, ['community', 'create', '-d', dir, '--task', 'mnist-2nn', '--name', 'hostile', '--seed', '1', '-o', genesisFile])
    if (init.config !== undefined) {
      const file = dataDirPaths(dir).config
      const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
      for (const [key, value] of Object.entries(init.config)) {
        const current = config[key]
        config[key] = current !== null && typeof current === 'object' && !Array.isArray(current) && value !== null && typeof value === 'object' && !Array.isArray(value)
          ? { ...current, ...value }
          : value
      }
      await writeFile(file, JSON.stringify(config, null, 2) + '\n')
    }

    const logs: LogLine[] = []
    child = supervisor.spawn('target daemon', process.execPath, [SWARMTUNE_BIN, 'daemon', '-d', dir, '--community', genesisFile, '--log-level', 'debug'], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    child.process.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096) })
    if (child.process.stdout !== null) {
      createInterface({ input: child.process.stdout }).on('line', (line) => {
        if (!line.startsWith('{')) return
        let l: { level?: number, time?: number, msg?: string, peer?: unknown, code?: unknown, handlingMs?: unknown, err?: { code?: unknown, type?: unknown } }
        try {
          l = JSON.parse(line)
        } catch {
          return
        }
        const code = typeof l.code === 'string' && l.code.startsWith('ERR_') ? l.code : typeof l.err?.code === 'string' ? l.err.code : undefined
        if (typeof l.peer !== 'string' && code === undefined) return
        logs.push({
          level: l.level ?? 0,
          time: l.time ?? 0,
          msg: l.msg ?? '',
          peer: typeof l.peer === 'string' ? l.peer : undefined,
          code,
          errName: typeof l.err?.type === 'string' ? l.err.type : undefined,
          handlingMs: typeof l.handlingMs === 'number' ? l.handlingMs : undefined
        })
      })
    }
    const started = child
    const info = await until(async () => {
      if (started.done()) throw new Error(`the daemon exited before it started: ${stderr}`)
      const i = JSON.parse(await readFile(dataDirPaths(dir).daemonInfo, 'utf8')) as DaemonInfo
      return i.control !== '' ? i : undefined
    }, 60_000, 'the daemon to write daemon.json')
    const client = await ControlClient.fromDataDir(dir)
    const events: DaemonEvent[] = []
    void (async () => {
      while (!stopController.signal.aborted) {
        try {
          for await (const e of client.events({ signal: stopController.signal })) events.push(e)
        } catch {
          // the daemon went away or the stream broke: try again until stopped
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    // The stream has no history: it is known to be up once an event caused after subscribing shows in it.
    // Storing a small blob causes one (`blob:stored`); it stays in the store as the honest one of the tests.
    await until(async () => {
      const { cid } = await client.putBlob(new TextEncoder().encode('an honest blob of the hostile-peer suite'))
      await new Promise((resolve) => setTimeout(resolve, 100))
      return events.some((e) => e.type === 'blob:stored' && e.cid === cid) ? true : undefined
    }, 15_000, "the daemon's event stream")
    return {
      dir,
      genesisFile,
      community: parseCid(created.id),
      peerId: info.peerId,
      addrs: info.addresses.map((a) => multiaddr(a)),
      pid: info.pid,
      client,
      events,
      logs,
      running: () => started.done() === false,
      stop: cleanup
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}
