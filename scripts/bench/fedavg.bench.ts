/**
 * fedavg benchmark: merge throughput, codec throughput and peak memory, each beside a reference measured
 * in the same run (memcpy of the same bytes, or plain FedAvg), as ratios.
 *
 *   merge: FedAvg (validation + weighted Float64 sum + one rounding) over N = 10 and 50 deltas of 1.66M
 *          parameters (MNIST CNN) and 25M parameters, in memory (chunked) and streaming (one delta at a
 *          time), vs memcpy of the same delta bytes (goal ≥ 0.5), and vs one scalar JavaScript pass that
 *          only reads the same deltas (the floor any merge written in JavaScript pays: a merge makes two —
 *          validation, then the sum).
 *   memory: peak RSS of streaming N = 50 × 25M vs the size of one fp32 model (O(model), not O(N × model)).
 *   codecs: encode / decode throughput of each codec vs memcpy; bytes on the wire vs fp32.
 *   robust: median, trimmed mean, Krum, CenteredClip vs FedAvg on the same N = 10 deltas.
 * Run: `npm run bench -- fedavg`.
 */
import {
  aggregate, CODEC_NAMES, createModelSpec, decodeDelta, encodeDelta, FedAvgAccumulator, fedAvg,
  type AggregatorConfig, type CodecOptions, type Contribution, type ModelSpec
} from '../../packages/fedavg/src/index.js'

const CNN_PARAMS = 1_663_370 // McMahan et al. 2017 MNIST CNN
const LARGE_PARAMS = 25_000_000
const GB = 1e9

function line (area: string, figure: string, value: number, unit: string, ref: string, refValue: number, refUnit: string, goal?: string): void {
  const ratio = value / refValue
  process.stdout.write(`${area}: ${figure} = ${value.toFixed(3)} ${unit}  (vs ${ref} = ${refValue.toFixed(3)} ${refUnit}, ratio ${ratio.toFixed(2)}${goal !== undefined ? `; goal ${goal}` : ''})\n`)
}

/** Deterministic pseudo-random deltas (xorshift32: fills 100M values far faster than createRng), uniform in [−0.01, 0.01). */
function makeDelta (params: number, seed: number): Float32Array {
  const x = new Float32Array(params)
  let s = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < params; i++) {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    x[i] = (s / 4294967296 - 0.5) * 0.02
  }
  return x
}

function specFor (params: number): ModelSpec {
  // a realistic layout: one big kernel, one mid tensor, a bias
  const bias = 512
  const mid = Math.floor(params / 10)
  return createModelSpec([[params - mid - bias], [mid], [bias]])
}

function split (spec: ModelSpec, flat: Float32Array): Float32Array[] {
  let at = 0
  return spec.sizes.map((n) => { const v = flat.subarray(at, at + n); at += n; return v })
}

/** Best of `reps` timings of `f`, in seconds. */
function best (reps: number, f: () => void): number {
  let t = Infinity
  for (let r = 0; r < reps; r++) {
    const start = performance.now()
    f()
    t = Math.min(t, (performance.now() - start) / 1000)
  }
  return t
}

function memcpySeconds (deltas: readonly Float32Array[], reps: number): number {
  const dst = new Float32Array(deltas[0].length)
  return best(reps, () => { for (const d of deltas) dst.set(d) })
}

/** One scalar JavaScript pass reading every value of the deltas (a sum): what any JS merge must at least do. */
function jsPassSeconds (deltas: readonly Float32Array[], reps: number): number {
  let sink = 0
  const t = best(reps, () => {
    for (const d of deltas) {
      let s = 0
      for (let i = 0; i < d.length; i++) s += d[i]
      sink += s
    }
  })
  if (sink === 42) process.stdout.write('')
  return t
}

function gc (): void {
  (globalThis as { gc?: () => void }).gc?.()
}

const peakMb = (): number => process.resourceUsage().maxRSS / 1024

// --- streaming first, so the process-wide peak RSS reflects it alone -----------------------------------
{
  const spec = specFor(LARGE_PARAMS)
  const pool = Array.from({ length: 4 }, (_, k) => makeDelta(LARGE_PARAMS, k + 1)) // cycled: each add still reads 100 MB from memory
  const before = peakMb()
  const growth: number[] = []
  for (const n of [10, 50]) {
    const copy = memcpySeconds(Array.from({ length: n }, (_, k) => pool[k % 4]), 1)
    const seconds = best(1, () => {
      const acc = new FedAvgAccumulator(spec)
      for (let k = 0; k < n; k++) acc.add({ id: Uint8Array.of(k >> 8, k & 0xff), weight: 600 + k, delta: split(spec, pool[k % 4]) })
      acc.result()
    })
    growth.push(peakMb() - before)
    const bytes = n * LARGE_PARAMS * 4
    line('fedavg', `streaming merge N=${n} P=25M`, bytes / seconds / GB, 'GB/s', 'memcpy of the same deltas', bytes / copy / GB, 'GB/s', '≥ 0.5')
  }
  const model = LARGE_PARAMS * 4 / 1e6
  line('fedavg', 'peak RSS growth, streaming N=50 P=25M', growth[1], 'MB', 'one fp32 model', model, 'MB', '≈ 3 (Float64 sum + fp32 result), independent of N')
  line('fedavg', 'peak RSS growth, streaming N=50 P=25M', growth[1], 'MB', 'N=50 deltas held at once', 50 * model, 'MB')
  process.stdout.write(`fedavg: peak RSS growth after N=10 was ${growth[0].toFixed(0)} MB (the 4 pooled input deltas, ${(4 * model).toFixed(0)} MB, were allocated before)\n`)
  pool.length = 0
  gc()
}

