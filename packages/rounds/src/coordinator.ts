/**
 * The coordinator role, in a maintainer's daemon: opens a round, collects contributions until the deadline or
 * the maximum, judges each one, merges the accepted deltas, evaluates the result, and signs the release, a
 * verdict for every contribution and the round-close.
 *
 * State machine of a round (persisted in the rounds state store; the signed entries carry the rest):
 *
 * ```
 *  open ──deadline / max contributions / cancel──▶ closing ──release + round-close signed──▶ closed
 * ```
 *
 * - `open`: contributions naming the round are recorded in arrival order as the ledger stores them; each blob
 *   is fetched and decoded as it arrives, so closing does not wait for the network. Only a contribution that
 *   passed the entry checks (this round-open's id, round number and base, codec, samples) and whose delta
 *   decoded and validated takes one of the `maxContributions` slots (doc/rounds.md, "Slots").
 * - `closing`: the arrivals are frozen (count and time persisted), each gets a decision, verdicts are signed
 *   (canonical order), the accepted deltas are merged, the release is evaluated, stored and signed, then the
 *   round-close. Every step first looks for its own entry in the ledger, so a coordinator restarted in the
 *   middle resumes where it stopped: no entry is signed twice and each round closes exactly once.
 * - Arrivals after the freeze get a `ERR_ROUNDS_LATE` verdict.
 *
 * What a close decides — the verdicts, the merge, the outcome, the release — is the round strategy's
 * (strategy.ts, pure functions of the frozen round); this class persists, fetches and signs.
 */
import type { Weights } from '@swarmtune/model'
import { AbortError, parseCid, type CID, type LongOperationOptions, type SignedEntry } from '@swarmtune/wire'
import type { PeerId } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import type { RoundAnswer } from './answers.js'
import {
  ANSWER_WINDOW_MS, CLOSE_RETRY_MS, FETCH_RETRY_MS, MAX_JUDGED_PER_AUTHOR, MAX_TIMER_DELAY_MS, MAX_NETWORK_REJECTIONS_PER_ROUND, RELEASE_FETCH_TIMEOUT_MS
} from './constants.js'
import { keyHex, peerIdOfKey } from './community.js'
import type { RoundsContext } from './context.js'
import { RoundStateError } from './errors.js'
import { commandHint } from './hints.js'
import { ContributedBlobs, blobUnavailable, openRound, type OpenRound } from './open-round.js'
import { planOf, type RoundPlan } from './params.js'
import { aggregationFailure, decodeContribution, getBlob, loadRelease, maxDeltaBytes, serverStateFor, specOf, storeRelease } from './releases.js'
import { advanceRound, type CoordinatorRound, type VolunteerAnswer } from './state.js'
import {
  aggregateRound, canonicalOrder, configureRound, entryFault, evaluateRound, judgeRound, releaseMetrics, mergesRound, screenRound,
  type Arrival, type Evaluation, type CloseOutcome, type FrozenRound, type Judged, type SignedVerdict
} from './strategy.js'
import { closeOf, latestRelease, nextRoundNumber, releaseByManifest, releases, roundOpens, verdicts } from './views.js'

/** The steps `openRound` reports: the base release read, then the round-open signed. */
export type OpenRoundProgressEvents =
  | CustomProgressEvent<{ base: string }, 'rounds:open:base'>
  | CustomProgressEvent<{ round: number, roundOpen: string, deadline: number }, 'rounds:open:signed'>

/** Options of `openRound`: `signal` cancels it before the round-open is signed; `onProgress` gets its steps. */
export type OpenRoundOptions = LongOperationOptions<OpenRoundProgressEvents>

/** What the coordinator's owner wires in. */
export interface CoordinatorHooks {
  /**
   * Hands a round-open this coordinator just signed to the volunteer role of the same daemon, if it has one:
   * the one way a local volunteer learns of its own coordinator's rounds (remote volunteers learn of them from
   * gossip, through their ledger).
   */
  localVolunteer?: (open: SignedEntry<'round-open'>) => void
}

