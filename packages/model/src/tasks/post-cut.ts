/**
 * The network after a model task's feature cut (`spec.features`), up to and including the head: planned from the
 * built base model, then computed as functions of tensors (`forwardPostCut`) so that the trainer differentiates
 * exactly the trained weights, rebuilt as a tfjs layers model (`buildPostCutModel`) and merged into plain weights
 * (`mergePostCut`).
 *
 * Layers it computes (tfjs-layers 4.22 semantics, channels-last): Dense, Conv2D, DepthwiseConv2D,
 * BatchNormalization (inference form: y = γ·(x − μ)/√(σ² + ε) + β with the base's moving μ, σ² — trained layers
 * train γ and β, the statistics stay the base's, as the Keras transfer-learning guide recommends for fine-tuning),
 * ReLU (with max value), Activation, ZeroPadding2D, Add (residual connections), AveragePooling2D, MaxPooling2D,
 * GlobalAveragePooling2D, Flatten, and the dropout family (identity at inference and here). Any graph of them whose
 * inputs are the cut or later layers is accepted: MobileNetV2's inverted-residual blocks after a cut at
 * `block_10_project_BN` are.
 */
import { loraConv1x1, loraDense, loraFactorA, loraScale, mergeLora } from '../adapters/lora.js'
import { ModelSpecError } from '../errors.js'
import { LAYER_KERNELS, unionKernels } from '../layers/kernels.js'
import { tf } from '../tf.js'
import type { WeightSpec, Weights } from '../weights.js'
import { sizeOf } from '../weights.js'
import { PROBS_LAYER } from './classifier.js'
import type { ModelSpec } from './model-task-spec.js'
import { dense } from './ops.js'

/** Activations a layer after the cut may use. */
export const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'elu'] as const
type Act = typeof ACTIVATIONS[number]

/** Where a weight comes from: a trained parameter (index in the task's weight specs) or the base, by name. */
type Slot = { param: number } | { frozen: string }

interface Lora { a: Float32Array, b: number, rank: number, scale: number }
type Pair = [number, number]

type Op =
  | { kind: 'dense', inDim: number, outDim: number, activation: Act, kernel: Slot, bias: Slot | null, lora?: Lora }
  | { kind: 'conv2d', filter: number[], strides: Pair, padding: 'same' | 'valid', dilation: Pair, activation: Act, kernel: Slot, bias: Slot | null, lora?: Lora }
  | { kind: 'depthwise-conv2d', filter: number[], strides: Pair, padding: 'same' | 'valid', dilation: Pair, activation: Act, kernel: Slot, bias: Slot | null }
  | { kind: 'batch-norm', epsilon: number, gamma: Slot | null, beta: Slot | null, mean: Slot, variance: Slot }
  | { kind: 'activation', activation: Act, max?: number }
  | { kind: 'zero-padding', padding: [Pair, Pair] }
  | { kind: 'add' }
  | { kind: 'pooling', pool: 'avg' | 'max', size: Pair, strides: Pair, padding: 'same' | 'valid' }
  | { kind: 'flatten' }
  | { kind: 'global-average-pooling' }
  | { kind: 'identity' }

/** One layer after the cut. */
interface PostCutNode {
  layer: string
  className: string
  /** The layer's tfjs config (`getConfig()`), to rebuild it. */
  config: Record<string, unknown>
  /** Indices into the values of a forward pass: 0 the features, i + 1 the output of node i. */
  inputs: number[]
  op: Op
  /** The layer's weights as `mergePostCut` names and shapes them (`<layer>/<weight>`), in the base's order. */
  weights: Array<{ name: string, shape: number[], slot: Slot, lora?: Lora }>
}

/** A planned post-cut network. */
export interface PostCutPlan {
  readonly nodes: readonly PostCutNode[]
  /** The trained weights, in layer order; within a layer the base's order (kernel, bias…), then `lora_b`. */
  readonly specs: readonly WeightSpec[]
  /** Base values of the trained layers' weights, by spec index (the head and adapters start fresh). */
  readonly initial: ReadonlyMap<number, Float32Array>
  /** Spec indices of the new head's kernel and bias. */
  readonly headSpecs: readonly number[]
  /** Shapes of the base's weights the plan reads frozen, by name. */
  readonly frozenShapes: ReadonlyMap<string, number[]>
  /** Floating-point operations of one example's forward pass. */
  readonly flops: number
  /** tfjs kernels of the forward pass (with the loss: see `DENSE_LOSS_INFERENCE`) and added by training. */
  readonly kernels: { readonly forward: readonly string[], readonly backward: readonly string[] }
  readonly featureShape: readonly number[]
  readonly head: string
}

