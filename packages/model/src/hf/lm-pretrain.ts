/**
 * Full-parameter training of a causal LM from seeded weights (a base made here, not a published one): every weight,
 * embedding and norm is a `tf.Variable` (`createCausalLm(ckpt, { trainable: true })`), trained with Adam on the mean
 * next-token cross-entropy of seeded random windows of a token stream, the learning rate warmed up linearly and then
 * decayed on a cosine, the gradient clipped to a global norm. On every backend, wasm included (the embedding is read
 * as a one-hot product, see `CreateCausalLmOptions.trainable`).
 */
import { createRng } from '../data/random.js'
import { InvalidTokensError, InvalidTrainOptionsError, TrainingDivergedError } from '../errors.js'
import { tf } from '../tf.js'
import { expectedTensors, type HfCheckpoint, type HfTensor } from './checkpoint.js'
import type { CausalLmConfig } from './config.js'
import { createCausalLm, keptTransposed, transpose2d } from './causal-lm.js'

/**
 * Standard deviation of the seeded initial weights and embeddings: 0.02, transformers' `initializer_range` default
 * for GPT-2 and Llama (`_init_weights`: normal(0, 0.02) for nn.Linear and nn.Embedding, norms at 1, biases at 0).
 */
export const LM_INIT_STD = 0.02

/**
 * Global norm the gradient is clipped to before each step: 1.0, as in GPT-3's and LLaMA's pretraining (Brown et al.
 * 2020, §B; Touvron et al. 2023, §2.2).
 */
export const LM_PRETRAIN_CLIP_NORM = 1

/** Adam's β₁, β₂ and ε (Kingma & Ba 2015; tfjs' and PyTorch's defaults for β₁ and ε, β₂ 0.99 for short runs). */
const BETA1 = 0.9
const BETA2 = 0.99
const EPSILON = 1e-8

/**
 * A checkpoint of `config` with seeded weights: every projection and embedding normal(0, `LM_INIT_STD`) from
 * `createRng(seed)` in the order of `expectedTensors`, norm weights 1, biases 0; dtype F32. Not a trained model.
 */
export function initCausalLmCheckpoint (config: CausalLmConfig, seed: number, origin = `seeded ${config.modelType} (seed ${seed})`): HfCheckpoint {
  const rng = createRng(seed)
  const tensors = new Map<string, HfTensor>()
  for (const [name, shape] of expectedTensors(config)) {
    const n = shape.reduce((a, b) => a * b, 1)
    const values = new Float32Array(n)
    if (/(norm|ln_\d|ln_f)\.weight$/.test(name)) values.fill(1)
    else if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) values[i] = rng.normal() * LM_INIT_STD
    tensors.set(name, { shape, dtype: 'F32', values })
  }
  return { config, tensors, ignored: [], origin }
}

/** Progress of `pretrainCausalLm`, after each step. */
export interface PretrainProgress {
  step: number
  steps: number
  /** The step's mean next-token cross-entropy (before its update), nats per token. */
  loss: number
  learningRate: number
}

/** Options of `pretrainCausalLm`. */
export interface PretrainCausalLmOptions {
  /** Optimizer steps, ≥ 1. */
  steps: number
  /** Tokens per training window (2 … the model's maximum positions). */
  window: number
  /** Windows per step, ≥ 1. */
  batch: number
  /** Peak Adam learning rate, > 0 (reached after the warmup, then decayed on a cosine to a tenth). */
  learningRate: number
  /** Steps of linear warmup from 0 (default a tenth of `steps`). */
  warmupSteps?: number
  /** Seed of the window positions (default 0). */
  seed?: number
  onProgress?: (p: PretrainProgress) => void
  signal?: AbortSignal
}

/** What `pretrainCausalLm` returns. */
export interface PretrainResult {
  /** The trained checkpoint: the input's config and tensor names, in its order, every tensor F32. */
  checkpoint: HfCheckpoint
  /** Each step's loss, nats per token. */
  losses: number[]
  /** Wall time of the steps, ms, and training tokens per second in them. */
  trainMs: number
  tokensPerSecond: number
}

