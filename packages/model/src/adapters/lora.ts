/**
 * LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a frozen kernel W of shape
 * [in, out] is adapted as W + s·A·B with A of shape [in, r], B of shape [r, out], r ≪ min(in, out) and s = α / r.
 *
 * Federated scheme — FFA-LoRA (Sun et al. 2024, "Improving LoRA in Privacy-preserving Federated Learning", ICLR):
 * A is frozen at a value every member derives from the community's seed and the layer's name (`loraFactorA`), and
 * only B is trained, shipped and averaged. FedAvg of B is then the exact average of the adapted kernels:
 * Σ_k w_k·(W + s·A·B_k) / Σ_k w_k = W + s·A·(Σ_k w_k·B_k / Σ_k w_k), since A is the same for every client.
 * Averaging trained A and B separately is not: Σ_k w_k·A_k·B_k ≠ (Σ_k w_k·A_k)(Σ_k w_k·B_k) (Wang et al. 2024,
 * "FLoRA: Federated Fine-Tuning Large Language Models with Heterogeneous Low-Rank Adaptations"). See doc/model.md,
 * "Adapters (LoRA)".
 */
import { createHash } from 'node:crypto'
import { InvalidAdapterError } from '../errors.js'
import { createRng } from '../data/random.js'
import { tf } from '../tf.js'

/** Shape of a dense kernel: [in, out] (tfjs' Dense layout, `x·kernel`). */
export type KernelShape = readonly [inDim: number, outDim: number]

function checkDim (what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidAdapterError(`${what} is ${String(n)}: expected a positive integer`)
  }
}

function checkScale (scale: number): void {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new InvalidAdapterError(`LoRA scale is ${String(scale)}: expected a finite number (alpha / rank)`)
  }
}

/**
 * The LoRA scale s = α / r (Hu et al. 2021, §4.1: "we scale ΔWx by α/r").
 * @throws InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) when `rank` is not a positive integer or `alpha` is not finite.
 */
export function loraScale (alpha: number, rank: number): number {
  checkDim('LoRA rank', rank)
  checkScale(alpha)
  return alpha / rank
}

/** A 32-bit seed for the stream of (seed, layer): the first 4 bytes of SHA-256(int32 LE seed ‖ UTF-8 layer name). */
function layerSeed (seed: number, layer: string): number {
  const s = Buffer.alloc(4)
  s.writeInt32LE(seed | 0)
  return createHash('sha256').update(s).update(layer, 'utf8').digest().readInt32LE(0)
}

/**
 * The frozen factor A of one adapted layer, shape [inDim, rank] row-major (float32), the same on every machine
 * for the same (seed, layer): uniform on [−1/√inDim, 1/√inDim], the distribution of the LoRA reference
 * implementation (microsoft/LoRA `loralib`, and Hugging Face PEFT's default: `kaiming_uniform_(A, a=√5)`, whose
 * bound is 1/√fan_in). The stream is the project's seeded RNG (`createRng`) on a seed derived from `seed` and the
 * layer's name (SHA-256), drawn row by row; only exactly-rounded arithmetic, so bit-identical everywhere.
 * @param seed the community's adapter seed (its low 32 bits matter)
 * @param layer the adapted layer's name (the tfjs layer name), so every layer gets its own A
 * @throws InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) when `inDim` or `rank` is not a positive integer, or
 *   `layer` is empty.
 */
export function loraFactorA (seed: number, layer: string, inDim: number, rank: number): Float32Array {
  if (typeof layer !== 'string' || layer === '') throw new InvalidAdapterError('LoRA layer name is empty: pass the adapted layer\'s name')
  if (!Number.isSafeInteger(seed)) throw new InvalidAdapterError(`LoRA seed is ${String(seed)}: expected an integer`)
  checkDim('LoRA input dimension', inDim)
  checkDim('LoRA rank', rank)
  const rng = createRng(layerSeed(seed, layer))
  const bound = 1 / Math.sqrt(inDim)
  const a = new Float32Array(inDim * rank)
  for (let i = 0; i < a.length; i++) a[i] = (2 * rng.float() - 1) * bound
  return a
}

/** The initial factor B of an adapter: zeros of shape [rank, outDim], so that a fresh adapter leaves the base unchanged (Hu et al. 2021, §4.1). */
export function loraFactorB (rank: number, outDim: number): Float32Array {
  checkDim('LoRA rank', rank)
  checkDim('LoRA output dimension', outDim)
  return new Float32Array(rank * outDim)
}

function shapeText (t: tf.Tensor): string {
  return `[${t.shape.join(', ')}]`
}

/** Checks x [batch, in], kernel [in, out], bias [out] | null, a [in, r], b [r, out]; returns [in, out, r]. */
function checkDenseShapes (x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null, a: tf.Tensor, b: tf.Tensor): [number, number, number] {
  for (const [name, t] of [['x', x], ['kernel', kernel], ['a', a], ['b', b]] as const) {
    if (t.rank !== 2) throw new InvalidAdapterError(`LoRA ${name} has shape ${shapeText(t)}: expected a matrix (rank 2)`)
  }
  const [inDim, outDim] = kernel.shape as [number, number]
  const r = a.shape[1]
  if (x.shape[1] !== inDim) throw new InvalidAdapterError(`LoRA input x has shape ${shapeText(x)} for a kernel of ${shapeText(kernel)}: expected [batch, ${inDim}]`)
  if (a.shape[0] !== inDim) throw new InvalidAdapterError(`LoRA factor A has shape ${shapeText(a)} for a kernel of ${shapeText(kernel)}: expected [${inDim}, rank]`)
  if (b.shape[0] !== r || b.shape[1] !== outDim) throw new InvalidAdapterError(`LoRA factor B has shape ${shapeText(b)} with A of ${shapeText(a)} and a kernel of ${shapeText(kernel)}: expected [${r}, ${outDim}]`)
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== outDim)) throw new InvalidAdapterError(`LoRA bias has shape ${shapeText(bias)}: expected [${outDim}]`)
  return [inDim, outDim, r]
}

