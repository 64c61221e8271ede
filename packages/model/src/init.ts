/**
 * Seeded weight initialisation in plain TypeScript, independent of tfjs and of the backend, so that a genesis
 * built from a task and a seed has the same bytes — hence the same shard CIDs — on every machine.
 *
 * Kernels (rank ≥ 2, last two dimensions = fan-in channels, fan-out channels; leading dimensions are the
 * receptive field) use Glorot uniform: U(−l, l) with l = √(6 / (fanIn + fanOut)) (Glorot & Bengio 2010,
 * "Understanding the difficulty of training deep feedforward neural networks", eq. 16), the tfjs-layers default
 * for Dense and Conv2D. Rank-1 tensors (biases) are zero. Values are drawn tensor by tensor, in spec order,
 * row-major, from one xoroshiro128+ stream seeded with `seed`: x = (2u − 1) · l rounded to float32.
 */
import { createRng } from './data/random.js'
import type { WeightSpec, Weights } from './weights.js'
import { sizeOf, validateSpecs } from './weights.js'

/** Fan-in and fan-out of a kernel shape (`[…receptive, in, out]`), as tfjs-layers and Keras compute them. */
export function fans (shape: readonly number[]): { fanIn: number, fanOut: number } {
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] }
  const receptive = sizeOf(shape.slice(0, -2))
  return { fanIn: receptive * shape[shape.length - 2], fanOut: receptive * shape[shape.length - 1] }
}

/**
 * Glorot-uniform kernels and zero biases for the given specs, deterministic in `seed`.
 * @throws InvalidWeightsError when the specs are malformed.
 */
export function glorotUniformInit (specs: readonly WeightSpec[], seed: number): Weights {
  validateSpecs(specs)
  const rng = createRng(seed)
  const values = specs.map((s) => {
    const v = new Float32Array(sizeOf(s.shape))
    if (s.shape.length < 2) return v
    const { fanIn, fanOut } = fans(s.shape)
    const limit = Math.sqrt(6 / (fanIn + fanOut))
    for (let i = 0; i < v.length; i++) v[i] = (2 * rng.float() - 1) * limit
    return v
  })
  return { specs: specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })), values }
}
