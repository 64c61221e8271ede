/**
 * The two MNIST models of McMahan, Moore, Ramage, Hampson & Agüera y Arcas 2017, "Communication-Efficient
 * Learning of Deep Networks from Decentralized Data" (AISTATS), §3:
 * - 2NN: "a simple multilayer-perceptron with 2-hidden layers with 200 units each using ReLu activations
 *   (199,210 total parameters)";
 * - CNN: "two 5x5 convolution layers (the first with 32 channels, the second with 64, each followed with 2x2 max
 *   pooling), a fully connected layer with 512 units and ReLu activation, and a final softmax output layer
 *   (1,663,370 total parameters)". The count implies 'same' padding and ReLU after each convolution.
 */
import { MNIST_CLASSES, MNIST_IMAGE_SIDE_PX, MNIST_PIXELS } from '../constants.js'
import { tf } from '../tf.js'
import type { WeightSpec } from '../weights.js'
import { defineClassifier } from './classifier.js'
import { conv2dRelu, dense, maxPool2 } from './ops.js'
import type { Task } from './task.js'

const PAPER = 'McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from Decentralized Data", §3'
const HIDDEN_UNITS = 200
const CONV1_FILTERS = 32
const CONV2_FILTERS = 64
const KERNEL_PX = 5
const DENSE_UNITS = 512

const f32 = (name: string, shape: number[]): WeightSpec => ({ name, shape, dtype: 'float32' })

/**
 * tfjs kernels dispatched by the forward pass of a dense classifier with softmax cross-entropy and arg-max
 * accuracy, as recorded by `tf.profile` (test/tasks.test.ts and test/train.test.ts re-check the lists).
 */
