import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  BACKEND_ORDER, chooseBackend, getTask, mnist2nn, mnistCnn, missingKernels, probeBackends, selectBackend, tf,
  wasmBinaryDir
} from '../src/index.js'

describe('backends', () => {
  const fetchSpy = vi.fn(() => { throw new Error('no network: the wasm binaries must come from node_modules') })
  const realFetch = globalThis.fetch
  beforeAll(() => { globalThis.fetch = fetchSpy as unknown as typeof fetch })
  afterAll(() => { globalThis.fetch = realFetch })

  it('probes every backend: cpu and wasm load (wasm from the installed package, never fetched); native ones load or say why not', async () => {
    const report = await probeBackends()
    expect(report.backends.map((b) => b.id)).toEqual([...BACKEND_ORDER])
    const byId = Object.fromEntries(report.backends.map((b) => [b.id, b]))
    expect(byId.cpu.available).toBe(true)
    expect(byId.wasm.available).toBe(true)
    expect(byId.wasm.reason).toContain(wasmBinaryDir())
    expect(wasmBinaryDir()).toMatch(/node_modules[/\\]@tensorflow[/\\]tfjs-backend-wasm[/\\]dist$/)
    expect(fetchSpy).not.toHaveBeenCalled()
    for (const id of ['node-gpu', 'node'] as const) {
      expect(byId[id].reason.length).toBeGreaterThan(10)
      if (!byId[id].available) expect(byId[id].reason).toMatch(/not installed|failed|not loaded/)
    }
    // Every task has a choice for training and for inference, with a reason.
    for (const task of ['mnist-2nn', 'mnist-cnn']) {
      for (const purpose of ['train', 'inference']) {
        const c = report.choices.find((x) => x.task === task && x.purpose === purpose)
        expect(BACKEND_ORDER).toContain(c?.backend)
        expect(c?.reason.length).toBeGreaterThan(10)
      }
    }
  })

  it('with wasm and cpu present, the CNN trains on cpu because wasm lacks Conv2DBackpropFilter, and says so', async () => {
    expect(missingKernels(mnistCnn, 'wasm', 'train')).toEqual(['Conv2DBackpropFilter'])
    const cnn = await chooseBackend(mnistCnn, { candidates: ['wasm', 'cpu'] })
    expect(cnn.backend).toBe('cpu')
    expect(cnn.skipped).toEqual([{ backend: 'wasm', reason: expect.stringContaining('Conv2DBackpropFilter') }])
    expect(cnn.reason).toMatch(/^cpu: .*skipped wasm \(lacks kernel Conv2DBackpropFilter/)
    // The 2nn needs no missing kernel, and CNN inference runs on wasm.
    expect((await chooseBackend(mnist2nn, { candidates: ['wasm', 'cpu'] })).backend).toBe('wasm')
    expect((await chooseBackend(mnistCnn, { candidates: ['wasm', 'cpu'], purpose: 'inference' })).backend).toBe('wasm')
  })

  it('the automatic choice never picks a backend that lacks a training kernel', async () => {
    for (const task of [mnist2nn, mnistCnn]) {
      const sel = await chooseBackend(task)
      const name = sel.backend === 'cpu' ? 'cpu' : sel.backend === 'wasm' ? 'wasm' : 'tensorflow'
      expect(missingKernels(task, name)).toEqual([])
    }
  })

  it('honours an explicit backend, or refuses it with a typed reason', async () => {
    const cpu = await selectBackend(getTask('mnist-2nn'), { backend: 'cpu' })
    expect(cpu.backend).toBe('cpu')
    expect(tf.getBackend()).toBe('cpu')
    const wasm = await selectBackend(getTask('mnist-2nn'), { backend: 'wasm' })
    expect(wasm.reason).toMatch(/requested explicitly/)
    expect(tf.getBackend()).toBe('wasm')
    await expect(selectBackend(mnistCnn, { backend: 'wasm' })).rejects.toMatchObject({
      name: 'BackendError', code: 'ERR_MODEL_BACKEND_MISSING_KERNELS', backend: 'wasm', reason: expect.stringContaining('Conv2DBackpropFilter')
    })
    await expect(selectBackend(mnistCnn, { backend: 'tpu' })).rejects.toMatchObject({ code: 'ERR_MODEL_UNKNOWN_BACKEND' })
    await expect(chooseBackend(mnistCnn, { candidates: ['cpu', 'gpu' as never] })).rejects.toMatchObject({ code: 'ERR_MODEL_UNKNOWN_BACKEND' })
    const report = await probeBackends([])
    for (const b of report.backends.filter((x) => !x.available)) {
      await expect(selectBackend(mnist2nn, { backend: b.id })).rejects.toMatchObject({ code: 'ERR_MODEL_BACKEND_UNAVAILABLE', backend: b.id })
    }
    // Refusals leave the active backend alone.
    expect(tf.getBackend()).toBe('wasm')
  })
})

describe('cpu Conv2DBackpropFilter replacement', () => {
  it('gives bit-identical filter gradients to the stock tfjs kernel (strides, padding, shapes)', async () => {
    const { installFastCpuConv2DBackpropFilter, stockCpuConv2DBackpropFilter } = await import('../src/backends/cpu-kernels.js')
    await selectBackend(mnistCnn, { backend: 'cpu' })
    installFastCpuConv2DBackpropFilter()
    const stock = stockCpuConv2DBackpropFilter()
    expect(stock).toBeDefined()
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).not.toBe(stock)
    const cases = [
      { x: [2, 14, 14, 8], f: [5, 5, 8, 16], strides: 1, pad: 'same' },
      { x: [3, 9, 7, 2], f: [3, 2, 2, 4], strides: 2, pad: 'valid' },
      { x: [2, 8, 8, 3], f: [3, 3, 3, 5], strides: [2, 1], pad: 'same' },
      { x: [1, 6, 6, 1], f: [2, 2, 1, 3], strides: 1, pad: 1 }
    ] as const
    for (const c of cases) {
      tf.tidy(() => {
        const x = tf.relu(tf.randomNormal([...c.x], 0, 1, 'float32', 7))
        const y = tf.conv2d(x as tf.Tensor4D, tf.zeros([...c.f]) as tf.Tensor4D, c.strides as [number, number], c.pad)
        const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 8)
        const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.f] }
        const fast = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor
        const info = stock!.kernelFunc({ inputs: { x, dy }, backend: tf.backend(), attrs: attrs as never }) as tf.TensorInfo
        const ref = tf.engine().makeTensorFromTensorInfo(info)
        expect(fast.shape).toEqual([...c.f])
        expect(Buffer.from(fast.dataSync().buffer).equals(Buffer.from((ref.dataSync() as Float32Array).buffer))).toBe(true)
      })
    }
  })
})
