/** Helpers of the model tests that know tfjs (seeds and temporary folders: @swarmtune/test-support). */
import { layersModelCids, tf, type LayersModelSource, type ModelSpec } from '../src/index.js'

/** Kernel names a profile recorded (scope names such as customGrad's are not kernels of any backend). */
export function kernelsOf (p: Awaited<ReturnType<typeof tf.profile>>): string[] {
  return [...new Set(p.kernelNames as string[])].filter((k) => tf.getKernel(k, 'cpu') !== undefined || tf.getKernel(k, 'wasm') !== undefined)
}

/**
 * A model spec on MobileNetV2 of nsfwjs (`base`): features at flatten_1, the head dense_3 replaced by one of
 * `labels`, LoRA r = 4, α = 8 on dense_1 and dense_2 with adapter seed `seed`.
 */
export function mobilenetLoraSpec (base: LayersModelSource, labels: string[], seed: number): ModelSpec {
  const cids = layersModelCids(base)
  return {
    kind: 'layers-model',
    topology: cids.topology.toString(),
    base: cids.base.toString(),
    features: 'flatten_1',
    head: { replace: 'dense_3', classes: labels.length, labels },
    adapters: { kind: 'lora', rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'], seed }
  }
}

/** A token stream a causal LM can learn (ids < 61): a fixed 12-token phrase repeated to `length` tokens. */
export const phraseStream = (length: number): number[] => Array.from({ length }, (_, i) => [3, 17, 29, 5, 41, 8, 55, 13, 2, 37, 21, 60][i % 12])
