/** Helpers of the model tests that know tfjs (seeds and temporary folders: @swarmtune/test-support). */
import { tf } from '../src/index.js'

/** Kernel names a profile recorded (scope names such as customGrad's are not kernels of any backend). */
export function kernelsOf (p: Awaited<ReturnType<typeof tf.profile>>): string[] {
  return [...new Set(p.kernelNames as string[])].filter((k) => tf.getKernel(k, 'cpu') !== undefined || tf.getKernel(k, 'wasm') !== undefined)
}
