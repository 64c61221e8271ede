/**
 * rounds benchmark: training rounds over the network, with a maintainer and four volunteers as `swarmtune
 * daemon` processes on 127.0.0.1 (scripts/lib/cluster.ts, the demo's set-up), each figure beside a reference
 * measured in the same run.
 *
 *   overhead: coordination overhead per round = round wall time (round-open → round-close entry) − the
 *         slowest accepted contributor's training time, beside that training time; goal ≤ 5 %. Its parts on
 *         the critical path (medians over the rounds, from the daemons' events) show where it goes.
 *         A last round of 8 local epochs shows how the fixed part of the overhead amortises.
 *   bytes: encoded delta bytes per contributor per round for fp32, fp16, int8 and topk-int8 (fraction 0.1),
 *         beside fp32.
 *   accuracy: test accuracy per round of the networked run (fp32 rounds) beside `swarmtune simulate` with the
 *         same settings (K = 4 volunteers, C = 1, E = 1, B = 50, η = 0.1, Dirichlet α = 0.5 over the first
 *         20,000 MNIST training examples, seed 1 for the partition and the initial weights, FedAvg, 10,000
 *         test examples); goal within 1 point. Batch order and float summation differ between the two, the
 *         data, initial weights and merge rule do not.
 * Run: `npm run bench -- rounds`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RoundDetail, RoundParamsInit } from '@swarmtune/rounds'
import { assertNodeVersion, swarmtune } from '../lib/cli.js'
import { Cluster, type EventLog } from '../lib/cluster.js'
import { ScriptError } from '../lib/errors.js'
import { Supervisor } from '../lib/processes.js'
import { formatBytes, median, roundRow, type RoundRow } from '../lib/report.js'
import { OVERHEAD_PARTS, overheadParts, type OverheadParts } from '../lib/timing.js'

const VOLUNTEERS = 4
const SEED = 1
const ALPHA = 0.5
const TRAIN_EXAMPLES = 20_000
const TEST_EXAMPLES = 10_000
const ACCURACY_ROUNDS = 8
/** Local epochs of the last round, long enough to show how the fixed part of the overhead amortises. */
const LONG_ROUND_EPOCHS = 8
const TRAIN = { epochs: 1, batchSize: 50, learningRate: 0.1 }
const TOPK_FRACTION = 0.1
const CODECS: Array<{ label: string, codec: NonNullable<RoundParamsInit['codec']> }> = [
  { label: 'fp16', codec: { codec: 'fp16' } },
  { label: 'int8', codec: { codec: 'int8' } },
  { label: `topk-int8 (fraction ${TOPK_FRACTION})`, codec: { codec: 'topk-int8', fraction: TOPK_FRACTION } }
]

function line (area: string, figure: string, value: string, ref: string, refValue: string, ratio: number, goal?: string): void {
  process.stdout.write(`${area}: ${figure} = ${value}  (vs ${ref} = ${refValue}, ratio ${ratio.toFixed(2)}${goal === undefined ? '' : `; goal ${goal}`})\n`)
}

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const pct = (x: number): string => `${(100 * x).toFixed(2)} %`

/** Round → accuracy from a `swarmtune simulate --csv` file. */
async function simulatedAccuracy (csv: string): Promise<Map<number, { accuracy: number, uploadBytes: number }>> {
  const [header, ...lines] = (await readFile(csv, 'utf8')).trim().split('\n')
  const cols = header.split(',')
  const col = (name: string): number => {
    const i = cols.indexOf(name)
    if (i < 0) throw new ScriptError('ERR_SCRIPT_COMMAND_FAILED', `the CSV of swarmtune simulate has no column ${name}: ${header}`)
    return i
  }
  const out = new Map<number, { accuracy: number, uploadBytes: number }>()
  for (const l of lines) {
    const cells = l.split(',')
    out.set(Number(cells[col('round')]), { accuracy: Number(cells[col('accuracy')]), uploadBytes: Number(cells[col('upload_bytes')]) })
  }
  return out
}