/**
 * A dense layer with a LoRA adapter: x·kernel + scale·(x·A)·B (+ bias), of shape [batch, out] (float32). Two thin
 * matmuls ([batch, in]·[in, r], then [batch, r]·[r, out]): the [in, out] product A·B is never formed. Gradients
 * flow to whichever inputs the caller differentiates (in FFA-LoRA only B; A and the kernel are constants).
 * No activation is applied. The caller owns the result.
 * @param x [batch, in]; `kernel` [in, out]; `bias` [out] or null; `a` [in, r]; `b` [r, out]
 * @param scale α / r (`loraScale`)
 * @throws InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) when the shapes do not fit or `scale` is not finite.
 */
export function loraDense (x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D | null, a: tf.Tensor2D, b: tf.Tensor2D, scale: number): tf.Tensor2D {
  checkDenseShapes(x, kernel, bias, a, b)
  checkScale(scale)
  return tf.tidy(() => {
    const base = tf.matMul(x, kernel)
    const low = tf.matMul(tf.matMul(x, a), b)
    const y = tf.add(base, tf.mul(low, scale))
    return (bias === null ? y : tf.add(y, bias)) as tf.Tensor2D
  })
}

/**
 * A 1×1 convolution (stride 1; NHWC, as tfjs' Conv2D with a [1, 1, in, out] kernel) with a LoRA adapter: per pixel,
 * the same computation as `loraDense` on the channel axis. Returns [batch, h, w, out] (float32).
 * @param x [batch, h, w, in]; `kernel` [1, 1, in, out]; `bias` [out] or null; `a` [in, r]; `b` [r, out]
 * @throws InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) when the kernel is not 1×1 or the shapes do not fit.
 */
export function loraConv1x1 (x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D | null, a: tf.Tensor2D, b: tf.Tensor2D, scale: number): tf.Tensor4D {
  if (x.rank !== 4) throw new InvalidAdapterError(`LoRA 1×1 convolution input has shape ${shapeText(x)}: expected [batch, height, width, channels]`)
  if (kernel.rank !== 4 || kernel.shape[0] !== 1 || kernel.shape[1] !== 1) {
    throw new InvalidAdapterError(`LoRA 1×1 convolution kernel has shape ${shapeText(kernel)}: expected [1, 1, in, out]`)
  }
  const [n, h, w, c] = x.shape
  return tf.tidy(() => {
    const y = loraDense(tf.reshape(x, [n * h * w, c]), tf.reshape(kernel, [kernel.shape[2], kernel.shape[3]]), bias, a, b, scale)
    return tf.reshape(y, [n, h, w, y.shape[1]])
  })
}

function checkFactors (shape: KernelShape, a: Float32Array, b: Float32Array, rank: number): void {
  if (!Array.isArray(shape) || shape.length !== 2) throw new InvalidAdapterError(`LoRA kernel shape is ${JSON.stringify(shape)}: expected [in, out]`)
  const [inDim, outDim] = shape
  checkDim('LoRA input dimension', inDim)
  checkDim('LoRA output dimension', outDim)
  checkDim('LoRA rank', rank)
  if (!(a instanceof Float32Array) || a.length !== inDim * rank) {
    throw new InvalidAdapterError(`LoRA factor A holds ${a?.length} values: [${inDim}, ${rank}] needs ${inDim * rank} float32`)
  }
  if (!(b instanceof Float32Array) || b.length !== rank * outDim) {
    throw new InvalidAdapterError(`LoRA factor B holds ${b?.length} values: [${rank}, ${outDim}] needs ${rank * outDim} float32`)
  }
}

/**
 * The adapted kernel W + scale·A·B as a new float32 array of `shape` [in, out], row-major. Each element is
 * W[i,j] + scale·Σ_r A[i,r]·B[r,j], with the sum taken in Float64 over r = 0, 1, … in that order and the result
 * rounded to float32 once: the same bytes on every machine (only exactly-rounded IEEE arithmetic).
 * @param kernel W [in, out]; `a` [in, rank]; `b` [rank, out] (all row-major float32)
 * @throws InvalidAdapterError (`ERR_MODEL_INVALID_ADAPTER`) when a length does not fit the shape and rank, or
 *   `scale` is not finite.
 */
export function mergeLora (kernel: Float32Array, shape: KernelShape, a: Float32Array, b: Float32Array, rank: number, scale: number): Float32Array {
  checkFactors(shape, a, b, rank)
  checkScale(scale)
  const [inDim, outDim] = shape
  if (!(kernel instanceof Float32Array) || kernel.length !== inDim * outDim) {
    throw new InvalidAdapterError(`LoRA kernel holds ${kernel?.length} values: [${inDim}, ${outDim}] needs ${inDim * outDim} float32`)
  }
  const out = new Float32Array(inDim * outDim)
  for (let i = 0; i < inDim; i++) {
    for (let j = 0; j < outDim; j++) {
      let s = 0
      for (let r = 0; r < rank; r++) s += a[i * rank + r] * b[r * outDim + j]
      out[i * outDim + j] = kernel[i * outDim + j] + scale * s
    }
  }
  return out
}