export class Coordinator {
  /** Derived cache of the round being collected (see `OpenRound`); the state store holds the round's state. */
  private current: OpenRound | undefined
  private opening: { round: number, topicPeers: string[], untilDeadline: boolean } | undefined
  private readonly closing = new Map<number, Promise<void>>()
  /** Rounds whose close started and has not finished (a close waiting for its retry included). */
  private readonly unfinished = new Set<number>()
  private readonly bases = new Map<string, Promise<Weights>>()
  private readonly blobs: ContributedBlobs
  private queue: Promise<unknown> = Promise.resolve()
  private stopped = false
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>()

  constructor (private readonly ctx: RoundsContext, private readonly hooks: CoordinatorHooks = {}) {
    this.blobs = new ContributedBlobs(() => ctx.ledger)
  }

  /** Resumes rounds a previous run left open or half-closed. */
  async start (): Promise<void> {
    const { state, ledger, community } = this.ctx
    this.ctx.warmUp(this.ctx.config.coordinator.evalData, this.ctx.config.coordinator.backend)
    const mine = keyHex(this.ctx.key)
    const records = new Map((await state.rounds()).map((r) => [r.roundOpen, r]))
    // a round-open signed just before a crash, before its record was written: adopt it
    for (const open of await roundOpens(ledger)) {
      if (keyHex(open.entry.author) !== mine || records.has(open.id.toString())) continue
      const record: CoordinatorRound = { round: open.entry.body.round, roundOpen: open.id.toString(), phase: 'open' }
      await state.putRound(record)
      records.set(record.roundOpen, record)
    }
    for (const record of records.values()) {
      if (record.phase === 'closed') continue
      const open = await ledger.get(record.roundOpen)
      if (open?.entry.kind !== 'round-open') continue
      const entry = open as SignedEntry<'round-open'>
      if (await closeOf(ledger, entry) !== undefined) {
        await state.putRound(advanceRound(record, { kind: 'closed' }))
        continue
      }
      const plan = planOf(entry.entry.body, community)
      this.ctx.log.info({ round: record.round, phase: record.phase }, 'resuming a round')
      if (record.phase === 'open' && record.cancel === undefined && Date.now() < plan.deadline) {
        await this.track(record, entry, plan)
        await this.catchUp()
      } else {
        this.closeSoon(record.round)
      }
    }
  }

  /** Stops timers; a round in progress resumes at the next start. */
  async stop (): Promise<void> {
    this.stopped = true
    if (this.current?.timer !== undefined) clearTimeout(this.current.timer)
    if (this.current?.windowTimer !== undefined) clearTimeout(this.current.windowTimer)
    for (const t of this.retryTimers) clearTimeout(t)
    await Promise.allSettled([...this.closing.values()])
    await this.queue.catch(() => {})
  }