async function main (): Promise<void> {
  assertNodeVersion()
  const started = performance.now()
  process.stdout.write(`machine: ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}; ${VOLUNTEERS} volunteers + a maintainer as processes; ` +
    `mnist-2nn, E=${TRAIN.epochs} B=${TRAIN.batchSize} lr=${TRAIN.learningRate}, Dirichlet α=${ALPHA} over the first ${TRAIN_EXAMPLES} MNIST training examples, seed ${SEED}\n`)
  const supervisor = new Supervisor()
  const cluster = await Cluster.create(supervisor, {
    volunteers: VOLUNTEERS, partition: 'dirichlet', alpha: ALPHA, seed: SEED, trainExamples: TRAIN_EXAMPLES, evalExamples: TEST_EXAMPLES, prefix: 'swarmtune-bench-rounds-'
  })
  const simDir = await mkdtemp(join(tmpdir(), 'swarmtune-bench-sim-'))
  const logs: EventLog[] = []
  try {
    await cluster.start()
    const mLog = cluster.events(cluster.maintainer, ['rounds:'])
    const vLogs = cluster.volunteers.map((v) => cluster.events(v, ['rounds:train:start', 'rounds:contributed']))
    logs.push(mLog, ...vLogs)
    const durationMs = 300_000

    const fp32: RoundRow[] = []
    const parts: OverheadParts[] = []
    const record = (r: RoundDetail): RoundRow => {
      const p = overheadParts(r, mLog.events, vLogs.map((l) => l.events))
      if (p !== undefined) parts.push(p)
      return roundRow(r)
    }
    for (let i = 0; i < ACCURACY_ROUNDS; i++) {
      const r = await cluster.runRound({ ...TRAIN, durationMs, quorum: VOLUNTEERS, codec: { codec: 'fp32' } })
      if (r.outcome !== 'released') throw new ScriptError('ERR_SCRIPT_ROUND_FAILED', `round ${r.round} closed with ${String(r.outcome)} (${r.reason ?? ''}); the benchmark needs every round released`)
      fp32.push(record(r))
    }
    const byCodec = new Map<string, RoundRow>()
    for (const c of CODECS) {
      const r = await cluster.runRound({ ...TRAIN, durationMs, quorum: VOLUNTEERS, codec: c.codec })
      byCodec.set(c.label, record(r))
    }
    const long = record(await cluster.runRound({ ...TRAIN, epochs: LONG_ROUND_EPOCHS, durationMs, quorum: VOLUNTEERS, codec: { codec: 'fp32' } }))
    for (const l of logs) l.close()
    await cluster.stop()

    // the simulation runs after the daemons stopped, so neither slows the other
    const csv = join(simDir, 'simulate.csv')
    await swarmtune(supervisor, [
      'simulate', '-K', String(VOLUNTEERS), '-C', '1', '-E', String(TRAIN.epochs), '-B', String(TRAIN.batchSize), '--lr', String(TRAIN.learningRate),
      '--partition', 'dirichlet', '--alpha', String(ALPHA), '--seed', String(SEED), '--train-examples', String(TRAIN_EXAMPLES),
      '--test-examples', String(TEST_EXAMPLES), '--rounds', String(ACCURACY_ROUNDS), '--codec', 'fp32', '--csv', csv
    ])
    const simulated = await simulatedAccuracy(csv)

    const all = [...fp32, ...byCodec.values()]
    for (const r of [...all, long]) {
      if (r.overheadMs === undefined || r.slowestTrainMs === undefined || r.wallMs === undefined) continue
      const what = r === long ? `${LONG_ROUND_EPOCHS} local epochs` : `${TRAIN.epochs} local epoch`
      line('rounds', `coordination overhead, round ${r.round} (${what}, wall ${s(r.wallMs)})`, s(r.overheadMs), 'slowest contributor\'s training', s(r.slowestTrainMs), r.overheadMs / r.slowestTrainMs, '≤ 0.05')
    }
    const trainMedian = median(all.map((r) => r.slowestTrainMs ?? 0))
    if (parts.length > 0) {
      for (const [k, name] of Object.entries(OVERHEAD_PARTS) as Array<[keyof OverheadParts, string]>) {
        const m = median(parts.map((p) => p[k]))
        line('rounds', `overhead part, ${name} (median of ${parts.length} rounds)`, s(m), 'median slowest training', s(trainMedian), m / trainMedian)
      }
    }

    const base = median(fp32.map((r) => r.bytesPerContributor))
    line('rounds', 'delta bytes per contributor per round, fp32', formatBytes(base), 'mnist-2nn parameters × 4 bytes', formatBytes(199_210 * 4), base / (199_210 * 4))
    for (const [label, r] of byCodec) line('rounds', `delta bytes per contributor per round, ${label}`, formatBytes(r.bytesPerContributor), 'fp32', formatBytes(base), r.bytesPerContributor / base)

    for (const r of fp32) {
      const sim = simulated.get(r.round)
      if (sim === undefined || r.accuracy === undefined) continue
      const diff = 100 * (r.accuracy - sim.accuracy)
      line('rounds', `test accuracy after round ${r.round}, networked`, pct(r.accuracy), 'swarmtune simulate, same settings', pct(sim.accuracy), r.accuracy / sim.accuracy,
        `within 1 point; difference ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} points`)
    }
    const diffs = fp32.flatMap((r) => {
      const sim = simulated.get(r.round)
      return sim === undefined || r.accuracy === undefined ? [] : [{ net: r.accuracy, sim: sim.accuracy }]
    })
    if (diffs.length > 0) {
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
      const net = mean(diffs.map((d) => d.net))
      const sim = mean(diffs.map((d) => d.sim))
      line('rounds', `mean test accuracy over rounds 1–${diffs.length}, networked`, pct(net), 'swarmtune simulate', pct(sim), net / sim,
        `within 1 point; difference ${(100 * (net - sim)).toFixed(2)} points, mean |difference| per round ${(100 * mean(diffs.map((d) => Math.abs(d.net - d.sim)))).toFixed(2)} points`)
    }
    const simBytes = simulated.get(1)?.uploadBytes
    if (simBytes !== undefined) line('rounds', 'fp32 delta bytes per round, networked (4 contributors)', formatBytes(fp32[0].bytes), 'swarmtune simulate', formatBytes(simBytes), fp32[0].bytes / simBytes)
    process.stdout.write(`rounds: benchmark took ${s(performance.now() - started)}\n`)
  } finally {
    for (const l of logs) l.close()
    await cluster.stop()
    supervisor.dispose()
    await cluster.remove()
    await rm(simDir, { recursive: true, force: true })
  }
}

await main()
