/**
 * Network namespaces for the NAT tests (root only): an "internet" segment (a bridge in its own namespace) with
 * the maintainer on it, and home networks, each a router namespace doing NAT (nftables masquerade) with a
 * volunteer namespace behind it. A router may run miniupnpd (UPnP IGD and NAT-PMP), as a home router that
 * allows port mapping does. Daemons run there as `swarmtune daemon` child processes; an {@link Agent} in each
 * namespace runs CLI commands and control-API calls for the test.
 *
 * The internet segment uses 11.17.0.0/24: an address range that libp2p counts as public (the documentation
 * ranges of RFC 5737 it counts as private, so AutoNAT and DCUtR would ignore them). It exists only inside these
 * namespaces, which have no route out of the machine.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/** Prefix of every namespace these tests make: `stn<pid>-<name>`; a stale-cleanup removes those of dead pids. */
const PREFIX = 'stn'
export const ROOT = join(import.meta.dirname, '..', '..')
export const NODE = join(ROOT, 'node_modules', '.bin', 'node')
const CLI = join(ROOT, 'packages', 'cli', 'bin', 'swarmtune.js')
const AGENT = join(import.meta.dirname, 'agent.ts')

function sh (cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })
}

/** What is missing to run these tests, or undefined: root, `ip`, `nft` (`.ci/run` installs them). */
export function missingTools (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root'
  for (const tool of ['ip', 'nft', 'miniupnpd']) {
    try { sh('sh', ['-c', `command -v ${tool}`]) } catch { return `${tool} is not installed (apt-get install -y iproute2 nftables miniupnpd-nftables)` }
  }
  return undefined
}

/** Removes the namespaces (and the processes in them) that earlier runs left, whose test process is gone. */
export function removeStale (): string[] {
  const removed: string[] = []
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0]
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (m == null) continue
    const pid = Number(m[1])
    let alive = true
    try { process.kill(pid, 0) } catch { alive = false }
    if (alive && pid !== process.pid) continue
    removeNamespace(name)
    removed.push(name)
  }
  return removed
}

function removeNamespace (name: string): void {
  try {
    for (const pid of sh('ip', ['netns', 'pids', name]).split('\n').filter((p) => p !== '')) {
      try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
    }
  } catch { /* no such namespace */ }
  try { sh('ip', ['netns', 'del', name]) } catch { /* already gone */ }
}

/** A home network: its router's and its volunteer's namespaces and addresses. */
export interface Home {
  router: string
  volunteer: string
  /** The router's address on the internet segment (the volunteer's address as the internet sees it). */
  wan: string
  /** The volunteer's address behind the router. */
  lan: string
}

export interface Topology {
  /** The maintainer's namespace and address on the internet segment. */
  maintainer: { ns: string, ip: string }
  homes: Home[]
  /** Every namespace made, for clean-up. */
  namespaces: string[]
  /** Cuts a namespace off the internet segment (its link to the bridge down), or heals it. */
  setLink: (ns: string, up: boolean) => void
  destroy: () => void
}

/**
 * Makes the namespaces. `homes[i].upnp` runs miniupnpd on that router. Every namespace made so far is removed
 * when a step fails.
 *
 * @param work - a folder for the routers' miniupnpd configuration and pid files
 */
