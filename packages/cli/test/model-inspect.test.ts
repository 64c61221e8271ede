/**
 * `swarmtune model inspect`: the layers, totals, contribution size and per-backend missing kernels of the
 * MobileNetV2 of nsfwjs and of a tfjs folder, as the spec options shape them; every option checked.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ModelInspection } from '@swarmtune/model'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { saveSmallModel } from '@swarmtune/test-support/models'

let tmp: TempDir
beforeAll(async () => { tmp = await tempDir('swarmtune-model-inspect-') })
afterAll(async () => { await tmp.cleanup() })

async function inspect (...args: string[]): Promise<ModelInspection & { spec?: { head: { classes: number } } }> {
  const r = await runCli(['model', 'inspect', ...args, '--json'], { reject: 'failure' })
  return JSON.parse(r.stdout)
}

/** A refused command line: the stable code its error line prints (`(ERR_…)`) and that line. */
async function refused (...args: string[]): Promise<{ code?: string, stderr: string }> {
  const r = await runCli(['model', 'inspect', ...args])
  expect(r.exitCode).not.toBe(0)
  return { code: /\((ERR_[A-Z_]+)\)/.exec(r.stderr)?.[1], stderr: r.stderr }
}

describe('swarmtune model inspect', () => {
  it('MobileNetV2 as it is: 162 layers, 2,619,461 parameters; wasm runs it but cannot train its convolutions', async () => {
    const r = await inspect('mobilenet-v2')
    expect(r.layers).toHaveLength(162)
    expect(r.params).toBe(2_619_461)
    expect(r.spec).toBeUndefined()
    expect(r.layers.find((l) => l.name === 'dense_3')).toMatchObject({ className: 'Dense', outputShape: [5], params: 128 * 5 + 5 })
    const wasm = r.backends.find((b) => b.backend === 'wasm')!
    expect(wasm.available).toBe(true)
    expect(wasm.missingForInference).toEqual([])
    expect(wasm.missingForTraining).toContain('Conv2DBackpropFilter')
  }, 60_000)

  it('with a head and LoRA: the roles, the trained parameters, a contribution of 0.4 % of the model, trainable on wasm', async () => {
    const r = await inspect('mobilenet-v2', '--head', 'cat,dog,fox', '--adapter', 'lora', '--rank', '4', '--alpha', '8', '--target', 'dense_1,dense_2')
    expect(r.spec).toMatchObject({ features: 'flatten_1', head: { replace: 'dense_3', classes: 3, labels: ['cat', 'dog', 'fox'] }, adapters: { rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'] } })
    const role = (name: string): string | undefined => r.layers.find((l) => l.name === name)?.role
    expect([role('Conv1'), role('flatten_1'), role('dense_1'), role('dense_2'), role('dense_3')]).toEqual(['backbone', 'backbone', 'adapter', 'adapter', 'head'])
    const trained = 4 * 256 + 4 * 128 + 128 * 3 + 3
    expect(r.trainableParams).toBe(trained)
    expect(r.contributionBytes).toBe(4 * trained)
    expect(r.contributionBytes / r.modelBytes).toBeLessThan(0.01)
    expect(r.backends.find((b) => b.backend === 'wasm')?.missingForTraining).toEqual([])
  }, 60_000)

  it('prints the layers, totals, contribution and backends as text; --train trains a layer fully', async () => {
    const { stdout } = await runCli(['model', 'inspect', 'mobilenet-v2', '--head', '10', '--train', 'dense_2'], { reject: 'failure' })
    expect(stdout).toMatch(/^model {5}nsfwjs@4\.4\.0/)
    expect(stdout).toMatch(/\ndense_2 +Dense +\[128\] +32,896 +trainable\n/)
    expect(stdout).toMatch(/\ndense_3 +Dense +\[5\] +645 +head \(replaced: 10 outputs\)\n/)
    // as community create builds it: LoRA r=4 on dense_1 (B: 4 × 256), dense_2 fully, the new head
    expect(stdout).toContain(`162 layers, 2,619,461 parameters: ${(4 * 256 + 256 * 128 + 128 + 128 * 10 + 10).toLocaleString('en-US')} trained`)
    expect(stdout).toMatch(/LoRA r=4 α=8 on dense_1, trained fully: dense_2/)
    expect(stdout).toMatch(/contribution [\d,]+ bytes, [\d.]+ % of the full model's 10,477,844 bytes/)
    expect(stdout).toMatch(/\nwasm +yes +none +none\n/)
  }, 60_000)

  it('--train with glob patterns: MobileNetV2\'s last blocks after a cut at block_10_project_BN, trainable on cpu but not on wasm', async () => {
    const r = await inspect('mobilenet-v2', '--head', 'cat,dog,fox', '--features', 'block_10_project_BN', '--train', 'block_1[1-6]_*', '--train', 'Conv_1*')
    const train = (r.spec as { train?: string[] } | undefined)?.train ?? []
    // the 6 weighted layers of each of blocks 11–16 (expand, depthwise, project and their batch norms), Conv_1 and its batch norm
    expect(train).toHaveLength(6 * 6 + 2)
    expect(train.slice(0, 3)).toEqual(['block_11_expand', 'block_11_expand_BN', 'block_11_depthwise'])
    expect(train.at(-1)).toBe('Conv_1_bn')
    const role = (name: string): string | undefined => r.layers.find((l) => l.name === name)?.role
    expect([role('block_10_project_BN'), role('block_11_expand'), role('block_11_add'), role('Conv_1_bn'), role('dense_1'), role('dense_3')])
      .toEqual(['backbone', 'trainable', 'frozen', 'trainable', 'adapter', 'head'])
    expect(r.trainableParams).toBeGreaterThan(1_900_000)
    expect(r.backends.find((b) => b.backend === 'wasm')?.missingForTraining).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter']))
    expect(r.backends.find((b) => b.backend === 'cpu')?.missingForTraining).toEqual([])
    const none = await refused('mobilenet-v2', '--head', '3', '--train', 'block_9*')
    expect(none.code).toBe('ERR_CLI_BAD_OPTION_VALUE')
    expect(none.stderr).toMatch(/--train block_9\* matches no layer with weights after the feature cut flatten_1; those are dense_1, dense_2/)
  }, 60_000)

  it('inspects a tfjs model folder', async () => {
    const dir = join(tmp.path, 'small')
    await saveSmallModel(dir)
    const r = await inspect(dir, '--head', '4', '--features', 'hidden')
    expect(r.layers.map((l) => [l.name, l.role, l.params])).toEqual([['hidden', 'backbone', 35], ['out', 'head', 18]])
    expect(r.trainableParams).toBe(5 * 4 + 4)
  })

  it('checks every option, naming the known values', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['--adapter', 'qlora', '--target', 'dense_1'], 'ERR_CLI_BAD_OPTION_VALUE', /Allowed choices are lora/],
      [['--rank', '0', '--adapter', 'lora', '--target', 'dense_1'], 'ERR_CLI_BAD_OPTION_VALUE', /--rank must be an integer from 1 to 256/],
      [['--alpha', '-1', '--adapter', 'lora', '--target', 'dense_1'], 'ERR_CLI_BAD_OPTION_VALUE', /--alpha must be a number > 0/],
      [['--adapter', 'none', '--rank', '4'], 'ERR_CLI_OPTION_NOT_APPLICABLE', /apply to adapters: leave them out with --adapter none/],
      [['--head', '1'], 'ERR_CLI_BAD_OPTION_VALUE', /--head must be an integer from 2 to 1000/],
      [['--head', 'cat,cat'], 'ERR_CLI_BAD_OPTION_VALUE', /names a label twice/],
      [['--target', 'dense_1,'], 'ERR_CLI_BAD_OPTION_VALUE', /empty layer name/]
    ]
    for (const [args, code, message] of cases) {
      const e = await refused('mobilenet-v2', ...args)
      expect({ args, code: e.code }).toEqual({ args, code })
      expect(e.stderr).toMatch(message)
    }
    // a folder has no adapter defaults: the adapter options need --adapter lora and its --target
    const folder = join(tmp.path, 'small-options')
    await saveSmallModel(folder)
    for (const [args, message] of [[['--rank', '4'], /--rank applies to adapters only: add --adapter lora/], [['--adapter', 'lora'], /--adapter lora needs --target/]] as Array<[string[], RegExp]>) {
      const e = await refused(folder, ...args)
      expect({ args, code: e.code }).toEqual({ args, code: 'ERR_CLI_BAD_OPTION_VALUE' })
      expect(e.stderr).toMatch(message)
    }
    const missing = await refused(join(tmp.path, 'nowhere'))
    expect(missing.code).toBe('ERR_CLI_BAD_INPUT_FILE')
    expect(missing.stderr).toContain('built-in model (mobilenet-v2)')
    // a Hugging Face checkpoint folder is named as one, with the commands that read it
    const hf = await refused(fileURLToPath(new URL('../../model/test/fixtures/hf/llama-tiny', import.meta.url)))
    expect(hf).toMatchObject({ code: 'ERR_CLI_BAD_INPUT_FILE', stderr: expect.stringContaining('is a Hugging Face checkpoint folder (config.json, no model.json), not a tfjs layers-model folder: language models are read by `swarmtune model eval`') })
    // layers the spec names that do not fit: the message lists the layers that would
    const target = await refused('mobilenet-v2', '--adapter', 'lora', '--target', 'dense_9')
    expect(target.code).toBe('ERR_MODEL_SPEC_INVALID')
    expect(target.stderr).toContain('dense_1, dropout_2, dense_2')
    const features = await refused('mobilenet-v2', '--features', 'no_such_layer')
    expect(features.code).toBe('ERR_MODEL_SPEC_INVALID')
    expect(features.stderr).toContain('flatten_1')
  }, 60_000)
})
