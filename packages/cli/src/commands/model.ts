import { readdir, realpath, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import picomatch from 'picomatch'
import {
  BACKEND_ORDER, causalLmKernelNeeds, createCausalLm, mergeAdapterFactors, peftAdapterTensors, readPeftAdapter, writeHfCheckpoint, evaluateCausalLm, generateCausalLm, inspectModel, loadHfTokenizer, layersModelCids, loadLayersModelFolder, MAX_LORA_RANK, MAX_MODEL_CLASSES, mobilenetV2Base,
  readHfCheckpoint, selectBackend, type BackendId, type LayersModelSource, type ModelInspection, type ModelSpec
} from '@swarmtune/model'
import { positiveNumber, show, table } from './round.js'
import { CliError } from '../errors.js'
import { checkOutputPath, checkTfjsFolder, readInputFile } from '../files.js'
import { intOption, significant } from '../options.js'

/** The models `model inspect` knows by name, besides a tfjs folder. */
export const BUILT_IN_MODELS = Object.freeze(['mobilenet-v2'])

/** Seed of the adapters' frozen factors A in an inspected spec (it changes no figure `inspect` prints). */
const INSPECT_ADAPTER_SEED = 0

/** Layer classes a default feature cut keeps after it: the classifier on top of the backbone. */
const HEAD_CLASSES = new Set(['Dense', 'Dropout', 'Activation', 'ReLU', 'Softmax'])

/** The defaults of a spec of the built-in mobilenet-v2 (`community create --from-tfjs`, `model inspect`; stated in their --help). */
export const MOBILENET_V2_DEFAULTS = Object.freeze({ features: 'flatten_1', replace: 'dense_3', targets: Object.freeze(['dense_1', 'dense_2']), rank: 4, alpha: 8 })

/** The spec options `community create --from-tfjs` and `model inspect` share. */
export interface SpecFlags {
  head?: string[]
  replace?: string
  features?: string
  adapter?: 'lora' | 'none'
  rank?: number
  alpha?: number
  target?: string[]
  train?: string[]
}

/**
 * The spec options with the model's defaults filled in: for mobilenet-v2 {@link MOBILENET_V2_DEFAULTS} (LoRA on
 * its dense layers unless `--adapter none`), for a folder none (as {@link inspectedSpec} defaults it).
 * @throws CliError `ERR_CLI_OPTION_NOT_APPLICABLE` for `--rank`, `--alpha` or `--target` with `--adapter none`.
 */
export function withModelDefaults (what: string, f: SpecFlags): InspectFlags {
  if (f.adapter === 'none' && (f.rank !== undefined || f.alpha !== undefined || f.target !== undefined)) {
    throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', '--rank, --alpha and --target apply to adapters: leave them out with --adapter none, or use --adapter lora')
  }
  const d = what === 'mobilenet-v2' ? MOBILENET_V2_DEFAULTS : undefined
  const train = f.train ?? []
  const adapter = f.adapter === 'none' ? undefined : f.adapter ?? (d === undefined ? undefined : 'lora')
  return {
    head: f.head,
    replace: f.replace ?? d?.replace,
    features: f.features ?? d?.features,
    adapter,
    // without an adapter, the adapter options are passed on as given: inspectedSpec refuses them
    ...(adapter === undefined ? { rank: f.rank, alpha: f.alpha, target: f.target } : {
      rank: f.rank ?? d?.rank,
      alpha: f.alpha ?? (f.rank === undefined ? d?.alpha : undefined),
      target: f.target ?? d?.targets.filter((t) => !train.includes(t))
    }),
    train: f.train
  }
}

interface InspectFlags {
  head?: string[]
  replace?: string
  features?: string
  adapter?: 'lora'
  rank?: number
  alpha?: number
  target?: string[]
  train?: string[]
  json?: boolean
}

/** `a,b` or repeated: a list of layer names (empty names refused). */
const layerList = (flag: string) => (value: string, previous: string[] = []): string[] => {
  const names = value.split(',').map((s) => s.trim())
  if (names.some((n) => n === '')) throw new InvalidArgumentError(`${flag} ${JSON.stringify(value)} has an empty layer name: write layer names separated by commas, e.g. dense_1,dense_2`)
  return [...previous, ...names]
}

/**
 * `--head`: a number of classes (labels `0` … `n-1`), or the class labels separated by commas.
 * @throws InvalidArgumentError for fewer than 2 or more than MAX_MODEL_CLASSES classes, or a label given twice.
 */
function headOption (value: string): string[] {
  let labels: string[]
  if (/^\d+$/.test(value)) {
    const n = intOption('--head', 2, MAX_MODEL_CLASSES)(value)
    labels = Array.from({ length: n }, (_, i) => String(i))
  } else {
    labels = value.split(',').map((s) => s.trim())
    if (labels.some((l) => l === '')) throw new InvalidArgumentError(`--head ${JSON.stringify(value)} has an empty label: write a number of classes (2 to ${MAX_MODEL_CLASSES}) or the labels separated by commas, e.g. cat,dog`)
    if (new Set(labels).size !== labels.length) throw new InvalidArgumentError(`--head ${JSON.stringify(value)} names a label twice: each class once`)
    if (labels.length < 2 || labels.length > MAX_MODEL_CLASSES) throw new InvalidArgumentError(`--head ${JSON.stringify(value)} names ${labels.length} classes: a head has 2 to ${MAX_MODEL_CLASSES}`)
  }
  return labels
}

/**
 * The model a `model inspect` argument names: a built-in model's name, or a tfjs LayersModel folder.
 * @throws CliError ERR_CLI_BAD_INPUT_FILE when it is neither; as `checkTfjsFolder` and `loadLayersModelFolder`.
 */
export async function loadInspectedModel (what: string): Promise<LayersModelSource> {
  if (what === 'mobilenet-v2') return await mobilenetV2Base()
  const dir = resolve(what)
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false)
  if (!isDir) throw new CliError('ERR_CLI_BAD_INPUT_FILE', `${what} is neither a tfjs model folder (model.json and its weight files) nor a built-in model (${BUILT_IN_MODELS.join(', ')})`)
  await checkTfjsFolder(dir, 'model inspect')
  return await loadLayersModelFolder(dir)
}

