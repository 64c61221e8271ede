/**
 * model-adapters benchmark (MobileNetV2 of nsfwjs with a new 10-class head), each figure beside a reference
 * measured in the same run, as a ratio:
 *
 *   adapters: samples/s of training head + LoRA (r = 4 on dense_1 and dense_2, only B trained) on cached features,
 *             vs training head + dense_1 + dense_2 fully on the same backend, features, batch, optimizer and
 *             steps (runs alternate, best of 3 each). Features are seeded uniform [0, 1) values of the backbone's
 *             output shape ([1280]): the step's cost does not depend on their values.
 *   cache:    a feature-cache hit per example (hash the 602 KB image, read 5 KB) vs the backbone forward pass it
 *             saves (batch 8, warm), on the backend the backbone runs on.
 * Run: `npm run bench -- model-adapters`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createModelTask, createRng, mnist2nn, probeBackendStatus, registerTask, selectBackend, trainLocal,
  type Dataset, type ModelTask
} from '../../packages/model/src/index.js'
import { mobilenetLora } from '@swarmtune/test-support/models'

const EXAMPLES = 512
const BATCH = 32
const STEPS = 48
const CACHE_EXAMPLES = 16
const LABELS = Array.from({ length: 10 }, (_, i) => String(i))

function line (area: string, figure: string, value: number, unit: string, ref: string, refValue: number, refUnit: string): void {
  process.stdout.write(`${area}: ${figure} = ${fmt(value)} ${unit}  (vs ${ref} = ${fmt(refValue)} ${refUnit}, ratio ${(value / refValue).toFixed(3)})\n`)
}

function fmt (v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3)
}

function uniform (n: number, seed: number): Float32Array {
  const rng = createRng(seed)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.float()
  return out
}

async function samplesPerSecond (task: ModelTask, features: Dataset, backend: string): Promise<number> {
  const r = await trainLocal({ task: task.id, weights: task.initWeights(1), data: features, steps: STEPS, batchSize: BATCH, learningRate: 0.01, backend, lossExamples: BATCH })
  return r.samplesProcessed / (r.trainMs / 1000)
}

const { base, spec: { adapters: lora, ...headOnly } } = await mobilenetLora(LABELS, 1)
const adapters = await createModelTask({ ...headOnly, adapters: lora }, base)
const full = await createModelTask({ ...headOnly, train: ['dense_1', 'dense_2'] }, base)
registerTask(adapters)
registerTask(full)
const labels = new Uint8Array(EXAMPLES).map((_, i) => i % LABELS.length)
const features: Dataset = { images: uniform(EXAMPLES * 1280, 3), labels, count: EXAMPLES, exampleShape: [1280], classes: LABELS.length }

const available = (await probeBackendStatus()).filter((s) => s.available).map((s) => s.id)
for (const backend of available) {
  await samplesPerSecond(adapters, features, backend) // warm-up: kernels, pooled variables
  await samplesPerSecond(full, features, backend)
  let a = 0
  let f = 0
  for (let k = 0; k < 3; k++) {
    a = Math.max(a, await samplesPerSecond(adapters, features, backend))
    f = Math.max(f, await samplesPerSecond(full, features, backend))
  }
  line('model-adapters', `head + LoRA r=4 training on ${backend} (${adapters.paramCount} trained parameters, batch ${BATCH})`, a, 'samples/s',
    `head + dense_1 + dense_2 fully (${full.paramCount} parameters)`, f, 'samples/s')
}

const dir = await mkdtemp(join(tmpdir(), 'swarmtune-bench-features-'))
try {
  const backbone = available.includes('node') ? 'node' : 'wasm'
  await selectBackend(mnist2nn, { backend: backbone, purpose: 'inference' })
  const cached = await createModelTask(adapters.spec, base, { cacheDir: dir })
  const images = (n: number, seed: number): Dataset => ({
    images: uniform(n * 224 * 224 * 3, seed), labels: new Uint8Array(n).map((_, i) => i % LABELS.length), count: n, exampleShape: [224, 224, 3], classes: LABELS.length
  })
  await cached.features(images(8, 5)) // warm-up of the backbone
  const ds = images(CACHE_EXAMPLES, 6)
  const first = await cached.features(ds)
  if (first.computed !== CACHE_EXAMPLES) throw new Error(`expected ${CACHE_EXAMPLES} computed features, got ${first.computed}`)
  let hitMs = Infinity
  for (let k = 0; k < 3; k++) {
    const t = performance.now()
    const again = await cached.features(ds)
    hitMs = Math.min(hitMs, performance.now() - t)
    if (again.cached !== CACHE_EXAMPLES) throw new Error(`expected ${CACHE_EXAMPLES} cache hits, got ${again.cached}`)
  }
  line('model-adapters', `feature-cache hit (MobileNetV2 flatten_1, ${CACHE_EXAMPLES} examples)`, hitMs / CACHE_EXAMPLES, 'ms/example',
    `backbone forward on ${backbone} (batch 8)`, first.forwardMs / CACHE_EXAMPLES, 'ms/example')
  cached.dispose()
} finally {
  await rm(dir, { recursive: true, force: true })
  adapters.dispose()
  full.dispose()
}