  /**
   * Opens the next round on the newest release: checks the parameters (the strategy's `configureRound`), reads
   * the base release (progress `rounds:open:base`), signs and gossips the round-open (`rounds:open:signed`),
   * stores the round's record, and hands the round-open to this daemon's own volunteer (`hooks.localVolunteer`).
   * @param init round parameters (see `createRoundParams`).
   * @param options `signal` aborts before the round-open is signed (once signed, the round is open);
   *   `onProgress` receives the steps.
   * @returns the round number and the round-open entry.
   * @throws RoundStateError `ERR_ROUNDS_ALREADY_OPEN` while this coordinator has a round open or closing;
   *   RoundParamsError for bad parameters; the blob errors when the base release cannot be read; AbortError
   *   `ERR_ABORTED` when `signal` aborts first.
   */
  async openRound (init: unknown, options: OpenRoundOptions = {}): Promise<{ round: number, entry: SignedEntry<'round-open'> }> {
    const aborted = (): void => {
      if (options.signal?.aborted === true) throw new AbortError('opening the round was aborted before its round-open was signed; no round was opened', { cause: options.signal.reason })
    }
    aborted()
    return await this.serial(async () => {
      aborted()
      const busy = await this.busyRound()
      if (busy !== undefined) {
        throw new RoundStateError('ERR_ROUNDS_ALREADY_OPEN', `round ${busy} is still open or closing; wait for it to close or cancel it (\`${commandHint(this.ctx.components.dataDir.paths.root, `round cancel ${busy}`)}\`)`)
      }
      const { ledger, community } = this.ctx
      const configured = configureRound(init, community)
      const base = await latestRelease(ledger, community)
      await this.baseWeights(base.manifest) // the base must be readable before anyone is asked to train on it
      options.onProgress?.(new CustomProgressEvent('rounds:open:base', { base: base.manifest.toString() }))
      aborted()
      const params = configured.params
      const round = await nextRoundNumber(ledger)
      const topicPeers = this.topicPeers()
      // The round-open is in the ledger (and so in `round status`) as soon as it is signed, before its record
      // is stored: until then `opening` answers for it.
      this.opening = { round, topicPeers, untilDeadline: params.untilDeadline === true }
      try {
        const signed = await this.ctx.ledgerService.sign({ kind: 'round-open', body: configured.open({ round, base: base.manifest, now: Date.now() }) }) as SignedEntry<'round-open'>
        const record: CoordinatorRound = { round, roundOpen: signed.id.toString(), phase: 'open', topicPeers, ...(params.untilDeadline === true ? { untilDeadline: true } : {}) }
        await this.ctx.state.putRound(record)
        await this.track(record, signed, planOf(signed.entry.body, community))
        options.onProgress?.(new CustomProgressEvent('rounds:open:signed', { round, roundOpen: record.roundOpen, deadline: signed.entry.body.deadline }))
        this.ctx.components.events.emit('rounds:open', { round, roundOpen: record.roundOpen, base: base.manifest.toString(), deadline: signed.entry.body.deadline })
        this.ctx.log.info({ round, roundOpen: record.roundOpen, deadline: signed.entry.body.deadline }, 'round opened')
        // the local volunteer, if any, trains for this round: handed the round-open here, not through the ledger
        this.hooks.localVolunteer?.(signed)
        return { round, entry: signed }
      } finally {
        this.opening = undefined
      }
    })
  }

  /**
   * The round this coordinator has open, or closing and not yet `closed` in the state store (a close that
   * finished is done even while its promise settles), or undefined.
   */
  private async busyRound (): Promise<number | undefined> {
    if (this.current !== undefined) return this.current.record.round
    for (const round of new Set([...this.closing.keys(), ...this.unfinished])) {
      const phase = (await this.ctx.state.getRound(round))?.phase
      if (phase !== undefined && phase !== 'closed') return round
    }
    return undefined
  }

  /** True for the round-open `openRound` is signing now (its ledger announcement; the local volunteer gets it from `openRound`). */
  isOpening (e: SignedEntry): boolean {
    return e.entry.kind === 'round-open' && this.opening?.round === (e as SignedEntry<'round-open'>).entry.body.round && keyHex(e.entry.author) === keyHex(this.ctx.key)
  }

  /**
   * The record of a round whose round-open is signed but not yet stored, or undefined.
   * @param round the round number; @param roundOpen the round-open entry's CID string.
   */
  openingRecord (round: number, roundOpen: string): CoordinatorRound | undefined {
    const o = this.opening
    if (o === undefined || o.round !== round) return undefined
    return { round, roundOpen, phase: 'open', topicPeers: o.topicPeers, ...(o.untilDeadline ? { untilDeadline: true } : {}) }
  }

  /**
   * Cancels a round this coordinator opened: rejects its contributions with `ERR_ROUNDS_CANCELLED` and signs a
   * `cancelled` round-close.
   * @throws RoundStateError `ERR_ROUNDS_NOT_FOUND` / `ERR_ROUNDS_NOT_OPEN`.
   */
  async cancel (round: number | undefined, reason: string): Promise<void> {
    const target = round ?? this.current?.record.round
    if (target === undefined) throw new RoundStateError('ERR_ROUNDS_NOT_OPEN', 'no round is open on this coordinator')
    const record = await this.ctx.state.getRound(target)
    if (record === undefined) throw new RoundStateError('ERR_ROUNDS_NOT_FOUND', `this coordinator did not open round ${target}`)
    await this.ctx.state.putRound(advanceRound(record, { kind: 'cancelled', reason }))
    // a close that fails is retried like a deadline's; the caller sees the first failure
    this.closeSoon(target)
    await this.closing.get(target)
  }

