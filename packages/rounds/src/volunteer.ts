/**
 * The volunteer role: on a round-open signed by a maintainer, fetch the base release from any peers that have
 * it, train on this node's own examples in the worker thread (the event loop keeps serving gossip and
 * streams), encode the delta with the round's codec plus the error-feedback residual carried from earlier
 * rounds, store it as a blob and sign the contribution; fetch each new release when it is announced. The
 * local policy bounds the time one round may take and picks the backend.
 */
import { ErrorFeedback, createModelSpec, decodeDelta, deltaNorm, encodeDelta, type CodecOptions, type ModelSpec } from '@swarmtune/fedavg'
import type { TrainProgress } from '@swarmtune/model'
import { parseCid, type SignedEntry } from '@swarmtune/wire'
import { createHash } from 'node:crypto'
import type { AnswerTopic } from './answers.js'
import { PROGRESS_EVENT_INTERVAL_MS, PUBLISH_MARGIN_MS, RELEASE_FETCH_TIMEOUT_MS } from './constants.js'
import { keyHex, peerIdOfKey } from './community.js'
import type { RoundsContext } from './context.js'
import { planOf, type RoundPlan } from './params.js'
import { loadRelease, specOf } from './releases.js'
import type { VolunteerRound } from './state.js'
import { closeOf, contributions, latestRelease, roundOpens } from './views.js'

/** Key of an error-feedback residual: it carries over between rounds that use the same codec settings. */
function codecKey (o: CodecOptions): string {
  return o.codec === 'topk-int8' ? `${o.codec}:${o.fraction ?? ''}` : o.codec
}

/** The step of taking part in a round a volunteer declined at. */
type Stage = 'plan' | 'time' | 'base' | 'data' | 'train' | 'publish'

/**
 * The reason a declined answer gossips: what kind of step failed, never the local message (it may hold file
 * paths or details of the volunteer's data); the volunteer's own log and `rounds:skipped` event keep the full
 * message, and the code says the rest.
 */
export function publicReason (stage: Stage, code: string): string {
  if (code === 'ERR_ROUNDS_VOLUNTEER_STOPPING') return 'the volunteer\'s daemon is stopping'
  if (code.startsWith('ERR_MODEL_BACKEND_')) return 'the volunteer\'s training backend cannot be used'
  if (code === 'ERR_ROUNDS_LATE' && stage !== 'time') return 'the volunteer ran out of time for the round (its deadline, or the volunteer\'s own time limit)'
  switch (stage) {
    case 'plan': return 'the volunteer cannot read the round-open\'s parameters'
    case 'time': return 'the round\'s deadline leaves the volunteer no time to train'
    case 'base': return 'the volunteer could not fetch the round\'s base release'
    case 'data': return 'the volunteer could not read its training data'
    case 'train': return 'local training failed'
    case 'publish': return 'the volunteer could not store or sign its contribution'
  }
}

/** A batch-order seed of one volunteer in one round: stable across restarts, different for every pair. */
function trainSeed (roundOpen: string, key: Uint8Array): number {
  return createHash('sha256').update(roundOpen).update(key).digest().readUInt32LE(0) & 0x7fffffff
}

export class Volunteer {
  private queue: Promise<unknown> = Promise.resolve()
  private training: { roundOpen: string, round: number, controller: AbortController, progress?: TrainProgress } | undefined
  private readonly enqueued = new Set<string>()
  private last: { round: number, status: string, code?: string } | undefined
  private latestFetched: string | undefined
  private fetching: Promise<void> | undefined
  private fetchAgain = false
  private stopped = false
  /** Answers being published; `stop` waits for them, so a decline sent while stopping goes out. */
  private readonly publishing = new Set<Promise<void>>()

  /** @param answers the community's answer topic, on which this volunteer tells the coordinator whether it trains. */
  constructor (private readonly ctx: RoundsContext, private readonly answers?: AnswerTopic) {}

  /** Joins open rounds it has not answered yet, and fetches the newest release. */
  async start (): Promise<void> {
    const { ledger } = this.ctx
    for (const open of await roundOpens(ledger)) {
      if (open.entry.body.deadline > Date.now() && await closeOf(ledger, open) === undefined) this.onEntry(open)
    }
    this.fetchLatest()
    const data = this.ctx.config.volunteer.data
    if (data !== undefined) this.ctx.warmUp(data, this.ctx.config.volunteer.backend)
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.training?.controller.abort(new Error('the daemon is stopping'))
    await this.queue.catch(() => {})
    await this.fetching
    await Promise.allSettled([...this.publishing])
  }

  status (): unknown {
    const t = this.training
    return {
      training: t === undefined ? null : { round: t.round, roundOpen: t.roundOpen, step: t.progress?.step, steps: t.progress?.steps, loss: t.progress?.loss },
      last: this.last ?? null,
      unableToTrain: this.ctx.warmError ?? null,
      release: this.latestFetched ?? null
    }
  }

