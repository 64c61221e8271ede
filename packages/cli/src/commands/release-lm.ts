/**
 * `release export --format hf | peft` for a language-model community: the release's LoRA B merged into the base as a
 * Hugging Face folder (config.json, model.safetensors with HF names, tokenizer.json), or the adapter alone as a PEFT
 * folder (adapter_config.json, adapter_model.safetensors) for the community's base. The task is rebuilt from the
 * community's genesis spec and the base's three blobs, read from the running daemon or this folder's blob store.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  CAUSAL_LM_TASK_PREFIX, MAX_HF_CONFIG_BYTES, MAX_HF_WEIGHTS_FILE_BYTES, MAX_TOKENIZER_JSON_BYTES, createCausalLmTask, validateCausalLmSpec, writeHfCheckpoint,
  writePeftAdapter, type CausalLmSpec, type CausalLmTask, type Weights
} from '@swarmtune/model'
import type { ControlClient } from '@swarmtune/node'
import { roundsClient } from '@swarmtune/rounds'
import { parseCid } from '@swarmtune/wire'
import { CliError } from '../errors.js'
import { readBlobStore, storedCommunity, withStore } from '../store.js'

/** The formats of a language-model release export. */
export const LM_EXPORT_FORMATS = ['hf', 'peft'] as const

/** True for the task id of a language-model community (`causal-lm/<spec CID>`). */
export const isLmTask = (task: string): boolean => task.startsWith(CAUSAL_LM_TASK_PREFIX)

/** The community's causal-LM spec: from the running daemon's ledger, else this folder's ledger store. */
async function lmSpecOf (root: string, client: ControlClient | undefined): Promise<CausalLmSpec> {
  if (client === undefined) {
    const spec = await withStore(root, async (ledger) => (await storedCommunity(root, ledger)).lmSpec)
    if (spec === undefined) throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `the community of ${root} is not a language-model community: --format hf and peft export language-model releases; use tfjs or safetensors`)
    return spec
  }
  const community = await roundsClient(client).community()
  const genesis = await client.ledger.entry(String(community.id))
  return validateCausalLmSpec((genesis.body as { task?: { spec?: unknown } }).task?.spec)
}

/**
 * The community's causal-LM task, rebuilt here from its spec and the base's blobs (the daemon's, or this folder's
 * blob store when no daemon runs).
 * @throws CliError `ERR_CLI_NEEDS_DAEMON` when a blob of the base is not stored here and no daemon runs to fetch it;
 *   the model package's errors for blobs that do not make the spec's model.
 */
export async function lmTaskOf (root: string, client: ControlClient | undefined): Promise<CausalLmTask> {
  const spec = await lmSpecOf(root, client)
  const store = readBlobStore(root)
  const blob = async (cid: string, what: string, max: number): Promise<Uint8Array> => {
    if (client !== undefined) return await client.getBlob(cid)
    const c = parseCid(cid)
    if (!(await store.has(c))) {
      throw new CliError('ERR_CLI_NEEDS_DAEMON', `the base model's ${what} (${cid}) is not in ${store.root}, and no daemon runs on ${root} to fetch it: start it (\`swarmtune daemon -d ${root}\`) and run this command again`)
    }
    const { size } = await store.stat(c)
    if (size > max) throw new CliError('ERR_CLI_INPUT_TOO_LARGE', `the blob ${cid} in ${store.root} is ${size} bytes; the base's ${what} is at most ${max}`)
    return await store.get(c)
  }
  const source = {
    config: await blob(spec.config, 'config.json', MAX_HF_CONFIG_BYTES),
    weights: await blob(spec.base, 'weights', MAX_HF_WEIGHTS_FILE_BYTES),
    tokenizer: await blob(spec.tokenizer, 'tokenizer.json', MAX_TOKENIZER_JSON_BYTES),
    origin: `the base of the community of ${root}`
  }
  return await createCausalLmTask(spec, source)
}

/**
 * Writes a language-model release into the folder `out`: `hf`, the merged model (`task.mergedCheckpoint`) with the
 * base's config.json and tokenizer.json; `peft`, the adapter (`writePeftAdapter`).
 * @returns the files written, with their sizes in bytes
 * @throws HfCheckpointError ERR_MODEL_HF_EXPORT_FAILED as `writeHfCheckpoint`; fs errors.
 */
export async function exportLmRelease (task: CausalLmTask, weights: Weights, format: typeof LM_EXPORT_FORMATS[number], out: string, metadata: Record<string, string>): Promise<Array<{ file: string, bytes: number }>> {
  if (format === 'peft') return await writePeftAdapter(task.lora, weights, task.checkpoint.config, out)
  const files = await writeHfCheckpoint(task.mergedCheckpoint(weights), out, { metadata })
  await writeFile(join(out, 'tokenizer.json'), task.tokenizerJson)
  return [...files, { file: 'tokenizer.json', bytes: task.tokenizerJson.length }]
}
