/**
 * A community on one machine, as separate processes on 127.0.0.1: a maintainer and n volunteers, each a
 * `swarmtune daemon` with its own data folder under one temporary folder. The folders are made the way a
 * user makes them — `swarmtune init`, `swarmtune community create` (maintainer), `swarmtune community join
 * --mnist --partition …` (each volunteer, its own part of MNIST) — and the daemons are driven through their
 * control API ({@link ControlClient}, what the CLI uses).
 *
 * ```ts
 * const supervisor = new Supervisor()
 * const cluster = await Cluster.create(supervisor, { volunteers: 4, partition: 'dirichlet', alpha: 0.5, seed: 1 })
 * await cluster.start()
 * const round = await cluster.runRound({ steps: 50, batchSize: 50, learningRate: 0.1 })
 * await cluster.stop()
 * await cluster.remove()
 * ```
 */
import { openSync, closeSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DataSpec } from '@swarmtune/model'
import { ControlClient, type DaemonEvent, type DaemonStatus } from '@swarmtune/node'
import { readRoundsConfig, roundsClient, writeRoundsConfig, type RoundDetail, type RoundParamsInit } from '@swarmtune/rounds'
import { SWARMTUNE_BIN, swarmtuneJson } from './cli.js'
import {
  DAEMON_READY_TIMEOUT_MS, LOSS_EXAMPLES, MNIST_TRAIN_EXAMPLES, POLL_INTERVAL_MS, SETUP_CONCURRENCY, TOPIC_JOIN_TIMEOUT_MS
} from './constants.js'
import { ScriptError } from './errors.js'
import type { Child, Supervisor } from './processes.js'

/** How MNIST is shared out among the volunteers (McMahan et al. 2017 §3; Dirichlet: Hsu et al. 2019). */
export type PartitionScheme = 'iid' | 'pathological' | 'dirichlet'

/**
 * A community other than mnist-2nn on parts of MNIST (the demo's mobilenet-v2 scenario): the `swarmtune community
 * create` and `join` arguments that replace `--task mnist-2nn --seed <seed>` and `--mnist --partition …`.
 */
export interface CommunitySetup {
  /** `community create` arguments (besides `-d`, `--name`, `-o`). */
  create: string[]
  /** `community join` arguments of volunteer `part` (0-based; besides the genesis file and `-d`). */
  join: (part: number) => string[]
  /** How the join arguments are shown in the narration (default: volunteer 0's). */
  joinShown?: string
  /** The coordinator's evalData in rounds.json (default: the daemon's). */
  evalData?: DataSpec
}

/** What {@link Cluster.create} builds. */
export interface ClusterInit {
  /** Volunteers (data folders made; start a subset with {@link Cluster.start}). */
  volunteers: number
  partition: PartitionScheme
  /** Dirichlet concentration α (partition `dirichlet`). */
  alpha?: number
  /** Seed of the genesis weights (`community create --seed`) and of the partition (`--partition-seed`). */
  seed: number
  /** The first n MNIST training examples are shared out (default all 60,000). */
  trainExamples?: number
  /** Held-out MNIST test examples the coordinator evaluates each release on (default the daemon's: 10,000). */
  evalExamples?: number
  /** Examples each volunteer measures its loss on (default {@link LOSS_EXAMPLES}). */
  lossExamples?: number
  /** Community name (default `mnist-demo`). */
  name?: string
  /** Prefix of the temporary folder (default `swarmtune-cluster-`). */
  prefix?: string
  /** Daemon log level (default `info`); the logs go to `<root>/<member>.log`. */
  logLevel?: string
  /** Progress narration: each `swarmtune` command as it is run. */
  say?: (line: string) => void
  /** Called when a member's daemon is up. */
  onStarted?: (m: Member) => void
  /**
   * The community, when it is not mnist-2nn on parts of MNIST (then `partition`, `alpha` and `trainExamples` are
   * not used here): called with the cluster's folder before `swarmtune init`, it may write what the members need
   * there (image folders, …).
   */
  community?: (root: string) => Promise<CommunitySetup>
  /** Longest wait for every training worker to be warm after the daemons start, in ms (default {@link DAEMON_READY_TIMEOUT_MS}). */
  warmTimeoutMs?: number
}