  status (): unknown {
    const c = this.current
    return {
      open: c === undefined ? null : { round: c.record.round, deadline: c.plan.deadline, contributors: c.authors.size, arrivals: c.arrived.size, answers: c.answers.size },
      closing: [...this.closing.keys()]
    }
  }

  /** Sees every entry the ledger stores: contributions become arrivals (or late ones). */
  onEntry (e: SignedEntry): void {
    if (e.entry.kind !== 'contribution' || this.stopped) return
    const c = e as SignedEntry<'contribution'>
    this.blobs.add(c)
    void this.serial(async () => { await this.arrive(c) }).catch((err: unknown) => { this.ctx.log.error({ err, contribution: c.id.toString() }, 'recording a contribution failed') })
  }

  /**
   * A volunteer's answer to a round-open (validated by `AnswerTopic`): recorded for the open round it names,
   * then the early close is checked.
   */
  onAnswer (a: RoundAnswer, from: PeerId): void {
    if (this.stopped) return
    void this.serial(async () => {
      const open = this.current
      if (open === undefined || parseCid(a.roundOpen).toString() !== open.record.roundOpen) return
      const answer: VolunteerAnswer = { peer: from.toString(), status: a.status, ...(a.code === undefined ? {} : { code: a.code }), ...(a.reason === undefined ? {} : { reason: a.reason }), ts: a.ts, at: Date.now() }
      if (!(await this.ctx.state.putAnswer(open.record.round, answer))) return
      open.answers.set(answer.peer, answer)
      this.ctx.components.events.emit('rounds:answer', { round: open.record.round, ...answer })
      this.checkEarlyClose(open)
    }).catch((err: unknown) => { this.ctx.log.error({ err }, 'recording a round answer failed') })
  }

  /**
   * Closes `open` once `maxContributions` volunteers' contributions passed their checks (`valid`: a contribution
   * naming a made-up round-open, another base, or holding an unreadable or replayed delta takes no slot), or — with `coordinator.closeWhenAnswered`, and
   * unless the round was opened `untilDeadline` — once at least one volunteer answered, every volunteer whose
   * latest answer is `training` has contributed, at least `quorum` volunteers' contributions passed their checks
   * (below it the round waits for its deadline: a volunteer may still join), and either `ANSWER_WINDOW_MS` has
   * passed since the round opened or every peer in the community's topic has answered or contributed
   * (doc/rounds.md, "Who a round waits for").
   */
  private checkEarlyClose (open: OpenRound): void {
    if (this.current !== open) return
    if (open.valid.size >= open.plan.maxContributions) { this.closeSoon(open.record.round); return }
    if (!this.ctx.config.coordinator.closeWhenAnswered || open.record.untilDeadline === true || open.answers.size === 0) return
    for (const a of open.answers.values()) if (a.status === 'training' && !open.contributors.has(a.peer)) return
    if (open.valid.size < open.plan.quorum) return
    const left = open.entry.entry.ts + ANSWER_WINDOW_MS - Date.now()
    // within the window, only when every peer in the community's topic has answered or contributed: nobody else can
    if (left > 0 && !this.topicPeers().every((p) => open.answers.has(p) || open.contributors.has(p))) {
      open.windowTimer ??= setTimeout(() => { open.windowTimer = undefined; this.checkEarlyClose(open) }, left)
      return
    }
    const declined = [...open.answers.values()].filter((a) => a.status === 'declined').length
    this.ctx.log.info({ round: open.record.round, answered: open.answers.size, declined, contributors: open.contributors.size }, 'every volunteer that answered has contributed or declined: closing the round early')
    this.closeSoon(open.record.round)
  }

  /** Peer ids subscribed to the community's topic now. */
  private topicPeers (): string[] {
    return this.ctx.components.gossip.peers(this.ctx.community.id).map((p) => p.toString()).sort()
  }

  /** A network-level rejection on the community topic while a round is open (bad signature, malformed entry). */
  onNetworkRejection (from: string, code: string, reason: string): void {
    const c = this.current
    if (c === undefined) return
    void this.ctx.state.networkRejections(c.record.round).then(async (seen) => {
      if (seen.length < MAX_NETWORK_REJECTIONS_PER_ROUND) await this.ctx.state.addNetworkRejection(c.record.round, { ts: Date.now(), from, code, reason: reason.slice(0, 512) })
    }).catch(() => {})
  }

