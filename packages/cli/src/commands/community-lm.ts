/**
 * Communities of a causal language model in `community create --from-hf` and `community join --data <text folder>`:
 * the base read from a Hugging Face checkpoint folder (config.json, weights, tokenizer.json), the spec's context and
 * LoRA options with their defaults, and a volunteer's folder of .txt files checked before it is named in rounds.json.
 */
import { resolve } from 'node:path'
import { InvalidArgumentError } from 'commander'
import {
  FLOAT32_BYTES, LORA_MODULES, causalLmSourceCids, causalLmSourceFromFolder, expectedTensors, loadTextFolder, parseHfConfig,
  type CausalLmConfig, type CausalLmSource, type CausalLmSpec, type DataSpec
} from '@swarmtune/model'
import type { Community } from '@swarmtune/rounds'
import { CliError } from '../errors.js'

/** Default LoRA targets of a language-model community, by family (the attention's query and value projections, Hu et al. 2021 §7.1). */
export const LM_DEFAULT_TARGETS: Readonly<Record<'llama' | 'gpt2', readonly string[]>> = { llama: ['q_proj', 'v_proj'], gpt2: ['c_attn'] }
/** Default rank of a language-model community's adapters. */
export const LM_DEFAULT_RANK = 8
/** Default context: this many tokens, or the model's maximum positions when fewer. */
export const LM_DEFAULT_CONTEXT = 128

/** The `community create` flags a language-model community reads. */
export interface LmCreateFlags {
  fromHf?: string
  context?: number
  adapter?: 'lora' | 'none'
  rank?: number
  alpha?: number
  target?: string[]
}

/** The parsed config.json of a base (its bytes were checked when it was read). */
function configOf (source: CausalLmSource): CausalLmConfig {
  return parseHfConfig(JSON.parse(new TextDecoder().decode(source.config)), source.origin)
}

/**
 * The base and spec of `community create --from-hf <folder>`: the checkpoint read and checked, its tokenizer
 * required; context default min(128, max positions); LoRA (the only adapter) rank 8, α = 2 × rank, targets
 * `q_proj,v_proj` (Llama family) or `c_attn` (GPT-2); the frozen factors A seeded with `seed`.
 * @throws CliError `ERR_CLI_OPTION_NOT_APPLICABLE` for `--adapter none`; InvalidArgumentError for a context over the
 *   model's positions or a target that is not a projection of the family; HfCheckpointError for an unusable folder.
 */
export async function lmOf (f: LmCreateFlags, seed: number): Promise<{ source: CausalLmSource, spec: CausalLmSpec }> {
  if (f.adapter === 'none') throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', '--adapter none with --from-hf: a language-model community trains LoRA adapters on a frozen base (contributions carry only the adapters); leave --adapter out or pass --adapter lora')
  const source = await causalLmSourceFromFolder(resolve(f.fromHf as string))
  const config = configOf(source)
  const context = f.context ?? Math.min(LM_DEFAULT_CONTEXT, config.maxPositions)
  if (context > config.maxPositions) throw new InvalidArgumentError(`--context ${context} is longer than ${source.origin} takes (${config.maxPositions} positions, max_position_embeddings / n_positions): choose at most ${config.maxPositions}`)
  const known = LORA_MODULES[config.family]
  const targets = f.target ?? [...LM_DEFAULT_TARGETS[config.family]]
  const unknown = targets.filter((t) => !known.includes(t))
  if (unknown.length > 0) throw new InvalidArgumentError(`--target ${unknown.join(',')}: not ${unknown.length === 1 ? 'a projection' : 'projections'} of ${config.modelType}; its projections are ${known.join(', ')}`)
  const rank = f.rank ?? LM_DEFAULT_RANK
  return { source, spec: { kind: 'causal-lm', ...causalLmSourceCids(source), context, adapters: { kind: 'lora', rank, alpha: f.alpha ?? 2 * rank, targets, seed } } }
}

/** What `community create --from-hf` prints about the base and the contributions. */
export function lmBaseText (lm: { source: CausalLmSource, spec: CausalLmSpec }, contributionBytes: number): string {
  const baseBytes = lm.source.weights.length
  const config = configOf(lm.source)
  const params = [...expectedTensors(config).values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0)
  const a = lm.spec.adapters
  return `the base model's config.json (${lm.spec.config}), weights (${lm.spec.base}, ${baseBytes} bytes) and tokenizer.json (${lm.spec.tokenizer}) are in the blob store too: members fetch them from this node once\n` +
    `${config.modelType}, ${params} parameters; ${lm.spec.context}-token windows; LoRA r=${a.rank} α=${a.alpha} on ${a.targets.join(', ')}; a contribution carries ${contributionBytes} bytes at fp32, ` +
    `${(100 * contributionBytes / (FLOAT32_BYTES * params)).toPrecision(3)} % of the model's ${FLOAT32_BYTES * params} bytes at fp32\n`
}

/**
 * `community join --data <folder>` for a language-model community: a folder of UTF-8 .txt files, checked here (it
 * exists, holds .txt files that read as UTF-8 within the size limits); the community's tokenizer cuts it into
 * windows when the daemon trains.
 * @throws CliError `ERR_CLI_BAD_TRAINING_DATA` naming what is wrong and what to do
 */
export async function lmDataOf (path: string, joined: Community, limit: number | undefined): Promise<DataSpec> {
  await checkTextFolder(path, `--data ${path} cannot be used for community ${joined.name}, a language model`)
  return { source: 'text', path, ...(limit === undefined ? {} : { limit }) }
}

/**
 * `community create --eval-data <folder>`: the maintainer's held-out text, checked as a volunteer's.
 * @throws CliError `ERR_CLI_BAD_TRAINING_DATA`
 */
export async function lmEvalDataOf (path: string): Promise<DataSpec> {
  await checkTextFolder(path, `--eval-data ${path} cannot be used as held-out text`)
  return { source: 'text', path }
}

async function checkTextFolder (path: string, what: string): Promise<void> {
  try {
    // read and checked (files, UTF-8, sizes), not tokenized: the tokenizer is the community's, fetched by the daemon
    await loadTextFolder(path, { window: 2, encode: () => [], minExamples: 0 })
  } catch (err) {
    throw new CliError('ERR_CLI_BAD_TRAINING_DATA', `${what}: ${(err as Error).message}`, { cause: err })
  }
}
