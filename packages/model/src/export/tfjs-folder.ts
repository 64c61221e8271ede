/**
 * Exports to and imports from tfjs layers-model folders (the folder format and its IOHandler: tfjs-folder-io.ts):
 * a release as the task's model with its weights, or — for a model task — the whole network with the adapters
 * merged; and the weights of a folder, by the task's names.
 */
import { ModelFormatError, ModelSpecError } from '../errors.js'
import { buildLayersModel, type LayersModelSource } from '../layers/source.js'
import { getTask } from '../tasks/registry.js'
import { tf } from '../tf.js'
import { modelWithWeights, readModelWeights } from '../train/model-state.js'
import type { Weights } from '../weights.js'
import { assertSameSpecs } from '../weights.js'
import { isModelTask, mergedLayersModel } from './merged.js'
import { malformed, tfjsFolderHandler } from './tfjs-folder-io.js'

export { TFJS_WEIGHT_FILE_BYTES, tfjsFolderHandler } from './tfjs-folder-io.js'

/** Options of `exportTfjsFolder` and of `exportSafetensors` for a model task. */
export interface ModelExportOptions {
  /** The base of a model task (`createModelTask`'s): required to export one, as the whole network. */
  base?: LayersModelSource
}

/**
 * The tfjs model `exportTfjsFolder` writes: the task's builder with `weights`, or for a model task the whole
 * network with the adapters merged (`mergedLayersModel`). The caller must `dispose()` it.
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID for a model task without `options.base`; as `mergedLayersModel`.
 */
export async function exportedModel (taskId: string, weights: Weights, options: ModelExportOptions = {}): Promise<tf.LayersModel> {
  const task = getTask(taskId)
  if (!isModelTask(task)) return modelWithWeights(task, weights)
  if (options.base === undefined) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `task ${task.id} is a model task: pass its base model (options.base) to export the whole network`)
  return await buildLayersModel(mergedLayersModel(task, options.base, weights))
}

/**
 * Writes weights as a tfjs layers-model folder for `task` (architecture from the task's builder, weights from
 * `weights`). The folder loads with `tf.loadLayersModel` (through `tfjsFolderHandler(dir)`, or over HTTP) and
 * predicts class probabilities `[batch, classes]`. For a model task (`createModelTask`, registered) pass its base
 * as `options.base`: the folder then holds the whole network, the base's input (e.g. `[batch, 224, 224, 3]`
 * images) to the new head's probabilities, with the LoRA adapters merged into their kernels (`mergedLayersModel`).
 * @param metadata stored under `userDefinedMetadata.swarmtune` in model.json (e.g. release CID, round)
 * @throws UnknownTaskError, InvalidWeightsError, ModelSpecError (a model task without its base, or another base),
 *   fs errors.
 */
export async function exportTfjsFolder (taskId: string, weights: Weights, dir: string, metadata: Record<string, string | number> = {}, options: ModelExportOptions = {}): Promise<void> {
  const task = getTask(taskId)
  const model = await exportedModel(taskId, weights, options)
  try {
    await model.save(tf.io.withSaveHandler(async (artifacts) =>
      tfjsFolderHandler(dir).save!({ ...artifacts, userDefinedMetadata: { swarmtune: { task: task.id, ...metadata } } })))
  } finally {
    model.dispose()
  }
}

/**
 * Reads the weights of a tfjs layers-model folder. With `task`, the model's weights must have the task's shapes
 * in the task's order; they are returned under the task's names (so a model whose layers were named differently
 * still imports). Without `task`, the names are the model's own.
 * @throws ModelFormatError ERR_MODEL_TFJS_FOLDER_MALFORMED (unreadable folder, topology tfjs cannot build),
 *   ERR_MODEL_TASK_MISMATCH (shapes differ from the task's); UnknownTaskError.
 */
export async function importTfjsFolder (dir: string, options: { task?: string } = {}): Promise<Weights> {
  const task = options.task === undefined ? undefined : getTask(options.task)
  let model: tf.LayersModel
  try {
    model = await tf.loadLayersModel(tfjsFolderHandler(dir))
  } catch (err) {
    if (err instanceof ModelFormatError) throw err
    throw malformed(dir, `tfjs cannot build the model: ${(err as Error).message}`, err)
  }
  try {
    const weights = await readModelWeights(model)
    if (task === undefined) return weights
    const renamed = { specs: task.weightSpecs.map((s) => ({ ...s, shape: [...s.shape] })), values: weights.values }
    const shapesOnly = (specs: Weights['specs']): Weights['specs'] => specs.map((s, i) => ({ ...s, name: String(i) }))
    try {
      assertSameSpecs(shapesOnly(renamed.specs), shapesOnly(weights.specs), `the model in ${dir}`)
    } catch (err) {
      throw new ModelFormatError('ERR_MODEL_TASK_MISMATCH', `the model in ${dir} does not fit task ${task.id}: ${(err as Error).message}`, { cause: err })
    }
    return renamed
  } finally {
    model.dispose()
  }
}
