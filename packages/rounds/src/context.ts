/**
 * What the coordinator and volunteer roles share inside one daemon: its components, the ledger service, the
 * community, its task (resolved once: a task from a model needs its base's blobs, see task.ts), the state store,
 * the settings and one training worker thread (jobs run one at a time).
 */
import { join } from 'node:path'
import type { Ledger } from '@swarmtune/ledger'
import { FLOAT32_BYTES, TrainingWorker, getTask, head, type Dataset, type DataSpec, type ModelTaskRef, type Task } from '@swarmtune/model'
import type { Logger } from 'pino'
import type { RoundsComponents } from './components.js'
import type { LedgerService } from '@swarmtune/node'
import type { Community } from './community.js'
import type { RoundsConfig } from './config.js'
import type { RoundsState } from './state.js'
import { ModelBaseUnavailableError, resolveTask, type ResolvedTask } from './task.js'

/** Where a daemon caches the features of a model task's frozen backbone, inside its data folder. */
export const FEATURES_DIR = join('rounds', 'features')

/** Wait before fetching a model task's base again while peers are connected, ms. */
const BASE_RETRY_MS = 5_000

export class RoundsContext {
  private trainingWorker: TrainingWorker | undefined
  private readonly datasets = new Map<string, Promise<Dataset>>()
  private resolved: ResolvedTask | undefined
  private resolving: Promise<ResolvedTask> | undefined
  /** Warm-ups to run again when a peer connects (their base was not reachable). */
  private readonly retries = new Map<string, () => void>()
  private unsubscribe: (() => void) | undefined
  private closed = false
  /** True once `warmUp` finished: data loaded and the worker's backend initialised. */
  warm = false
  /** Why `warmUp` failed (a backend that cannot load, data that cannot be read), until a warm-up succeeds. */
  warmError: { code: string, reason: string } | undefined

  constructor (
    readonly components: RoundsComponents,
    readonly ledgerService: LedgerService,
    readonly community: Community,
    readonly state: RoundsState,
    readonly config: RoundsConfig,
    readonly log: Logger
  ) {
    if (community.modelSpec === undefined && community.lmSpec === undefined) this.resolved = { task: getTask(community.task) }
  }

  /**
   * The community's task: a built-in task from the start, a task from a model once {@link resolveTask} built it.
   * @throws ModelBaseUnavailableError `ERR_ROUNDS_MODEL_BASE_UNAVAILABLE` before that.
   */
  get task (): Task {
    if (this.resolved === undefined) throw new ModelBaseUnavailableError(`the base model of community ${this.community.name} is not loaded yet; it is fetched from the maintainer or a member when one is connected`)
    return this.resolved.task
  }

  /**
   * Resolves the community's task once (see `resolveTask` in task.ts: the base's blobs read or fetched, the task
   * built and registered; the feature cache in `<data>/rounds/features`); a failure is not kept, so the next call
   * tries again. Emits `rounds:task` `{ task, topology, weights, fetchMs, buildMs }` for a task from a model.
   * @throws as `resolveTask`.
   */
  async resolveTask (): Promise<ResolvedTask> {
    if (this.resolved !== undefined) return this.resolved
    this.resolving ??= resolveTask(this.community, this.components, { cacheDir: join(this.components.dataDir.paths.root, FEATURES_DIR) }).then((r) => {
      this.resolved = r
      if (r.base !== undefined) {
        this.components.events.emit('rounds:task', { task: r.task.id, ...r.base })
        this.log.info({ task: r.task.id, ...r.base }, r.base.weights.fetched ? 'fetched the community\'s base model from a peer' : 'read the community\'s base model from the blob store')
      }
      return r
    }).finally(() => { this.resolving = undefined })
    return await this.resolving
  }

  /** For a task from a model or a language model (resolved): the whole model's float32 bytes (`4 × baseParamCount`); else undefined. */
  modelBytes (): number | undefined {
    const base = this.resolved?.task.baseParamCount
    return base === undefined ? undefined : FLOAT32_BYTES * base
  }