  /** Sees every entry the ledger stores (maintainer entries are already checked for authority). */
  onEntry (e: SignedEntry): void {
    if (this.stopped) return
    if (e.entry.kind === 'round-open') {
      const id = e.id.toString()
      if (this.enqueued.has(id)) return
      this.enqueued.add(id)
      this.queue = this.queue.then(async () => { await this.participate(e as SignedEntry<'round-open'>) }).catch((err: unknown) => {
        this.ctx.log.error({ err, roundOpen: id }, 'taking part in the round failed')
      })
    } else if (e.entry.kind === 'round-close') {
      const t = this.training
      if (t !== undefined && parseCid(e.entry.body.roundOpen).toString() === t.roundOpen) t.controller.abort(new Error(`round ${t.round} closed (${e.entry.body.outcome})`))
    } else if (e.entry.kind === 'release') {
      this.fetchLatest()
    }
  }

  /**
   * Fetches the newest release (once at a time; a release announced meanwhile triggers one more pass), so a
   * volunteer catching up on many rounds through sync fetches only the last one.
   */
  private fetchLatest (): void {
    if (this.fetching !== undefined) {
      this.fetchAgain = true
      return
    }
    this.fetching = (async () => {
      do {
        this.fetchAgain = false
        const latest = await latestRelease(this.ctx.ledger, this.ctx.community)
        if (latest.entry !== undefined && latest.manifest.toString() !== this.latestFetched && !this.stopped) await this.fetchRelease(latest.entry)
      } while (this.fetchAgain && !this.stopped)
    })().catch((err: unknown) => { this.ctx.log.warn({ err }, 'looking up the newest release failed') }).finally(() => { this.fetching = undefined })
  }

  private async fetchRelease (r: SignedEntry<'release'>): Promise<void> {
    const manifest = parseCid(r.entry.body.manifest)
    try {
      await loadRelease(this.ctx.components, manifest, { providers: [peerIdOfKey(r.entry.author)], signal: AbortSignal.timeout(RELEASE_FETCH_TIMEOUT_MS) })
      this.latestFetched = manifest.toString()
      this.ctx.components.events.emit('rounds:release:fetched', { round: r.entry.body.round, manifest: manifest.toString() })
    } catch (err) {
      this.ctx.log.warn({ err, manifest: manifest.toString() }, 'could not fetch the new release; the next round fetches its base again')
    }
  }

  /**
   * Records what this volunteer did in a round; a skipped or failed round is also declined on the answer topic,
   * with the code and the generic reason of `stage` only (the full reason stays in the log and the state store).
   */
  private async record (open: SignedEntry<'round-open'>, r: VolunteerRound, stage: Stage = 'train'): Promise<void> {
    await this.ctx.state.putVolunteerRound(open.id.toString(), r)
    this.last = { round: r.round, status: r.status, ...(r.code === undefined ? {} : { code: r.code }) }
    if (r.status === 'skipped' || r.status === 'failed') {
      const code = r.code ?? 'ERR_ROUNDS_TRAINING_FAILED'
      this.ctx.components.events.emit('rounds:skipped', { round: r.round, roundOpen: open.id.toString(), code: r.code, reason: r.reason })
      this.ctx.log.info({ round: r.round, code: r.code, reason: r.reason }, 'not contributing to this round')
      this.answer(open, { status: 'declined', code, reason: publicReason(stage, code) })
    }
  }

  /** Tells the round's coordinator whether this volunteer trains (answers.ts); a lost answer only costs an early close. */
  private answer (open: SignedEntry<'round-open'>, a: Parameters<AnswerTopic['publish']>[1]): void {
    if (this.answers === undefined || open.entry.body.deadline <= Date.now()) return
    const sent = this.answers.publish(open.id, a).then(() => {}, (err: unknown) => { this.ctx.log.warn({ code: (err as { code?: string }).code, reason: (err as Error).message, round: open.entry.body.round }, 'could not publish the round answer') })
    this.publishing.add(sent)
    void sent.finally(() => this.publishing.delete(sent))
  }