  // --- collecting ----------------------------------------------------------------------------------------

  private async track (record: CoordinatorRound, entry: SignedEntry<'round-open'>, plan: RoundPlan): Promise<void> {
    const open = openRound(record, entry, plan)
    for (const a of await this.ctx.state.answers(record.round)) open.answers.set(a.peer, a)
    this.current = open
    for (const id of await this.ctx.state.arrivals(record.round)) {
      const c = await this.ctx.ledger.get(id)
      if (c?.entry.kind === 'contribution') {
        open.arrived.add(id)
        this.startJudging(open, c as SignedEntry<'contribution'>)
      }
    }
    this.armDeadline(open)
    this.checkEarlyClose(open)
  }

  /** Closes `open` at its deadline; a deadline beyond one timer's range is re-armed in steps. */
  private armDeadline (open: OpenRound): void {
    const left = open.plan.deadline - Date.now()
    if (left <= 0) { this.closeSoon(open.record.round); return }
    open.timer = setTimeout(() => { this.armDeadline(open) }, Math.min(left, MAX_TIMER_DELAY_MS))
  }

  /** Contributions the ledger stored while this node was down (sync), recorded as arrivals now. */
  private async catchUp (): Promise<void> {
    const open = this.current
    if (open === undefined) return
    for await (const e of this.ctx.ledger.entries({ kind: 'contribution', round: open.record.round })) await this.arrive(e as SignedEntry<'contribution'>)
  }

  private async arrive (c: SignedEntry<'contribution'>): Promise<void> {
    const id = c.id.toString()
    const target = parseCid(c.entry.body.roundOpen).toString()
    const open = this.current
    if (open !== undefined && (target === open.record.roundOpen || (c.entry.body.round === open.record.round && !(await this.isOtherRoundOpen(target))))) {
      if (open.arrived.has(id)) return
      open.arrived.add(id)
      await this.ctx.state.addArrival(open.record.round, id)
      this.startJudging(open, c)
      this.ctx.components.events.emit('rounds:contribution', { round: open.record.round, contribution: id, peer: peerIdOfKey(c.entry.author).toString() })
      this.checkEarlyClose(open)
      return
    }
    // a contribution to a round of ours that no longer takes any: late
    const record = await this.ctx.state.getRound(c.entry.body.round)
    if (record === undefined || record.roundOpen !== target || record.phase === 'open') return
    if ((await this.ctx.state.arrivals(record.round)).slice(0, record.frozen ?? 0).includes(id)) return
    const existing = await verdicts(this.ctx.ledger, record.round)
    if (existing.has(id)) return
    await this.signVerdict(record.round, { id, entry: c, accepted: false, code: 'ERR_ROUNDS_LATE', reason: `arrived after round ${record.round} stopped taking contributions` })
  }

  /** True when `id` is a round-open in the ledger other than ours (another maintainer's round). */
  private async isOtherRoundOpen (id: string): Promise<boolean> {
    const e = await this.ctx.ledger.get(id)
    return e?.entry.kind === 'round-open' && id !== this.current?.record.roundOpen
  }

  private startJudging (open: OpenRound, c: SignedEntry<'contribution'>): void {
    const author = keyHex(c.entry.author)
    const n = (open.perAuthor.get(author) ?? 0) + 1
    open.perAuthor.set(author, n)
    open.authors.add(author)
    open.contributors.add(peerIdOfKey(c.entry.author).toString())
    // beyond the per-author cap nothing is fetched: decide() rejects these as duplicates unread
    if (n > MAX_JUDGED_PER_AUTHOR) return
    const fault = entryFault(c, { round: open.record.round, roundOpen: open.record.roundOpen, plan: open.plan }, this.ctx.community.policy.maxSamples)
    const judged = fault !== undefined ? Promise.resolve<Judged>({ ok: false, ...fault }) : this.judgeBlob(c, open.plan)
    judged.then(async (j) => {
      if (!j.ok || open.valid.has(author)) return
      // a replayed blob is refused at the freeze (screenRound); it takes no slot meanwhile
      const blob = parseCid(c.entry.body.blob).toString()
      const earlier = await this.blobs.before(open.record.round)
      if (open.validBlobs.has(blob) || earlier.has(blob) || open.valid.has(author)) return
      open.validBlobs.add(blob)
      open.valid.add(author)
      this.checkEarlyClose(open)
    }).catch(() => {})
    open.judged.set(c.id.toString(), judged)
  }

