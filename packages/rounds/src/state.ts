/**
 * The rounds state store: a LevelDB in `<data>/rounds/state` holding what the ledger cannot — the
 * coordinator's phase of each round it opened and the order in which contributions reached it (so a restart
 * judges exactly the contributions that arrived before the round froze), the network-level rejections it saw,
 * and the volunteer's error-feedback residuals and per-round outcomes. Everything else a round needs is in
 * the ledger (the signed entries) and the blob store (deltas, releases, optimiser state).
 *
 * Keys (UTF-8), values JSON unless noted:
 * ```
 * meta!version                     { version }
 * c!round!<round, 16 digits>       CoordinatorRound
 * c!arr!<round>!<index, 10 digits> contribution entry id (CID string), in arrival order
 * c!net!<round>!<index>            NetworkRejection
 * c!ans!<round>!<peer id>          VolunteerAnswer (the latest answer of that volunteer)
 * v!residual!<codec key>           fp32-encoded residual (bytes, protocol/codecs.md layout)
 * v!round!<round-open id>          VolunteerRound
 * ```
 */
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Level } from 'level'
import { ROUNDS_STATE_VERSION } from './constants.js'
import { RoundStateError, RoundsStateError } from './errors.js'

/** Phase of a round the coordinator opened: collecting, judging and merging, or done. */
export type RoundPhase = 'open' | 'closing' | 'closed'

/** The coordinator's record of one round. */
export interface CoordinatorRound {
  round: number
  /** Entry id (CID string) of the round-open. */
  roundOpen: string
  phase: RoundPhase
  /** Number of arrivals frozen when the round stopped taking contributions (phase `closing` / `closed`). */
  frozen?: number
  /** ms since the Unix epoch when the round froze. */
  frozenAt?: number
  /** Set by `round cancel`: the round closes as `cancelled` with this reason. */
  cancel?: string
  /** Set when the round was opened with `untilDeadline`: no early close on answers. */
  untilDeadline?: boolean
  /** Peer ids subscribed to the community's topic when the round opened and when it froze. */
  topicPeers?: string[]
}

/**
 * What moves a round the coordinator opened along its state machine:
 *
 * ```
 *  open ──frozen──▶ closing ──closed──▶ closed        (cancelled: while open, sets `cancel`; the close follows)
 *  open ──closed──▶ closed                            (the ledger already holds the round's round-close)
 * ```
 */
export type RoundEvent =
  /** A maintainer cancelled the round: `reason` (at most 512 characters kept; empty: a default). */
  | { kind: 'cancelled', reason: string }
  /** The round stopped taking contributions: `frozen` arrivals counted at `at` (ms since the Unix epoch), the topic's peers then. */
  | { kind: 'frozen', frozen: number, at: number, topicPeers: string[] }
  /** Its round-close is signed (or found in the ledger). */
  | { kind: 'closed' }

/**
 * The one transition function of a round's persisted record: the record after `event` (a new value).
 * @throws RoundStateError `ERR_ROUNDS_NOT_OPEN` when the round is cancelled or frozen after it stopped being open.
 */
export function advanceRound (record: CoordinatorRound, event: RoundEvent): CoordinatorRound {
  switch (event.kind) {
    case 'cancelled':
      if (record.phase !== 'open') throw new RoundStateError('ERR_ROUNDS_NOT_OPEN', `round ${record.round} is already ${record.phase}`)
      return { ...record, cancel: event.reason.slice(0, 512) || 'cancelled by a maintainer' }
    case 'frozen':
      if (record.phase !== 'open') throw new RoundStateError('ERR_ROUNDS_NOT_OPEN', `round ${record.round} is already ${record.phase}; it froze before`)
      return { ...record, phase: 'closing', frozen: event.frozen, frozenAt: event.at, topicPeers: [...new Set([...record.topicPeers ?? [], ...event.topicPeers])].sort() }
    case 'closed':
      return { ...record, phase: 'closed' }
  }
}

/** A volunteer's answer to a round-open as the coordinator recorded it (`answers.ts`). */
export interface VolunteerAnswer {
  /** The volunteer's peer id. */
  peer: string
  status: 'training' | 'declined'
  code?: string
  reason?: string
  /** ms since the Unix epoch, by the volunteer's clock. */
  ts: number
  /** ms since the Unix epoch when it reached the coordinator (its clock). */
  at: number
}

