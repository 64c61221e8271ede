/**
 * safetensors export (the format itself: safetensors-format.ts): a release's weights, or — for a model task — the
 * whole network's weights by name with the adapters merged.
 */
import { writeFile } from 'node:fs/promises'
import { ModelSpecError } from '../errors.js'
import type { LayersModelSource } from '../layers/source.js'
import { getTask } from '../tasks/registry.js'
import type { Weights } from '../weights.js'
import { isModelTask, mergedLayersModel } from './merged.js'
import { encodeSafetensors } from './safetensors-format.js'

export { encodeSafetensors, decodeSafetensors, readSafetensors, type SafetensorsDtype, type DecodeSafetensorsOptions, type EncodeSafetensorsOptions } from './safetensors-format.js'

/**
 * Writes weights to a safetensors file at `path`. With `options.task` naming a model task (`createModelTask`,
 * registered) and `options.base` its base, `weights` are that task's trainable weights (a release) and the file
 * holds the whole network's weights by name with the adapters merged (`mergedLayersModel`), in the base's order.
 * @throws InvalidWeightsError, UnknownTaskError, ModelSpecError (not a model task, another base), fs errors.
 */
export async function exportSafetensors (weights: Weights, path: string, metadata: Record<string, string> = {}, options: { task?: string, base?: LayersModelSource } = {}): Promise<void> {
  let out = weights
  if (options.task !== undefined || options.base !== undefined) {
    const task = getTask(options.task ?? '')
    if (!isModelTask(task) || options.base === undefined) {
      throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `merged safetensors need a model task and its base: ${isModelTask(task) ? 'pass options.base' : `task ${task.id} is not a model task`}`)
    }
    out = mergedLayersModel(task, options.base, weights).weights
  }
  await writeFile(path, encodeSafetensors(out, metadata))
}
