import { createModelSpec, fedAvg } from '@swarmtune/fedavg'
import { codeOf, testSeed } from '@swarmtune/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRng, loraConv1x1, loraDense, loraFactorA, loraFactorB, loraScale, mergeLora, tf } from '../src/index.js'

/** Seeded float32 values uniform in [-1, 1). */
function values (rng: ReturnType<typeof createRng>, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * rng.float() - 1)
}

/** Largest |x − y| over two arrays of equal length. */
function maxDiff (x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length)
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]))
  return m
}

/** x [n, k] · y [k, m] in Float64, row-major. */
function matmul64 (x: ArrayLike<number>, y: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m)
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) for (let r = 0; r < k; r++) out[i * m + j] += x[i * k + r] * y[r * m + j]
  return out
}

describe('LoRA adapters', () => {
  const inDim = 12
  const outDim = 7
  const rank = 3
  const batch = 5
  const scale = loraScale(8, rank)
  let rng: ReturnType<typeof createRng>
  let seed: number

  beforeAll(async () => {
    await tf.setBackend('cpu')
    seed = testSeed('lora')
    rng = createRng(seed)
  })
  afterAll(() => { tf.disposeVariables() })

  it('A is the same for the same (seed, layer), another for another layer or seed, bounded by 1/√in', () => {
    const a1 = loraFactorA(seed, 'dense_1', inDim, rank)
    const a2 = loraFactorA(seed, 'dense_1', inDim, rank)
    expect(a1.length).toBe(inDim * rank)
    expect(Buffer.from(a1.buffer).equals(Buffer.from(a2.buffer))).toBe(true)
    expect(Buffer.from(loraFactorA(seed, 'dense_2', inDim, rank).buffer).equals(Buffer.from(a1.buffer))).toBe(false)
    expect(Buffer.from(loraFactorA(seed + 1, 'dense_1', inDim, rank).buffer).equals(Buffer.from(a1.buffer))).toBe(false)
    const bound = 1 / Math.sqrt(inDim)
    expect(Math.max(...a1.map(Math.abs))).toBeLessThanOrEqual(bound)
    expect(Math.max(...a1.map(Math.abs))).toBeGreaterThan(bound / 2)
    // a fixed seed gives fixed bytes on every machine: pin the first value
    const pinned = loraFactorA(1, 'dense_1', 784, 4)
    expect([pinned[0], pinned[1], pinned[3135]]).toEqual([-0.002591411117464304, -0.008644022978842258, -0.013391182757914066])
    expect(loraFactorB(rank, outDim).every((v) => v === 0)).toBe(true)
  })

  it('loraDense equals x·(kernel + scale·A·B) + bias computed with the full matrix', () => {
    const x = values(rng, batch * inDim)
    const kernel = values(rng, inDim * outDim)
    const bias = values(rng, outDim)
    const a = loraFactorA(seed, 'dense', inDim, rank)
    const b = values(rng, rank * outDim)
    const y = tf.tidy(() => loraDense(tf.tensor2d(x, [batch, inDim]), tf.tensor2d(kernel, [inDim, outDim]), tf.tensor1d(bias),
      tf.tensor2d(a, [inDim, rank]), tf.tensor2d(b, [rank, outDim]), scale))
    const got = y.dataSync()
    y.dispose()
    const merged = mergeLora(kernel, [inDim, outDim], a, b, rank, scale)
    const want = matmul64(x, merged, batch, inDim, outDim).map((v, i) => v + bias[i % outDim])
    expect(maxDiff(got, want)).toBeLessThan(1e-5)
    // and the adapter changes the output: it is not the base alone
    const base = matmul64(x, kernel, batch, inDim, outDim).map((v, i) => v + bias[i % outDim])
    expect(maxDiff(got, base)).toBeGreaterThan(1e-3)
    // a fresh adapter (B = 0) leaves the base unchanged
    const fresh = tf.tidy(() => loraDense(tf.tensor2d(x, [batch, inDim]), tf.tensor2d(kernel, [inDim, outDim]), null,
      tf.tensor2d(a, [inDim, rank]), tf.tensor2d(loraFactorB(rank, outDim), [rank, outDim]), scale).dataSync())
    expect(maxDiff(fresh, matmul64(x, kernel, batch, inDim, outDim))).toBeLessThan(1e-5)
  })

  it('mergeLora is the full-matrix W + scale·A·B, bit-identical on repeat', () => {
    const kernel = values(rng, inDim * outDim)
    const a = loraFactorA(seed, 'm', inDim, rank)
    const b = values(rng, rank * outDim)
    const merged = mergeLora(kernel, [inDim, outDim], a, b, rank, scale)
    const ab = matmul64(a, b, inDim, rank, outDim)
    expect(maxDiff(merged, Float32Array.from(kernel, (k, i) => k + scale * ab[i]))).toBe(0)
    expect(Buffer.from(mergeLora(kernel, [inDim, outDim], a, b, rank, scale).buffer).equals(Buffer.from(merged.buffer))).toBe(true)
  })

  it('a 1×1 convolution with an adapter equals the convolution with the merged kernel', () => {
    const x = values(rng, 2 * 3 * 4 * inDim)
    const kernel = values(rng, inDim * outDim)
    const a = loraFactorA(seed, 'conv', inDim, rank)
    const b = values(rng, rank * outDim)
    const got = tf.tidy(() => loraConv1x1(tf.tensor4d(x, [2, 3, 4, inDim]), tf.tensor4d(kernel, [1, 1, inDim, outDim]), null,
      tf.tensor2d(a, [inDim, rank]), tf.tensor2d(b, [rank, outDim]), scale))
    expect(got.shape).toEqual([2, 3, 4, outDim])
    const merged = mergeLora(kernel, [inDim, outDim], a, b, rank, scale)
    const want = tf.tidy(() => tf.conv2d(tf.tensor4d(x, [2, 3, 4, inDim]), tf.tensor4d(merged, [1, 1, inDim, outDim]), 1, 'valid').dataSync())
    expect(maxDiff(got.dataSync(), want)).toBeLessThan(1e-5)
    got.dispose()
  })

  it('gradients flow to B only: A and the kernel are frozen, B gets scale·(x·A)ᵀ·dL/dy', () => {
    const x = tf.tensor2d(values(rng, batch * inDim), [batch, inDim])
    const kernel = tf.variable(tf.tensor2d(values(rng, inDim * outDim), [inDim, outDim]), false, 'lora_kernel')
    const a = tf.variable(tf.tensor2d(loraFactorA(seed, 'g', inDim, rank), [inDim, rank]), false, 'lora_a')
    const b = tf.variable(tf.tensor2d(values(rng, rank * outDim), [rank, outDim]), true, 'lora_b')
    const target = tf.tensor2d(values(rng, batch * outDim), [batch, outDim])
    const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(target, loraDense(x, kernel, null, a, b, scale)) as tf.Scalar)
    expect(Object.keys(grads)).toEqual(['lora_b'])
    // dL/dy of the mean squared error is 2 (y − t) / (batch · out)
    const y = loraDense(x, kernel, null, a, b, scale)
    const dy = tf.div(tf.mul(2, tf.sub(y, target)), batch * outDim)
    const want = tf.mul(tf.matMul(tf.matMul(x, a), dy, true, false), scale)
    expect(maxDiff(grads.lora_b.dataSync(), want.dataSync())).toBeLessThan(1e-6)
    expect(Math.max(...grads.lora_b.dataSync().map(Math.abs))).toBeGreaterThan(0)
    tf.dispose([x, target, value, y, dy, want, ...Object.values(grads)])
    tf.dispose([kernel, a, b])
  })

  it('FedAvg of B (weighted by samples) merged equals the weighted average of the clients\' merged kernels; averaging A and B apart does not', () => {
    const kernel = values(rng, inDim * outDim)
    const a = loraFactorA(seed, 'shared', inDim, rank)
    const clients = [120, 45, 300].map((samples, k) => ({ samples, id: Uint8Array.of(k + 1), b: values(rng, rank * outDim) }))
    const spec = createModelSpec([[rank, outDim]])
    const result = fedAvg(clients.map((c) => ({ id: c.id, weight: c.samples, delta: [c.b] })), spec)
    if (result.status !== 'update') throw new Error('FedAvg gave no update')
    const merged = mergeLora(kernel, [inDim, outDim], a, result.delta[0], rank, scale)
    const total = clients.reduce((s, c) => s + c.samples, 0)
    const perClient = clients.map((c) => mergeLora(kernel, [inDim, outDim], a, c.b, rank, scale))
    const average = Float64Array.from(kernel, (_, i) => perClient.reduce((s, m, k) => s + clients[k].samples * m[i], 0) / total)
    expect(maxDiff(merged, average)).toBeLessThan(1e-5)

    // FLoRA's point: when each client trains its own A, the product of the averages is not the average of the products
    const aOf = clients.map((_, k) => loraFactorA(seed, `client-${k}`, inDim, rank))
    const avgA = Float32Array.from(aOf[0], (_, i) => aOf.reduce((s, ak, k) => s + clients[k].samples * ak[i], 0) / total)
    const separate = mergeLora(kernel, [inDim, outDim], avgA, result.delta[0], rank, scale)
    const products = clients.map((c, k) => mergeLora(kernel, [inDim, outDim], aOf[k], c.b, rank, scale))
    const trueAverage = Float64Array.from(kernel, (_, i) => products.reduce((s, m, k) => s + clients[k].samples * m[i], 0) / total)
    expect(maxDiff(separate, trueAverage)).toBeGreaterThan(1e-2)
  })

  it('shapes, ranks and scales that do not fit are refused with ERR_MODEL_INVALID_ADAPTER', () => {
    const t = (shape: [number, number]): tf.Tensor2D => tf.zeros(shape) as tf.Tensor2D
    const code = 'ERR_MODEL_INVALID_ADAPTER'
    tf.tidy(() => {
      expect(codeOf(() => loraDense(t([2, 5]), t([4, 3]), null, t([4, 2]), t([2, 3]), 1))).toBe(code) // x width
      expect(codeOf(() => loraDense(t([2, 4]), t([4, 3]), null, t([5, 2]), t([2, 3]), 1))).toBe(code) // A rows
      expect(codeOf(() => loraDense(t([2, 4]), t([4, 3]), null, t([4, 2]), t([3, 3]), 1))).toBe(code) // B rows ≠ rank
      expect(codeOf(() => loraDense(t([2, 4]), t([4, 3]), null, t([4, 2]), t([2, 4]), 1))).toBe(code) // B cols
      expect(codeOf(() => loraDense(t([2, 4]), t([4, 3]), tf.zeros([4]) as tf.Tensor1D, t([4, 2]), t([2, 3]), 1))).toBe(code) // bias
      expect(codeOf(() => loraDense(t([2, 4]), t([4, 3]), null, t([4, 2]), t([2, 3]), Number.NaN))).toBe(code)
      expect(codeOf(() => loraConv1x1(tf.zeros([1, 2, 2, 4]) as tf.Tensor4D, tf.zeros([3, 3, 4, 3]) as tf.Tensor4D, null, t([4, 2]), t([2, 3]), 1))).toBe(code)
      expect(loraDense(t([2, 4]), t([4, 3]), null, t([4, 2]), t([2, 3]), 1).shape).toEqual([2, 3])
    })
    expect(codeOf(() => mergeLora(new Float32Array(12), [4, 3], new Float32Array(8), new Float32Array(5), 2, 1))).toBe(code)
    expect(codeOf(() => mergeLora(new Float32Array(11), [4, 3], new Float32Array(8), new Float32Array(6), 2, 1))).toBe(code)
    expect(codeOf(() => mergeLora(new Float32Array(12), [4, 3], new Float32Array(8), new Float32Array(6), 0, 1))).toBe(code)
    expect(codeOf(() => loraFactorA(1, '', 4, 2))).toBe(code)
    expect(codeOf(() => loraFactorA(1, 'd', 4, 1.5))).toBe(code)
    expect(codeOf(() => loraScale(8, 0))).toBe(code)
  })
})