/** The learning rate of step s (0-based): linear warmup to `peak`, then a cosine from `peak` to `peak`/10. */
export function pretrainLearningRate (s: number, steps: number, warmup: number, peak: number): number {
  if (s < warmup) return (peak * (s + 1)) / warmup
  const progress = steps - warmup <= 1 ? 0 : (s - warmup) / (steps - warmup - 1)
  return peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)))
}

/** Mean next-token cross-entropy of logits [n, t, vocab] whose rows predict `targets` (n·(t − 1), row-major), on the tape: a scalar. */
function nextTokenCrossEntropy (logits: tf.Tensor3D, targets: Int32Array): tf.Scalar {
  const [n, t, v] = logits.shape
  const rows = n * (t - 1)
  const z = tf.reshape(tf.slice(logits, [0, 0, 0], [n, t - 1, v]), [rows, v])
  // −log softmax(z)[target] = logsumexp(z) − z[target], z[target] as a masked sum (a gather's gradient is not on wasm)
  const picked = tf.sum(tf.mul(z, tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), v), 'float32')), 1)
  return tf.mean(tf.sub(tf.logSumExp(z, 1), picked)) as tf.Scalar
}

/**
 * Trains every parameter of `ckpt` (e.g. `initCausalLmCheckpoint`) on a token stream: each step draws `batch`
 * windows of `window` consecutive tokens at seeded random offsets and takes one Adam step (β₁ 0.9, β₂ 0.99, ε 1e-8;
 * learning rate `pretrainLearningRate`) on their mean next-token cross-entropy, the gradient clipped to a global norm
 * of `LM_PRETRAIN_CLIP_NORM`. Runs on the active backend (wasm, cpu, node); `ckpt` is not changed. Yields to the
 * event loop between steps.
 * @throws InvalidTokensError for a stream shorter than one window, ids outside the vocabulary, a window outside 2 …
 *   max positions; InvalidTrainOptionsError (`ERR_MODEL_INVALID_TRAIN_OPTIONS`) for steps, batch or warmup that are
 *   not integers in range, a learning rate not finite and > 0; TrainingDivergedError (`ERR_MODEL_TRAINING_DIVERGED`) when a loss or gradient is not finite; the signal's
 *   reason when aborted.
 */