  private async participate (open: SignedEntry<'round-open'>): Promise<void> {
    const { ledger, community, state, config } = this.ctx
    const id = open.id.toString()
    const round = open.entry.body.round
    const done = await state.getVolunteerRound(id)
    if (done !== undefined && done.status !== 'training') return
    const mine = keyHex(this.ctx.key)
    if ((await contributions(ledger, round)).some((c) => keyHex(c.entry.author) === mine && parseCid(c.entry.body.roundOpen).toString() === id)) {
      await this.record(open, { round, status: 'contributed' })
      return
    }
    if (await closeOf(ledger, open) !== undefined) return
    let plan: RoundPlan
    try {
      plan = planOf(open.entry.body, community)
    } catch (err) {
      await this.record(open, { round, status: 'skipped', code: (err as { code?: string }).code ?? 'ERR_ROUNDS_BAD_PARAMS', reason: (err as Error).message }, 'plan')
      return
    }
    const data = config.volunteer.data
    if (data === undefined) return
    const budgetMs = Math.min(plan.deadline - PUBLISH_MARGIN_MS - Date.now(), config.volunteer.maxRoundMs)
    if (budgetMs <= 0) {
      await this.record(open, { round, status: 'skipped', code: 'ERR_ROUNDS_LATE', reason: `the round's deadline ${new Date(plan.deadline).toISOString()} leaves no time to train` }, 'time')
      return
    }
    this.answer(open, { status: 'training' })
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(new Error(`the round's time budget of ${budgetMs} ms ran out (deadline or the local maxRoundMs policy)`)) }, budgetMs)
    this.training = { roundOpen: id, round, controller }
    await state.putVolunteerRound(id, { round, status: 'training' })
    this.ctx.components.events.emit('rounds:train:start', { round, roundOpen: id })
    let stage: Stage = 'base'
    try {
      const { task } = await this.ctx.resolveTask()
      const base = await loadRelease(this.ctx.components, plan.base, { providers: [peerIdOfKey(open.entry.author)], signal: controller.signal })
      stage = 'data'
      const examples = await this.ctx.dataset(data)
      stage = 'train'
      let lastEvent = 0
      const result = await this.ctx.worker().train({
        task: task.id,
        weights: base.weights,
        data: examples,
        optimizer: plan.train.optimizer,
        learningRate: plan.train.learningRate,
        batchSize: plan.train.batchSize,
        ...(plan.train.steps === undefined ? { epochs: plan.train.epochs } : { steps: plan.train.steps }),
        seed: trainSeed(id, this.ctx.key),
        backend: config.volunteer.backend,
        lossExamples: config.volunteer.lossExamples,
        ...this.ctx.jobModel()
      }, {
        signal: controller.signal,
        onProgress: ({ detail: p }) => {
          if (this.training !== undefined) this.training.progress = p
          if (Date.now() - lastEvent < PROGRESS_EVENT_INTERVAL_MS && p.step !== p.steps) return
          lastEvent = Date.now()
          this.ctx.components.events.emit('rounds:train:progress', { round, step: p.step, steps: p.steps, loss: p.loss })
        }
      })
      stage = 'publish'
      const spec = specOf(base.weights)
      const delta = result.weights.values.map((w, t) => {
        const b = base.weights.values[t]
        const d = new Float32Array(w.length)
        for (let i = 0; i < w.length; i++) d[i] = w[i] - b[i]
        return d
      })
      const norm = deltaNorm(delta)
      const key = codecKey(plan.codec)
      const feedback = new ErrorFeedback(spec, plan.codec, await this.residual(key, spec))
      const { bytes } = feedback.encode(delta)
      const blob = await this.ctx.components.exchange.put(bytes)
      const signed = await this.ctx.ledgerService.sign({
        kind: 'contribution',
        body: {
          round,
          roundOpen: open.id.bytes,
          base: plan.base.bytes,
          blob: blob.bytes,
          codec: plan.codecMethod,
          samples: result.samples,
          metrics: { lossBefore: result.lossBefore, lossAfter: result.lossAfter, trainMs: Math.round(result.trainMs), steps: result.steps, blobBytes: bytes.length, backend: result.backend },
          norm
        }
      })
      await state.putResidual(key, encodeDelta(feedback.residual, spec, { codec: 'fp32' }))
      await this.record(open, { round, status: 'contributed', contribution: signed.id.toString(), trainMs: Math.round(result.trainMs), blobBytes: bytes.length })
      // a task from a model: the contribution carries its trainable weights only, beside the whole model's float32 bytes
      const modelBytes = this.ctx.modelBytes() === undefined ? {} : { modelBytes: this.ctx.modelBytes() }
      this.ctx.components.events.emit('rounds:contributed', {
        round, contribution: signed.id.toString(), samples: result.samples, lossBefore: result.lossBefore, lossAfter: result.lossAfter, trainMs: Math.round(result.trainMs), blobBytes: bytes.length, ...modelBytes, backend: result.backend
      })
      this.ctx.log.info({ round, contribution: signed.id.toString(), lossBefore: result.lossBefore, lossAfter: result.lossAfter, trainMs: Math.round(result.trainMs), blobBytes: bytes.length, ...modelBytes }, 'contributed')
    } catch (err) {
      const aborted = controller.signal.aborted
      // stopping is this volunteer's own doing, not the round's time running out
      const code = aborted ? (this.stopped ? 'ERR_ROUNDS_VOLUNTEER_STOPPING' : 'ERR_ROUNDS_LATE') : (err as { code?: string }).code ?? 'ERR_ROUNDS_TRAINING_FAILED'
      const reason = aborted ? String((controller.signal.reason as Error)?.message ?? 'aborted') : (err as Error).message
      await this.record(open, { round, status: aborted ? 'skipped' : 'failed', code, reason: reason.slice(0, 1000) }, stage)
    } finally {
      clearTimeout(timer)
      this.training = undefined
    }
  }

  /** The residual carried for a codec, or undefined (zero) when none fits this model. */
  private async residual (key: string, spec: ModelSpec): Promise<Float32Array[] | undefined> {
    const bytes = await this.ctx.state.getResidual(key)
    if (bytes === undefined) return undefined
    try {
      return decodeDelta(bytes, { spec: createModelSpec(spec.shapes) }).tensors
    } catch {
      return undefined
    }
  }
}