/** A contribution the network layer refused (bad signature, malformed entry) while a round was open. */
export interface NetworkRejection {
  ts: number
  /** Peer that forwarded it. */
  from: string
  code: string
  reason: string
}

/** What a volunteer did in one round. */
export interface VolunteerRound {
  round: number
  status: 'training' | 'contributed' | 'skipped' | 'failed'
  /** Contribution entry id when contributed. */
  contribution?: string
  code?: string
  reason?: string
  /** Wall time of local training, ms. */
  trainMs?: number
  /** Size of the encoded delta, bytes. */
  blobBytes?: number
}

const utf8 = new TextEncoder()
const num = (n: number, width: number): string => String(n).padStart(width, '0')

type Db = Level<string, Uint8Array>

/**
 * Paths of the stores open in this process. LevelDB's LOCK file keeps other processes out, but not a second
 * open inside this one — and that open, failing, releases the OS lock the first one holds — so a second open
 * is refused here before LevelDB is touched (DESIGN.md, decisions on LevelDB); the daemon's data-folder lock keeps other processes out.
 */
const openPaths = new Set<string>()

/** The store. Open once per process (the daemon's data-folder lock guarantees one process). */
export class RoundsState {
  private queue: Promise<unknown> = Promise.resolve()

  private constructor (private readonly db: Db, readonly path: string) {}

  /**
   * Opens (creating) the store and checks its layout version.
   * @throws RoundsStateError `ERR_ROUNDS_STATE_IN_USE` when this process has it open already,
   *   `ERR_ROUNDS_STATE_VERSION` for another layout, `ERR_ROUNDS_STATE_CORRUPT` when LevelDB cannot open it.
   */
  static async open (path: string): Promise<RoundsState> {
    const key = resolve(path)
    if (openPaths.has(key)) throw new RoundsStateError('ERR_ROUNDS_STATE_IN_USE', `the rounds state store ${path} is already open in this process; close it (stop the rounds service) before opening it again`)
    openPaths.add(key)
    let db: Db | undefined
    try {
      await mkdir(path, { recursive: true })
      db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
      try {
        await db.open()
      } catch (err) {
        db = undefined
        throw new RoundsStateError('ERR_ROUNDS_STATE_CORRUPT', `cannot open the rounds state store ${path}: ${String((err as { cause?: Error }).cause?.message ?? (err as Error).message)}. If no other process uses this data folder, the store is damaged: stop the daemon and move ${path} aside to start afresh (the signed entries stay in the ledger; this node's open rounds then close at their deadline from what the ledger holds)`, { cause: err })
      }
      return await RoundsState.checked(db, path)
    } catch (err) {
      await db?.close().catch(() => {})
      openPaths.delete(key)
      throw err
    }
  }

  private static async checked (db: Db, path: string): Promise<RoundsState> {
    const state = new RoundsState(db, path)
    const version = await state.getJson<{ version?: unknown }>('meta!version')
    if (version === undefined) await state.putJson('meta!version', { version: ROUNDS_STATE_VERSION })
    else if (version.version !== ROUNDS_STATE_VERSION) {
      throw new RoundsStateError('ERR_ROUNDS_STATE_VERSION', `the rounds state store ${path} has layout version ${String(version.version)}; this build reads version ${ROUNDS_STATE_VERSION}. Use the matching swarmtune version, or move the folder aside.`)
    }
    return state
  }

  async close (): Promise<void> {
    await this.queue.catch(() => {})
    await this.db.close()
    openPaths.delete(resolve(this.path))
  }

  // --- coordinator -------------------------------------------------------------------------------------

  async getRound (round: number): Promise<CoordinatorRound | undefined> {
    return await this.getJson<CoordinatorRound>(`c!round!${num(round, 16)}`)
  }

  async putRound (record: CoordinatorRound): Promise<void> {
    await this.putJson(`c!round!${num(record.round, 16)}`, record)
  }

  /** Every round this node opened, ascending. */
  async rounds (): Promise<CoordinatorRound[]> {
    const out: CoordinatorRound[] = []
    for await (const value of this.db.values({ gte: 'c!round!', lt: 'c!round!\xff' })) out.push(this.parse<CoordinatorRound>(value, 'c!round'))
    return out
  }

