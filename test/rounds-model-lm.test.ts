/**
 * A community of a causal language model, end to end with real daemons on 127.0.0.1: a Hugging Face Llama folder
 * (seeded random weights, a character-level tokenizer.json) and volunteers' folders of .txt files.
 *
 * - the maintainer creates it with `community create --from-hf <folder> --context 32 --eval-data <text folder>`:
 *   config.json, the weights and tokenizer.json go into its blob store, the genesis release is the LoRA B factors only
 *   (zeros), its rounds.json names the held-out text;
 * - two volunteers on fresh folders join with `community join --data <their text folder>`, fetch the base from the
 *   maintainer through the blob exchange and train adapters only;
 * - rounds release; each release records loss and perplexity on the maintainer's held-out text, which fall round
 *   over round; a contribution is a small fraction of the model's bytes; `release verify` recomputes the release
 *   bit for bit; `round list` shows perplexity.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCid } from '@swarmtune/wire'
import { createRng } from '@swarmtune/model'
import { Cleanups, tempDir, testSeed, type TempDir } from '@swarmtune/test-support'
import { testDataDir } from '@swarmtune/test-support/daemons'
import { writeTinyLlama } from '@swarmtune/test-support/models'
import { connectedTo, eventOf, ready, startRoundsNode, type RoundsNode } from '@swarmtune/test-support/rounds'
import { cliJson, runCli } from '@swarmtune/test-support/cli'

const WORDS = ['the', 'whale', 'sea', 'ship', 'captain', 'sailed', 'over', 'a', 'white', 'storm', 'and', 'night', 'crew', 'harpoon', 'deck']

/** Seeded sentences over a small vocabulary, written as .txt files in `dir` (each cut to a multiple of `multiple` characters). */
async function writeText (dir: string, seed: number, files: number, sentences: number, multiple = 1): Promise<void> {
  const rng = createRng(seed)
  await mkdir(dir, { recursive: true })
  for (let f = 0; f < files; f++) {
    const out: string[] = []
    for (let i = 0; i < sentences; i++) out.push(Array.from({ length: 4 + Math.floor(rng.float() * 5) }, () => WORDS[Math.floor(rng.float() * WORDS.length)]).join(' ') + '.')
    const text = out.join(' ') + '\n'
    await writeFile(join(dir, `part-${f}.txt`), text.slice(0, text.length - (text.length % multiple)))
  }
}

