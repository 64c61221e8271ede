/**
 * A task made from a Hugging Face causal language model (hf/: GPT-2, Llama, Qwen2): LoRA on its projections
 * (Hu et al. 2021), A frozen at a seeded value and only B trained and shipped (FFA-LoRA, Sun et al. 2024), so that
 * FedAvg of B is the exact average of the adapted models (doc/model.md, "Adapters (LoRA)"). The base is frozen and
 * pinned by three CIDs in the spec: its `config.json` bytes, its weights blob (`encodeCheckpointWeights`: canonical
 * names, each tensor in its stored dtype, so a 16-bit base stays 16-bit on disk and on the wire) and its
 * `tokenizer.json` bytes. Examples are windows of `context` tokens of a volunteer's own text (`{ source: 'text' }`,
 * data/text-folder.ts); the loss is the mean next-token cross-entropy in nats per predicted token, the metrics
 * `loss` and `perplexity` = e^loss.
 */
import { blobCid } from '@swarmtune/wire'
import { z } from 'zod'
import { loraFactorA, loraScale } from '../adapters/lora.js'
import { CAUSAL_LM_KERNELS } from '../hf/causal-lm.js'
import type { CausalLm } from '../hf/causal-lm.js'
import { createCausalLm } from '../hf/causal-lm.js'
import { checkpointFromBlobs, encodeCheckpointWeights, expectedTensors, parseJson, readBounded, readHfCheckpoint, MAX_HF_CONFIG_BYTES, type HfCheckpoint } from '../hf/checkpoint.js'
import { adaptedModules, createLmLora, LORA_MODULES, mergeAdapterFactors, type LmLora } from '../hf/lm-lora.js'
import { createHfTokenizer, MAX_TOKENIZER_JSON_BYTES, type HfTokenizer } from '../hf/tokenizer.js'
import type { Dataset } from '../data/dataset.js'
import { head } from '../data/dataset.js'
import type { DataSpec } from '../data/source.js'
import { partitionDataset } from '../data/partition.js'
import { loadTextFolder } from '../data/text-folder.js'
import { HfCheckpointError, InvalidDataError, ModelSpecError } from '../errors.js'
import { canonicalJson } from '../layers/source.js'
import { tf } from '../tf.js'
import type { Weights, WeightSpec } from '../weights.js'
import { assertSameSpecs, paramCount, validateWeights } from '../weights.js'
import { cidString, MAX_LORA_RANK, MAX_NAME_CHARS } from './model-task-spec.js'
import type { SequenceObjective, Task } from './task.js'

/** Task ids of causal-LM tasks: `causal-lm/<CID of the spec's canonical JSON>`. */
export const CAUSAL_LM_TASK_PREFIX = 'causal-lm/'
/** Tokens per window evaluated at once (windows per evaluation batch = this / context, at least 1). */
export const LM_EVAL_BATCH_TOKENS = 4096
/** Longest context a causal-LM community may set, in tokens. */
export const MAX_LM_CONTEXT = 8192

/** A causal-LM task (see the module comment): plain data, pinned by a community's genesis. */
export interface CausalLmSpec {
  kind: 'causal-lm'
  /** CID (string) of the base's `config.json` bytes (canonical JSON, `causalLmSourceCids`). */
  config: string
  /** CID of the base's weights blob (`encodeCheckpointWeights`). */
  base: string
  /** CID of the base's `tokenizer.json` bytes. */
  tokenizer: string
  /** Tokens per training and evaluation window, 2 … the model's maximum positions. */
  context: number
  /** LoRA on the projections named (PEFT `target_modules`: `q_proj` … `down_proj`, or GPT-2's `c_attn`, `c_proj`, `c_fc`). */
  adapters: { kind: 'lora', rank: number, alpha: number, targets: string[], seed: number }
}

/** A causal-LM base as the blobs its spec's CIDs name, e.g. from `causalLmSourceFromFolder`. */
export interface CausalLmSource {
  config: Uint8Array
  weights: Uint8Array
  tokenizer: Uint8Array
  /** Where it comes from, for messages. */
  origin: string
}

