/**
 * `community create --from-tfjs` (a community of a pretrained model: the spec its options describe, the MobileNetV2
 * defaults) and `community join --data` (an image folder or a CSV file as a volunteer's data, written to
 * rounds.json); every option checked, with the known values in the error.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tf, tfjsFolderHandler, writeImageFolder } from '@swarmtune/model'
import { runCli } from '@swarmtune/test-support/cli'
import { testDataDir } from '@swarmtune/test-support/daemons'
import { tempDir, type TempDir } from '@swarmtune/test-support'

let tmp: TempDir
let n = 0
beforeAll(async () => { tmp = await tempDir('swarmtune-community-model-') })
afterAll(async () => { await tmp.cleanup() })

/** A fresh initialised data folder. */
async function folder (): Promise<string> {
  const dir = join(tmp.path, `d${n++}`)
  await testDataDir(dir)
  return dir
}

interface Created { file: string, task: string, bytes: number, model: { spec: { features: string, head: { replace: string, labels: string[] }, adapters?: { rank: number, alpha: number, targets: string[], seed: number }, train?: string[] }, contributionBytes: number, modelBytes: number } }

async function create (...args: string[]): Promise<Created> {
  const r = await runCli(['community', 'create', '-d', await folder(), ...args, '--json'], { reject: 'failure' })
  return JSON.parse(r.stdout) as Created
}

/** A refused command line: the stable code its error line prints (`(ERR_…)`) and that line. */
async function refused (...args: string[]): Promise<{ code?: string, stderr: string }> {
  const r = await runCli(args)
  expect(r.exitCode).not.toBe(0)
  return { code: /\((ERR_[A-Z_]+)\)/.exec(r.stderr)?.[1], stderr: r.stderr }
}

