/**
 * Layer functions for the built-in tasks' training forward pass, over plain tensors (the weights in spec order),
 * with no tfjs-layers machinery in the loop.
 *
 * `dense` carries its own gradient: dX = dZ·Wᵀ, dW = Xᵀ·dZ, db = Σ_batch dZ, with dZ = dY ⊙ 1[Y > 0] for ReLU. On
 * wasm the transposes are explicit `Transpose` kernels followed by plain matrix products, because the wasm
 * backend's transposed `BatchMatMul` (what tfjs' built-in matMul gradient dispatches) is far slower than its
 * plain one — measured ~25× for the 784×200 weight gradient of mnist-2nn at batch 10; elsewhere (cpu, native)
 * the transposed product is as fast and the copy would only cost. scripts/bench/model.bench.ts compares the loop
 * with `model.fit`. The first layer's gradient skips dX, which nothing needs.
 */
import { tf } from '../tf.js'

type Activation = 'relu' | 'linear'

/** a·bᵀ, with an explicit transpose on wasm (whose transposed BatchMatMul is slow) and a flag elsewhere. */
function matMulBT (a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.getBackend() === 'wasm' ? tf.matMul(a as tf.Tensor2D, tf.transpose(b) as tf.Tensor2D) : tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true)
}

/** aᵀ·b, likewise. */
function matMulAT (a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.getBackend() === 'wasm' ? tf.matMul(tf.transpose(a) as tf.Tensor2D, b as tf.Tensor2D) : tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false)
}

function makeDense (activation: Activation, inputGrad: boolean): (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D {
  if (inputGrad) {
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [x, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc]
      const y = tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation })
      save([x, w, y])
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sw, sy] = saved
          const dz = activation === 'relu' ? tf.mul(dy, tf.step(sy)) : dy
          return [matMulBT(dz, sw), matMulAT(sx, dz), tf.sum(dz, 0)]
        }
      }
    })
    return (x, w, b) => op(x, w, b) as tf.Tensor2D
  }
  return (x, w, b) => {
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [w, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc]
      const y = tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b, activation })
      save([y])
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const dz = activation === 'relu' ? tf.mul(dy, tf.step(saved[0])) : dy
          return [matMulAT(x, dz), tf.sum(dz, 0)]
        }
      }
    })
    return op(w, b) as tf.Tensor2D
  }
}

const denseOps = {
  'relu/true': makeDense('relu', true),
  'linear/true': makeDense('linear', true),
  'relu/false': makeDense('relu', false),
  'linear/false': makeDense('linear', false)
}

/**
 * Fully connected layer y = act(x·W + b): x `[batch, in]`, W `[in, out]`, b `[out]` → `[batch, out]`, float32.
 * @param firstLayer true when `x` is the model input (its gradient is then not computed)
 */
export function dense (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, activation: Activation, firstLayer = false): tf.Tensor2D {
  return denseOps[`${activation}/${!firstLayer}`](x, w, b)
}

/**
 * 2-D convolution, stride 1, 'same' padding, with bias and ReLU: x `[batch, h, w, in]`, filter `[k, k, in, out]`.
 * Unfused on purpose: tfjs' fused conv2d gradient computes the input gradient even for the model input, where
 * nothing needs it (an extra Conv2DBackpropInput per step); the unfused ops' gradients are pruned to what is used.
 */
export function conv2dRelu (x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  return tf.relu(tf.add(tf.conv2d(x, filter, 1, 'same'), bias)) as tf.Tensor4D
}

/** 2 × 2 max pooling, stride 2: `[batch, h, w, c]` → `[batch, h/2, w/2, c]`. */
export function maxPool2 (x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 2, 2, 'valid')
}
