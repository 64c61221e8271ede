/**
 * Training off the event loop: `TrainingWorker` runs `trainLocal` and `evaluate` in a worker thread (its own
 * tfjs engine and backend), so a daemon's gossip heartbeats and streams keep flowing while a round trains. Jobs
 * run one at a time, in order. The worker loads the package's TypeScript through tsx.
 *
 * A task made at run time (`createModelTask`) lives in the registry of the thread that made it; a job for one
 * carries its description (`model`: a `ModelTaskRef`, the spec and where its base is) and the worker rebuilds and
 * registers it once per spec CID, sending the description (a base given as bytes included) to each thread once.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { LongOperationOptions } from '@swarmtune/wire'
import { CustomProgressEvent } from 'progress-events'
import { AbortedError, WorkerFailedError } from '../errors.js'
import type { TrainProgressEvents } from './local.js'
import type { EvaluateOptions, EvaluateResult, TrainOptions, TrainResult } from './options.js'
import type { ModelTaskRef, WorkerMemory, WorkerReply, WorkerRequest } from './worker-protocol.js'
import { jobModelTask, reviveError } from './worker-protocol.js'

/** A worker job for a model task: the options, and the task's description (see `ModelTaskRef`). */
export interface WorkerModelOptions {
  /** The model task `task` names, for the worker to build it (once per spec CID); not needed for built-in tasks. */
  model?: ModelTaskRef
}

/** Options of `TrainingWorker`. */
export interface TrainingWorkerInit {
  /** V8 heap limits of the worker (see `worker_threads` ResourceLimits); default: Node's. */
  resourceLimits?: { maxOldGenerationSizeMb?: number, maxYoungGenerationSizeMb?: number }
}

/** Per-job options: cancellation and progress events (`train:progress`, re-raised from the worker thread). */
export type WorkerRunOptions = LongOperationOptions<TrainProgressEvents>

interface Pending {
  worker: Worker
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  onProgress?: (evt: TrainProgressEvents) => void
}

function tsxLoaderUrl (): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
}

/**
 * A worker thread that trains and evaluates. Create one per daemon and reuse it; `close()` when done.
 * An aborted job terminates the thread (the only way to stop a synchronous tfjs kernel); the next job starts a
 * new one.
 */
export class TrainingWorker {
  private worker: Worker | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false
  /** Model task ids whose description the current thread was sent. */
  private sent = new Set<string>()

  constructor (private readonly init: TrainingWorkerInit = {}) {}

  /**
   * Trains in the worker; same inputs and result as `trainLocal`.
   * `options.model` describes a model task (`options.task` must be its id): the worker builds it first.
   * @throws the same errors as `trainLocal` (revived with their `code` and `name`), AbortedError,
   *   WorkerFailedError when the thread fails to start or dies; InvalidTrainOptionsError when `options.task` is
   *   not the id of `options.model`'s spec; ModelSpecError, ModelFormatError as `createModelTask` (from the worker).
   */
  train (options: TrainOptions & WorkerModelOptions, run: WorkerRunOptions = {}): Promise<TrainResult> {
    const { model, ...rest } = options
    return this.run({ id: 0, kind: 'train', options: rest }, run, model) as Promise<TrainResult>
  }

  /** Evaluates in the worker; same inputs and result as `evaluate` (`options.model` as for `train`). */
  evaluate (options: EvaluateOptions & WorkerModelOptions, run: { signal?: AbortSignal } = {}): Promise<EvaluateResult> {
    const { model, ...rest } = options
    return this.run({ id: 0, kind: 'evaluate', options: rest }, run, model) as Promise<EvaluateResult>
  }

  /**
   * The worker thread's tfjs memory (`tf.memory()` there: tensors, data buffers, bytes), queued after the jobs
   * already sent. Training and evaluation free everything they allocate, so `numTensors` stays flat across jobs.
   * @throws WorkerFailedError when the worker is closed or dies.
   */
  memory (): Promise<WorkerMemory> {
    return this.run({ id: 0, kind: 'memory' }, {}) as Promise<WorkerMemory>
  }

  /** Stops the thread; pending jobs fail with AbortedError. Idempotent. */
  async close (): Promise<void> {
    this.closed = true
    await this.stop(new AbortedError('the training worker was closed'))
  }

  private start (): Worker {
    if (this.worker !== undefined) return this.worker
    const w = new Worker(new URL('./worker-entry.ts', import.meta.url), {
      execArgv: ['--import', tsxLoaderUrl()],
      resourceLimits: this.init.resourceLimits
    })
    w.on('message', (m: WorkerReply) => {
      const p = this.pending.get(m.id)
      if (p === undefined) return
      if (m.type === 'progress') {
        p.onProgress?.(new CustomProgressEvent('train:progress', m.progress))
        return
      }
      this.pending.delete(m.id)
      if (m.type === 'error') p.reject(reviveError(m.error))
      else p.resolve(m.result)
    })
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = undefined
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue
        this.pending.delete(id)
        p.reject(err)
      }
    }
    w.on('error', (err) => fail(new WorkerFailedError(`the training worker failed: ${err.message}`, { cause: err })))
    w.on('exit', (code) => fail(new WorkerFailedError(`the training worker exited with code ${code} before finishing its jobs`)))
    w.unref()
    this.worker = w
    this.sent = new Set()
    return w
  }

  private async stop (reason: Error): Promise<void> {
    const w = this.worker
    this.worker = undefined
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue
      this.pending.delete(id)
      p.reject(reason)
    }
    if (w !== undefined) await w.terminate()
  }

  private run (req: WorkerRequest, run: WorkerRunOptions, ref?: ModelTaskRef): Promise<unknown> {
    if (this.closed) return Promise.reject(new WorkerFailedError('the training worker is closed; create a new TrainingWorker'))
    const what = req.kind === 'train' ? 'training' : req.kind === 'evaluate' ? 'evaluation' : 'the memory query'
    if (run.signal?.aborted === true) return Promise.reject(new AbortedError(`${what} was aborted`, { cause: run.signal.reason }))
    let model: ReturnType<typeof jobModelTask>
    try {
      model = req.kind === 'memory' ? undefined : jobModelTask(req.options.task, ref)
    } catch (err) {
      return Promise.reject(err)
    }
    const id = this.nextId++
    const worker = this.start()
    if (model !== undefined && req.kind !== 'memory') {
      const first = !this.sent.has(model.id)
      this.sent.add(model.id)
      req = { ...req, model: first ? model : { id: model.id } }
    }
    const sent = this.sent
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        void this.stop(new AbortedError(`${what} was aborted`, { cause: run.signal?.reason }))
      }
      run.signal?.addEventListener('abort', onAbort, { once: true })
      const done = (): void => run.signal?.removeEventListener('abort', onAbort)
      this.pending.set(id, {
        worker,
        resolve: (v) => { done(); resolve(v) },
        reject: (e) => {
          done()
          // the worker may not have built the task: describe it again with the next job
          if (model !== undefined) sent.delete(model.id)
          reject(e)
        },
        onProgress: run.onProgress
      })
      worker.ref()
      worker.postMessage({ ...req, id })
    }).finally(() => {
      if (this.pending.size === 0) this.worker?.unref()
    })
  }
}

/**
 * Trains once in a fresh worker thread and stops it (see `TrainingWorker` to reuse one).
 * @throws as `TrainingWorker.train`.
 */
export async function trainInWorker (options: TrainOptions & WorkerModelOptions, run: WorkerRunOptions = {}): Promise<TrainResult> {
  const w = new TrainingWorker()
  try {
    return await w.train(options, run)
  } finally {
    await w.close()
  }
}