/** The layer API of tfjs this module reads. */
export interface TfLayer {
  name: string
  getClassName: () => string
  getConfig: () => Record<string, unknown>
  inboundNodes: Array<{ inboundLayers: Array<{ name: string }> }>
  outputShape: unknown
}

const unsupported = (layer: string, why: string): ModelSpecError =>
  new ModelSpecError('ERR_MODEL_UNSUPPORTED_LAYER', `layer ${layer} after the feature cut ${why}; move the cut (spec.features) past it, so that it belongs to the frozen backbone`)

function activationOf (layer: string, value: unknown): Act {
  const a = typeof value === 'string' ? value : 'linear'
  if (!(ACTIVATIONS as readonly string[]).includes(a)) throw unsupported(layer, `uses activation ${a}; supported after the cut: ${ACTIVATIONS.join(', ')}`)
  return a as Act
}

const DROPOUTS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout'])
/** Keras classes the post-cut network computes. */
export const POST_CUT_LAYERS: readonly string[] = ['Dense', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization', 'ReLU', 'Activation', 'ZeroPadding2D', 'Add',
  'AveragePooling2D', 'MaxPooling2D', 'GlobalAveragePooling2D', 'Flatten', ...DROPOUTS]
/** Classes whose weights `spec.train` may train. */
const TRAINABLE = new Set(['Dense', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization'])

const pair = (v: unknown, fallback: number): Pair => Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : typeof v === 'number' ? [v, v] : [fallback, fallback]

function paddingOf (layer: string, v: unknown): 'same' | 'valid' {
  if (v === 'same' || v === 'valid') return v
  throw unsupported(layer, `uses padding ${String(v)}; supported: same, valid`)
}

function channelsLast (layer: string, cfg: Record<string, unknown>): void {
  if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') throw unsupported(layer, `uses data format ${String(cfg.dataFormat)}; only channelsLast is computed`)
}

/** Kernels of an activation's forward pass and of its gradient (tfjs-core 4.22 gradient definitions). */
function actKernels (a: Act, max?: number): { forward: string[], backward: string[] } {
  switch (a) {
    case 'linear': return { forward: [], backward: [] }
    case 'relu': return max === undefined
      ? { forward: ['Relu'], backward: ['Step', 'Cast', 'Multiply'] }
      : { forward: ['ClipByValue'], backward: ['GreaterEqual', 'LessEqual', 'LogicalAnd', 'Select', 'ZerosLike'] }
    case 'relu6': return { forward: ['Relu6'], backward: ['LessEqual', 'Step', 'Cast', 'Multiply'] }
    case 'sigmoid': return { forward: ['Sigmoid'], backward: ['Multiply', 'Sub'] }
    case 'tanh': return { forward: ['Tanh'], backward: ['Square', 'Sub', 'Multiply'] }
    case 'elu': return { forward: ['Elu'], backward: ['EluGrad'] }
  }
}

/**
 * The kernels of a planned op (this module's computation, not tfjs-layers'): its forward pass, and what
 * backpropagation adds at it — through it to its input (`input`), to its own weights (`weights`).
 */
function opKernels (op: Op, input: boolean, weights: boolean): { forward: string[], backward: string[] } {
  const back = input || weights
  const act = 'activation' in op ? actKernels(op.activation, op.kind === 'activation' ? op.max : undefined) : { forward: [], backward: [] }
  const f: string[] = [...act.forward]
  const b: string[] = back ? [...act.backward] : []
  const lora = (op.kind === 'dense' || op.kind === 'conv2d') && op.lora !== undefined
  switch (op.kind) {
    case 'dense': f.push('_FusedMatMul', 'Add'); if (lora) f.push('BatchMatMul', 'Multiply'); if (back) b.push('BatchMatMul', 'Sum', 'Reshape'); break
    case 'conv2d':
      f.push(lora ? 'BatchMatMul' : 'Conv2D', 'Add', 'Reshape', ...(lora ? ['Multiply'] : []))
      if (back) b.push('Sum', 'Reshape', ...(lora ? ['BatchMatMul', 'Multiply'] : []))
      if (!lora && input) b.push('Conv2DBackpropInput')
      if (!lora && weights) b.push('Conv2DBackpropFilter')
      break
    case 'depthwise-conv2d':
      f.push('DepthwiseConv2dNative', 'Add')
      if (back) b.push('Sum', 'Reshape')
      if (input) b.push('DepthwiseConv2dNativeBackpropInput')
      if (weights) b.push('DepthwiseConv2dNativeBackpropFilter')
      break
    case 'batch-norm': f.push(...LAYER_KERNELS.BatchNormalization.forward); if (back) b.push(...LAYER_KERNELS.BatchNormalization.backward); break
    case 'zero-padding': f.push('PadV2'); if (back) b.push('Slice'); break
    case 'add': f.push('Add', 'AddN'); if (back) b.push('Sum', 'Reshape'); break
    case 'pooling': f.push(op.pool === 'avg' ? 'AvgPool' : 'MaxPool'); if (back) b.push(op.pool === 'avg' ? 'AvgPoolGrad' : 'MaxPoolGrad'); break
    case 'flatten': f.push('Reshape'); if (back) b.push('Reshape'); break
    case 'global-average-pooling': f.push(...LAYER_KERNELS.GlobalAveragePooling2D.forward); if (back) b.push(...LAYER_KERNELS.GlobalAveragePooling2D.backward); break
    case 'activation': case 'identity': break
  }
  return { forward: f, backward: b }
}

/**
 * Plans the network after the cut: every layer from the one after `spec.features` to `spec.head.replace`, in the
 * model's (topological) order; each may take the cut's output or later layers' outputs. Trained: the new head
 * (`spec.head.classes` units, fresh), the layers of `spec.train` (Dense, Conv2D, DepthwiseConv2D kernels and biases,
 * BatchNormalization γ and β; from the base's values), the LoRA factors B of `spec.adapters.targets` (Dense layers
 * and 1×1, stride-1 Conv2D; A frozen and seeded, `loraFactorA`).
 * @param layers the built base model's layers (`model.layers`, in order)
 * @param baseShapes the base's weight shapes by name
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID (a cut, head, target or trained layer that does not fit),
 *   ERR_MODEL_UNSUPPORTED_LAYER (a layer after the cut this module does not compute, or that reads a layer before the cut)
 */
export function planPostCut (layers: readonly TfLayer[], spec: ModelSpec, baseShapes: ReadonlyMap<string, readonly number[]>, baseValues: (name: string) => Float32Array): PostCutPlan {
  const names = layers.map((l) => l.name)
  const cut = names.indexOf(spec.features)
  if (cut < 0) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec features layer ${spec.features} is not in the model; its last layers are ${names.slice(-8).join(', ')}`)
  const headAt = names.indexOf(spec.head.replace)
  if (headAt <= cut) {
    throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec head.replace ${spec.head.replace} is ${headAt < 0 ? 'not in the model' : `not after the features layer ${spec.features}`}; the layers after the cut are ${names.slice(cut + 1).join(', ') || 'none'}`)
  }
  for (const l of layers.slice(headAt + 1)) {
    const c = l.getClassName()
    const softmax = c === 'Softmax' || (c === 'Activation' && l.getConfig().activation === 'softmax')
    if (!softmax && c !== 'Dropout') throw unsupported(l.name, `(${c}) follows the head ${spec.head.replace}: only Dropout and a softmax may, and they are dropped`)
  }
  const chain = layers.slice(cut + 1, headAt + 1)
  const targets = new Set(spec.adapters?.targets ?? [])
  const trained = new Set(spec.train ?? [])
  const chainNames = new Set(chain.map((l) => l.name))
  for (const n of [...targets, ...trained]) {
    if (!chainNames.has(n)) {
      throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec names layer ${n} to adapt or train, but it is not a layer between the cut ${spec.features} and the head ${spec.head.replace} (${[...chainNames].join(', ')}); layers before the cut are frozen with the backbone`)
    }
  }
  const shapeOf = (name: string): number[] => [...baseShapes.get(name)!]
  const featureShape = (layers[cut].outputShape as number[]).slice(1)
  const specs: WeightSpec[] = []
  const initial = new Map<number, Float32Array>()
  const headSpecs: number[] = []
  const frozenShapes = new Map<string, number[]>()
  const nodes: PostCutNode[] = []
  const index = new Map<string, number>([[spec.features, 0]])
  /** Whether the gradient reaches a value (index as in `inputs`): a trained weight at or before it. */
  const grad: boolean[] = [false]
  const forward: string[][] = []
  const backward: string[][] = []
  let flops = 0
  for (const l of chain) {
    const c = l.getClassName()
    const cfg = l.getConfig()
    const layer = l.name
    if (l.inboundNodes.length !== 1) throw unsupported(layer, `is applied ${l.inboundNodes.length} times; a layer after the cut must be applied once`)
    const inbound = l.inboundNodes[0].inboundLayers.map((x) => x.name)
    const inputs = inbound.map((n) => {
      const i = index.get(n)
      if (i === undefined) throw unsupported(layer, `takes the output of ${n}, a layer before the cut ${spec.features}: the cached features alone do not determine it`)
      return i
    })
    if (!POST_CUT_LAYERS.includes(c)) throw unsupported(layer, `is a ${c} layer; after the cut only ${POST_CUT_LAYERS.join(', ')} are computed`)
    if ((c === 'Add') !== (inputs.length > 1)) throw unsupported(layer, `(${c}) takes ${inputs.length} inputs`)
    const isHead = layer === spec.head.replace
    if (isHead && c !== 'Dense') throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec head.replace ${layer} is a ${c} layer: the head must be a Dense layer`)
    if (trained.has(layer) && !TRAINABLE.has(c)) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec trains layer ${layer}, a ${c} layer: it has no weights; trainable after the cut: ${[...TRAINABLE].join(', ')}`)
    const inShape = (inputs[0] === 0 ? featureShape : (layers[names.indexOf(inbound[0])].outputShape as number[]).slice(1))
    const outShape = (l.outputShape as number[]).slice(1)
    const own = isHead || trained.has(layer)
    const weights: PostCutNode['weights'] = []
    /** A weight of this layer: a fresh trainable parameter (`own`), or the base's value. */
    const weight = (w: string, shape: number[], train: boolean): Slot => {
      const name = `${layer}/${w}`
      let s: Slot
      if (train) {
        s = { param: specs.push({ name, shape, dtype: 'float32' }) - 1 }
        if (isHead) headSpecs.push(s.param)
        else initial.set(s.param, baseValues(name))
      } else {
        s = { frozen: name }
        frozenShapes.set(name, shape)
      }
      weights.push({ name, shape, slot: s })
      return s
    }
    const adapter = (inDim: number, outDim: number): Lora => {
      const { rank, alpha, seed } = spec.adapters!
      const b = specs.push({ name: `${layer}/lora_b`, shape: [rank, outDim], dtype: 'float32' }) - 1
      const lora = { a: loraFactorA(seed, layer, inDim, rank), b, rank, scale: loraScale(alpha, rank) }
      weights[0].lora = lora
      return lora
    }
    let op: Op
    if (DROPOUTS.has(c)) op = { kind: 'identity' }
    else if (c === 'Flatten') op = { kind: 'flatten' }
    else if (c === 'GlobalAveragePooling2D') {
      if (inShape.length !== 3) throw unsupported(layer, `(GlobalAveragePooling2D) gets shape [${inShape.join(', ')}]; expected [height, width, channels]`)
      channelsLast(layer, cfg)
      op = { kind: 'global-average-pooling' }
    } else if (c === 'Activation' || c === 'ReLU') {
      if (c === 'ReLU' && ((cfg.negativeSlope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0)) throw unsupported(layer, '(ReLU) has a negative slope or threshold')
      const max = c === 'ReLU' && typeof cfg.maxValue === 'number' ? cfg.maxValue : undefined
      op = { kind: 'activation', activation: c === 'ReLU' ? 'relu' : activationOf(layer, cfg.activation), max }
    } else if (c === 'ZeroPadding2D') {
      channelsLast(layer, cfg)
      const p = cfg.padding as Array<number | number[]>
      op = { kind: 'zero-padding', padding: [pair(p[0], 0), pair(p[1], 0)] }
    } else if (c === 'Add') op = { kind: 'add' }
    else if (c === 'AveragePooling2D' || c === 'MaxPooling2D') {
      channelsLast(layer, cfg)
      const size = pair(cfg.poolSize, 2)
      op = { kind: 'pooling', pool: c === 'AveragePooling2D' ? 'avg' : 'max', size, strides: cfg.strides == null ? size : pair(cfg.strides, 1), padding: paddingOf(layer, cfg.padding) }
    } else if (c === 'BatchNormalization') {
      const axis = cfg.axis as number | number[]
      const last = Array.isArray(axis) ? axis.length === 1 && (axis[0] === -1 || axis[0] === inShape.length) : axis === -1 || axis === inShape.length
      if (!last) throw unsupported(layer, `(BatchNormalization) normalises axis ${JSON.stringify(axis)}; only the last (channel) axis is computed`)
      const ch = inShape.at(-1)!
      const gamma = cfg.scale === false ? null : weight('gamma', [ch], own)
      const beta = cfg.center === false ? null : weight('beta', [ch], own)
      op = { kind: 'batch-norm', epsilon: Number(cfg.epsilon ?? 1e-3), gamma, beta, mean: weight('moving_mean', [ch], false), variance: weight('moving_variance', [ch], false) }
      flops += 2 * sizeOf(inShape)
    } else if (c === 'Dense') {
      if (inShape.length !== 1) throw unsupported(layer, `(Dense) gets shape [${inShape.join(', ')}]; cut at a flat layer (e.g. a Flatten) or add one`)
      const inDim = inShape[0]
      const outDim = isHead ? spec.head.classes : (cfg.units as number)
      const useBias = isHead || cfg.useBias !== false
      const kernel = weight('kernel', [inDim, outDim], own)
      const bias = useBias ? weight('bias', [outDim], own) : null
      const lora = targets.has(layer) ? adapter(inDim, outDim) : undefined
      op = { kind: 'dense', inDim, outDim, activation: isHead ? 'linear' : activationOf(layer, cfg.activation), kernel, bias, lora }
      flops += 2 * inDim * outDim + (lora === undefined ? 0 : 2 * (inDim * lora.rank + lora.rank * outDim))
    } else {
      // Conv2D, DepthwiseConv2D
      channelsLast(layer, cfg)
      if (inShape.length !== 3) throw unsupported(layer, `(${c}) gets shape [${inShape.join(', ')}]; expected [height, width, channels]`)
      const depthwise = c === 'DepthwiseConv2D'
      const filter = shapeOf(`${layer}/${depthwise ? 'depthwise_kernel' : 'kernel'}`)
      const strides = pair(cfg.strides, 1)
      const dilation = pair(cfg.dilationRate, 1)
      if ((strides[0] > 1 || strides[1] > 1) && (dilation[0] > 1 || dilation[1] > 1)) throw unsupported(layer, `(${c}) has both strides and dilation above 1`)
      const padding = paddingOf(layer, cfg.padding)
      const kernel = weight(depthwise ? 'depthwise_kernel' : 'kernel', filter, own)
      const bias = cfg.useBias !== false ? weight('bias', [outShape.at(-1)!], own) : null
      const activation = activationOf(layer, cfg.activation)
      const pixels = outShape[0] * outShape[1]
      if (depthwise) {
        if (targets.has(layer)) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec adapts layer ${layer}, a DepthwiseConv2D layer: LoRA applies to Dense layers and 1×1 Conv2D layers of stride 1`)
        op = { kind: 'depthwise-conv2d', filter, strides, padding, dilation, activation, kernel, bias }
        flops += 2 * pixels * filter[0] * filter[1] * filter[2] * filter[3]
      } else {
        let lora: Lora | undefined
        if (targets.has(layer)) {
          if (filter[0] !== 1 || filter[1] !== 1 || strides[0] !== 1 || strides[1] !== 1 || dilation[0] !== 1 || dilation[1] !== 1) {
            throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec adapts layer ${layer}, a ${filter[0]}×${filter[1]} Conv2D of stride ${strides.join('×')}: LoRA applies to Dense layers and 1×1 Conv2D layers of stride 1`)
          }
          lora = adapter(filter[2], filter[3])
          flops += 2 * pixels * (filter[2] * lora.rank + lora.rank * filter[3])
        }
        op = { kind: 'conv2d', filter, strides, padding, dilation, activation, kernel, bias, lora }
        flops += 2 * pixels * filter[0] * filter[1] * filter[2] * filter[3]
      }
    }
    const ownGrad = weights.some((w) => 'param' in w.slot) || weights.some((w) => w.lora !== undefined)
    const inGrad = inputs.some((i) => grad[i])
    const k = opKernels(op, inGrad, ownGrad)
    forward.push(k.forward)
    backward.push(k.backward)
    nodes.push({ layer, className: c, config: cfg, inputs, op, weights })
    index.set(layer, nodes.length)
    grad.push(ownGrad || inGrad)
  }
  return {
    nodes,
    specs,
    initial,
    headSpecs,
    frozenShapes,
    flops,
    kernels: { forward: unionKernels(...forward), backward: unionKernels(...backward) },
    featureShape,
    head: spec.head.replace
  }
}

function applyActivation (h: tf.Tensor, activation: Act, max?: number): tf.Tensor {
  switch (activation) {
    case 'linear': return h
    case 'relu': return max === undefined ? tf.relu(h) : tf.clipByValue(h, 0, max)
    case 'relu6': return tf.relu6(h)
    case 'sigmoid': return tf.sigmoid(h)
    case 'tanh': return tf.tanh(h)
    case 'elu': return tf.elu(h)
  }
}

/** Resolves a weight slot to a tensor: a trained parameter, or the base's frozen value (kept by the caller). */
export type SlotTensor = (slot: Slot) => tf.Tensor
/** The frozen factor A of an adapter, as a tensor kept by the caller. */
export type LoraA = (layer: string, lora: Lora, inDim: number) => tf.Tensor2D

function runOp (node: PostCutNode, xs: tf.Tensor[], t: SlotTensor, loraA: LoraA): tf.Tensor {
  const op = node.op
  const x = xs[0]
  switch (op.kind) {
    case 'identity': return x
    case 'flatten': return tf.reshape(x, [x.shape[0], -1])
    case 'global-average-pooling': return tf.mean(x, [1, 2])
    case 'activation': return applyActivation(x, op.activation, op.max)
    case 'zero-padding': return tf.pad(x, [[0, 0], op.padding[0], op.padding[1], [0, 0]])
    case 'add': return xs.length === 2 ? tf.add(xs[0], xs[1]) : tf.addN(xs)
    case 'pooling': return op.pool === 'avg'
      ? tf.avgPool(x as tf.Tensor4D, op.size, op.strides, op.padding)
      : tf.maxPool(x as tf.Tensor4D, op.size, op.strides, op.padding)
    case 'batch-norm':
      return tf.batchNorm(x, t(op.mean) as tf.Tensor1D, t(op.variance) as tf.Tensor1D, op.beta === null ? undefined : t(op.beta) as tf.Tensor1D, op.gamma === null ? undefined : t(op.gamma) as tf.Tensor1D, op.epsilon)
    case 'dense': {
      const kernel = t(op.kernel) as tf.Tensor2D
      const bias = op.bias === null ? null : t(op.bias) as tf.Tensor1D
      if (op.lora !== undefined) return applyActivation(loraDense(x as tf.Tensor2D, kernel, bias, loraA(node.layer, op.lora, op.inDim), t({ param: op.lora.b }) as tf.Tensor2D, op.lora.scale), op.activation)
      if (bias !== null && (op.activation === 'relu' || op.activation === 'linear')) return dense(x as tf.Tensor2D, kernel, bias, op.activation)
      const z = tf.matMul(x as tf.Tensor2D, kernel)
      return applyActivation(bias === null ? z : tf.add(z, bias), op.activation)
    }
    case 'conv2d': {
      const kernel = t(op.kernel) as tf.Tensor4D
      const bias = op.bias === null ? null : t(op.bias) as tf.Tensor1D
      if (op.lora !== undefined) return applyActivation(loraConv1x1(x as tf.Tensor4D, kernel, bias, loraA(node.layer, op.lora, op.filter[2]), t({ param: op.lora.b }) as tf.Tensor2D, op.lora.scale), op.activation)
      const z = tf.conv2d(x as tf.Tensor4D, kernel, op.strides, op.padding, 'NHWC', op.dilation)
      return applyActivation(bias === null ? z : tf.add(z, bias), op.activation)
    }
    case 'depthwise-conv2d': {
      const z = tf.depthwiseConv2d(x as tf.Tensor4D, t(op.kernel) as tf.Tensor4D, op.strides, op.padding, 'NHWC', op.dilation)
      return applyActivation(op.bias === null ? z : tf.add(z, t(op.bias)), op.activation)
    }
  }
}

/**
 * The post-cut network's logits `[batch, classes]` for features `x` `[batch, ...featureShape]` (float32). Call it
 * inside a `tf.tidy` (or a gradient function): intermediate tensors are not freed here.
 */
export function forwardPostCut (plan: PostCutPlan, x: tf.Tensor, t: SlotTensor, loraA: LoraA): tf.Tensor2D {
  const values: tf.Tensor[] = [x]
  for (const node of plan.nodes) values.push(runOp(node, node.inputs.map((i) => values[i]), t, loraA))
  return values.at(-1) as tf.Tensor2D
}

/**
 * The post-cut network as a tfjs layers model: input the features (named as the cut layer), every layer rebuilt
 * from its config (the head with `classes` linear units and a bias), then a softmax layer `probs`. Its weights are
 * named as `mergePostCut` names them. The caller owns the model.
 */
export function buildPostCutModel (plan: PostCutPlan, classes: number, name: string): tf.LayersModel {
  const registry = tf.serialization.SerializationMap.getMap().classNameMap
  const input = tf.input({ shape: [...plan.featureShape], name: plan.nodes.some((n) => n.layer === `${name}_input`) ? `${name}_features` : `${name}_input` })
  const values: tf.SymbolicTensor[] = [input]
  for (const node of plan.nodes) {
    let layer: tf.layers.Layer
    if (node.layer === plan.head) layer = tf.layers.dense({ units: classes, activation: 'linear', useBias: true, name: node.layer })
    else {
      const [cls, fromConfig] = registry[node.className]
      layer = fromConfig(cls, { ...node.config, trainable: true }) as tf.layers.Layer
    }
    const xs = node.inputs.map((i) => values[i])
    values.push(layer.apply(xs.length === 1 ? xs[0] : xs) as tf.SymbolicTensor)
  }
  const probs = tf.layers.activation({ activation: 'softmax', name: PROBS_LAYER }).apply(values.at(-1)!) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: probs, name })
}

/**
 * Every weight of the post-cut network's weighted layers, named `<layer>/<weight>` in layer order (the base's
 * order within a layer): trained ones from `trained` (in `plan.specs` order), adapted kernels merged (W + α/r·A·B,
 * `mergeLora`; a 1×1 convolution's `[1, 1, in, out]` kernel is the `[in, out]` matrix), the rest the base's.
 */
export function mergePostCut (plan: PostCutPlan, trained: readonly Float32Array[], frozen: (name: string) => Float32Array): Weights {
  const out: Weights = { specs: [], values: [] }
  for (const node of plan.nodes) {
    for (const w of node.weights) {
      let v = 'param' in w.slot ? trained[w.slot.param] : frozen(w.slot.frozen)
      if (w.lora !== undefined) v = mergeLora(v, [w.shape.slice(0, -1).reduce((a, b) => a * b, 1), w.shape.at(-1)!], w.lora.a, trained[w.lora.b], w.lora.rank, w.lora.scale)
      out.specs.push({ name: w.name, shape: [...w.shape], dtype: 'float32' })
      out.values.push(v.slice())
    }
  }
  return out
}