describe('swarmtune community create --from-tfjs', () => {
  it('mobilenet-v2 defaults: features flatten_1, head dense_3, LoRA r=4 α=8 on dense_1,dense_2; a contribution is 0.07 % of the model', async () => {
    const c = await create('--from-tfjs', 'mobilenet-v2', '--head', 'cat,dog,bird')
    expect(c.task).toMatch(/^layers-model\//)
    expect(c.file).toMatch(/mobilenet-v2\.genesis$/)
    expect(c.model.spec).toMatchObject({ features: 'flatten_1', head: { replace: 'dense_3', labels: ['cat', 'dog', 'bird'] }, adapters: { rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'], seed: 1 } })
    expect(c.bytes).toBe(c.model.contributionBytes)
    expect(c.model.contributionBytes / c.model.modelBytes).toBeLessThan(0.001)
  }, 60_000)

  it('the options change the spec: --rank (α = 2 r), --train leaves its layer out of the default targets, --adapter none, --seed seeds A', async () => {
    expect((await create('--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--rank', '8')).model.spec.adapters).toMatchObject({ rank: 8, alpha: 16 })
    const trained = (await create('--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--train', 'dense_2', '--seed', '5')).model.spec
    expect(trained).toMatchObject({ train: ['dense_2'], adapters: { targets: ['dense_1'], seed: 5 } })
    const none = await create('--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--adapter', 'none', '--name', 'heads-only')
    expect(none.model.spec.adapters).toBeUndefined()
    expect(none.file).toMatch(/heads-only\.genesis$/)
    expect(none.bytes).toBe(4 * (128 * 2 + 2))
  }, 60_000)

  it('a tfjs folder: the head replaces its last Dense layer, the cut is the layer before, no adapters unless asked', async () => {
    const dir = join(tmp.path, 'tiny-model')
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu', name: 'hidden' }), tf.layers.dense({ units: 5, name: 'out' })] })
    await model.save(tfjsFolderHandler(dir))
    model.dispose()
    const c = await create('--from-tfjs', dir, '--head', 'x,y')
    expect(c.file).toMatch(/tiny-model\.genesis$/)
    expect(c.model.spec).toMatchObject({ features: 'hidden', head: { replace: 'out', labels: ['x', 'y'] } })
    expect(c.model.spec.adapters).toBeUndefined()
    expect(c.bytes).toBe(4 * (8 * 2 + 2))
    expect(await refused('community', 'create', '-d', await folder(), '--from-tfjs', dir, '--head', 'x,y', '--adapter', 'lora')).toMatchObject({ code: 'ERR_CLI_BAD_OPTION_VALUE', stderr: expect.stringContaining('needs --target') })
  }, 60_000)

  it('refuses, with a code and the known values: no task, both tasks, model options without --from-tfjs, no --head, bad adapter options and layers', async () => {
    const d = await folder()
    const base = ['community', 'create', '-d', d]
    expect(await refused(...base)).toMatchObject({ code: 'ERR_CLI_MISSING_OPTION', stderr: expect.stringContaining('--from-tfjs') })
    expect((await refused(...base, '--task', 'mnist-2nn', '--from-tfjs', 'mobilenet-v2')).code).toBe('ERR_CLI_CONFLICTING_OPTIONS')
    expect(await refused(...base, '--task', 'mnist-2nn', '--head', 'a,b', '--rank', '4')).toMatchObject({ code: 'ERR_CLI_OPTION_NOT_APPLICABLE', stderr: expect.stringContaining('--head, --rank apply') })
    expect(await refused(...base, '--from-tfjs', 'mobilenet-v2')).toMatchObject({ code: 'ERR_CLI_OPTION_NOT_APPLICABLE', stderr: expect.stringContaining('needs --head') })
    expect(await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,a')).toMatchObject({ code: 'ERR_CLI_BAD_OPTION_VALUE', stderr: expect.stringContaining('distinct') })
    expect(await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,,b')).toMatchObject({ code: 'ERR_CLI_BAD_OPTION_VALUE' })
    expect(await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--adapter', 'dora')).toMatchObject({ code: 'ERR_CLI_BAD_OPTION_VALUE', stderr: expect.stringMatching(/lora, none/) })
    expect(await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--rank', '0')).toMatchObject({ code: 'ERR_CLI_BAD_OPTION_VALUE', stderr: expect.stringContaining('1 to 256') })
    expect((await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--adapter', 'none', '--rank', '2')).code).toBe('ERR_CLI_OPTION_NOT_APPLICABLE')
    expect(await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--target', 'Conv1')).toMatchObject({ code: 'ERR_MODEL_SPEC_INVALID', stderr: expect.stringContaining('dense_1') })
    expect((await refused(...base, '--from-tfjs', join(tmp.path, 'no-such-model'), '--head', 'a,b')).code).toBe('ERR_CLI_BAD_INPUT_FILE')
    expect((await refused(...base, '--from-tfjs', 'mobilenet-v2', '--head', 'a,b', '--from', tmp.path)).code).toBe('ERR_CLI_CONFLICTING_OPTIONS')
  }, 60_000)
})

describe('swarmtune community join --data', () => {
  let genesis: string
  let images: string

  beforeAll(async () => {
    genesis = (await create('--from-tfjs', 'mobilenet-v2', '--head', 'a,b,c')).file
    images = join(tmp.path, 'images')
    const px = new Float32Array(4 * 4 * 3).fill(0.5)
    await writeImageFolder({ images: new Float32Array([...px, ...px]), labels: new Uint8Array([0, 2]), count: 2, exampleShape: [4, 4, 3], classes: 3 }, images, { labels: ['a', 'b', 'c'] })
  }, 60_000)

  it('an image folder: rounds.json gets { source: images, path, labels: the community\'s }', async () => {
    const d = await folder()
    const r = await runCli(['community', 'join', genesis, '-d', d, '--data', images, '--limit', '10'], { reject: 'failure' })
    expect(r.stdout).toContain(`it trains on {"source":"images","path":"${images}"`)
    const config = JSON.parse(await readFile(join(d, 'rounds.json'), 'utf8')) as { volunteer: { data: unknown } }
    expect(config.volunteer.data).toEqual({ source: 'images', path: images, labels: ['a', 'b', 'c'], limit: 10 })
  })

  it('a CSV file with --label: rounds.json gets { source: csv, path, label, labels }', async () => {
    const csv = join(tmp.path, 'rows.csv')
    await writeFile(csv, 'x,y,kind\n1,2,a\n3,4,c\n')
    const d = await folder()
    await runCli(['community', 'join', genesis, '-d', d, '--data', csv, '--label', 'kind'], { reject: 'failure' })
    const config = JSON.parse(await readFile(join(d, 'rounds.json'), 'utf8')) as { volunteer: { data: unknown } }
    expect(config.volunteer.data).toEqual({ source: 'csv', path: csv, label: 'kind', labels: ['a', 'b', 'c'] })
  })

  it('refuses data that does not fit, naming the community\'s labels, and options that do not go together', async () => {
    const d = await folder()
    const join_ = ['community', 'join', genesis, '-d', d]
    const wrong = join(tmp.path, 'wrong')
    await mkdir(join(wrong, 'zebra'), { recursive: true })
    expect(await refused(...join_, '--data', wrong)).toMatchObject({ code: 'ERR_CLI_BAD_TRAINING_DATA', stderr: expect.stringMatching(/zebra.*\(a, b, c\)/) })
    expect((await refused(...join_, '--data', join(tmp.path, 'missing'))).code).toBe('ERR_CLI_BAD_INPUT_FILE')
    const csv = join(tmp.path, 'bad.csv')
    await writeFile(csv, 'x,kind\n1,zebra\n')
    expect(await refused(...join_, '--data', csv)).toMatchObject({ code: 'ERR_CLI_BAD_OPTION_VALUE', stderr: expect.stringContaining('--label <column>') })
    expect(await refused(...join_, '--data', csv, '--label', 'kind')).toMatchObject({ code: 'ERR_CLI_BAD_TRAINING_DATA', stderr: expect.stringContaining('zebra') })
    expect((await refused(...join_, '--data', images, '--label', 'kind')).code).toBe('ERR_CLI_BAD_OPTION_VALUE')
    expect((await refused(...join_, '--label', 'kind')).code).toBe('ERR_CLI_BAD_OPTION_VALUE')
    expect((await refused(...join_, '--data', images, '--mnist')).code).toBe('ERR_CLI_CONFLICTING_OPTIONS')
    expect(await refused(...join_, '--mnist')).toMatchObject({ code: 'ERR_CLI_OPTION_NOT_APPLICABLE', stderr: expect.stringContaining('--data <image folder | file.csv>') })
    await expect(readFile(join(d, 'rounds.json'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('refuses a training backend that does not load here, naming the available ones; an available one is written', async () => {
    const d = await folder()
    const r = await refused('community', 'join', genesis, '-d', d, '--data', images, '--backend', 'node-gpu')
    expect(r).toMatchObject({ code: 'ERR_MODEL_BACKEND_UNAVAILABLE', stderr: expect.stringMatching(/not installed.*Available here: (\w[\w-]*, )*wasm(, \w[\w-]*)*;.*Nothing was written/) })
    await expect(readFile(join(d, 'rounds.json'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' })
    await runCli(['community', 'join', genesis, '-d', d, '--data', images, '--backend', 'cpu'], { reject: 'failure' })
    expect((JSON.parse(await readFile(join(d, 'rounds.json'), 'utf8')) as { volunteer: { backend: string } }).volunteer.backend).toBe('cpu')
  })
})