// --- in memory, chunked -----------------------------------------------------------------------------------
for (const [params, ns, label] of [[CNN_PARAMS, [10, 50], '1.66M'], [LARGE_PARAMS, [10], '25M']] as Array<[number, number[], string]>) {
  const spec = specFor(params)
  const maxN = Math.max(...ns)
  const flats = Array.from({ length: maxN }, (_, k) => makeDelta(params, 100 + k))
  for (const n of ns) {
    const deltas = flats.slice(0, n)
    const contributions: Contribution[] = deltas.map((d, k) => ({ id: Uint8Array.of(k), weight: 600 + k, delta: split(spec, d) }))
    const reps = params > 1e7 ? 2 : 4
    const copy = memcpySeconds(deltas, reps)
    const seconds = best(reps, () => fedAvg(contributions, spec))
    const bytes = n * params * 4
    line('fedavg', `in-memory merge N=${n} P=${label}`, bytes / seconds / GB, 'GB/s', 'memcpy of the same deltas', bytes / copy / GB, 'GB/s', '≥ 0.5')
    line('fedavg', `in-memory merge N=${n} P=${label}`, bytes / seconds / GB, 'GB/s', 'one scalar JS pass over the same deltas', bytes / jsPassSeconds(deltas, reps) / GB, 'GB/s')
    if (params === CNN_PARAMS) {
      const streamed = best(reps, () => {
        const acc = new FedAvgAccumulator(spec)
        for (const c of contributions) acc.add(c)
        acc.result()
      })
      line('fedavg', `streaming merge N=${n} P=${label}`, bytes / streamed / GB, 'GB/s', 'memcpy of the same deltas', bytes / copy / GB, 'GB/s', '≥ 0.5')
    }
  }
  flats.length = 0
  gc()
}

// --- robust aggregators vs FedAvg on the same deltas --------------------------------------------------------
{
  const spec = specFor(CNN_PARAMS)
  const contributions: Contribution[] = Array.from({ length: 10 }, (_, k) => ({ id: Uint8Array.of(k), weight: 600, delta: split(spec, makeDelta(CNN_PARAMS, 200 + k)) }))
  const bytes = 10 * CNN_PARAMS * 4
  const ref = bytes / best(3, () => aggregate(contributions, spec, { kind: 'fedavg' })) / GB
  const robust: AggregatorConfig[] = [
    { kind: 'median' }, { kind: 'trimmed-mean', beta: 0.2 }, { kind: 'krum', byzantine: 3, select: 1 }, { kind: 'centered-clip', iterations: 3 }
  ]
  for (const config of robust) {
    const v = bytes / best(2, () => aggregate(contributions, spec, config)) / GB
    line('robust', `${config.kind} N=10 P=1.66M`, v, 'GB/s', 'FedAvg on the same deltas', ref, 'GB/s')
  }
}

// --- codecs -------------------------------------------------------------------------------------------------
{
  const spec = specFor(CNN_PARAMS)
  const delta = split(spec, makeDelta(CNN_PARAMS, 7))
  const bytes = CNN_PARAMS * 4
  const copy = bytes / memcpySeconds([makeDelta(CNN_PARAMS, 8)], 10) / GB
  const options: CodecOptions[] = CODEC_NAMES.map((codec) => ({ codec, fraction: 0.01 }))
  for (const o of options) {
    let encoded: Uint8Array = new Uint8Array()
    const enc = bytes / best(4, () => { encoded = encodeDelta(delta, spec, o) }) / GB
    const dec = bytes / best(4, () => decodeDelta(encoded, { spec })) / GB
    const name = o.codec === 'topk-int8' ? 'topk-int8 (1%)' : o.codec
    line('codec', `encode ${name} P=1.66M`, enc, 'GB/s of fp32 input', 'memcpy', copy, 'GB/s')
    line('codec', `decode ${name} P=1.66M`, dec, 'GB/s of fp32 output', 'memcpy', copy, 'GB/s')
    line('codec', `size ${name}`, encoded.length / 1e6, 'MB', 'fp32 values', bytes / 1e6, 'MB')
  }
}