const schema = z.strictObject({
  kind: z.literal('causal-lm'),
  config: cidString,
  base: cidString,
  tokenizer: cidString,
  context: z.number().int().min(2).max(MAX_LM_CONTEXT),
  adapters: z.strictObject({
    kind: z.literal('lora'),
    rank: z.number().int().min(1).max(MAX_LORA_RANK),
    alpha: z.number().finite().positive().max(1e5),
    targets: z.array(z.string().min(1).max(MAX_NAME_CHARS)).min(1).max(16).refine((xs) => new Set(xs).size === xs.length, 'targets repeat'),
    seed: z.number().int().refine(Number.isSafeInteger, 'not a safe integer')
  })
})

/**
 * Checks a causal-LM spec's form (not yet against its base, see `createCausalLmTask`) and returns a copy.
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID naming the first bad field and what it must be.
 */
export function validateCausalLmSpec (spec: unknown): CausalLmSpec {
  const r = schema.safeParse(spec)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `causal-LM spec field ${issue.path.length === 0 ? '(root)' : issue.path.join('.')} is invalid: ${issue.message}. ` +
      'A causal-LM spec is { kind: \'causal-lm\', config, base, tokenizer, context, adapters: { kind: \'lora\', rank, alpha, targets, seed } }')
  }
  return JSON.parse(JSON.stringify(r.data)) as CausalLmSpec
}

/** The CID of a causal-LM spec (of its canonical JSON); the task's id is `causal-lm/<this CID>`. */
export function causalLmSpecCid (spec: CausalLmSpec): string {
  return blobCid(new TextEncoder().encode(canonicalJson(validateCausalLmSpec(spec)))).toString()
}

/** The three CIDs of a base (as a spec names them). */
export function causalLmSourceCids (source: CausalLmSource): { config: string, base: string, tokenizer: string } {
  return { config: blobCid(source.config).toString(), base: blobCid(source.weights).toString(), tokenizer: blobCid(source.tokenizer).toString() }
}

/**
 * A Hugging Face checkpoint folder as a community's base: `config.json` re-encoded as canonical JSON (sorted keys),
 * the checked checkpoint's weights as one blob (`encodeCheckpointWeights`: shards joined, GPT-2's `transformer.`
 * prefix dropped, buffers such as attention masks left out, dtypes kept), `tokenizer.json` as it is.
 * @throws HfCheckpointError as `readHfCheckpoint`; ERR_MODEL_HF_CHECKPOINT_MALFORMED when tokenizer.json is missing
 *   or over `MAX_TOKENIZER_JSON_BYTES` (a community of a language model needs its tokenizer).
 */
export async function causalLmSourceFromFolder (dir: string): Promise<CausalLmSource> {
  const ckpt = await readHfCheckpoint(dir)
  const configPath = `${dir}/config.json`
  const configJson = parseJson(await readBounded(configPath, MAX_HF_CONFIG_BYTES, 'config.json'), configPath)
  const tokenizer = await readBounded(`${dir}/tokenizer.json`, MAX_TOKENIZER_JSON_BYTES, 'tokenizer.json (a language-model community needs its tokenizer)')
  return {
    config: new TextEncoder().encode(canonicalJson(configJson)),
    weights: encodeCheckpointWeights(ckpt),
    tokenizer: new Uint8Array(tokenizer.buffer, tokenizer.byteOffset, tokenizer.byteLength),
    origin: dir
  }
}

/** A task made from a causal LM. */
export interface CausalLmTask extends Task {
  readonly spec: CausalLmSpec
  readonly sequence: SequenceObjective
  /** The checked base (float32 values, stored dtypes); kept for merging and export. */
  readonly checkpoint: HfCheckpoint
  readonly tokenizer: HfTokenizer
  /** The base's `tokenizer.json` bytes (what the spec's `tokenizer` CID hashes), e.g. to write beside an export. */
  readonly tokenizerJson: Uint8Array
  /** Parameters of the base. */
  readonly baseParamCount: number
  /** The adapters as planned (spec, and per adapted projection its module, dimensions and frozen A), e.g. for `writePeftAdapter`. */
  readonly lora: Pick<LmLora, 'spec' | 'sites'>
  /**
   * The base with the adapters B of `weights` folded in (W + (α/r)·A·B per adapted projection, `mergeAdapterFactors`):
   * what a release is as a plain Hugging Face model.
   * @throws InvalidWeightsError when `weights` do not match `weightSpecs`.
   */
  mergedCheckpoint (weights: Weights): HfCheckpoint
  /** Frees the models built on each backend. */
  dispose (): void
}