  /**
   * Fetches and decodes a contribution's blob; started when the contribution arrives, so the blob is read
   * while its contributor is surely online. A provider that is not reachable yet (the contributor
   * reconnecting after this node restarted) is asked again every second until `coordinator.blobFetchMs`.
   */
  private async judgeBlob (c: SignedEntry<'contribution'>, plan: RoundPlan): Promise<Judged> {
    const base = await this.baseWeights(plan.base)
    const spec = specOf(base)
    const cid = parseCid(c.entry.body.blob)
    const limitMs = this.ctx.config.coordinator.blobFetchMs
    const signal = AbortSignal.timeout(limitMs)
    const contributor = peerIdOfKey(c.entry.author)
    let bytes: Uint8Array | undefined
    let lastCode: string | undefined
    while (bytes === undefined) {
      try {
        bytes = await getBlob(this.ctx.components, cid, { providers: [contributor], maxBytes: maxDeltaBytes(spec, plan), signal })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === 'ERR_NODE_BLOB_NO_PROVIDERS' && !signal.aborted && !this.stopped) {
          lastCode = code
          await new Promise((resolve) => setTimeout(resolve, FETCH_RETRY_MS))
          continue
        }
        return { ok: false, code: 'ERR_ROUNDS_BLOB_UNAVAILABLE', reason: blobUnavailable(cid, contributor, limitMs, code ?? lastCode, this.ctx.components.libp2p.getConnections(contributor).length > 0) }
      }
    }
    const r = decodeContribution(bytes, spec, plan)
    return 'code' in r ? { ok: false, ...r } : { ok: true, ...r }
  }

  private async baseWeights (manifest: CID): Promise<Weights> {
    const key = manifest.toString()
    let w = this.bases.get(key)
    if (w === undefined) {
      w = loadRelease(this.ctx.components, manifest, { signal: AbortSignal.timeout(RELEASE_FETCH_TIMEOUT_MS) }).then((r) => r.weights)
      this.bases.set(key, w)
      w.catch(() => this.bases.delete(key))
      // keep the newest few bases only
      while (this.bases.size > 3) this.bases.delete(this.bases.keys().next().value as string)
    }
    return await w
  }

  // --- closing -------------------------------------------------------------------------------------------

  private closeSoon (round: number): void {
    if (this.stopped || this.closing.has(round)) return
    this.unfinished.add(round)
    void this.close(round).then(() => { this.unfinished.delete(round) }, (err: unknown) => {
      this.ctx.log.error({ err, round }, 'closing the round failed; retrying')
      const t = setTimeout(() => { this.retryTimers.delete(t); this.closeSoon(round) }, CLOSE_RETRY_MS)
      this.retryTimers.add(t)
    })
  }

  private async close (round: number): Promise<void> {
    const running = this.closing.get(round)
    if (running !== undefined) return await running
    const run = this.serial(async () => await this.runClose(round)).finally(() => this.closing.delete(round))
    this.closing.set(round, run)
    return await run
  }

  private async runClose (round: number): Promise<void> {
    const { state, ledger, community } = this.ctx
    let record = await state.getRound(round)
    if (record === undefined || record.phase === 'closed') return
    const open = await ledger.get(record.roundOpen) as SignedEntry<'round-open'> | undefined
    if (open === undefined) throw new RoundStateError('ERR_ROUNDS_NOT_FOUND', `round-open ${record.roundOpen} of round ${round} is missing from the ledger`)
    if (await closeOf(ledger, open) !== undefined) {
      await state.putRound(advanceRound(record, { kind: 'closed' }))
      if (this.current?.record.round === round) this.current = undefined
      return
    }
    let plan: RoundPlan | undefined
    let failure: { code: string, reason: string } | undefined
    try {
      plan = planOf(open.entry.body, community)
    } catch (err) {
      // a round-open this version cannot read (signed by an older one): the round closes without a release
      failure = aggregationFailure(err, 'its parameters cannot be read')
    }
    let tracked = this.current?.record.round === round ? this.current : undefined
    // arrivals are appended in order, so the first `frozen` never change once counted
    const arrivals = await state.arrivals(round)
    if (record.phase === 'open') {
      record = advanceRound(record, { kind: 'frozen', frozen: arrivals.length, at: Date.now(), topicPeers: this.topicPeers() })
      await state.putRound(record)
    }
    const frozen = arrivals.slice(0, record.frozen)
    if (tracked?.timer !== undefined) clearTimeout(tracked.timer)
    if (tracked?.windowTimer !== undefined) clearTimeout(tracked.windowTimer)
    if (tracked === undefined && plan !== undefined) {
      // resumed after a restart: judge the frozen arrivals afresh
      tracked = openRound(record, open, plan)
      for (const id of frozen) {
        const c = await ledger.get(id)
        if (c?.entry.kind === 'contribution') this.startJudging(tracked, c as SignedEntry<'contribution'>)
      }
    }
    if (this.current?.record.round === round) this.current = undefined
    this.ctx.components.events.emit('rounds:closing', { round, arrivals: record.frozen })

    const existing = await verdicts(ledger, round)
    const frozenRound = await this.freeze(record, open, plan, failure, frozen, tracked, existing)
    const outcome = await this.decideClose(frozenRound)
    // verdicts are signed in canonical order; one already in the ledger (signed before a restart) is not signed again
    for (const v of canonicalOrder(outcome.verdicts)) {
      if (!existing.has(v.id)) await this.signVerdict(round, v)
    }
    let releaseEntry: SignedEntry | undefined
    if (outcome.outcome === 'released' && plan !== undefined) {
      const mine = keyHex(this.ctx.key)
      releaseEntry = (await releases(ledger, round)).find((r) => keyHex(r.entry.author) === mine && parseCid(r.entry.body.parent).equals(plan.base))
      if (releaseEntry === undefined) releaseEntry = await this.signRelease(frozenRound, outcome)
    }
    const close = await this.ctx.ledgerService.sign({
      kind: 'round-close',
      body: releaseEntry === undefined
        ? { round, roundOpen: open.id.bytes, outcome: outcome.outcome === 'cancelled' ? 'cancelled' : 'no-release', reason: outcome.reason }
        : { round, roundOpen: open.id.bytes, outcome: 'released', release: releaseEntry.id.bytes, reason: outcome.reason }
    })
    await state.putRound(advanceRound(record, { kind: 'closed' }))
    this.ctx.components.events.emit('rounds:close', {
      round,
      outcome: releaseEntry === undefined ? (outcome.outcome === 'cancelled' ? 'cancelled' : 'no-release') : 'released',
      ...(outcome.failure === undefined ? {} : { code: outcome.failure.code, reason: outcome.failure.reason }),
      roundClose: close.id.toString(),
      release: releaseEntry?.id.toString(),
      contributions: outcome.verdicts.length,
      accepted: outcome.accepted.length
    })
    this.ctx.log.info({ round, accepted: outcome.accepted.length, contributions: outcome.verdicts.length, released: releaseEntry !== undefined }, 'round closed')
  }

  /**
   * The frozen round the strategy decides from: the plan (or why it cannot be read), the cancel, the frozen
   * arrivals read from the ledger, the blobs of earlier rounds, this coordinator's verdicts signed before a
   * restart, and the judgement of every arrival whose delta is read (started at arrival; awaited here).
   */
  private async freeze (record: CoordinatorRound, open: SignedEntry<'round-open'>, plan: RoundPlan | undefined, failure: { code: string, reason: string } | undefined, frozen: string[], tracked: OpenRound | undefined, existing: Map<string, SignedEntry<'verdict'>>): Promise<FrozenRound> {
    const arrivals: Arrival[] = []
    for (const id of frozen) {
      const entry = await this.ctx.ledger.get(id) as SignedEntry<'contribution'> | undefined
      if (entry !== undefined) arrivals.push({ id, entry })
    }
    const mine = keyHex(this.ctx.key)
    const signed = new Map<string, SignedVerdict>()
    for (const [id, v] of existing) {
      if (keyHex(v.entry.author) === mine) signed.set(id, { accepted: v.entry.body.accepted, code: v.entry.body.code, reason: v.entry.body.reason })
    }
    const judged = new Map<string, Judged>()
    const round: FrozenRound = {
      round: record.round,
      roundOpen: open.id.toString(),
      ...(plan === undefined ? {} : { plan }),
      ...(failure === undefined ? {} : { failure }),
      policy: { ...(this.ctx.community.policy.maxSamples === undefined ? {} : { maxSamples: this.ctx.community.policy.maxSamples }) },
      ...(record.cancel === undefined ? {} : { cancel: record.cancel }),
      arrivals,
      earlierBlobs: await this.blobs.before(record.round),
      judged,
      signed
    }
    if (plan === undefined || failure !== undefined || record.cancel !== undefined || tracked === undefined) return round
    const toRead = screenRound(round).filter((s) => s.rejection === undefined).map((s) => s.arrival)
    for (const { id, entry } of toRead) judged.set(id, await (tracked.judged.get(id) ?? this.judgeBlob(entry, plan)))
    return round
  }

  /** The strategy's judge and aggregate steps, with the base weights and server-optimiser state fetched when the round merges. */
  private async decideClose (frozen: FrozenRound): Promise<CloseOutcome> {
    const judged = judgeRound(frozen)
    const plan = frozen.plan
    let merge: Parameters<typeof aggregateRound>[2]
    if (plan !== undefined && mergesRound(frozen, judged)) {
      const base = await this.baseWeights(plan.base)
      const parent = await releaseByManifest(this.ctx.ledger, plan.base)
      const serverState = await serverStateFor(this.ctx.components, parent, plan.server, specOf(base), { providers: parent === undefined ? [] : [peerIdOfKey(parent.entry.author)] })
      merge = { base, serverState }
    }
    const outcome = aggregateRound(frozen, judged, merge)
    if (outcome.mergeFailed && outcome.failure !== undefined) {
      this.ctx.log.warn({ round: frozen.round, code: outcome.failure.code, reason: outcome.failure.reason }, 'the accepted deltas cannot be merged; closing the round without a release')
    }
    return outcome
  }

  private async signVerdict (round: number, d: { id: string, entry: SignedEntry<'contribution'>, accepted: boolean, code: string, reason: string }): Promise<void> {
    await this.ctx.ledgerService.sign({ kind: 'verdict', body: { round, contribution: d.entry.id.bytes, accepted: d.accepted, code: d.code.slice(0, 64), reason: d.reason.slice(0, 1024) } })
    this.ctx.components.events.emit('rounds:verdict', { round, contribution: d.id, accepted: d.accepted, code: d.code })
  }

  /** The strategy's evaluate step on the worker thread, then stores release and optimiser state and signs the release entry. */
  private async signRelease (frozen: FrozenRound, outcome: CloseOutcome): Promise<SignedEntry> {
    const { config, community } = this.ctx
    const { task } = await this.ctx.resolveTask()
    const evalData = await this.ctx.dataset(config.coordinator.evalData)
    const evaluator = async (weights: Weights): Promise<Evaluation> => await this.ctx.worker().evaluate({ task: task.id, weights, data: evalData, backend: config.coordinator.backend, ...this.ctx.jobModel() })
    const release = await evaluateRound(frozen, outcome, evaluator, { community: community.id, task: task.id, author: this.ctx.key })
    await storeRelease(this.ctx.components, release.built)
    await this.ctx.components.exchange.put(release.stateBytes)
    const signed = await this.ctx.ledgerService.sign({ kind: 'release', body: release.body })
    this.ctx.components.events.emit('rounds:release', { round: frozen.round, release: signed.id.toString(), manifest: release.built.manifestCid.toString(), ...releaseMetrics(release.evaluation), contributions: release.body.contributions.length })
    return signed
  }

  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return await run
  }
}