interface TopologyLayer { name: string, className: string, units?: number }

function topologyLayers (source: LayersModelSource): TopologyLayer[] {
  const model = (source.topology.model_config ?? source.topology) as { config?: unknown }
  const config = model.config as { layers?: unknown } | unknown[] | undefined
  const layers = (Array.isArray(config) ? config : config?.layers) as Array<{ class_name?: string, name?: string, config?: { name?: string, units?: number } }> | undefined
  return (layers ?? []).map((l) => ({ name: l.config?.name ?? l.name ?? '', className: l.class_name ?? '', units: l.config?.units }))
}

/** Whether a layer name given to `--train` or `--target` is a glob pattern (picomatch syntax: `*`, `?`, `[…]`, `{a,b}`). */
const isPattern = (name: string): boolean => picomatch.scan(name).isGlob

/**
 * `--train` and `--target` names with glob patterns expanded, in layer order: a pattern stands for every layer with
 * weights after the feature cut whose name it matches (e.g. `block_1[1-6]_*` for MobileNetV2's last six blocks);
 * a plain name is kept as given (the spec check says what is wrong with it).
 * @throws InvalidArgumentError for a pattern that matches no such layer, naming the candidates.
 */
export function expandLayerNames (flag: string, names: string[] | undefined, source: LayersModelSource, features: string): string[] | undefined {
  if (names === undefined || !names.some(isPattern)) return names
  const layers = topologyLayers(source).map((l) => l.name)
  const weighted = new Set(source.weights.specs.map((s) => s.name.slice(0, s.name.lastIndexOf('/'))))
  const after = layers.slice(layers.indexOf(features) + 1).filter((n) => weighted.has(n))
  const out: string[] = []
  for (const name of names) {
    if (!isPattern(name)) {
      out.push(name)
      continue
    }
    const match = picomatch(name)
    const hits = after.filter((n) => match(n))
    if (hits.length === 0) {
      throw new InvalidArgumentError(`${flag} ${name} matches no layer with weights after the feature cut ${features}; those are ${after.slice(0, 12).join(', ')}${after.length > 12 ? ` and ${after.length - 12} more` : ''}`)
    }
    out.push(...hits)
  }
  return [...new Set(out)]
}

