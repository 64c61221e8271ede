/**
 * A trial of the language-model scenario in one process, without daemons: makes (or reuses) the base of
 * `makeLmBase`, writes the volunteers' State of the Union folders, and runs federated rounds by hand — each
 * volunteer `trainLmLora` from the round's adapter (rank 8 on q, v, o, gate, up, down), the B factors averaged
 * weighted by tokens (FFA-LoRA's exact merge) — printing the held-out perplexity after each round.
 *
 *   node --import tsx scripts/lm-scenario-trial.ts [--cache dir] [--volunteers 4] [--rounds 3] [--steps 60] [--lr 0.01]
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createCausalLm, createLmLora, evaluateCausalLm, loadHfTokenizer, probeBackendStatus, readHfCheckpoint, tf, trainLmLora, type Weights } from '@swarmtune/model'
import { makeLmBase, writeVolunteerTexts } from './lib/lm-scenario.js'

const { values: flags } = parseArgs({
  options: {
    cache: { type: 'string', default: join(tmpdir(), 'swarmtune-lm-base') },
    volunteers: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '60' },
    lr: { type: 'string', default: '0.01' }
  }
})
const [volunteers, rounds, steps, lr] = [flags.volunteers, flags.rounds, flags.steps, flags.lr].map(Number)

await probeBackendStatus()
await tf.setBackend('wasm')
const base = await makeLmBase({ dir: flags.cache, seed: 1, log: console.log })
const texts = await mkdtemp(join(tmpdir(), 'swarmtune-lm-texts-'))
try {
  const written = await writeVolunteerTexts(texts, volunteers)
  const tok = await loadHfTokenizer(base.dir)
  const folder = async (d: string): Promise<number[]> => tok.encode((await Promise.all((await readdir(d)).sort().map(async (f) => await readFile(join(d, f), 'utf8')))).join('\n\n'))
  const data = await Promise.all(written.volunteers.map(async (v) => await folder(v.dir)))
  const heldOut = await folder(written.heldOut)
  console.log(`volunteers: ${written.volunteers.map((v, k) => `${v.period} (${data[k].length} tokens)`).join(', ')}; held out: ${heldOut.length} tokens`)
  const lm = createCausalLm(await readHfCheckpoint(base.dir))
  const lora = createLmLora(lm, { rank: 8, alpha: 16, targets: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], seed: 1 })
  const perplexity = (b: Weights): number => tf.tidy(() => evaluateCausalLm(lm, heldOut, { adapters: lora.adapters(b.values.map((v, i) => tf.tensor(v, b.specs[i].shape))) }).perplexity)
  let b = lora.initWeights()
  console.log(`round 0: held-out perplexity ${perplexity(b).toFixed(2)}`)
  const total = data.reduce((a, d) => a + d.length, 0)
  for (let r = 1; r <= rounds; r++) {
    const t0 = performance.now()
    const out = data.map((ids, k) => trainLmLora(lm, lora, b, ids, { steps, window: base.config.maxPositions, batch: 8, learningRate: lr, seed: r * 100 + k }))
    b = { specs: b.specs, values: b.values.map((v, i) => v.map((_, j) => out.reduce((a, o, k) => a + (o.weights.values[i][j] * data[k].length) / total, 0))) }
    console.log(`round ${r}: held-out perplexity ${perplexity(b).toFixed(2)} (${volunteers} × ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s)`)
  }
  lora.dispose()
  lm.dispose()
} finally {
  await rm(texts, { recursive: true, force: true })
}