  /**
   * Records that contribution `id` reached the coordinator during round `round` (idempotent).
   * @returns its arrival index (0-based), the same for a repeated call.
   */
  async addArrival (round: number, id: string): Promise<number> {
    return await this.serial(async () => {
      const known = await this.arrivals(round)
      const at = known.indexOf(id)
      if (at >= 0) return at
      await this.db.put(`c!arr!${num(round, 16)}!${num(known.length, 10)}`, utf8.encode(id), { sync: true })
      return known.length
    })
  }

  /** Contribution ids of a round in arrival order. */
  async arrivals (round: number): Promise<string[]> {
    const prefix = `c!arr!${num(round, 16)}!`
    const out: string[] = []
    for await (const value of this.db.values({ gte: prefix, lt: prefix + '\xff' })) out.push(new TextDecoder().decode(value))
    return out
  }

  async addNetworkRejection (round: number, rejection: NetworkRejection): Promise<void> {
    await this.serial(async () => {
      const prefix = `c!net!${num(round, 16)}!`
      const n = (await this.db.keys({ gte: prefix, lt: prefix + '\xff' }).all()).length
      await this.putJson(`${prefix}${num(n, 10)}`, rejection)
    })
  }

  async networkRejections (round: number): Promise<NetworkRejection[]> {
    const prefix = `c!net!${num(round, 16)}!`
    const out: NetworkRejection[] = []
    for await (const value of this.db.values({ gte: prefix, lt: prefix + '\xff' })) out.push(this.parse<NetworkRejection>(value, 'c!net'))
    return out
  }

  /**
   * Records a volunteer's answer in round `round`, unless an answer of that volunteer with a later `ts` is
   * already recorded. @returns true when recorded.
   */
  async putAnswer (round: number, answer: VolunteerAnswer): Promise<boolean> {
    return await this.serial(async () => {
      const key = `c!ans!${num(round, 16)}!${answer.peer}`
      const known = await this.getJson<VolunteerAnswer>(key)
      if (known !== undefined && known.ts > answer.ts) return false
      await this.putJson(key, answer)
      return true
    })
  }

  /** The latest answer of every volunteer that answered round `round`. */
  async answers (round: number): Promise<VolunteerAnswer[]> {
    const prefix = `c!ans!${num(round, 16)}!`
    const out: VolunteerAnswer[] = []
    for await (const value of this.db.values({ gte: prefix, lt: prefix + '\xff' })) out.push(this.parse<VolunteerAnswer>(value, 'c!ans'))
    return out
  }

  // --- volunteer ---------------------------------------------------------------------------------------

  /** The residual carried for a codec (its fp32 encoding), if any. */
  async getResidual (codecKey: string): Promise<Uint8Array | undefined> {
    return await this.db.get(`v!residual!${codecKey}`)
  }

  async putResidual (codecKey: string, bytes: Uint8Array): Promise<void> {
    await this.db.put(`v!residual!${codecKey}`, bytes, { sync: true })
  }

  async getVolunteerRound (roundOpen: string): Promise<VolunteerRound | undefined> {
    return await this.getJson<VolunteerRound>(`v!round!${roundOpen}`)
  }

  async putVolunteerRound (roundOpen: string, record: VolunteerRound): Promise<void> {
    await this.putJson(`v!round!${roundOpen}`, record)
  }

  // --- helpers -----------------------------------------------------------------------------------------

  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return await run
  }

  private async getJson<T> (key: string): Promise<T | undefined> {
    const value = await this.db.get(key)
    return value === undefined ? undefined : this.parse<T>(value, key)
  }

  private async putJson (key: string, value: unknown): Promise<void> {
    await this.db.put(key, utf8.encode(JSON.stringify(value)), { sync: true })
  }

  private parse<T> (value: Uint8Array, key: string): T {
    try {
      return JSON.parse(new TextDecoder().decode(value)) as T
    } catch (err) {
      throw new RoundsStateError('ERR_ROUNDS_STATE_CORRUPT', `the rounds state record ${key} in ${this.path} is not JSON; move the folder aside to start afresh.`, { cause: err })
    }
  }
}