export async function pretrainCausalLm (ckpt: HfCheckpoint, tokens: ArrayLike<number>, options: PretrainCausalLmOptions): Promise<PretrainResult> {
  const c = ckpt.config
  const { steps, window, batch, learningRate } = options
  const warmup = options.warmupSteps ?? Math.floor(steps / 10)
  if (!Number.isSafeInteger(steps) || steps < 1) throw new InvalidTrainOptionsError(`steps ${steps}: expected a positive integer`)
  if (!Number.isSafeInteger(batch) || batch < 1) throw new InvalidTrainOptionsError(`batch ${batch}: expected a positive integer`)
  if (!Number.isFinite(learningRate) || learningRate <= 0) throw new InvalidTrainOptionsError(`learning rate ${learningRate}: expected a finite number > 0`)
  if (!Number.isSafeInteger(warmup) || warmup < 0 || warmup > steps) throw new InvalidTrainOptionsError(`warmupSteps ${warmup}: expected an integer from 0 to steps (${steps})`)
  if (!Number.isSafeInteger(window) || window < 2 || window > c.maxPositions) throw new InvalidTokensError(`window ${window}: expected an integer from 2 to ${c.maxPositions} (the model's maximum positions)`)
  if (tokens.length < window) throw new InvalidTokensError(`${tokens.length} tokens: training needs at least one window of ${window}`)
  for (let i = 0; i < tokens.length; i++) {
    if (!Number.isInteger(tokens[i]) || tokens[i] < 0 || tokens[i] >= c.vocabSize) throw new InvalidTokensError(`token id ${tokens[i]} at position ${i} is outside the vocabulary (0 to ${c.vocabSize - 1})`)
  }
  options.signal?.throwIfAborted()
  const names = [...ckpt.tensors.keys()]
  const lm = createCausalLm(ckpt, { trainable: true })
  const vars = names.map((n) => lm.parameter(n) as tf.Variable)
  const zeroVariable = (like: tf.Tensor): tf.Variable => {
    const zeros = tf.zerosLike(like)
    const v = tf.variable(zeros, false)
    zeros.dispose()
    return v
  }
  const moments = vars.map((v) => ({ m: zeroVariable(v), s: zeroVariable(v) }))
  const rng = createRng(options.seed ?? 0)
  const losses: number[] = []
  let trainMs = 0
  try {
    for (let step = 0; step < steps; step++) {
      const flat = new Int32Array(batch * window)
      const targets = new Int32Array(batch * (window - 1))
      for (let k = 0; k < batch; k++) {
        const at = Math.floor(rng.float() * (tokens.length - window + 1))
        for (let j = 0; j < window; j++) flat[k * window + j] = tokens[at + j]
        for (let j = 0; j < window - 1; j++) targets[k * (window - 1) + j] = tokens[at + j + 1]
      }
      const lr = pretrainLearningRate(step, steps, warmup, learningRate)
      const t0 = performance.now()
      const loss = tf.tidy(() => {
        const ids = tf.tensor2d(flat, [batch, window], 'int32')
        const { value, grads } = tf.variableGrads(() => nextTokenCrossEntropy(lm.logits(ids), targets), vars)
        const g = vars.map((v) => grads[v.name])
        const norm = Math.sqrt(tf.addN(g.map((x) => tf.sum(tf.square(x)))).dataSync()[0])
        const lossValue = value.dataSync()[0]
        if (!Number.isFinite(lossValue) || !Number.isFinite(norm)) return Number.NaN
        const clip = norm > LM_PRETRAIN_CLIP_NORM ? LM_PRETRAIN_CLIP_NORM / norm : 1
        // Adam with bias correction (Kingma & Ba 2015, Algorithm 1)
        const t = step + 1
        const correction = Math.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)
        vars.forEach((v, i) => {
          const gi = tf.mul(g[i], clip)
          const { m, s } = moments[i]
          m.assign(tf.add(tf.mul(m, BETA1), tf.mul(gi, 1 - BETA1)))
          s.assign(tf.add(tf.mul(s, BETA2), tf.mul(tf.square(gi), 1 - BETA2)))
          v.assign(tf.sub(v, tf.mul(tf.div(m, tf.add(tf.sqrt(s), EPSILON)), lr * correction)))
        })
        return lossValue
      })
      trainMs += performance.now() - t0
      if (!Number.isFinite(loss)) throw new TrainingDivergedError(`pretraining ${ckpt.origin}: the loss or gradient of step ${step + 1} is not finite; lower the learning rate (${learningRate})`)
      losses.push(loss)
      options.onProgress?.({ step: step + 1, steps, loss, learningRate: lr })
      await new Promise((resolve) => setImmediate(resolve))
      options.signal?.throwIfAborted()
    }
    const tensors = new Map<string, HfTensor>()
    names.forEach((name, i) => {
      const shape = [...ckpt.tensors.get(name)!.shape]
      const kept = vars[i].dataSync() as Float32Array
      const values = keptTransposed(c, name) ? transpose2d(kept, shape[1], shape[0]) : Float32Array.from(kept)
      tensors.set(name, { shape, dtype: 'F32', values })
    })
    const checkpoint: HfCheckpoint = { config: c, tensors, ignored: [], origin: `${ckpt.origin}, pretrained ${steps} steps`, configJson: ckpt.configJson }
    return { checkpoint, losses, trainMs, tokensPerSecond: (steps * batch * window) / (trainMs / 1000) }
  } finally {
    tf.dispose(moments.flatMap((x) => [x.m, x.s]))
    lm.dispose()
  }
}
