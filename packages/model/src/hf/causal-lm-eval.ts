/**
 * Evaluating and running a causal LM (`createCausalLm`): the mean next-token cross-entropy and perplexity of a token
 * sequence, and generation token by token, greedy or sampled with a seeded RNG.
 */
import { createRng } from '../data/random.js'
import { HfCheckpointError, InvalidTokensError } from '../errors.js'
import { tf } from '../tf.js'
import type { CausalLm, LmAdapters } from './causal-lm.js'

const notFinite = (lm: CausalLm, what: string): HfCheckpointError =>
  new HfCheckpointError('ERR_MODEL_HF_NOT_FINITE', `${what} of ${lm.origin} is not finite: its weights (or the adapter's, or its scale) overflow float32`)

/** What `evaluateCausalLm` reports. */
export interface CausalLmEvaluation {
  /** Mean next-token cross-entropy, nats per predicted token. */
  loss: number
  /** exp(loss). */
  perplexity: number
  /** Tokens read. */
  tokens: number
  /** Tokens predicted (each window's first token is not). */
  predicted: number
  /** Windows the tokens were cut into (of at most the model's maximum positions, or `window`). */
  windows: number
}

/**
 * Mean next-token cross-entropy of a token sequence: the ids are cut into consecutive windows of at most
 * `window` tokens (default the model's maximum positions) and in each the token at position j ≥ 1 is predicted
 * from positions < j; loss = −(1/N)·Σ log softmax(logits)[next token] over all predicted tokens, in nats (as
 * transformers' `CausalLMOutput.loss` for one window), perplexity = e^loss; with `options.adapters` (e.g.
 * `peftAdapterTensors`) on their projections. Each window goes through `CausalLm.nextTokenLoss`, so its logits are
 * never all held at once.
 * @throws InvalidTokensError for fewer than two ids, an id that is not an integer in [0, vocab), a window < 2;
 *   HfCheckpointError ERR_MODEL_HF_NOT_FINITE when a window's loss overflows.
 */
export function evaluateCausalLm (lm: CausalLm, ids: ArrayLike<number>, options: { window?: number, adapters?: LmAdapters } = {}): CausalLmEvaluation {
  const c = lm.config
  const window = options.window ?? c.maxPositions
  if (!Number.isSafeInteger(window) || window < 2 || window > c.maxPositions) throw new InvalidTokensError(`window ${window}: expected an integer from 2 to ${c.maxPositions} (the model's maximum positions)`)
  if (ids.length < 2) throw new InvalidTokensError(`${ids.length} token id(s): at least two are needed to predict one`)
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new InvalidTokensError(`token id ${id} at position ${i} is outside the vocabulary of ${lm.origin} (0 to ${c.vocabSize - 1})`)
  }
  let sum = 0
  let predicted = 0
  let windows = 0
  for (let start = 0; start < ids.length - 1; start += window) {
    const chunk = Int32Array.from({ length: Math.min(window, ids.length - start) }, (_, i) => ids[start + i])
    if (chunk.length < 2) break
    windows++
    const windowIds = tf.tensor2d(chunk, [1, chunk.length], 'int32')
    let nll: number
    try {
      nll = lm.nextTokenLoss(windowIds, options.adapters) * (chunk.length - 1)
    } finally {
      windowIds.dispose()
    }
    if (!Number.isFinite(nll)) throw notFinite(lm, `the loss of the window at token ${start}`)
    sum += nll
    predicted += chunk.length - 1
  }
  const loss = sum / predicted
  return { loss, perplexity: Math.exp(loss), tokens: ids.length, predicted, windows }
}

/** Options of `generateCausalLm`. */
export interface GenerateOptions {
  /** Tokens to add, ≥ 1. */
  maxTokens: number
  /** Sampling temperature; 0 (the default) is greedy: the most likely token each step (the lowest id on a tie). */
  temperature?: number
  /** With temperature > 0: sample among the k most likely tokens only (default: all). */
  topK?: number
  /** Seed of the sampling (`createRng`); the same seed, prompt and model give the same tokens. */
  seed?: number
  /** Stop after emitting this id (e.g. the tokenizer's end-of-text), which is included. */
  stopId?: number
  /** LoRA adapters on their projections (e.g. `peftAdapterTensors`). */
  adapters?: LmAdapters
}

/**
 * Continues `prompt` token by token: each step runs the model over the last `maxPositions` tokens (no key/value
 * cache: step cost grows with the sequence) and picks the next token from the last position's logits — greedily,
 * or sampled from softmax(logits / temperature) restricted to the top k, with a seeded RNG.
 * @returns the new token ids (not the prompt)
 * @throws InvalidTokensError for an empty prompt, ids outside the vocabulary, maxTokens < 1, temperature < 0 or
 *   not finite, topK < 1; HfCheckpointError ERR_MODEL_HF_NOT_FINITE when the logits hold a NaN.
 */
export function generateCausalLm (lm: CausalLm, prompt: ArrayLike<number>, options: GenerateOptions): number[] {
  const c = lm.config
  const { maxTokens, temperature = 0, topK = c.vocabSize } = options
  if (prompt.length < 1) throw new InvalidTokensError('an empty prompt: give at least one token to continue')
  for (let i = 0; i < prompt.length; i++) {
    const id = prompt[i]
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new InvalidTokensError(`prompt token id ${id} at position ${i} is outside the vocabulary of ${lm.origin} (0 to ${c.vocabSize - 1})`)
  }
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new InvalidTokensError(`maxTokens ${maxTokens}: expected a positive integer`)
  if (!Number.isFinite(temperature) || temperature < 0) throw new InvalidTokensError(`temperature ${temperature}: expected a finite number ≥ 0 (0 is greedy)`)
  if (!Number.isSafeInteger(topK) || topK < 1) throw new InvalidTokensError(`topK ${topK}: expected a positive integer`)
  const rng = createRng(options.seed ?? 0)
  const seq = Array.from(prompt)
  const out: number[] = []
  while (out.length < maxTokens) {
    const window = seq.slice(-c.maxPositions)
    const last = tf.tidy(() => {
      const logits = lm.logits(tf.tensor2d(window, [1, window.length], 'int32'), options.adapters)
      return tf.slice(logits, [0, window.length - 1, 0], [1, 1, c.vocabSize]).dataSync() as Float32Array
    })
    if (last.some((x) => Number.isNaN(x))) throw notFinite(lm, `the logits after ${seq.length} tokens`)
    let next = 0
    if (temperature === 0) {
      for (let i = 1; i < last.length; i++) if (last[i] > last[next]) next = i
    } else {
      const order = Array.from(last.keys()).sort((a, b) => last[b] - last[a] || a - b).slice(0, Math.min(topK, last.length))
      const top = last[order[0]]
      const weights = order.map((i) => Math.exp((last[i] - top) / temperature))
      let u = rng.float() * weights.reduce((a, b) => a + b, 0)
      next = order[order.length - 1]
      for (let j = 0; j < order.length; j++) {
        u -= weights[j]
        if (u < 0) { next = order[j]; break }
      }
    }
    seq.push(next)
    out.push(next)
    if (next === options.stopId) break
  }
  return out
}