/**
 * The adapter options go together: `--rank`, `--alpha`, `--target` only with `--adapter`, which needs `--target`.
 * @throws InvalidArgumentError naming the option and what to add.
 */
function checkAdapterFlags (f: InspectFlags): void {
  const adapterOnly = (['rank', 'alpha', 'target'] as const).filter((k) => f[k] !== undefined)
  if (f.adapter === undefined && adapterOnly.length > 0) {
    throw new InvalidArgumentError(`--${adapterOnly[0]} applies to adapters only: add --adapter lora (the known adapter kinds: lora)`)
  }
  if (f.adapter !== undefined && (f.target === undefined || f.target.length === 0)) {
    throw new InvalidArgumentError('--adapter lora needs --target <layers>: the layers after the feature cut to adapt (Dense, 1×1 Conv2D), e.g. --target dense_1,dense_2')
  }
}

/**
 * The model spec the options describe, or undefined when none of them is given (the model as its topology marks
 * it trainable). Defaults: the head replaces the last Dense layer and keeps its classes; the cut is the layer
 * before the classifier on top (the trailing Dense, Dropout, Activation, ReLU and Softmax layers).
 * @throws InvalidArgumentError for adapter options without `--adapter lora`, or `--adapter` without `--target`;
 *   ModelSpecError (from `inspectModel`) for layers that do not fit.
 */
export function inspectedSpec (source: LayersModelSource, f: InspectFlags): ModelSpec | undefined {
  checkAdapterFlags(f)
  if (f.head === undefined && f.replace === undefined && f.features === undefined && f.adapter === undefined && f.train === undefined) return undefined
  const layers = topologyLayers(source)
  const dense = layers.filter((l) => l.className === 'Dense')
  const replace = f.replace ?? dense.at(-1)?.name
  if (replace === undefined) throw new InvalidArgumentError(`${source.origin} has no Dense layer to replace by a head; name one with --replace <layer>`)
  let features = f.features
  if (features === undefined) {
    let i = layers.length - 1
    while (i > 0 && HEAD_CLASSES.has(layers[i].className)) i--
    features = layers[i]?.name ?? ''
  }
  const original = layers.find((l) => l.name === replace)?.units
  const labels = f.head ?? Array.from({ length: Math.min(MAX_MODEL_CLASSES, Math.max(2, original ?? 2)) }, (_, i) => String(i))
  const cids = layersModelCids(source)
  return {
    kind: 'layers-model',
    topology: cids.topology.toString(),
    base: cids.base.toString(),
    features,
    head: { replace, classes: labels.length, labels },
    ...(f.adapter === undefined ? {} : { adapters: { kind: 'lora' as const, rank: f.rank ?? 8, alpha: f.alpha ?? 2 * (f.rank ?? 8), targets: expandLayerNames('--target', f.target, source, features) ?? [], seed: INSPECT_ADAPTER_SEED } }),
    ...(f.train === undefined ? {} : { train: expandLayerNames('--train', f.train, source, features) })
  }
}

const grouped = (n: number): string => n.toLocaleString('en-US')
const shape = (s: number[]): string => `[${s.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`
const list = (xs: string[]): string => (xs.length === 0 ? 'none' : xs.join(', '))

