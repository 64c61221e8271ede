/**
 * A faster Conv2DBackpropFilter for the tfjs cpu backend. The stock kernel (tfjs-backend-cpu 4.22,
 * `kernels/Conv2DBackpropFilter.js`) reads every element through `TensorBuffer.get(...)` with variadic indices:
 * measured here at ~17 s for one batch of 10 through mnist-cnn's second convolution, 20–100× slower than its
 * sibling kernels, which makes the CNN practically untrainable on cpu — the backend it must use whenever the
 * native ones are absent (wasm has no Conv2DBackpropFilter at all). This replacement computes the same sums
 *   dW[r, c, i, o] = Σ_{b, y, x} X[b, y·s_h − pad_top + r, x·s_w − pad_left + c, i] · dY[b, y, x, o]
 * with flat indexing over NHWC data, skipping zero inputs (ReLU outputs are mostly zero), accumulating in
 * float64 like the stock kernel. Other layouts fall back to the stock kernel. `npm run bench -- model` prints
 * both kernels' times; test/backends.test.ts checks they agree.
 */
import { tf } from '../tf.js'

const NAME = 'Conv2DBackpropFilter'

interface CpuBackendLike {
  data: { get(id: unknown): { values: Float32Array } }
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo
}

interface Attrs {
  strides: number | [number, number]
  pad: 'same' | 'valid' | number
  dataFormat: 'NHWC' | 'NCHW'
  dimRoundingMode?: 'floor' | 'round' | 'ceil'
  filterShape: [number, number, number, number]
}

let stock: tf.KernelConfig | undefined

/** The stock cpu kernel, saved when the replacement is installed (undefined before). */
export function stockCpuConv2DBackpropFilter (): tf.KernelConfig | undefined {
  return stock
}

const fast: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: tf.TensorInfo, dy: tf.TensorInfo }
  const a = attrs as unknown as Attrs
  if (a.dataFormat !== 'NHWC' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    return stock!.kernelFunc({ inputs, backend, attrs })
  }
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast')
  const cpu = backend as unknown as CpuBackendLike
  const xv = cpu.data.get(x.dataId).values
  const dyv = cpu.data.get(dy.dataId).values
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info
  const top = info.padInfo.top
  const left = info.padInfo.left
  const acc = new Float64Array(filterHeight * filterWidth * inChannels * outChannels)
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      for (let yc = 0; yc < outWidth; yc++) {
        const dyOff = ((b * outHeight + yr) * outWidth + yc) * outChannels
        for (let wr = 0; wr < filterHeight; wr++) {
          const xr = yr * strideHeight - top + wr
          if (xr < 0 || xr >= inHeight) continue
          for (let wc = 0; wc < filterWidth; wc++) {
            const xc = yc * strideWidth - left + wc
            if (xc < 0 || xc >= inWidth) continue
            const xOff = ((b * inHeight + xr) * inWidth + xc) * inChannels
            const wOff = (wr * filterWidth + wc) * inChannels * outChannels
            for (let i = 0; i < inChannels; i++) {
              const xval = xv[xOff + i]
              if (xval === 0) continue
              const base = wOff + i * outChannels
              for (let o = 0; o < outChannels; o++) acc[base + o] += xval * dyv[dyOff + o]
            }
          }
        }
      }
    }
  }
  return cpu.makeTensorInfo([...a.filterShape], 'float32', Float32Array.from(acc))
}

/** Replaces the cpu backend's Conv2DBackpropFilter with the fast one (once per thread). Returns true if installed now. */
export function installFastCpuConv2DBackpropFilter (): boolean {
  if (stock !== undefined) return false
  const current = tf.getKernel(NAME, 'cpu')
  if (current === undefined) return false
  stock = current
  tf.unregisterKernel(NAME, 'cpu')
  tf.registerKernel({ kernelName: NAME, backendName: 'cpu', kernelFunc: fast })
  return true
}