describe('a community of a causal language model (Llama, LoRA) over the network', () => {
  const cleanups = new Cleanups()
  const seed = testSeed('lm community')
  let tmp: TempDir
  let m: RoundsNode
  let created: Record<string, unknown>
  let genesis: string
  let mdir: string
  let lastLoss = NaN

  beforeAll(async () => {
    tmp = await tempDir('swarmtune-lm-community-')
    cleanups.push(async () => { await tmp.cleanup() })
    await writeTinyLlama(join(tmp.path, 'base'), { seed })
    for (const [name, s] of [['a', 1], ['b', 2]] as const) await writeText(join(tmp.path, 'text', name), seed + s, 2, 80)
    // the held-out text: one file of whole 32-token windows (one token per character), so that evaluating the file
    // as one sequence in windows of 32 reads exactly the windows the coordinator evaluates
    await writeText(join(tmp.path, 'text', 'eval'), seed + 3, 1, 120, 32)
    mdir = join(tmp.path, 'maintainer')
    await testDataDir(mdir)
    created = await cliJson(['community', 'create', '-d', mdir, '--from-hf', join(tmp.path, 'base'), '--context', '32', '--rank', '4', '--target', 'q_proj,v_proj,up_proj', '--eval-data', join(tmp.path, 'text', 'eval')])
    genesis = String(created.file)
    m = await startRoundsNode({ dir: mdir, genesis })
    cleanups.push(async () => { await m.destroy() })
  }, 120_000)

  afterAll(async () => { await cleanups.run() })

  it('create: the genesis names the causal-LM task and its spec; the base\'s three blobs are in the maintainer\'s store', async () => {
    const lm = created.lm as { spec: { config: string, base: string, tokenizer: string, context: number, adapters: { rank: number, alpha: number, targets: string[] } }, weightsBytes: number }
    expect(String(created.task)).toMatch(/^causal-lm\/bafkrei/)
    expect(lm.spec).toMatchObject({ context: 32, adapters: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'up_proj'] } })
    // LoRA B of 2 layers: q [4, 32], v [4, 16], up [4, 64], float32
    expect(created.bytes).toBe(4 * 2 * 4 * (32 + 16 + 64))
    for (const cid of [lm.spec.config, lm.spec.base, lm.spec.tokenizer]) expect(await m.daemon.blobs.has(parseCid(cid))).toBe(true)
    expect(JSON.parse(await readFile(join(mdir, 'rounds.json'), 'utf8')).coordinator.evalData).toEqual({ source: 'text', path: join(tmp.path, 'text', 'eval') })
    expect(m.rounds.community?.lmSpec?.base).toBe(lm.spec.base)
  })

  it('volunteers join with --data <text folder>, fetch the base, train adapters; perplexity falls round over round; releases verify', async () => {
    const spec = (created.lm as { spec: { base: string } }).spec
    const volunteers: RoundsNode[] = []
    for (const name of ['a', 'b']) {
      const vdir = join(tmp.path, `volunteer-${name}`)
      await testDataDir(vdir, { bootstrap: [m.daemon.addresses()[0]] })
      const joined = await cliJson(['community', 'join', genesis, '-d', vdir, '--data', join(tmp.path, 'text', name)])
      expect(joined.volunteer).toMatchObject({ data: { source: 'text', path: join(tmp.path, 'text', name) } })
      const v = await startRoundsNode({ dir: vdir })
      cleanups.push(async () => { await v.destroy() })
      volunteers.push(v)
    }
    for (const v of volunteers) {
      const task = await eventOf(v, 'rounds:task', () => true, 120_000)
      expect(task).toMatchObject({ task: created.task, weights: { cid: spec.base, fetched: true } })
    }
    await connectedTo(m, volunteers)
    await ready([m, ...volunteers])

    const perplexities: number[] = []
    for (let r = 0; r < 2; r++) {
      const opened = await m.rounds.startRound({ steps: 12, batchSize: 8, learningRate: 0.02, durationMs: 180_000 })
      const closed = await m.rounds.waitClosed(opened.round, { timeoutMs: 240_000 })
      expect(closed.outcome).toBe('released')
      expect(closed.counts.accepted).toBe(2)
      const release = await eventOf(m, 'rounds:release', (e) => e.round === opened.round)
      expect(release.accuracy).toBeUndefined()
      expect(Number(release.perplexity)).toBeCloseTo(Math.exp(Number(release.loss)), 6)
      perplexities.push(Number(release.perplexity))
      const contributed = await eventOf(volunteers[0], 'rounds:contributed', (e) => e.round === opened.round)
      expect(Number(contributed.lossAfter)).toBeLessThan(Number(contributed.lossBefore))
      expect(Number(contributed.blobBytes)).toBeLessThan(0.05 * Number(contributed.modelBytes))
      console.log(`round ${opened.round}: held-out loss ${Number(release.loss).toFixed(4)} nats/token, perplexity ${Number(release.perplexity).toFixed(3)}; ` +
        `volunteer a's local loss ${Number(contributed.lossBefore).toFixed(4)} → ${Number(contributed.lossAfter).toFixed(4)}; contribution ${String(contributed.blobBytes)} of the model's ${String(contributed.modelBytes)} bytes`)
    }
    expect(perplexities[1]).toBeLessThan(perplexities[0])

    const report = await m.rounds.verifyRelease('latest')
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    const list = await runCli(['round', 'list', '-d', mdir], { reject: 'failure' })
    expect(list.stdout).toContain('perplexity')
    expect(list.stdout).toContain(perplexities[1].toFixed(3))
    lastLoss = Number((await eventOf(m, 'rounds:release', (e) => e.round === 2)).loss)
  }, 600_000)

  it('bad input: --eval-data without --from-hf, a volunteer\'s folder without .txt files, IDX options for a language model', async () => {
    const other = join(tmp.path, 'other')
    await testDataDir(other)
    const noLm = await runCli(['community', 'create', '-d', other, '--task', 'mnist-2nn', '--eval-data', join(tmp.path, 'text', 'eval')])
    expect(noLm.error?.code).toBe('ERR_CLI_OPTION_NOT_APPLICABLE')
    await mkdir(join(tmp.path, 'empty'), { recursive: true })
    const empty = await runCli(['community', 'join', genesis, '-d', other, '--data', join(tmp.path, 'empty')])
    expect(empty.error?.code).toBe('ERR_CLI_BAD_TRAINING_DATA')
    expect(empty.stderr).toContain('no .txt file')
    const idx = await runCli(['community', 'join', genesis, '-d', other, '--mnist'])
    expect(idx.error?.code).toBe('ERR_CLI_OPTION_NOT_APPLICABLE')
    const context = await runCli(['community', 'create', '-d', other, '--from-hf', join(tmp.path, 'base'), '--context', '500'])
    expect(context.error?.code).toBe('commander.invalidArgument')
    expect(context.stderr).toContain('choose at most 128')
  })

  it('release export --format hf and --format peft: re-imported, each gives the release\'s held-out loss', async () => {
    const text = join(tmp.path, 'text', 'eval', 'part-0.txt')
    const hf = join(tmp.path, 'export-hf')
    const peft = join(tmp.path, 'export-peft')
    const exported = await cliJson(['release', 'export', 'latest', '-d', mdir, '--format', 'hf', '-o', hf])
    expect(exported).toMatchObject({ round: 2, format: 'hf' })
    await cliJson(['release', 'export', 'latest', '-d', mdir, '--format', 'peft', '-o', peft])
    const merged = await cliJson(['model', 'eval', hf, '--text', text, '--window', '32'])
    const adapted = await cliJson(['model', 'eval', join(tmp.path, 'base'), '--adapter', peft, '--text', text, '--window', '32'])
    console.log(`release 2 held-out loss ${lastLoss.toFixed(6)}; exported HF folder ${Number(merged.loss).toFixed(6)}, base + PEFT adapter ${Number(adapted.loss).toFixed(6)} nats/token`)
    expect(Math.abs(Number(merged.loss) - lastLoss)).toBeLessThan(1e-4)
    expect(Math.abs(Number(adapted.loss) - lastLoss)).toBeLessThan(1e-4)
    const refused = await runCli(['release', 'export', 'latest', '-d', mdir, '--format', 'tfjs', '-o', join(tmp.path, 'export-tfjs')])
    expect(refused.error?.code).toBe('ERR_CLI_OPTION_NOT_APPLICABLE')
  }, 120_000)
})