/** One daemon of the cluster and its data folder. */
export class Member {
  /** Peer id, known once the data folder is initialised. */
  peerId = ''
  child: Child | undefined
  client: ControlClient | undefined
  /** Dialable addresses while running. */
  addresses: string[] = []
  /** How many times the daemon was started. */
  starts = 0

  constructor (
    readonly name: string,
    readonly role: 'maintainer' | 'volunteer',
    readonly dir: string,
    readonly logFile: string,
    /** 0-based index of the volunteer's part of the data; -1 for the maintainer. */
    readonly part: number
  ) {}

  get running (): boolean {
    return this.child !== undefined && !this.child.done()
  }

  /** The control client of the running daemon. @throws ScriptError `ERR_SCRIPT_DAEMON_EXITED` */
  api (): ControlClient {
    if (this.client === undefined || !this.running) throw new ScriptError('ERR_SCRIPT_DAEMON_EXITED', `the daemon of ${this.name} is not running; see ${this.logFile}`)
    return this.client
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T, R> (items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }))
  return out
}

/** The last `lines` lines of a log file, for error messages. */
async function tail (file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** A maintainer and volunteers as `swarmtune daemon` processes, each with its own data folder. */
export class Cluster {
  private constructor (
    readonly supervisor: Supervisor,
    readonly init: Required<Pick<ClusterInit, 'volunteers' | 'partition' | 'seed' | 'name' | 'logLevel'>> & ClusterInit,
    /** The temporary folder holding every data folder, the genesis file and the logs. */
    readonly root: string,
    readonly maintainer: Member,
    readonly volunteers: Member[],
    /** The genesis file `community create` wrote. */
    readonly genesis: string,
    /** The community id (CID of the genesis file). */
    readonly communityId: string
  ) {}

  /** Every member, the maintainer first. */
  get members (): Member[] {
    return [this.maintainer, ...this.volunteers]
  }

  /**
   * Makes the data folders: `swarmtune init` for each member (loopback, ephemeral ports, no mDNS, no DHT),
   * `swarmtune community create` with the maintainer's identity, `swarmtune community join` of each volunteer
   * with its part of MNIST.
   * @throws ScriptError `ERR_SCRIPT_COMMAND_FAILED` naming the command that failed
   */
  static async create (supervisor: Supervisor, options: ClusterInit): Promise<Cluster> {
    const init = { name: 'mnist-demo', logLevel: 'info', ...options }
    const root = await mkdtemp(join(tmpdir(), init.prefix ?? 'swarmtune-cluster-'))
    try {
      const member = (name: string, role: 'maintainer' | 'volunteer', part: number): Member => new Member(name, role, join(root, name), join(root, `${name}.log`), part)
      const maintainer = member('maintainer', 'maintainer', -1)
      const volunteers = Array.from({ length: init.volunteers }, (_, i) => member(`volunteer-${i + 1}`, 'volunteer', i))
      const all = [maintainer, ...volunteers]

      const setup = await init.community?.(root)
      init.say?.(`swarmtune init  ×${all.length}   (data folders under ${root})`)
      await pool(all, SETUP_CONCURRENCY, async (m) => {
        const r = await swarmtuneJson<{ peerId: string }>(supervisor, ['init', '-d', m.dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--dht', 'off', '--control-port', '0'])
        m.peerId = r.peerId
      })

      const genesis = join(root, `${init.name}.genesis`)
      const createArgs = setup?.create ?? ['--task', 'mnist-2nn', '--seed', String(init.seed)]
      init.say?.(`swarmtune community create ${createArgs.join(' ')}   (maintainer ${maintainer.peerId})`)
      const created = await swarmtuneJson<{ id: string }>(supervisor, ['community', 'create', '-d', maintainer.dir, ...createArgs, '--name', init.name, '-o', genesis])
      const cluster = new Cluster(supervisor, init, root, maintainer, volunteers, genesis, created.id)

      const joinArgs = (part: number): string[] => setup?.join(part) ?? ['--mnist', ...cluster.partitionFlags(part)]
      const shown = setup === undefined ? `--mnist ${cluster.partitionFlags(0).join(' ').replace('--client 0', '--client <i>')}` : setup.joinShown ?? joinArgs(0).join(' ')
      init.say?.(`swarmtune community join ${shown}  ×${volunteers.length}`)
      await pool(volunteers, SETUP_CONCURRENCY, async (v) => {
        await swarmtuneJson(supervisor, ['community', 'join', genesis, '-d', v.dir, ...joinArgs(v.part)])
        const config = await readRoundsConfig(v.dir)
        await writeRoundsConfig(v.dir, { ...config, volunteer: { ...config.volunteer, lossExamples: init.lossExamples ?? LOSS_EXAMPLES } })
      })
      const evalData: DataSpec | undefined = setup?.evalData ?? (init.evalExamples === undefined ? undefined : { source: 'mnist', split: 'test', limit: init.evalExamples })
      if (evalData !== undefined) {
        const config = await readRoundsConfig(maintainer.dir)
        await writeRoundsConfig(maintainer.dir, { ...config, coordinator: { ...config.coordinator, evalData } })
      }
      return cluster
    } catch (err) {
      // commands still running in parallel write into the folder: stop them before removing it
      await supervisor.stopAll()
      await rm(root, { recursive: true, force: true })
      throw err
    }
  }

  /** The `community join` flags naming volunteer `part`'s share of MNIST. */
  partitionFlags (part: number): string[] {
    const { partition, volunteers, seed, alpha, trainExamples } = this.init
    return [
      ...(trainExamples === undefined || trainExamples >= MNIST_TRAIN_EXAMPLES ? [] : ['--limit', String(trainExamples)]),
      '--partition', partition, '--clients', String(volunteers), '--client', String(part), '--partition-seed', String(seed),
      ...(partition === 'dirichlet' ? ['--alpha', String(alpha ?? 0.5)] : [])
    ]
  }

  /**
   * Starts the maintainer's daemon (if not running), then the given volunteers' (default all) with the
   * maintainer as bootstrap peer, and waits until each is in the community's gossip topic.
   * @throws ScriptError `ERR_SCRIPT_DAEMON_EXITED` (with the end of its log), `ERR_SCRIPT_TIMEOUT`
   */
  async start (volunteers: Member[] = this.volunteers): Promise<void> {
    if (!this.maintainer.running) await this.startMember(this.maintainer)
    await Promise.all(volunteers.filter((v) => !v.running).map(async (v) => { await this.startMember(v) }))
    await this.waitInTopic()
    await this.waitWarm([this.maintainer, ...volunteers], this.init.warmTimeoutMs)
  }

  /**
   * Waits until each member's training worker is warm (`services.rounds.ready`: its data loaded and its tfjs
   * backend started), so that the first round's timings are not the start-up's.
   */
  async waitWarm (members: Member[], timeoutMs = DAEMON_READY_TIMEOUT_MS): Promise<void> {
    await Promise.all(members.map(async (m) => {
      await this.until(async () => ((await m.api().status()).services.rounds as { ready?: boolean } | undefined)?.ready !== false, timeoutMs, `the training worker of ${m.name} to warm up`)
    }))
  }

  /**
   * Starts one member's daemon (`swarmtune daemon -d <dir>`, the maintainer with `--community <genesis>`, the
   * others with the maintainer as bootstrap peer) and waits until its control API answers and it has joined
   * the community.
   */
  async startMember (m: Member): Promise<void> {
    if (m.running) return
    const args = [SWARMTUNE_BIN, 'daemon', '-d', m.dir, '--log-level', this.init.logLevel]
    if (m.role === 'maintainer') args.push('--community', this.genesis)
    else if (this.maintainer.running) args.push('--bootstrap', this.maintainer.addresses[0])
    const fd = openSync(m.logFile, 'a')
    try {
      m.child = this.supervisor.spawn(m.name, process.execPath, args, { stdio: ['ignore', fd, fd], cwd: this.root })
    } finally {
      closeSync(fd)
    }
    m.starts++
    m.client = undefined
    const child = m.child
    const deadline = Date.now() + DAEMON_READY_TIMEOUT_MS
    let status: DaemonStatus | undefined
    while (true) {
      if (child.done()) throw new ScriptError('ERR_SCRIPT_DAEMON_EXITED', `the daemon of ${m.name} exited while starting; the end of ${m.logFile}:\n${await tail(m.logFile)}`)
      if (Date.now() > deadline) throw new ScriptError('ERR_SCRIPT_TIMEOUT', `the daemon of ${m.name} did not start within ${DAEMON_READY_TIMEOUT_MS} ms; the end of ${m.logFile}:\n${await tail(m.logFile)}`)
      try {
        const info = JSON.parse(await readFile(join(m.dir, 'daemon.json'), 'utf8')) as { pid: number }
        if (info.pid === child.pid) {
          const client = await ControlClient.fromDataDir(m.dir)
          status = await client.status()
          if ((status.services.rounds as { community?: unknown } | undefined)?.community != null) {
            m.client = client
            break
          }
        }
      } catch {
        // not written yet, or from the previous run
      }
      await sleep(POLL_INTERVAL_MS)
    }
    m.addresses = status.addresses
    this.init.onStarted?.(m)
  }

  /** Waits until the maintainer sees every running volunteer subscribed to the community's topic. */
  async waitInTopic (timeoutMs = TOPIC_JOIN_TIMEOUT_MS): Promise<void> {
    const wanted = this.volunteers.filter((v) => v.running).length
    await this.until(async () => {
      const s = await this.maintainer.api().status()
      return (s.communities.find((c) => c.id === this.communityId)?.peers ?? 0) >= wanted
    }, timeoutMs, `${wanted} volunteer(s) in the community topic of the maintainer`)
  }

  /** Polls `condition` until it holds. @throws ScriptError `ERR_SCRIPT_TIMEOUT` naming `what` */
  async until (condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await condition())) {
      if (Date.now() > deadline) throw new ScriptError('ERR_SCRIPT_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`)
      await sleep(POLL_INTERVAL_MS)
    }
  }

  /** SIGKILLs a member's daemon (its whole process group) and waits for it to be gone. */
  async kill (m: Member): Promise<void> {
    if (m.child === undefined) return
    this.supervisor.kill(m.child, 'SIGKILL')
    await m.child.exited
  }

  /**
   * Starts a member's daemon again on its data folder. A restarted maintainer listens on a new port, so
   * every running volunteer dials it (`POST /v1/peers/connect`).
   */
  async restart (m: Member): Promise<void> {
    await this.startMember(m)
    if (m.role === 'maintainer') {
      for (const v of this.volunteers.filter((x) => x.running)) await v.api().connect(m.addresses[0])
      await this.waitInTopic()
    }
  }

  /**
   * Opens a round on the maintainer's daemon (`POST /v1/rounds`, as `swarmtune round start`) with
   * `maxContributions` = the running volunteers unless given, and waits until it closes.
   * @throws ScriptError `ERR_SCRIPT_TIMEOUT` when it stays open past its deadline + `graceMs`
   */
  async runRound (params: RoundParamsInit, options: { graceMs?: number, onOpen?: (r: RoundDetail) => void } = {}): Promise<RoundDetail> {
    const running = this.volunteers.filter((v) => v.running).length
    const opened = await this.openRound({ maxContributions: running, quorum: Math.max(1, Math.ceil(running / 2)), ...params })
    options.onOpen?.(opened)
    return await this.waitClosed(opened.round, opened.deadline + (options.graceMs ?? 60_000))
  }

  /** Opens a round on the maintainer's daemon. */
  async openRound (params: RoundParamsInit): Promise<RoundDetail> {
    return await roundsClient(this.maintainer.api()).start(params)
  }

  /**
   * Waits until round `round` is closed (following `member`'s event stream), or until `until` (ms since the epoch).
   * @throws ScriptError `ERR_SCRIPT_TIMEOUT` when it is still open then
   */
  async waitClosed (round: number, until: number, member: Member = this.maintainer): Promise<RoundDetail> {
    const r = await roundsClient(member.api()).waitClosed(round, { timeoutMs: Math.max(0, until - Date.now()) })
    if (r.state === 'closed') return r
    throw new ScriptError('ERR_SCRIPT_TIMEOUT', `round ${round} is still open at ${new Date(until).toISOString()}, past its deadline; see ${this.maintainer.logFile}`)
  }

  /** Live events of a member (`GET /v1/events`) recorded from now on. */
  events (m: Member, prefixes: string[] = ['rounds:']): EventLog {
    return new EventLog(m.api(), prefixes)
  }

  /** Stops every daemon (SIGTERM, then SIGKILL after a grace period). @returns how many were running */
  async stop (): Promise<number> {
    return await this.supervisor.stopAll()
  }

  /** Removes the temporary folder with every data folder and log. */
  async remove (): Promise<void> {
    await rm(this.root, { recursive: true, force: true })
  }
}

/** A member's live events, recorded as they come, with waits for the one a caller needs. */
export class EventLog {
  readonly events: DaemonEvent[] = []
  private readonly controller = new AbortController()
  private readonly waiters = new Set<{ match: (e: DaemonEvent) => boolean, resolve: (e: DaemonEvent) => void }>()
  private readonly listeners = new Set<(e: DaemonEvent) => void>()
  /** Resolves when the stream ends (stopped, or the daemon went away). */
  readonly ended: Promise<void>

  constructor (client: ControlClient, prefixes: string[]) {
    this.ended = (async () => {
      try {
        for await (const e of client.events({ prefixes, signal: this.controller.signal })) {
          this.events.push(e)
          for (const l of this.listeners) l(e)
          for (const w of [...this.waiters]) {
            if (w.match(e)) {
              this.waiters.delete(w)
              w.resolve(e)
            }
          }
        }
      } catch {
        // the daemon stopped or was killed: the stream ends here
      }
    })()
  }

  /** Calls `listener` for every event from now on. */
  on (listener: (e: DaemonEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * The first event (already recorded or still to come) of `type` matching `where`.
   * @throws ScriptError `ERR_SCRIPT_TIMEOUT`
   */
  async waitFor (type: string, where: (e: DaemonEvent) => boolean = () => true, timeoutMs = 120_000): Promise<DaemonEvent> {
    const match = (e: DaemonEvent): boolean => e.type === type && where(e)
    const seen = this.events.find(match)
    if (seen !== undefined) return seen
    let timer: NodeJS.Timeout | undefined
    let waiter: { match: (e: DaemonEvent) => boolean, resolve: (e: DaemonEvent) => void } | undefined
    try {
      return await new Promise<DaemonEvent>((resolve, reject) => {
        waiter = { match, resolve }
        this.waiters.add(waiter)
        timer = setTimeout(() => { reject(new ScriptError('ERR_SCRIPT_TIMEOUT', `no ${type} event within ${timeoutMs} ms`)) }, timeoutMs)
      })
    } finally {
      clearTimeout(timer)
      if (waiter !== undefined) this.waiters.delete(waiter)
    }
  }

  /** Stops recording. */
  close (): void {
    this.controller.abort()
  }
}
