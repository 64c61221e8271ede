/**
 * What the coordinator and volunteer roles share inside one daemon: its components, the ledger service, the
 * community, the state store, the settings and one training worker thread (jobs run one at a time).
 */
import type { Ledger } from '@swarmtune/ledger'
import { TrainingWorker, getTask, head, type Dataset, type DataSpec, type Task } from '@swarmtune/model'
import type { Logger } from 'pino'
import type { RoundsComponents } from './components.js'
import type { LedgerService } from '@swarmtune/node'
import type { Community } from './community.js'
import type { RoundsConfig } from './config.js'
import type { RoundsState } from './state.js'

export class RoundsContext {
  private trainingWorker: TrainingWorker | undefined
  private readonly datasets = new Map<string, Promise<Dataset>>()
  readonly task: Task
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
    this.task = getTask(community.task)
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
   * Examples named by a data spec, loaded once (in the daemon's thread, then handed to the worker with each
   * job, so the worker never re-reads files).
   * @throws the model package's data errors.
   */
  async dataset (spec: DataSpec): Promise<Dataset> {
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
   * first round does not pay for either. Failures are logged, not thrown: the round reports them.
   */
  warmUp (spec: DataSpec, backend?: string): void {
    void (async () => {
      const started = performance.now()
      const ds = await this.dataset(spec)
      const r = await this.worker().evaluate({ task: this.task.id, weights: this.task.initWeights(0), data: head(ds, 8), backend })
      this.warm = true
      this.warmError = undefined
      this.components.events.emit('rounds:ready', { examples: ds.count, backend: r.backend, ms: Math.round(performance.now() - started) })
    })().catch((err: unknown) => {
      this.warmError = { code: (err as { code?: string }).code ?? 'ERR_ROUNDS_TRAINING_FAILED', reason: (err as Error).message.slice(0, 1000) }
      this.components.events.emit('rounds:unable', this.warmError)
      // code and message only: the messages of the model package's errors already end with their cause's, which
      // pino's error serialiser would append once more
      this.log.warn({ code: this.warmError.code, reason: (err as Error).message }, 'warming up the training worker failed: this node cannot train or evaluate until that is fixed')
    })
  }

  async close (): Promise<void> {
    await this.trainingWorker?.close()
    this.trainingWorker = undefined
  }
}
