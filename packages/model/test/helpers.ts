/** Helpers of the model tests that know tfjs (seeds and temporary folders: @swarmtune/test-support). */
import { tf } from '../src/index.js'

/** Kernel names a profile recorded (scope names such as customGrad's are not kernels of any backend). */
export function kernelsOf (p: Awaited<ReturnType<typeof tf.profile>>): string[] {
  return [...new Set(p.kernelNames as string[])].filter((k) => tf.getKernel(k, 'cpu') !== undefined || tf.getKernel(k, 'wasm') !== undefined)
}

/** A token stream a causal LM can learn (ids < 61): a fixed 12-token phrase repeated to `length` tokens. */
export const phraseStream = (length: number): number[] => Array.from({ length }, (_, i) => [3, 17, 29, 5, 41, 8, 55, 13, 2, 37, 21, 60][i % 12])
