/**
 * The tfjs kernels (tfjs-core `kernel_names.ts`) each Keras layer class dispatches in tfjs-layers 4.22: in the
 * forward pass (`predict`) and, added to it, in the backward pass when its weights or its input need gradients.
 * Recorded with `tf.profile` on the MobileNetV2 of nsfwjs and small models (test/layers.test.ts re-checks the
 * forward lists on wasm). The wasm backend lacks `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`
 * and `DepthwiseConv2dNativeBackpropInput`: it runs MobileNetV2 forward but cannot train its convolutions.
 */

/** Kernels of one layer class: forward, and the extra ones of backpropagation through it. */
export interface LayerKernels {
  readonly forward: readonly string[]
  readonly backward: readonly string[]
}

/** Kernels every `predict` dispatches around the layers (input slicing into batches, casts). */
export const PREDICT_KERNELS: readonly string[] = ['Slice', 'Cast', 'Identity', 'Reshape']

const ACTIVATION_BACKWARD = ['Step', 'Multiply', 'Greater', 'LogicalAnd', 'Select', 'ZerosLike', 'GreaterEqual', 'LessEqual']

/** By Keras class name. A class missing here is reported as `unknown` by `inspectModel`. */
export const LAYER_KERNELS: Readonly<Record<string, LayerKernels>> = {
  InputLayer: { forward: [], backward: [] },
  ZeroPadding2D: { forward: ['PadV2'], backward: ['Slice'] },
  Conv2D: { forward: ['FusedConv2D'], backward: ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Sum', 'Reshape'] },
  DepthwiseConv2D: { forward: ['DepthwiseConv2dNative'], backward: ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] },
  BatchNormalization: { forward: ['FusedBatchNorm', 'Reshape'], backward: ['Multiply', 'Sub', 'Sum', 'Rsqrt', 'Add', 'Neg', 'Reshape', 'Tile'] },
  ReLU: { forward: ['Relu', 'ClipByValue'], backward: ACTIVATION_BACKWARD },
  Activation: { forward: ['Relu', 'Relu6', 'Sigmoid', 'Tanh', 'Softmax'], backward: [...ACTIVATION_BACKWARD, 'Sub', 'Sum', 'Square'] },
  Add: { forward: ['Add', 'AddN'], backward: ['Sum', 'Reshape'] },
  AveragePooling2D: { forward: ['AvgPool'], backward: ['AvgPoolGrad'] },
  MaxPooling2D: { forward: ['MaxPool'], backward: ['MaxPoolGrad'] },
  GlobalAveragePooling2D: { forward: ['Mean'], backward: ['RealDiv', 'Tile', 'Reshape'] },
  Flatten: { forward: ['Reshape'], backward: ['Reshape'] },
  Dense: { forward: ['_FusedMatMul'], backward: ['BatchMatMul', 'Transpose', 'Sum', 'Step', 'Multiply'] },
  Dropout: { forward: ['Identity'], backward: [] },
  Softmax: { forward: ['Softmax'], backward: ['Multiply', 'Sub', 'Sum'] }
}

/** The dense-layer kernels of a functional forward pass with softmax cross-entropy and arg-max accuracy. */
export const DENSE_LOSS_INFERENCE: readonly string[] = ['_FusedMatMul', 'Add', 'ArgMax', 'Cast', 'Equal', 'Exp', 'Log', 'Max', 'Multiply', 'Neg', 'Reshape', 'Sub', 'Sum']

/** Added by backpropagation through dense, ReLU and LoRA products, and by the SGD, momentum and Adam updates. */
export const DENSE_LOSS_TRAIN: readonly string[] = [...DENSE_LOSS_INFERENCE, 'BatchMatMul', 'Identity', 'RealDiv', 'Relu', 'Sqrt', 'Square', 'Step', 'Transpose', 'ZerosLike']

/** Sorted union of kernel lists. */
export function unionKernels (...lists: ReadonlyArray<readonly string[]>): string[] {
  return [...new Set(lists.flat())].sort()
}
