/**
 * Messages between `TrainingWorker` and its worker thread (structured clone).
 */
import { AbortedError, ModelError } from '../errors.js'
import type { ModelErrorCode } from '../errors.js'
import type { EvaluateOptions, EvaluateResult, TrainOptions, TrainProgress, TrainResult } from './options.js'

export type WorkerRequest =
  | { id: number, kind: 'train', options: TrainOptions }
  | { id: number, kind: 'evaluate', options: EvaluateOptions }
  | { id: number, kind: 'memory' }

export type WorkerReply =
  | { id: number, type: 'progress', progress: TrainProgress }
  | { id: number, type: 'train-result', result: TrainResult }
  | { id: number, type: 'evaluate-result', result: EvaluateResult }
  | { id: number, type: 'memory-result', result: WorkerMemory }
  | { id: number, type: 'error', error: SerializedError }

/** The worker thread's tfjs engine memory (`tf.memory()`): live tensors, their data buffers and bytes. */
export interface WorkerMemory {
  numTensors: number
  numDataBuffers: number
  numBytes: number
}

export interface SerializedError {
  name: string
  message: string
  code?: string
  stack?: string
}

export function serializeError (err: unknown): SerializedError {
  const e = err as { name?: unknown, message?: unknown, code?: unknown, stack?: unknown }
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    code: typeof e?.code === 'string' ? e.code : undefined,
    stack: typeof e?.stack === 'string' ? e.stack : undefined
  }
}

/**
 * Rebuilds a worker's error: a `ModelError` with the same code and name when it was one, an `AbortError` when it
 * was one (`ERR_ABORTED`), else a plain Error.
 */
export function reviveError (s: SerializedError): Error {
  if (typeof s.code === 'string' && (s.code.startsWith('ERR_MODEL_') || s.code === 'ERR_ABORTED')) {
    const e = s.code === 'ERR_ABORTED' ? new AbortedError(s.message) : new ModelError(s.code as ModelErrorCode, s.message)
    e.name = s.name
    if (s.stack !== undefined) e.stack = s.stack
    return e
  }
  const e = new Error(s.message)
  e.name = s.name
  if (s.stack !== undefined) e.stack = s.stack
  return e
}