/**
 * Makes a task of a causal LM's base and a spec, and checks that they fit: the blobs' CIDs are the spec's, the
 * weights are the config's (`checkpointFromBlobs`), the tokenizer builds, `context` is within the model's maximum
 * positions, the targets are projections of its family.
 *
 * Trained weights (`weightSpecs`), one per adapted projection in the model's order: `<module>.lora_B` `[rank, out]`
 * float32 (e.g. `model.layers.0.self_attn.q_proj.lora_B`); `initWeights` gives zeros (a fresh adapter leaves the base
 * unchanged). Examples: windows `[context]` of token ids; `classes` is the vocabulary (the output width);
 * `forward(params, x)` gives the logits `[batch, vocab]` of the token after each window. Training and evaluation go
 * through `sequence` (`CausalLm.adapterGradients`, `nextTokenLoss`). The task is not registered: pass it to
 * `registerTask`.
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID (malformed spec, context over the model's positions, a target that is
 *   not one of the family's projections), ERR_MODEL_BASE_MISMATCH (a blob is not the one the spec pins);
 *   HfCheckpointError, ModelFormatError as `checkpointFromBlobs` and `createHfTokenizer`.
 */
export async function createCausalLmTask (specInput: CausalLmSpec, source: CausalLmSource): Promise<CausalLmTask> {
  const spec = validateCausalLmSpec(specInput)
  const cids = causalLmSourceCids(source)
  for (const k of ['config', 'base', 'tokenizer'] as const) {
    if (cids[k] !== spec[k]) throw new ModelSpecError('ERR_MODEL_BASE_MISMATCH', `the causal-LM spec pins ${k} ${spec[k]}, but ${source.origin} has ${k} ${cids[k]}: use the community's base model (its genesis names all three CIDs)`)
  }
  const ckpt = checkpointFromBlobs(source.config, source.weights, source.origin)
  const c = ckpt.config
  if (spec.context > c.maxPositions) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `context ${spec.context} is longer than ${source.origin} takes (${c.maxPositions} positions): choose at most ${c.maxPositions}`)
  const known = LORA_MODULES[c.family]
  for (const t of spec.adapters.targets) if (!known.includes(t)) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `LoRA target ${t} is not a projection of ${c.modelType}; its projections are ${known.join(', ')}`)
  const tokenizer = createHfTokenizer(parseJson(Buffer.from(source.tokenizer.buffer, source.tokenizer.byteOffset, source.tokenizer.byteLength), `${source.origin} tokenizer.json`), undefined, `${source.origin} tokenizer.json`)
  const shapes = expectedTensors(c)
  const modules = adaptedModules(c, spec.adapters.targets)
  const { rank, alpha, seed } = spec.adapters
  // a projection's output width: nn.Linear weights are [out, in], GPT-2's Conv1D ones [in, out]
  const dims = modules.map((m) => {
    const [d0, d1] = shapes.get(`${m}.weight`)!
    return c.family === 'gpt2' ? { inDim: d0, outDim: d1 } : { inDim: d1, outDim: d0 }
  })
  const specs: WeightSpec[] = modules.map((m, i) => ({ name: `${m}.lora_B`, shape: [rank, dims[i].outDim], dtype: 'float32' }))
  const sites = modules.map((m, i) => ({ weight: `${m}.weight`, module: m, ...dims[i], a: loraFactorA(seed, m, dims[i].inDim, rank) }))
  const baseParamCount = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0)
  const id = `${CAUSAL_LM_TASK_PREFIX}${causalLmSpecCid(spec)}`
  const built = new Map<string, { lm: CausalLm, lora: LmLora }>()
  /** The model and adapters on the active backend, built on first use there. */
  const model = (): { lm: CausalLm, lora: LmLora } => {
    const backend = tf.getBackend()
    let m = built.get(backend)
    if (m === undefined) {
      const lm = createCausalLm(ckpt)
      const lora = createLmLora(lm, { rank, alpha, targets: spec.adapters.targets, seed })
      built.set(backend, m = { lm, lora })
    }
    return m
  }
  const adaptersOf = (params: readonly tf.Tensor[]): { lm: CausalLm, ad: ReturnType<LmLora['adapters']>, lora: LmLora } => {
    const { lm, lora } = model()
    return { lm, lora, ad: lora.adapters(params) }
  }
  const sequence: SequenceObjective = {
    evalBatch: Math.max(1, Math.floor(LM_EVAL_BATCH_TOKENS / spec.context)),
    gradients (params, ids) {
      const { lm, lora, ad } = adaptersOf(params)
      const { loss, grads } = lm.adapterGradients(ids, ad)
      return { loss, grads: lora.sites.map((s) => grads.get(s.weight)!) }
    },
    loss (params, ids) {
      const { lm, ad } = adaptersOf(params)
      return lm.nextTokenLoss(ids, ad)
    }
  }
  const forwardFlops = 2 * baseParamCount * spec.context
  const task: CausalLmTask = {
    id,
    title: `${c.modelType} causal LM (${c.layers} layers, hidden ${c.hidden}, vocabulary ${c.vocabSize}), LoRA r=${rank} on ${spec.adapters.targets.join(', ')}, ${spec.context}-token windows`,
    source: `${source.origin}; config ${spec.config}, base ${spec.base}, tokenizer ${spec.tokenizer}; LoRA: Hu et al. 2021, A frozen and seeded (FFA-LoRA, Sun et al. 2024)`,
    exampleShape: Object.freeze([spec.context]),
    inputShape: Object.freeze([spec.context]),
    classes: c.vocabSize,
    weightSpecs: Object.freeze(specs.map((s) => Object.freeze({ ...s, shape: Object.freeze([...s.shape]) as number[] }))),
    paramCount: paramCount(specs),
    loss: 'next-token-cross-entropy',
    metrics: ['loss', 'perplexity'],
    kernels: CAUSAL_LM_KERNELS,
    flopsPerExample: Object.freeze({ forward: forwardFlops, train: 3 * forwardFlops }),
    spec,
    sequence,
    checkpoint: ckpt,
    tokenizer,
    tokenizerJson: source.tokenizer,
    baseParamCount,
    buildModel () {
      throw new HfCheckpointError('ERR_MODEL_HF_UNSUPPORTED', `task ${id} is a causal language model, not a tfjs layers model: export its releases as a Hugging Face folder (swarmtune release export --format hf)`)
    },
    forward (params, x) {
      const { lm, ad } = adaptersOf(params)
      return tf.tidy(() => {
        const [n, t] = x.shape
        const logits = lm.logits(tf.cast(x, 'int32') as tf.Tensor2D, ad)
        return tf.reshape(tf.slice(logits, [0, t - 1, 0], [n, 1, c.vocabSize]), [n, c.vocabSize]) as tf.Tensor2D
      })
    },
    initWeights () {
      return { specs: specs.map((s) => ({ ...s, shape: [...s.shape] })), values: specs.map((s) => new Float32Array(s.shape[0] * s.shape[1])) }
    },
    async loadData (data: DataSpec): Promise<Dataset> {
      if (data.source !== 'text') throw new InvalidDataError(`task ${id} is a language model: it trains on text (a folder of .txt files, { source: 'text', path }), not on ${data.source} data`)
      let ds: Dataset = await loadTextFolder(data.path, { window: spec.context, encode: tokenizer.encode, minExamples: data.minExamples })
      if (data.limit !== undefined && ds.count > data.limit) ds = head(ds, data.limit)
      return data.partition === undefined ? ds : partitionDataset(ds, data.partition)
    },
    lora: { spec: { rank, alpha, targets: [...spec.adapters.targets], seed }, sites },
    mergedCheckpoint (weights) {
      validateWeights(weights)
      assertSameSpecs(specs, weights.specs, `weights for task ${id}`)
      return mergeAdapterFactors(ckpt, sites.map((site, i) => ({ ...site, b: weights.values[i] })), rank, loraScale(alpha, rank))
    },
    dispose () {
      for (const { lm, lora } of built.values()) {
        lora.dispose()
        lm.dispose()
      }
      built.clear()
    }
  }
  return Object.freeze(task)
}
