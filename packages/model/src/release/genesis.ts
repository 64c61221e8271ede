/**
 * Genesis releases: the starting weights of a community, either from a task's seeded initialisation or imported
 * from an existing tfjs model folder. A genesis release has round 0, no parent and no community (the community's
 * genesis entry names it, so it cannot name the community).
 */
import { importTfjsFolder } from '../export/tfjs-folder.js'
import { getTask } from '../tasks/registry.js'
import type { BuildReleaseOptions, BuiltRelease } from './release.js'
import { buildRelease } from './release.js'

/** Options of a genesis release. */
export interface GenesisOptions extends BuildReleaseOptions {
  /** 32-byte raw Ed25519 public key of the maintainer building it. */
  author?: Uint8Array
  /** Evaluation metrics of the starting weights (finite numbers). */
  metrics?: Record<string, number>
}

/**
 * Genesis release from a task's seeded initialisation (`task.initWeights(seed)`): the same task, seed and
 * options give the same shard and manifest CIDs on every machine.
 * @throws UnknownTaskError, ReleaseError.
 */
export function genesisFromTask (taskId: string, seed: number, options: GenesisOptions = {}): BuiltRelease {
  const task = getTask(taskId)
  return buildRelease(task.initWeights(seed), { round: 0, task: task.id, author: options.author, metrics: options.metrics }, options)
}

/**
 * Genesis release from a tfjs layers-model folder whose weights fit `taskId` (same shapes in the same order).
 * @throws ModelFormatError ERR_MODEL_TFJS_FOLDER_MALFORMED / ERR_MODEL_TASK_MISMATCH, UnknownTaskError,
 *   InvalidWeightsError (non-finite weights), ReleaseError.
 */
export async function genesisFromTfjsFolder (dir: string, taskId: string, options: GenesisOptions = {}): Promise<BuiltRelease> {
  const task = getTask(taskId)
  const weights = await importTfjsFolder(dir, { task: task.id })
  return buildRelease(weights, { round: 0, task: task.id, author: options.author, metrics: options.metrics }, options)
}