/** The inspection as text: the layers table, the totals, the contribution size and the backends' missing kernels. */
export function renderInspection (r: ModelInspection & { spec?: ModelSpec }): string {
  const role = (l: ModelInspection['layers'][number]): string => (l.role === 'head' && r.spec !== undefined ? `head (replaced: ${r.spec.head.classes} outputs)` : l.role)
  const layers = table(['layer', 'class', 'output', 'params', 'role'], r.layers.map((l) => [l.name, l.className, shape(l.outputShape), grouped(l.params), role(l)]))
  const percent = r.modelBytes === 0 ? 0 : (100 * r.contributionBytes) / r.modelBytes
  const spec = r.spec === undefined
    ? 'no model spec: roles as the topology marks its layers trainable; training backpropagates through every layer'
    : `spec: features at ${r.spec.features}, head ${r.spec.head.replace} → ${r.spec.head.classes} classes` +
      `${r.spec.adapters === undefined ? '' : `, LoRA r=${r.spec.adapters.rank} α=${r.spec.adapters.alpha} on ${r.spec.adapters.targets.join(', ')}`}` +
      `${r.spec.train === undefined || r.spec.train.length === 0 ? '' : `, trained fully: ${r.spec.train.join(', ')}`}`
  const backends = table(['backend', 'available', 'missing for inference', 'missing for training'],
    r.backends.map((b) => [b.backend, b.available ? 'yes' : 'no', b.available ? list(b.missingForInference) : '-', b.available ? list(b.missingForTraining) : '-'])) +
    r.backends.filter((b) => !b.available).map((b) => `${b.backend}: ${b.reason}\n`).join('')
  return [
    `model     ${r.origin}`,
    `topology  ${r.topology}`,
    `base      ${r.base}`,
    spec,
    '',
    layers,
    `${r.layers.length} layers, ${grouped(r.params)} parameters: ${grouped(r.trainableParams)} trained, ${grouped(r.frozenParams)} frozen`,
    `contribution ${grouped(r.contributionBytes)} bytes, ${significant(percent, 3)} % of the full model's ${grouped(r.modelBytes)} bytes (float32)`,
    ...(r.unknownClasses.length > 0 ? [`layer classes whose kernels are not known here (not in the lists below): ${r.unknownClasses.join(', ')}`] : []),
    '',
    backends
  ].join('\n')
}

/** Largest `--token-ids` or `--text` file read, in bytes (64 MiB: ~10 million ids). */
export const MAX_TOKEN_IDS_FILE_BYTES = 64 * 1024 * 1024

/**
 * The ids of a `--token-ids` file: whitespace-separated non-negative decimal integers.
 * @throws CliError ERR_CLI_BAD_INPUT_FILE naming the first word that is not one; as `readInputFile`.
 */
export async function readTokenIds (path: string, flag = '--token-ids'): Promise<number[]> {
  const text = Buffer.from(await readInputFile(path, MAX_TOKEN_IDS_FILE_BYTES, `token ids file (${flag})`)).toString('utf8')
  const words = text.split(/\s+/).filter((w) => w !== '')
  const ids = words.map((w, i) => {
    if (!/^\d{1,9}$/.test(w)) throw new CliError('ERR_CLI_BAD_INPUT_FILE', `${path}: word ${i + 1} (${JSON.stringify(w.slice(0, 40))}) is not a token id; the file holds non-negative integers separated by white space`)
    return Number(w)
  })
  return ids
}

/**
 * A `--text` file: UTF-8, at most 64 MiB.
 * @throws CliError ERR_CLI_BAD_INPUT_FILE for bytes that are not UTF-8 (naming the offset); as `readInputFile`.
 */
async function readTextFile (path: string): Promise<string> {
  const bytes = await readInputFile(path, MAX_TOKEN_IDS_FILE_BYTES, 'text file (--text)')
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    const at = firstInvalidUtf8(bytes)
    throw new CliError('ERR_CLI_BAD_INPUT_FILE', `${path} is not UTF-8 text (invalid bytes at offset ${at}); convert it first, e.g. \`iconv -f latin1 -t utf-8\``, { cause: err })
  }
}

/** Byte offset of the first invalid UTF-8 sequence (the first byte the decoder could not take). */
function firstInvalidUtf8 (bytes: Uint8Array): number {
  let lo = 0
  let hi = bytes.length
  const ok = (n: number): boolean => { try { new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n), { stream: true }); return true } catch { return false } }
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (ok(mid)) lo = mid
    else hi = mid - 1
  }
  // the longest decodable prefix may end inside the bad sequence (its lead byte waiting for continuations)
  let at = lo
  while (at > 0 && (bytes[at - 1] & 0xc0) === 0x80) at--
  return at > 0 && bytes[at - 1] >= 0xc0 ? at - 1 : lo
}

/** Whether two paths name the same existing folder (links resolved); false when either does not exist. */
async function sameFolder (a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([realpath(a).catch(() => undefined), realpath(b).catch(() => undefined)])
  return x !== undefined && x === y
}

