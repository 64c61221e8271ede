/**
 * Messages between `TrainingWorker` and its worker thread (structured clone).
 */
import { AbortedError, InvalidTrainOptionsError, ModelError, UnknownTaskError } from '../errors.js'
import type { ModelErrorCode } from '../errors.js'
import { decodeSafetensors } from '../export/safetensors.js'
import { encodeBaseWeights, loadLayersModelFolder, mobilenetV2Base, type LayersModelSource } from '../layers/source.js'
import { createModelTask } from '../tasks/model-task.js'
import { CAUSAL_LM_TASK_PREFIX, causalLmSpecCid, createCausalLmTask, type CausalLmSource, type CausalLmSpec } from '../tasks/causal-lm-task.js'
import { modelSpecCid } from '../tasks/model-task-spec.js'
import { registerTask } from '../tasks/registry.js'
import type { ModelSpec } from '../tasks/model-task-spec.js'
import type { EvaluateOptions, EvaluateResult, TrainOptions, TrainProgress, TrainResult } from './options.js'

/**
 * Where a worker finds a model task's base (`LayersModelSource`): the MobileNetV2 of nsfwjs, a tfjs LayersModel
 * folder on disk, or the base itself as bytes — its topology object and its base weights blob
 * (`encodeBaseWeights`, the safetensors bytes the base CID hashes), sent to a worker once and kept there.
 */
export type ModelBaseRef =
  | { kind: 'mobilenet-v2' }
  | { kind: 'folder', path: string }
  | { kind: 'blob', topology: Record<string, unknown>, weights: Uint8Array, origin?: string }

/**
 * A model task as plain data, for a worker thread to rebuild it once per spec CID and register it: a task from a
 * tfjs model (`createModelTask(spec, base, { cacheDir })`, id `layers-model/<modelSpecCid(spec)>`) or a causal LM
 * (`createCausalLmTask(spec, base)`, id `causal-lm/<causalLmSpecCid(spec)>`, the base's three blobs as bytes).
 */
export type ModelTaskRef =
  | {
    spec: ModelSpec
    base: ModelBaseRef
    /** Feature cache folder (shared with the main thread's task, so features computed there are hits here). */
    cacheDir?: string
  }
  | { spec: CausalLmSpec, base: CausalLmSource }

/** A model task named in a job: its id, and its description unless this worker already built it. */
export interface WorkerModelTask {
  id: string
  ref?: ModelTaskRef
}

export type WorkerRequest =
  | { id: number, kind: 'train', options: TrainOptions, model?: WorkerModelTask }
  | { id: number, kind: 'evaluate', options: EvaluateOptions, model?: WorkerModelTask }
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

/** The task id of a model task ref: `layers-model/<modelSpecCid(spec)>` or `causal-lm/<causalLmSpecCid(spec)>`. @throws ModelSpecError for a malformed spec. */
export function modelTaskRefId (ref: ModelTaskRef): string {
  return ref.spec.kind === 'causal-lm' ? `${CAUSAL_LM_TASK_PREFIX}${causalLmSpecCid(ref.spec)}` : `layers-model/${modelSpecCid(ref.spec)}`
}

/**
 * A base as bytes for a `ModelTaskRef` (`{ kind: 'blob' }`): its topology and its base weights blob
 * (`encodeBaseWeights`, ~10 MB for MobileNetV2), which a worker decodes to the same weights and CIDs.
 * @throws InvalidWeightsError for weights that do not match their specs.
 */
export function modelBaseBlob (source: LayersModelSource): ModelBaseRef {
  return { kind: 'blob', topology: source.topology, weights: encodeBaseWeights(source.weights), origin: source.origin }
}

/** The base a ref names. @throws ModelFormatError, ModelSafetensorsError as the loaders. */
async function loadBase (base: ModelBaseRef): Promise<LayersModelSource> {
  switch (base.kind) {
    case 'mobilenet-v2': return await mobilenetV2Base()
    case 'folder': return await loadLayersModelFolder(base.path)
    case 'blob': return { topology: base.topology, weights: decodeSafetensors(base.weights).weights, origin: base.origin ?? 'a base sent to the training worker' }
  }
}

/**
 * Builds and registers the model task a job names (worker side): `createModelTask(ref.spec, base, { cacheDir })`
 * then `registerTask`.
 * @throws UnknownTaskError when the job carries no description of a task this thread has not built, or its id is
 *   not the spec's; ModelSpecError, ModelFormatError, WeightsMismatchError as `createModelTask`.
 */
export async function loadModelTaskRef (model: WorkerModelTask): Promise<void> {
  if (model.ref === undefined) throw new UnknownTaskError(`the training worker has not built model task ${model.id}: pass its ModelTaskRef (spec and base) with the job`)
  const id = modelTaskRefId(model.ref)
  if (id !== model.id) throw new UnknownTaskError(`the model task ref describes task ${id}, but the job names ${model.id}`)
  const ref = model.ref
  const task = ref.spec.kind === 'causal-lm'
    ? await createCausalLmTask(ref.spec, ref.base as CausalLmSource)
    : await createModelTask(ref.spec, await loadBase(ref.base as ModelBaseRef), { cacheDir: 'cacheDir' in ref ? ref.cacheDir : undefined })
  registerTask(task)
}

/**
 * The model part of a job (main side): checks that `taskId` is the ref's task.
 * @throws InvalidTrainOptionsError when `taskId` is another task's id.
 */
export function jobModelTask (taskId: string, ref: ModelTaskRef | undefined): WorkerModelTask | undefined {
  if (ref === undefined) return undefined
  const id = modelTaskRefId(ref)
  if (id !== taskId) throw new InvalidTrainOptionsError(`options.task is ${taskId}, but the model task ref describes ${id}: pass the task id of the ref's spec (task.id)`)
  return { id, ref }
}
