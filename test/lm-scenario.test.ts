/**
 * The language-model scenario's library (scripts/lib/lm-scenario.ts): the corpora, the base made from seeded weights
 * on Moby-Dick (a Hugging Face folder the model package reads, cached by its options), and the volunteers' State of
 * the Union folders with a held-out folder none of them gets.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCausalLm, evaluateCausalLm, loadHfTokenizer, probeBackendStatus, readHfCheckpoint, tf } from '@swarmtune/model'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import {
  LM_BASE_RECORD, SOTU_PERIODS, isHeldOutChapter, makeLmBase, mobyDickChapters, mobyDickText, sotuAddresses, writeVolunteerTexts
} from '../scripts/lib/lm-scenario.js'

/** A base small enough for a test: what is checked is the folder, the cache and the reading back. */
const TINY = { seed: 3, hidden: 16, layers: 1, heads: 4, kvHeads: 2, intermediate: 32, context: 32, merges: 16, steps: 4, batch: 2, heldOutTokens: 256 }

let tmp: TempDir
beforeAll(async () => {
  tmp = await tempDir('swarmtune-lm-scenario-')
  // the backend the scenario's daemons train LoRA on
  await probeBackendStatus()
  await tf.setBackend('wasm')
})
afterAll(async () => { await tmp.cleanup() })

describe('corpora', () => {
  it('Moby-Dick: 135 numbered chapters; State of the Union: by years and by president, in year order', () => {
    const chapters = mobyDickChapters()
    expect(chapters.filter((c) => /^\d+$/.test(c.chapter))).toHaveLength(135)
    expect(mobyDickText().startsWith('Call me Ishmael.')).toBe(true)
    expect(chapters.filter((c) => isHeldOutChapter(c.chapter)).map((c) => c.chapter)).toEqual(['10', '20', '30', '40', '50', '60', '70', '80', '90', '100', '110', '120', '130'])
    const lincoln = sotuAddresses({ names: ['Abraham Lincoln'] })
    expect(lincoln.map((a) => a.year)).toEqual([1861, 1862, 1863, 1864])
    const founders = sotuAddresses({ years: [1790, 1800] })
    expect(founders[0]).toMatchObject({ year: 1790, name: 'George Washington' })
    expect(founders.every((a, i) => a.year >= 1790 && a.year <= 1800 && (i === 0 || a.year >= founders[i - 1].year))).toBe(true)
    expect(sotuAddresses({ names: ['Abraham Lincoln'], years: [1863, 1870] }).map((a) => a.year)).toEqual([1863, 1864])
  })
})

describe('makeLmBase', () => {
  it('writes a LlamaForCausalLM folder with its tokenizer, says it is not a published model, and reuses it for the same options', async () => {
    const lines: string[] = []
    const base = await makeLmBase({ ...TINY, dir: tmp.path, log: (l) => lines.push(l) })
    expect(base.cached).toBe(false)
    expect(base.dir).toBe(join(tmp.path, `lm-base-${base.key}`))
    expect((await readdir(base.dir)).sort()).toEqual(['config.json', LM_BASE_RECORD, 'model.safetensors', 'tokenizer.json'])
    const config = JSON.parse(await readFile(join(base.dir, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(config).toMatchObject({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 16, num_hidden_layers: 1, num_key_value_heads: 2, vocab_size: 256 + 16 })
    const record = JSON.parse(await readFile(join(base.dir, LM_BASE_RECORD), 'utf8')) as { notice: string }
    expect(record.notice).toMatch(/^Not a published model/)
    expect(lines.some((l) => /held-out Moby-Dick perplexity/.test(l))).toBe(true)
    expect(base.heldOutPerplexity).toBeLessThan(base.initialPerplexity)
    // the folder is what the model package reads: its tokenizer, its checkpoint, the perplexity recorded
    const tok = await loadHfTokenizer(base.dir)
    const ids = tok.encode(mobyDickChapters().find((c) => c.chapter === '10')!.text).slice(0, 256)
    const lm = createCausalLm(await readHfCheckpoint(base.dir))
    try {
      expect(evaluateCausalLm(lm, ids).perplexity).toBeCloseTo(base.heldOutPerplexity, 3)
    } finally {
      lm.dispose()
    }
    const modified = (await stat(join(base.dir, 'model.safetensors'))).mtimeMs
    const again = await makeLmBase({ ...TINY, dir: tmp.path })
    expect(again).toMatchObject({ cached: true, key: base.key, dir: base.dir, heldOutPerplexity: base.heldOutPerplexity })
    expect((await stat(join(base.dir, 'model.safetensors'))).mtimeMs).toBe(modified)
    const other = await makeLmBase({ ...TINY, dir: tmp.path, seed: 4, steps: 1 })
    expect(other.key).not.toBe(base.key)
  }, 120_000)
})

describe('writeVolunteerTexts', () => {
  it('one folder per volunteer from its own period; the held-out addresses are in no volunteer\'s folder', async () => {
    const dir = join(tmp.path, 'texts')
    const r = await writeVolunteerTexts(dir, 4, { bytesPerVolunteer: 20_000, heldOutBytesPerPeriod: 3_000 })
    expect(r.volunteers.map((v) => v.period)).toEqual(SOTU_PERIODS.slice(0, 4).map((p) => p.label))
    const heldOut = await readdir(r.heldOut)
    expect(r.heldOutBytes).toBeLessThanOrEqual(4 * 3_000)
    for (const [i, v] of r.volunteers.entries()) {
      const files = (await readdir(v.dir)).sort()
      expect(files).toEqual(v.addresses.map((a) => `${a}.txt`).sort())
      expect(v.bytes).toBeGreaterThan(15_000)
      expect(v.bytes).toBeLessThanOrEqual(20_000)
      const years = files.map((f) => Number(f.slice(0, 4)))
      expect(years.every((y) => y >= SOTU_PERIODS[i].years[0] && y <= SOTU_PERIODS[i].years[1])).toBe(true)
      expect(files.filter((f) => heldOut.includes(f))).toEqual([])
      // the held-out folder has text of this period too
      expect(heldOut.some((f) => Number(f.slice(0, 4)) >= SOTU_PERIODS[i].years[0] && Number(f.slice(0, 4)) <= SOTU_PERIODS[i].years[1])).toBe(true)
    }
    await expect(writeVolunteerTexts(dir, 0)).rejects.toThrow(/one per volunteer/)
    await expect(writeVolunteerTexts(dir, SOTU_PERIODS.length + 1)).rejects.toThrow(/one per volunteer/)
  })
})