/** Adds `swarmtune model` to the program. */
export function register (program: Command): void {
  const model = program
    .command('model')
    .description('look at a model a community can fine-tune')

  model.command('inspect')
    .description('list a model\'s layers (class, output shape, parameters, trained or frozen under the options\' spec), its totals, the contribution size beside the full model, and per backend the kernels missing for training and inference')
    .argument('<model>', `a tfjs LayersModel folder (model.json and its weight files) or a built-in model: ${BUILT_IN_MODELS.join(', ')}`)
    .option('--head <classes>', `replace the head by one of this many classes (2 to ${MAX_MODEL_CLASSES}), or of these labels separated by commas (e.g. cat,dog)`, headOption)
    .option('--replace <layer>', 'the Dense layer the head replaces (default: the last Dense layer)')
    .option('--features <layer>', 'the layer whose output is cached: it and every layer before it are the frozen backbone (default: the layer before the classifier on top)')
    .addOption(new Option('--adapter <kind>', `train adapters on the --target layers (default for mobilenet-v2 with any spec option, as community create: lora on ${MOBILENET_V2_DEFAULTS.targets.join(',')}, rank ${MOBILENET_V2_DEFAULTS.rank}, alpha ${MOBILENET_V2_DEFAULTS.alpha}; for a folder: none)`).choices(['lora', 'none']))
    .option('--rank <r>', `adapter rank, 1 to ${MAX_LORA_RANK} (with --adapter lora; default ${MOBILENET_V2_DEFAULTS.rank} for mobilenet-v2, else 8)`, intOption('--rank', 1, MAX_LORA_RANK))
    .option('--alpha <a>', 'adapter α, a number > 0: the adapter\'s output is scaled by α / r (with --adapter; default 2 × rank)', positiveNumber('--alpha'))
    .option('--target <layers>', 'layers after the cut to adapt (Dense, 1×1 Conv2D), separated by commas or repeated, glob patterns allowed (with --adapter)', layerList('--target'))
    .option('--train <layers>', 'layers after the cut to train fully besides the head (Dense, Conv2D, DepthwiseConv2D, BatchNormalization γ/β), separated by commas or repeated; a glob pattern such as \'block_1[1-6]_*\' names every layer with weights after the cut it matches', layerList('--train'))
    .option('--json', 'print JSON instead of text')
    .action(async (what: string, given: SpecFlags & { json?: boolean }) => {
      const any = given.head !== undefined || given.replace !== undefined || given.features !== undefined || given.adapter !== undefined || given.train !== undefined ||
        given.rank !== undefined || given.alpha !== undefined || given.target !== undefined
      const flags = any ? withModelDefaults(what, given) : {}
      checkAdapterFlags(flags)
      const source = await loadInspectedModel(what)
      const spec = inspectedSpec(source, flags)
      const report = { ...(await inspectModel(source, spec)), ...(spec === undefined ? {} : { spec }) }
      show(given.json, report, (r) => renderInspection(r) + '\n')
    })

  model.command('eval')
    .description('the mean next-token cross-entropy (nats per token) and perplexity of a language model on a token sequence')
    .argument('<folder>', 'a Hugging Face checkpoint folder: config.json and model.safetensors (or shards with model.safetensors.index.json); GPT-2 and Llama-family (llama, qwen2) models')
    .addOption(new Option('--text <file>', 'a UTF-8 text file to evaluate, tokenized with the checkpoint\'s tokenizer.json (no special tokens added)').conflicts('tokenIds'))
    .option('--token-ids <file>', 'the token ids to evaluate, whitespace-separated integers, read as one sequence (cut into windows of the model\'s maximum positions, or --window)')
    .option('--window <n>', 'tokens per window (2 to the model\'s maximum positions; default the maximum)', intOption('--window', 2))
    .option('--adapter <folder>', 'a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) trained for this base: evaluate the adapted model')
    .addOption(new Option('--backend <id>', 'tfjs backend (default: the first available of node-gpu, node, wasm, cpu)').choices(BACKEND_ORDER))
    .option('--json', 'print JSON: {"loss", "perplexity", "tokens", …}')
    .action(async (folder: string, f: { text?: string, tokenIds?: string, window?: number, adapter?: string, backend?: BackendId, json?: boolean }) => {
      if (f.text === undefined && f.tokenIds === undefined) throw new InvalidArgumentError('model eval needs --text <file> or --token-ids <file>: what to evaluate the model on')
      const ids = f.tokenIds !== undefined
        ? await readTokenIds(f.tokenIds)
        : (await loadHfTokenizer(resolve(folder))).encode(await readTextFile(f.text!))
      const ckpt = await readHfCheckpoint(resolve(folder))
      const adapter = f.adapter === undefined ? undefined : await readPeftAdapter(resolve(f.adapter), ckpt.config)
      const { backend } = await selectBackend(causalLmKernelNeeds(ckpt.config), { backend: f.backend, purpose: 'inference' })
      const lm = createCausalLm(ckpt, { consume: true })
      const tensors = adapter === undefined ? undefined : peftAdapterTensors(adapter)
      try {
        const e = evaluateCausalLm(lm, ids, { window: f.window, adapters: tensors?.adapters })
        const c = ckpt.config
        const report = {
          ...e,
          model: { modelType: c.modelType, layers: c.layers, hidden: c.hidden, vocabSize: c.vocabSize, maxPositions: c.maxPositions },
          ...(adapter === undefined ? {} : { adapter: { rank: adapter.rank, alpha: adapter.alpha, targets: adapter.targets, projections: adapter.factors.length } }),
          backend
        }
        show(f.json, report, (r) => `${folder}: ${c.modelType}, ${c.layers} layers, hidden ${c.hidden}, vocabulary ${c.vocabSize}` +
          `${adapter === undefined ? '' : `, with the LoRA adapter ${f.adapter!} (r ${adapter.rank}, α ${adapter.alpha} on ${adapter.targets.join(', ')})`} (on ${r.backend})\n` +
          `loss ${r.loss.toFixed(4)} nats/token, perplexity ${significant(r.perplexity, 5)} over ${r.predicted} predicted of ${r.tokens} tokens in ${r.windows} window(s)\n`)
      } finally {
        tensors?.dispose()
        lm.dispose()
      }
    })

  model.command('generate')
    .description('continue a prompt with a language model: greedy, or sampled with a temperature and a seed')
    .argument('<folder>', 'a Hugging Face checkpoint folder (as for model eval); --prompt needs its tokenizer.json')
    .addOption(new Option('--prompt <text>', 'the text to continue').conflicts('promptIds'))
    .option('--prompt-ids <file>', 'the token ids to continue, whitespace-separated integers (no tokenizer needed)')
    .requiredOption('--max-tokens <n>', 'tokens to add (1 to 4096)', intOption('--max-tokens', 1, 4096))
    .option('--temperature <t>', 'sampling temperature, ≥ 0 (default 0: greedy, the most likely token each step)', (v: string) => {
      const t = Number(v)
      if (!Number.isFinite(t) || t < 0) throw new InvalidArgumentError(`--temperature must be a number ≥ 0, got ${v}`)
      return t
    })
    .option('--top-k <k>', 'with --temperature: sample among the k most likely tokens', intOption('--top-k', 1))
    .option('--seed <n>', 'seed of the sampling (default 0): the same seed gives the same text', intOption('--seed', 0))
    .option('--adapter <folder>', 'a PEFT LoRA adapter folder trained for this base: generate with the adapted model')
    .addOption(new Option('--backend <id>', 'tfjs backend (default: the first available of node-gpu, node, wasm, cpu)').choices(BACKEND_ORDER))
    .option('--json', 'print JSON: {"ids", "text"?, …}')
    .action(async (folder: string, f: { prompt?: string, promptIds?: string, maxTokens: number, temperature?: number, topK?: number, seed?: number, adapter?: string, backend?: BackendId, json?: boolean }) => {
      if (f.prompt === undefined && f.promptIds === undefined) throw new InvalidArgumentError('model generate needs --prompt <text> or --prompt-ids <file>: what to continue')
      if ((f.topK !== undefined || f.seed !== undefined) && !(f.temperature !== undefined && f.temperature > 0)) {
        throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `${f.topK !== undefined ? '--top-k' : '--seed'} applies to sampling: add --temperature <t> (> 0); without it generation is greedy`)
      }
      const dir = resolve(folder)
      const tokenizer = f.prompt === undefined ? undefined : await loadHfTokenizer(dir)
      const prompt = tokenizer === undefined ? await readTokenIds(f.promptIds!, '--prompt-ids') : tokenizer.encode(f.prompt!)
      const ckpt = await readHfCheckpoint(dir)
      const adapter = f.adapter === undefined ? undefined : await readPeftAdapter(resolve(f.adapter), ckpt.config)
      const { backend } = await selectBackend(causalLmKernelNeeds(ckpt.config), { backend: f.backend, purpose: 'inference' })
      const lm = createCausalLm(ckpt, { consume: true })
      const tensors = adapter === undefined ? undefined : peftAdapterTensors(adapter)
      try {
        const ids = generateCausalLm(lm, prompt, { maxTokens: f.maxTokens, temperature: f.temperature, topK: f.topK, seed: f.seed, adapters: tensors?.adapters })
        const text = tokenizer?.decode(ids)
        const report = { prompt: { tokens: prompt.length }, ids, ...(text === undefined ? {} : { text }), temperature: f.temperature ?? 0, seed: f.seed ?? 0, backend }
        show(f.json, report, (r) => (r.text !== undefined ? `${f.prompt!}${r.text}\n` : `${r.ids.join(' ')}\n`))
      } finally {
        tensors?.dispose()
        lm.dispose()
      }
    })

  model.command('merge')
    .description('fold a PEFT LoRA adapter into its base and write the merged model as a Hugging Face checkpoint folder (as PEFT\'s merge_and_unload)')
    .argument('<folder>', 'the base: a Hugging Face checkpoint folder (as for model eval)')
    .requiredOption('--adapter <folder>', 'the PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) trained for this base')
    .requiredOption('--out <folder>', 'where to write config.json, model.safetensors and the base\'s tokenizer files (must not exist, unless --force)')
    .option('--force', 'replace the --out folder when it holds a checkpoint already (all of its files)')
    .option('--json', 'print JSON: {"out", "files", "merged"}')
    .action(async (folder: string, f: { adapter: string, out: string, force?: boolean, json?: boolean }) => {
      if (f.out.trim() === '') throw new InvalidArgumentError('--out is empty: name the folder to write the merged checkpoint into')
      const dir = resolve(folder)
      const out = resolve(f.out)
      for (const [flag, p] of [['the base folder', dir], ['--adapter', resolve(f.adapter)]] as const) {
        if (await sameFolder(out, p)) throw new CliError('ERR_CLI_BAD_OUTPUT', `--out ${out} is ${flag}: the merged checkpoint goes into a folder of its own (merging into the base would lose it)`)
      }
      await checkOutputPath(out, { kind: 'folder', force: f.force, flag: '--out', holds: 'config.json and model.safetensors' })
      const existing = await readdir(out).catch(() => undefined)
      if (existing !== undefined && existing.length > 0 && !existing.includes('config.json')) {
        throw new CliError('ERR_CLI_BAD_OUTPUT', `${out} is a folder that holds no config.json (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}): --force replaces a checkpoint folder, not another one; choose an empty or new folder`)
      }
      const ckpt = await readHfCheckpoint(dir)
      const adapter = await readPeftAdapter(resolve(f.adapter), ckpt.config)
      const merged = mergeAdapterFactors(ckpt, adapter.factors, adapter.rank, adapter.scale)
      // written beside --out and swapped in whole: a replaced folder keeps no file of the old checkpoint, a failure leaves --out as it was
      const temp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`)
      let files
      try {
        files = await writeHfCheckpoint(merged, temp, { tokenizerFrom: dir })
        if (existing !== undefined) {
          const old = join(dirname(out), `.${basename(out)}.${process.pid}.old`)
          await rename(out, old)
          await rename(temp, out)
          await rm(old, { recursive: true, force: true })
        } else {
          await rename(temp, out)
        }
      } finally {
        await rm(temp, { recursive: true, force: true })
      }
      const report = { out, files, merged: adapter.factors.map((x) => x.weight) }
      show(f.json, report, (r) => `${folder} with ${f.adapter} merged (r ${adapter.rank}, α ${adapter.alpha}: ${r.merged.length} projections, stored F32; every other tensor in its own dtype) → ${r.out}\n` +
        r.files.map((x) => `  ${x.file} ${x.bytes} bytes`).join('\n') + '\n')
    })
}