export async function createTopology (init: { homes: Array<{ upnp: boolean }>, publicHosts?: number, work: string }): Promise<Topology & { publics: Array<{ ns: string, ip: string }> }> {
  const id = `${PREFIX}${process.pid}`
  const namespaces: string[] = []
  const uplinks = new Map<string, string>()
  const upnpProcs: ChildProcess[] = []
  const destroy = (): void => {
    for (const p of upnpProcs) p.kill('SIGKILL')
    for (const ns of [...namespaces].reverse()) removeNamespace(ns)
  }
  const ns = (name: string): string => {
    const full = `${id}-${name}`
    sh('ip', ['netns', 'add', full])
    namespaces.push(full)
    sh('ip', ['-n', full, 'link', 'set', 'lo', 'up'])
    return full
  }
  let links = 0
  // a veth pair from namespace a (named aName there) to namespace b (bName)
  const veth = (a: string, aName: string, b: string, bName: string): void => {
    const x = `${id}v${links}a`.slice(-15)
    const y = `${id}v${links++}b`.slice(-15)
    sh('ip', ['link', 'add', x, 'type', 'veth', 'peer', 'name', y])
    sh('ip', ['link', 'set', x, 'netns', a])
    sh('ip', ['link', 'set', y, 'netns', b])
    sh('ip', ['-n', a, 'link', 'set', x, 'name', aName])
    sh('ip', ['-n', b, 'link', 'set', y, 'name', bName])
    sh('ip', ['-n', a, 'link', 'set', aName, 'up'])
    sh('ip', ['-n', b, 'link', 'set', bName, 'up'])
  }
  try {
    const inet = ns('inet')
    sh('ip', ['-n', inet, 'link', 'add', 'br0', 'type', 'bridge'])
    sh('ip', ['-n', inet, 'link', 'set', 'br0', 'up'])
    const attach = (host: string, port: string, ip: string): void => {
      veth(host, 'wan', inet, port)
      sh('ip', ['-n', inet, 'link', 'set', port, 'master', 'br0'])
      sh('ip', ['-n', host, 'addr', 'add', `${ip}/24`, 'dev', 'wan'])
      uplinks.set(host, port)
    }
    const publics: Array<{ ns: string, ip: string }> = []
    for (let i = 0; i < 1 + (init.publicHosts ?? 0); i++) {
      const host = ns(i === 0 ? 'm' : `p${i}`)
      attach(host, `p${i}`, `11.17.0.${10 + i}`)
      publics.push({ ns: host, ip: `11.17.0.${10 + i}` })
    }
    const homes: Home[] = []
    for (const [i, h] of init.homes.entries()) {
      const router = ns(`r${i}`)
      const volunteer = ns(`v${i}`)
      const wan = `11.17.0.${i + 1}`
      const lanNet = `192.168.${i + 1}`
      attach(router, `r${i}`, wan)
      veth(router, 'lan', volunteer, 'eth0')
      sh('ip', ['-n', router, 'addr', 'add', `${lanNet}.1/24`, 'dev', 'lan'])
      sh('ip', ['-n', volunteer, 'addr', 'add', `${lanNet}.2/24`, 'dev', 'eth0'])
      sh('ip', ['-n', volunteer, 'route', 'add', 'default', 'via', `${lanNet}.1`])
      uplinks.set(volunteer, `r${i}`)
      sh('ip', ['netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
      // a home router: masquerade outbound, nothing inbound but replies and (with UPnP) the ports it mapped
      sh('ip', ['netns', 'exec', router, 'nft', '-f', '-'], `
table ip nat {
  chain postrouting { type nat hook postrouting priority 100; oifname "wan" masquerade; }
}
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    iifname "lan" accept
    ct state established,related accept
    ct status dnat accept
    jump miniupnpd
  }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
`)
      if (h.upnp) {
        await mkdir(init.work, { recursive: true })
        const conf = join(init.work, `miniupnpd-${i}.conf`)
        await writeFile(conf, [
          'ext_ifname=wan', 'listening_ip=lan', 'http_port=0', 'enable_upnp=yes', 'enable_natpmp=yes', 'secure_mode=yes',
          'system_uptime=yes', `uuid=3d3cec3a-8cf0-11e0-98ee-00000000000${i}`,
          `allow 1024-65535 ${lanNet}.0/24 1024-65535`, 'deny 0-65535 0.0.0.0/0 0-65535', ''
        ].join('\n'))
        const p = spawn('ip', ['netns', 'exec', router, 'miniupnpd', '-f', conf, '-d', '-P', join(init.work, `miniupnpd-${i}.pid`)], { stdio: 'ignore' })
        upnpProcs.push(p)
      }
      homes.push({ router, volunteer, wan, lan: `${lanNet}.2` })
    }
    const setLink = (host: string, up: boolean): void => {
      const port = uplinks.get(host)
      if (port === undefined) throw new Error(`${host} is not in this topology`)
      const home = homes.find((h) => h.volunteer === host)
      // a volunteer is cut off at its router's uplink
      sh('ip', ['-n', inet, 'link', 'set', home === undefined ? port : (uplinks.get(home.router) as string), up ? 'up' : 'down'])
    }
    return { maintainer: publics[0], publics, homes, namespaces, setLink, destroy }
  } catch (err) {
    destroy()
    throw err
  }
}

/** A process in a namespace that runs CLI commands and control calls (agent.ts). */
export class Agent {
  private readonly proc: ChildProcess
  private next = 1
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  readonly ready: Promise<void>

  constructor (readonly ns: string) {
    this.proc = spawn('ip', ['netns', 'exec', ns, NODE, '--import', 'tsx', AGENT], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
    let ready!: () => void
    this.ready = new Promise((resolve) => { ready = resolve })
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let msg: { id?: number, ready?: boolean, ok?: boolean, value?: unknown, error?: { code?: string, message?: string } }
      try { msg = JSON.parse(line) } catch { return }
      if (msg.ready === true) { ready(); return }
      const w = this.waiting.get(msg.id ?? -1)
      if (w == null) return
      this.waiting.delete(msg.id as number)
      if (msg.ok === true) w.resolve(msg.value)
      else w.reject(Object.assign(new Error(msg.error?.message ?? 'failed'), { code: msg.error?.code }))
    })
  }

  async call<T> (req: Record<string, unknown>): Promise<T> {
    await this.ready
    const id = this.next++
    return await new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.proc.stdin!.write(JSON.stringify({ ...req, id }) + '\n')
    })
  }

  /** `swarmtune <args>` inside the namespace. */
  async cli (args: string[]): Promise<{ exitCode: number, stdout: string, stderr: string }> {
    return await this.call({ op: 'cli', args })
  }

  async json<T> (args: string[]): Promise<T> {
    const r = await this.cli([...args, '--json'])
    if (r.exitCode !== 0) throw new Error(`swarmtune ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }

  stop (): void {
    this.proc.kill('SIGKILL')
  }
}

/** A `swarmtune daemon` child process in a namespace, its JSON log lines collected. */
export class DaemonProc {
  readonly lines: Array<Record<string, unknown>> = []
  private readonly proc: ChildProcess
  readonly exited: Promise<number | null>

  constructor (readonly ns: string, readonly dir: string, args: string[] = []) {
    this.proc = spawn('ip', ['netns', 'exec', ns, NODE, CLI, 'daemon', '-d', dir, '--log-level', 'info', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    for (const s of [this.proc.stdout!, this.proc.stderr!]) {
      createInterface({ input: s }).on('line', (line) => {
        try { this.lines.push(JSON.parse(line) as Record<string, unknown>) } catch { this.lines.push({ msg: line }) }
      })
    }
    this.exited = new Promise((resolve) => { this.proc.on('exit', (code) => { resolve(code) }) })
  }

  async started (timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs
    while (!existsSync(join(this.dir, 'daemon.json')) || !this.lines.some((l) => l.msg === 'daemon started')) {
      if (Date.now() > until) throw new Error(`daemon in ${this.ns} did not start within ${timeoutMs} ms: ${JSON.stringify(this.lines.slice(-5))}`)
      if (this.proc.exitCode != null) throw new Error(`daemon in ${this.ns} exited with ${this.proc.exitCode}: ${JSON.stringify(this.lines.slice(-5))}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  async stop (): Promise<void> {
    if (this.proc.exitCode != null) return
    this.proc.kill('SIGTERM')
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, 15_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Polls `check` every 500 ms until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function until<T> (what: string, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await check().catch(() => undefined)
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}
