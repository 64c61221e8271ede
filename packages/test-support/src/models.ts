/**
 * Small tfjs models the model and CLI tests build on disk, so that each is written once.
 *
 * ```ts
 * import { saveSmallModel } from '@swarmtune/test-support/models'
 *
 * await saveSmallModel(join(tmp.path, 'small'))   // a tfjs folder: dense `hidden` 6 → 5 (relu), dense `out` 5 → 3 (softmax)
 * ```
 */
import { tf, tfjsFolderHandler } from '@swarmtune/model'

/**
 * Writes a two-layer tfjs model as a tfjs folder at `dir` (model.json and its weights): dense `hidden`, input 6,
 * 5 units, relu (35 parameters), then dense `out`, 3 units, softmax (18 parameters); random initial weights.
 */
export async function saveSmallModel (dir: string): Promise<void> {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu', name: 'hidden' }), tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' })] })
  try {
    await m.save(tfjsFolderHandler(dir))
  } finally {
    m.dispose()
  }
}
