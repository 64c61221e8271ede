/**
 * A model task's release as the whole network, image to class probabilities: the base's topology with the head
 * layer (`spec.head.replace`) given the community's classes, and the base's weights with the release's trained
 * layers in place and every LoRA adapter merged into its kernel (W + α/r·A·B, `mergeLora`). What the tfjs-folder
 * and safetensors exports of a model task write.
 */
import { ModelSpecError } from '../errors.js'
import { layersModelCids, type LayersModelSource } from '../layers/source.js'
import type { ModelTask } from '../tasks/model-task.js'
import type { Task } from '../tasks/task.js'
import type { Weights } from '../weights.js'

/** Whether a task is a model task (made by `createModelTask`). */
export function isModelTask (task: Task): task is ModelTask {
  const t = task as Partial<ModelTask>
  return typeof t.mergedWeights === 'function' && t.spec !== undefined && t.cids !== undefined
}

interface KerasLayer {
  class_name?: string
  name?: string
  config?: Record<string, unknown>
}

/** The layer list of a Keras topology (`model_config` of model.json, or the config itself; functional or sequential). */
function topologyLayers (topology: Record<string, unknown>, origin: string): KerasLayer[] {
  const model = (topology.model_config ?? topology) as { config?: unknown }
  const config = model.config as { layers?: unknown } | unknown[] | undefined
  const layers = Array.isArray(config) ? config : config?.layers
  if (!Array.isArray(layers)) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `the topology of ${origin} has no layer list (model_config.config.layers): export the base again with the tfjs converter`)
  return layers as KerasLayer[]
}

const nameOf = (l: KerasLayer): string | undefined => (l.config?.name as string | undefined) ?? l.name

/**
 * The whole network of a model task with `weights` (the task's trainable weights, e.g. a release's) merged into
 * its base: topology and weights by name, ready for `buildLayersModel` or a tfjs folder. The head layer gets
 * `spec.head.classes` units and a softmax (unless a softmax layer follows it); the adapted kernels are merged, the
 * trained layers and the new head take the release's values, every other weight keeps the base's.
 * @param base the task's base (its CIDs must be the spec's)
 * @throws ModelSpecError ERR_MODEL_BASE_MISMATCH (another base), ERR_MODEL_SPEC_INVALID (a topology without a
 *   layer list or without the head layer); InvalidWeightsError when `weights` do not fit the task.
 */
export function mergedLayersModel (task: ModelTask, base: LayersModelSource, weights: Weights): LayersModelSource {
  const cids = layersModelCids(base)
  if (cids.topology.toString() !== task.spec.topology || cids.base.toString() !== task.spec.base) {
    throw new ModelSpecError('ERR_MODEL_BASE_MISMATCH', `task ${task.id} pins topology ${task.spec.topology} and base ${task.spec.base}, but ${base.origin} has ${cids.topology.toString()} and ${cids.base.toString()}: export with the community's base model`)
  }
  const merged = task.mergedWeights(weights)
  const topology = structuredClone(base.topology)
  const layers = topologyLayers(topology, base.origin)
  const at = layers.findIndex((l) => nameOf(l) === task.spec.head.replace)
  if (at < 0 || layers[at].config === undefined) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `the topology of ${base.origin} has no layer ${task.spec.head.replace} to replace by the head`)
  const softmaxAfter = layers.slice(at + 1).some((l) => l.class_name === 'Softmax' || (l.class_name === 'Activation' && l.config?.activation === 'softmax'))
  const head = layers[at].config!
  head.units = task.spec.head.classes
  head.activation = softmaxAfter ? 'linear' : 'softmax'
  head.use_bias = true
  const replaced = new Map(merged.specs.map((s, i) => [s.name, i]))
  const headPrefix = `${task.spec.head.replace}/`
  const out: Weights = { specs: [], values: [] }
  base.weights.specs.forEach((s, i) => {
    const k = replaced.get(s.name)
    if (k !== undefined) {
      out.specs.push({ ...merged.specs[k], shape: [...merged.specs[k].shape] })
      out.values.push(merged.values[k])
      replaced.delete(s.name)
    } else if (!s.name.startsWith(headPrefix)) {
      out.specs.push({ ...s, shape: [...s.shape] })
      out.values.push(base.weights.values[i])
    }
  })
  // weights of the new head the base did not have (a head without bias in the base)
  for (const k of replaced.values()) {
    out.specs.push({ ...merged.specs[k], shape: [...merged.specs[k].shape] })
    out.values.push(merged.values[k])
  }
  return { topology, weights: out, origin: `${task.id} merged into ${base.origin}` }
}