  /** The model part of a worker job: `{ model }` for a task from a model (resolved), else nothing. */
  jobModel (): { model?: ModelTaskRef } {
    const model = this.resolved?.model
    return model === undefined ? {} : { model }
  }

  get ledger (): Ledger {
    return this.ledgerService.ledger
  }

  /** This node's raw Ed25519 public key (its entries' `author`). */
  get key (): Uint8Array {
    return this.components.privateKey.publicKey.raw
  }

  /** The training worker thread, started on first use. */
  worker (): TrainingWorker {
    this.trainingWorker ??= new TrainingWorker()
    return this.trainingWorker
  }

  /**
   * Examples named by a data spec, for a worker job: for a built-in task loaded once (in the daemon's thread, then
   * handed to the worker with each job, so the worker never re-reads files); for a task from a model the spec
   * itself, which the worker loads through the feature cache (the backbone's forward pass runs in the worker
   * thread, on its backend; after the warm-up every example is a cache hit).
   * @throws the model package's data errors; as {@link resolveTask}.
   */
  async dataset (spec: DataSpec): Promise<Dataset | DataSpec> {
    if ((await this.resolveTask()).model !== undefined) return spec
    const key = JSON.stringify(spec)
    let ds = this.datasets.get(key)
    if (ds === undefined) {
      ds = this.task.loadData(spec)
      this.datasets.set(key, ds)
      ds.catch(() => this.datasets.delete(key))
    }
    return await ds
  }

  /**
   * Loads `spec`'s examples and starts the worker's tfjs backend with a forward pass over a few of them, so the
   * first round does not pay for either; for a task from a model, resolves the task first and passes every example
   * through the backbone once, filling the feature cache. Failures are logged, not thrown: the round reports them;
   * a base that no peer served yet (`ERR_ROUNDS_MODEL_BASE_UNAVAILABLE`) is tried again when a peer connects.
   */
  warmUp (spec: DataSpec, backend?: string): void {
    void (async () => {
      const started = performance.now()
      const { task } = await this.resolveTask()
      const ds = await this.dataset(spec)
      const r = await this.worker().evaluate({ task: task.id, weights: task.initWeights(0), data: 'source' in ds ? ds : head(ds, 8), backend, ...this.jobModel() })
      this.warm = true
      this.warmError = undefined
      this.components.events.emit('rounds:ready', { examples: 'source' in ds ? r.count : ds.count, backend: r.backend, ms: Math.round(performance.now() - started) })
    })().catch((err: unknown) => {
      if (this.closed) return
      this.warmError = { code: (err as { code?: string }).code ?? 'ERR_ROUNDS_TRAINING_FAILED', reason: (err as Error).message.slice(0, 1000) }
      this.components.events.emit('rounds:unable', this.warmError)
      // code and message only: the messages of the model package's errors already end with their cause's, which
      // pino's error serialiser would append once more
      this.log.warn({ code: this.warmError.code, reason: (err as Error).message }, 'warming up the training worker failed: this node cannot train or evaluate until that is fixed')
      if (this.warmError.code === 'ERR_ROUNDS_MODEL_BASE_UNAVAILABLE') this.retryOnConnect(JSON.stringify([spec, backend]), () => { this.warmUp(spec, backend) })
    })
  }

  /**
   * Runs `fn` once when a peer connects (one pending retry per key), or after {@link BASE_RETRY_MS} when peers are
   * connected already (the one that has the base may have connected before the attempt, or be still identifying).
   */
  private retryOnConnect (key: string, fn: () => void): void {
    this.retries.set(key, fn)
    const run = (): void => {
      if (this.closed || this.retries.size === 0) return
      const due = [...this.retries.values()]
      this.retries.clear()
      for (const f of due) f()
    }
    this.unsubscribe ??= this.components.events.subscribe((e) => { if (e.type === 'peer:connect') setTimeout(run, 200).unref() })
    if (this.components.libp2p.getConnections().length > 0) setTimeout(run, BASE_RETRY_MS).unref()
  }

  async close (): Promise<void> {
    this.closed = true
    this.unsubscribe?.()
    this.unsubscribe = undefined
    this.retries.clear()
    await this.trainingWorker?.close()
    this.trainingWorker = undefined
  }
}