const DENSE_INFERENCE = ['_FusedMatMul', 'Add', 'ArgMax', 'Cast', 'Equal', 'Exp', 'Log', 'Max', 'Multiply', 'Neg', 'Reshape', 'Sub', 'Sum']
/** Kernels added by backpropagation through dense + ReLU layers (Transpose on wasm) and the SGD, momentum, Adam updates. */
const DENSE_TRAIN = [...DENSE_INFERENCE, 'BatchMatMul', 'Identity', 'RealDiv', 'Relu', 'Sqrt', 'Square', 'Step', 'Transpose', 'ZerosLike']
/** Kernels of the convolution and pooling layers, forward and backward. */
const CONV_INFERENCE = ['Conv2D', 'MaxPool', 'Relu']
const CONV_TRAIN = [...CONV_INFERENCE, 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad']

/** mnist-2nn: 784-200-200-10, ReLU. 199,210 parameters. */
export const mnist2nn: Task = defineClassifier({
  id: 'mnist-2nn',
  title: 'MNIST multilayer perceptron 784-200-200-10 (ReLU)',
  source: PAPER,
  exampleShape: [MNIST_IMAGE_SIDE_PX, MNIST_IMAGE_SIDE_PX],
  inputShape: [MNIST_PIXELS],
  classes: MNIST_CLASSES,
  weightSpecs: [
    f32('hidden1/kernel', [MNIST_PIXELS, HIDDEN_UNITS]), f32('hidden1/bias', [HIDDEN_UNITS]),
    f32('hidden2/kernel', [HIDDEN_UNITS, HIDDEN_UNITS]), f32('hidden2/bias', [HIDDEN_UNITS]),
    f32('logits/kernel', [HIDDEN_UNITS, MNIST_CLASSES]), f32('logits/bias', [MNIST_CLASSES])
  ],
  kernels: { train: DENSE_TRAIN, inference: DENSE_INFERENCE },
  forwardFlopsPerExample: 2 * (MNIST_PIXELS * HIDDEN_UNITS + HIDDEN_UNITS * HIDDEN_UNITS + HIDDEN_UNITS * MNIST_CLASSES),
  layers (m) {
    m.add(tf.layers.dense({ inputShape: [MNIST_PIXELS], units: HIDDEN_UNITS, activation: 'relu', name: 'hidden1' }))
    m.add(tf.layers.dense({ units: HIDDEN_UNITS, activation: 'relu', name: 'hidden2' }))
    m.add(tf.layers.dense({ units: MNIST_CLASSES, name: 'logits' }))
  },
  forward (p, x) {
    const h1 = dense(x as tf.Tensor2D, p[0] as tf.Tensor2D, p[1] as tf.Tensor1D, 'relu', true)
    const h2 = dense(h1, p[2] as tf.Tensor2D, p[3] as tf.Tensor1D, 'relu')
    return dense(h2, p[4] as tf.Tensor2D, p[5] as tf.Tensor1D, 'linear')
  }
})

const POOLED1_PX = MNIST_IMAGE_SIDE_PX / 2
const POOLED2_PX = POOLED1_PX / 2
const FLAT = POOLED2_PX * POOLED2_PX * CONV2_FILTERS
const KERNEL_AREA = KERNEL_PX * KERNEL_PX

/** mnist-cnn: conv5x5×32 → maxpool2 → conv5x5×64 → maxpool2 → dense 512 → softmax 10. 1,663,370 parameters. */
export const mnistCnn: Task = defineClassifier({
  id: 'mnist-cnn',
  title: 'MNIST CNN: conv5x5×32, pool, conv5x5×64, pool, dense 512, softmax 10',
  source: PAPER,
  exampleShape: [MNIST_IMAGE_SIDE_PX, MNIST_IMAGE_SIDE_PX],
  inputShape: [MNIST_IMAGE_SIDE_PX, MNIST_IMAGE_SIDE_PX, 1],
  classes: MNIST_CLASSES,
  weightSpecs: [
    f32('conv1/kernel', [KERNEL_PX, KERNEL_PX, 1, CONV1_FILTERS]), f32('conv1/bias', [CONV1_FILTERS]),
    f32('conv2/kernel', [KERNEL_PX, KERNEL_PX, CONV1_FILTERS, CONV2_FILTERS]), f32('conv2/bias', [CONV2_FILTERS]),
    f32('dense1/kernel', [FLAT, DENSE_UNITS]), f32('dense1/bias', [DENSE_UNITS]),
    f32('logits/kernel', [DENSE_UNITS, MNIST_CLASSES]), f32('logits/bias', [MNIST_CLASSES])
  ],
  kernels: { train: [...new Set([...DENSE_TRAIN, ...CONV_TRAIN])], inference: [...DENSE_INFERENCE, ...CONV_INFERENCE] },
  forwardFlopsPerExample: 2 * (
    MNIST_IMAGE_SIDE_PX * MNIST_IMAGE_SIDE_PX * CONV1_FILTERS * KERNEL_AREA +
    POOLED1_PX * POOLED1_PX * CONV2_FILTERS * KERNEL_AREA * CONV1_FILTERS +
    FLAT * DENSE_UNITS + DENSE_UNITS * MNIST_CLASSES),
  layers (m) {
    m.add(tf.layers.conv2d({ inputShape: [MNIST_IMAGE_SIDE_PX, MNIST_IMAGE_SIDE_PX, 1], filters: CONV1_FILTERS, kernelSize: KERNEL_PX, padding: 'same', activation: 'relu', name: 'conv1' }))
    m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool1' }))
    m.add(tf.layers.conv2d({ filters: CONV2_FILTERS, kernelSize: KERNEL_PX, padding: 'same', activation: 'relu', name: 'conv2' }))
    m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool2' }))
    m.add(tf.layers.flatten({ name: 'flatten' }))
    m.add(tf.layers.dense({ units: DENSE_UNITS, activation: 'relu', name: 'dense1' }))
    m.add(tf.layers.dense({ units: MNIST_CLASSES, name: 'logits' }))
  },
  forward (p, x) {
    const c1 = maxPool2(conv2dRelu(x as tf.Tensor4D, p[0] as tf.Tensor4D, p[1] as tf.Tensor1D))
    const c2 = maxPool2(conv2dRelu(c1, p[2] as tf.Tensor4D, p[3] as tf.Tensor1D))
    const flat = tf.reshape(c2, [c2.shape[0], FLAT]) as tf.Tensor2D
    const d1 = dense(flat, p[4] as tf.Tensor2D, p[5] as tf.Tensor1D, 'relu')
    return dense(d1, p[6] as tf.Tensor2D, p[7] as tf.Tensor1D, 'linear')
  }
})
