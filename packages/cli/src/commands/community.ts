import { readdir, stat, writeFile } from 'node:fs/promises'
import { basename, isAbsolute, join, resolve } from 'node:path'
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander'
import {
  FLOAT32_BYTES, MAX_LORA_RANK, MAX_MODEL_CLASSES, encodeBaseWeights, encodeTopology, getTask, loadCsv,
  type DataSpec, type LayersModelSource, type ModelSpec
} from '@swarmtune/model'
import { BlobStore, acquireLock, defaultDataDir, openDataDir, type DataDir } from '@swarmtune/node'
import {
  communityInfo, createCommunity, parseGenesis, readRoundsConfig, roundsClient, roundsConstants, validateRoundsConfig, writeGenesisFile, writeRoundsConfig, type Community
} from '@swarmtune/rounds'
import { checkBackend, common, out, positiveNumber, show } from './round.js'
import { CliError } from '../errors.js'
import { checkOutputPath, checkTfjsFolder, readInputFile } from '../files.js'
import { authorKeyOption, peerIdText } from '../identity.js'
import { count, durationOption, intOption } from '../options.js'
import { checkTrainingData, dataSourceOf, trainingDataOption, type TrainingDataFlags } from '../training-data.js'
import { runningDaemon, storedCommunity, withStore } from '../store.js'
import { BUILT_IN_MODELS, MOBILENET_V2_DEFAULTS, inspectedSpec, loadInspectedModel, withModelDefaults } from './model.js'
import { LM_DEFAULT_CONTEXT, lmBaseText, lmDataOf, lmEvalDataOf, lmOf, type LmCreateFlags } from './community-lm.js'

/** Where `community join` keeps the genesis inside the data folder. */
const GENESIS_FILE = 'community.genesis'

interface CreateFlags extends LmCreateFlags {
  dataDir: string
  evalData?: string
  task?: string
  fromTfjs?: string
  head?: string[]
  features?: string
  replace?: string
  adapter?: 'lora' | 'none'
  rank?: number
  alpha?: number
  target?: string[]
  train?: string[]
  maintainer?: string[]
  name?: string
  from?: string
  seed?: number
  maxDeltaNorm?: number
  maxRoundTime?: number
  maxSamples?: number
  out?: string
  force?: boolean
  json?: boolean
}

interface JoinFlags extends TrainingDataFlags {
  dataDir: string
  data?: string
  label?: string
  partition?: 'iid' | 'pathological' | 'dirichlet'
  clients?: number
  client?: number
  alpha?: number
  partitionSeed?: number
  backend?: string
  maxRoundTime?: number
  json?: boolean
}

function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** `--maintainer`, repeatable: a peer id or a 64-hex key, kept as the peer id `createCommunity` takes. */
const maintainerOption = (value: string, previous: string[] = []): string[] => collect(peerIdText(authorKeyOption('--maintainer')(value)), previous)


function describe (c: Community, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...communityInfo(c), ...extra }
}

/** The community as aligned `label  value` lines (labels padded to the longest, `maintainers`). */
export function render (info: Record<string, unknown>): string {
  const maintainers = info.maintainers as string[]
  const row = (label: string, value: string): string => `${label.padEnd('maintainers'.length)}  ${value}`
  return [
    row('community', String(info.id)),
    row('name', String(info.name)),
    row('task', String(info.task)),
    row('release', `${String(info.release)} (genesis release)`),
    ...maintainers.map((m, i) => row(i === 0 ? 'maintainers' : '', m)),
    row('policy', JSON.stringify(info.policy)),
    row('created', String(info.createdAt))
  ].join('\n') + '\n'
}

/**
 * Reads and checks a genesis file: a regular file of at most MAX_GENESIS_FILE_BYTES, then the checks of
 * `parseGenesis` (decode, schema, signature, task). Returns the community and the file's bytes.
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE` / `ERR_CLI_INPUT_TOO_LARGE`; CommunityError `ERR_ROUNDS_BAD_GENESIS`.
 */
export async function loadGenesis (file: string): Promise<{ community: Community, bytes: Uint8Array }> {
  const bytes = await readInputFile(file, roundsConstants.MAX_GENESIS_FILE_BYTES, 'genesis file')
  return { community: await parseGenesis(bytes, file), bytes }
}



/** `a,b` or repeated: names separated by commas (layers, labels); an empty name is refused. */
const nameList = (flag: string, example: string) => (value: string, previous: string[] = []): string[] => {
  const names = value.split(',').map((x) => x.trim())
  if (names.some((n) => n === '')) throw new InvalidArgumentError(`${flag} ${JSON.stringify(value)} has an empty name: write names separated by commas, e.g. ${example}`)
  return [...previous, ...names]
}

/**
 * The model a community is created from and its spec, from `community create --from-tfjs` and its options: the
 * MobileNetV2 of nsfwjs (defaults {@link MOBILENET_V2_DEFAULTS}) or a tfjs LayersModel folder (defaults as
 * `model inspect`'s: the head replaces the last Dense layer, the cut is the layer before the classifier on top,
 * no adapters). The adapters' frozen factors A are seeded with `seed`.
 * @throws CliError `ERR_CLI_OPTION_NOT_APPLICABLE` for `--head` missing, adapter options with `--adapter none`;
 *   InvalidArgumentError as `model inspect`; ModelFormatError for an unusable folder.
 */
async function modelOf (f: CreateFlags, seed: number): Promise<{ source: LayersModelSource, spec: ModelSpec }> {
  const what = f.fromTfjs as string
  if (f.head === undefined) throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `--from-tfjs ${what} needs --head <labels>: the community's class labels separated by commas (2 to ${MAX_MODEL_CLASSES}), e.g. --head cat,dog,bird`)
  if (new Set(f.head).size !== f.head.length || f.head.length < 2 || f.head.length > MAX_MODEL_CLASSES) {
    throw new InvalidArgumentError(`--head ${f.head.join(',')} must name 2 to ${MAX_MODEL_CLASSES} distinct labels, each once`)
  }
  const flags = withModelDefaults(what, f)
  const source = await loadInspectedModel(what)
  const spec = inspectedSpec(source, flags) as ModelSpec
  return { source, spec: spec.adapters === undefined ? spec : { ...spec, adapters: { ...spec.adapters, seed } } }
}

/**
 * `community join --data`: an image folder (a directory: one sub-folder per class, PNG / JPEG) or a CSV file
 * (`--label` names its label column), as a DataSpec with the community's labels; checked here — the path
 * exists, a folder's sub-folders are the community's labels, a CSV reads with its label column.
 * @throws InvalidArgumentError for `--label` with a folder or a CSV without `--label`; CliError
 *   `ERR_CLI_BAD_INPUT_FILE` for a path that is neither, `ERR_CLI_BAD_TRAINING_DATA` for data that does not fit.
 */
async function dataOf (f: JoinFlags, joined: Community): Promise<DataSpec> {
  const path = resolve(f.data as string)
  const info = await stat(path).catch((err: unknown) => {
    throw new CliError('ERR_CLI_BAD_INPUT_FILE', `--data ${f.data as string}: ${path} cannot be read (${(err as Error).message}); pass an image folder (one sub-folder per class) or a CSV file`, { cause: err })
  })
  const labels = joined.modelSpec?.head.labels
  const limit = f.limit === undefined ? {} : { limit: f.limit }
  if (joined.lmSpec !== undefined) {
    if (!info.isDirectory() || f.label !== undefined) throw new CliError('ERR_CLI_BAD_TRAINING_DATA', `--data ${path}: community ${joined.name} fine-tunes a language model, which trains on a folder of UTF-8 .txt files${f.label !== undefined ? ' (--label does not apply)' : `; ${path} is not a folder`}`)
    return await lmDataOf(path, joined, f.limit)
  }
  if (info.isDirectory()) {
    if (f.label !== undefined) throw new InvalidArgumentError(`--label ${f.label} names a CSV column: it does not apply to the image folder ${path}`)
    const classes = (await readdir(path, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name)
    const known = labels ?? Array.from({ length: getTask(joined.task).classes }, (_, i) => String(i))
    const unknown = classes.filter((c) => !known.includes(c))
    if (classes.length === 0 || unknown.length > 0) {
      throw new CliError('ERR_CLI_BAD_TRAINING_DATA', `--data ${path} ${classes.length === 0 ? 'has no class sub-folders' : `has sub-folders ${unknown.join(', ')} that are not classes of community ${joined.name}`}: ` +
        `an image folder holds one sub-folder per class, named by the community's labels (${known.join(', ')}), with PNG or JPEG files in each`)
    }
    if (labels !== undefined) return { source: 'images', path, labels, ...limit }
    // a built-in task: grey images at its example size (28 × 28 for the MNIST tasks)
    const shape = getTask(joined.task).exampleShape
    return { source: 'images', path, channels: 1, size: [shape[0], shape[1]], labels: known, ...limit }
  }
  if (!info.isFile()) throw new CliError('ERR_CLI_BAD_INPUT_FILE', `--data ${path} is neither a folder nor a regular file: pass an image folder (one sub-folder per class) or a CSV file`)
  if (f.label === undefined) throw new InvalidArgumentError(`--data ${path} is a file, read as CSV: add --label <column>, the name of its label column`)
  const spec: DataSpec = { source: 'csv', path, label: f.label, ...(labels === undefined ? {} : { labels }), ...limit }
  try {
    await loadCsv(path, { label: f.label, ...(labels === undefined ? {} : { labels }) })
  } catch (err) {
    throw new CliError('ERR_CLI_BAD_TRAINING_DATA', `--data ${path} cannot be used: ${(err as Error).message}`, { cause: err })
  }
  return spec
}

/** The training data a volunteer's flags name. @throws InvalidArgumentError */
function dataSpecOf (f: JoinFlags, own?: DataSpec): DataSpec | undefined {
  const source = own ?? dataSourceOf(f)
  if (source === undefined) return undefined
  let partition: NonNullable<DataSpec['partition']> | undefined
  if (f.partition !== undefined) {
    if (f.clients === undefined || f.client === undefined) throw new InvalidArgumentError('--partition needs --clients <n> and --client <i> (0-based)')
    if (f.client >= f.clients) throw new InvalidArgumentError(`--client ${f.client} with --clients ${f.clients}: --client is 0-based, so it must be below --clients (0 to ${f.clients - 1})`)
    const seed = f.partitionSeed ?? 1
    partition = f.partition === 'dirichlet'
      ? { scheme: 'dirichlet', clients: f.clients, client: f.client, seed, alpha: f.alpha ?? 0.5 }
      : { scheme: f.partition, clients: f.clients, client: f.client, seed }
  }
  return partition === undefined ? source : { ...source, partition }
}

/**
 * Takes the data folder's lock as a daemon does, for a command that writes into the folder (`community create`,
 * `community join`); release it when done.
 * @param why what the command would do beside a running daemon; `then` what to do instead
 * @throws CliError `ERR_CLI_DATA_DIR_IN_USE` when a daemon runs on the folder
 */
async function lockFolder (dataDir: DataDir, why: string, then: string): Promise<Awaited<ReturnType<typeof acquireLock>>> {
  return await acquireLock(dataDir.paths.lock, { dataDir: dataDir.paths.root }).catch((err: unknown) => {
    if ((err as { code?: string }).code !== 'ERR_NODE_LOCKED') throw err
    throw new CliError('ERR_CLI_DATA_DIR_IN_USE', `a daemon is running on ${dataDir.paths.root}: ${why}. ` +
      `Stop that daemon first (Ctrl-C, or SIGTERM to the pid in ${dataDir.paths.lock}), ${then}.`, { cause: err })
  })
}

/**
 * `community join`'s writes, with the folder's lock held: checks the folder belongs to no other community, then
 * writes the genesis file and rounds.json and says how to start the daemon and reach the community.
 * @throws Error `ERR_ROUNDS_COMMUNITY_MISMATCH`; RoundsConfigError `ERR_ROUNDS_CONFIG_INVALID`
 */
async function joinFolder (flags: JoinFlags, joined: Community, bytes: Uint8Array, data: DataSpec | undefined, dataDir: DataDir): Promise<void> {
  const root = dataDir.paths.root
  const current = await readRoundsConfig(root)
  if (current.community !== undefined) {
    const existing = await loadGenesis(isAbsolute(current.community) ? current.community : join(root, current.community)).then((g) => g.community, () => undefined)
    if (existing !== undefined && !existing.id.equals(joined.id)) {
      throw Object.assign(new Error(`${root} already belongs to community ${existing.id.toString()} (${existing.name}); use another data folder for ${joined.name}`), { code: 'ERR_ROUNDS_COMMUNITY_MISMATCH' })
    }
  }
  // the daemon's own rule (rounds.json schema), checked before anything is written: ERR_ROUNDS_CONFIG_INVALID
  const config = validateRoundsConfig({
    ...current,
    community: GENESIS_FILE,
    volunteer: {
      ...current.volunteer,
      ...(data === undefined ? {} : { data }),
      ...(flags.backend === undefined ? {} : { backend: flags.backend }),
      ...(flags.maxRoundTime === undefined ? {} : { maxRoundMs: flags.maxRoundTime })
    }
  }, `the settings \`community join\` would write to rounds.json from ${joinOptionsText(flags)}`)
  await writeFile(join(root, GENESIS_FILE), bytes)
  await writeRoundsConfig(root, config)
  const info = describe(joined, { dataDir: root, volunteer: config.volunteer.data === undefined ? null : config.volunteer })
  if (flags.json === true) { out(JSON.stringify(info, null, 2) + '\n'); return }
  out(render(info) + `\n${root} joined; ${config.volunteer.data === undefined ? 'no training data set (this node will not train)' : `it trains on ${JSON.stringify(config.volunteer.data)}`}\n` +
    reachText(root, dataDir.config))
}

/** The options `community join` was given that go into rounds.json, as typed (`--client 9, --clients 4`), for messages. */
function joinOptionsText (f: JoinFlags): string {
  const given: Array<[string, unknown]> = [['--data', f.data], ['--label', f.label], ['--mnist', f.mnist], ['--images', f.images], ['--labels', f.labels], ['--limit', f.limit], ['--partition', f.partition],
    ['--clients', f.clients], ['--client', f.client], ['--alpha', f.alpha], ['--partition-seed', f.partitionSeed], ['--backend', f.backend], ['--max-round-time', f.maxRoundTime === undefined ? undefined : `${f.maxRoundTime} ms`]]
  const shown = given.filter(([, v]) => v !== undefined).map(([k, v]) => v === true ? k : `${k} ${String(v)}`)
  return shown.length === 0 ? 'no options (the folder\'s current rounds.json)' : `the options ${shown.join(', ')}`
}

/**
 * How a joined folder's daemon reaches the community: its bootstrap peers, mDNS (this LAN only), or — with neither —
 * the `--bootstrap` it needs, since the DHT finds no one without a first peer.
 */
export function reachText (root: string, config: { bootstrap: string[], mdns: boolean }): string {
  const start = `start it with \`swarmtune daemon -d ${root}\``
  const ask = 'a peer\'s address (ending in /p2p/<peer id>) is what `swarmtune status` prints on the maintainer\'s or another member\'s node'
  if (config.bootstrap.length > 0) return `${start}; it dials its ${config.bootstrap.length === 1 ? 'bootstrap peer' : `${config.bootstrap.length} bootstrap peers`} (${config.bootstrap.join(', ')}) to reach the community\n`
  if (config.mdns) {
    return `${start}; with no bootstrap peer configured it finds members on this local network only (mDNS): to reach the community elsewhere add ` +
      `\`--bootstrap <address>\` (for one run) or \`swarmtune init -d ${root} --bootstrap <address>\` (for good); ${ask}\n`
  }
  return `start it with \`swarmtune daemon -d ${root} --bootstrap <address>\`: this folder has no bootstrap peer and mDNS is off, so without one the daemon finds no one; ` +
    `or set it for good with \`swarmtune init -d ${root} --bootstrap <address>\`; ${ask}\n`
}

/**
 * The community of the data folder `root`, as `GET /v1/rounds/community` answers: from its running daemon, else
 * the genesis file rounds.json names (what `community join` wrote), else the genesis its ledger store holds.
 * Reads only; creates nothing.
 * @throws Error `ERR_ROUNDS_NO_COMMUNITY` when the folder belongs to none yet, saying how to join one.
 */
async function folderCommunity (root: string): Promise<Record<string, unknown>> {
  const client = await runningDaemon(root)
  if (client !== undefined) return { ...(await roundsClient(client).community()) }
  const named = (await readRoundsConfig(root)).community
  if (named !== undefined) return describe((await loadGenesis(isAbsolute(named) ? named : join(root, named))).community)
  return await withStore(root, async (ledger) => describe(await storedCommunity(root, ledger)))
}

/**
 * `community create` takes one task: `--task` or `--from-tfjs`; the model options only with `--from-tfjs`.
 * @throws CommanderError `ERR_CLI_MISSING_OPTION` with neither; CliError `ERR_CLI_OPTION_NOT_APPLICABLE`.
 */
function checkCreateFlags (f: CreateFlags): void {
  if (f.task === undefined && f.fromTfjs === undefined && f.fromHf === undefined) {
    throw new CommanderError(1, 'commander.missingMandatoryOptionValue', 'error: required option \'--task <id>\' not specified (a built-in task: mnist-2nn, mnist-cnn), or --from-tfjs <folder|mobilenet-v2> to fine-tune a pretrained model, or --from-hf <folder> for a language model')
  }
  if (f.fromHf !== undefined) {
    const given = ([['--head', f.head], ['--features', f.features], ['--replace', f.replace], ['--train', f.train], ['--from', f.from]] as const).filter(([, v]) => v !== undefined).map(([k]) => k)
    if (given.length > 0) throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to a community of a tfjs model (--from-tfjs) or a built-in task: a language model (--from-hf) takes --context, --rank, --alpha and --target`)
    return
  }
  if (f.context !== undefined) throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', '--context is the token window of a language-model community: it goes with --from-hf <folder>')
  if (f.fromTfjs !== undefined) return
  const given = ([['--head', f.head], ['--features', f.features], ['--replace', f.replace], ['--adapter', f.adapter], ['--rank', f.rank], ['--alpha', f.alpha], ['--target', f.target], ['--train', f.train]] as const)
    .filter(([, v]) => v !== undefined).map(([k]) => k)
  if (given.length > 0) throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to a community of a pretrained model: add --from-tfjs <folder|${BUILT_IN_MODELS.join('|')}>, or leave ${given.length === 1 ? 'it' : 'them'} out for --task ${f.task as string}`)
}

/** Sizes of a model community's base and of its contributions, beside the whole model's (float32) bytes. */
interface BaseFacts {
  spec: ModelSpec
  topologyBytes: number
  weightsBytes: number
  /** Bytes of the trainable weights (what a contribution's delta holds at fp32). */
  contributionBytes: number
  /** Float32 bytes of every parameter of the base model. */
  modelBytes: number
}

function baseFacts (model: { source: LayersModelSource, spec: ModelSpec }, contributionBytes: number): BaseFacts {
  const modelBytes = FLOAT32_BYTES * model.source.weights.values.reduce((n, v) => n + v.length, 0)
  return { spec: model.spec, topologyBytes: encodeTopology(model.source.topology).length, weightsBytes: encodeBaseWeights(model.source.weights).length, contributionBytes, modelBytes }
}

function baseText (b: BaseFacts): string {
  const a = b.spec.adapters
  return `the base model's topology (${b.spec.topology}, ${b.topologyBytes} bytes) and weights (${b.spec.base}, ${b.weightsBytes} bytes) are in the blob store too: members fetch them from this node once\n` +
    `features at ${b.spec.features}, head ${b.spec.head.replace} → ${b.spec.head.labels.join(', ')}${a === undefined ? '' : `, LoRA r=${a.rank} α=${a.alpha} on ${a.targets.join(', ')}`}` +
    `${b.spec.train === undefined ? '' : `, trained fully: ${b.spec.train.join(', ')}`}; a contribution carries ${b.contributionBytes} bytes at fp32, ` +
    `${(100 * b.contributionBytes / b.modelBytes).toPrecision(3)} % of the model's ${b.modelBytes} bytes\n`
}

/** Adds `swarmtune community` to the program. */
export function register (program: Command): void {
  const community = program
    .command('community')
    .description('create a community (genesis entry and genesis release), join one, or show one')

  community.command('create')
    .description('sign a genesis entry naming the task, the maintainers and the genesis release; the release goes into this data folder\'s blob store')
    .option('-d, --data-dir <path>', 'data folder whose identity signs the genesis and whose blob store gets the release (env SWARMTUNE_HOME)', defaultDataDir())
    .addOption(new Option('--task <id>', 'task of the community (mnist-2nn, mnist-cnn); or --from-tfjs, --from-hf').conflicts(['fromTfjs', 'fromHf']))
    .addOption(new Option('--from-hf <folder>', 'fine-tune a causal language model: a Hugging Face checkpoint folder (config.json, model.safetensors or its shards, tokenizer.json) of GPT-2, Llama, SmolLM, TinyLlama or Qwen2; LoRA adapters on a frozen base').conflicts(['fromTfjs', 'from']))
    .option('--eval-data <folder>', 'with --from-hf: the maintainer\'s held-out text (a folder of .txt files) each release is evaluated on, written to this folder\'s rounds.json (coordinator.evalData)')
    .option('--context <tokens>', `with --from-hf: tokens per training and evaluation window (default ${LM_DEFAULT_CONTEXT}, or the model's maximum positions when fewer)`, intOption('--context', 2, 8192))
    .addOption(new Option('--from-tfjs <folder|mobilenet-v2>', `fine-tune a pretrained model instead: a tfjs LayersModel folder (model.json and its weight files) or a built-in model (${BUILT_IN_MODELS.join(', ')}); needs --head`).conflicts('from'))
    .option('--head <labels>', `with --from-tfjs: the community's class labels separated by commas (2 to ${MAX_MODEL_CLASSES}), e.g. cat,dog,bird; the new head replaces --replace`, nameList('--head', 'cat,dog'))
    .option('--features <layer>', `with --from-tfjs: the layer whose output is cached; it and every layer before it are the frozen backbone (default for mobilenet-v2: ${MOBILENET_V2_DEFAULTS.features}; for a folder, the layer before the classifier on top)`)
    .option('--replace <layer>', `with --from-tfjs: the Dense layer the head replaces (default for mobilenet-v2: ${MOBILENET_V2_DEFAULTS.replace}; for a folder, the last Dense layer)`)
    .addOption(new Option('--adapter <kind>', `with --from-tfjs: adapters on the --target layers (default for mobilenet-v2: lora on ${MOBILENET_V2_DEFAULTS.targets.join(',')}, rank ${MOBILENET_V2_DEFAULTS.rank}, alpha ${MOBILENET_V2_DEFAULTS.alpha}; for a folder: none)`).choices(['lora', 'none']))
    .option('--rank <r>', `adapter rank, 1 to ${MAX_LORA_RANK} (with --adapter lora; default ${MOBILENET_V2_DEFAULTS.rank} for mobilenet-v2, else 8)`, intOption('--rank', 1, MAX_LORA_RANK))
    .option('--alpha <a>', 'adapter α > 0: the adapter\'s output is scaled by α / r (default 2 × rank)', positiveNumber('--alpha'))
    .option('--target <layers>', 'layers after the cut to adapt (Dense, 1×1 Conv2D), separated by commas or repeated, glob patterns allowed (with --adapter lora); with --from-hf: projections (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; GPT-2: c_attn, c_proj, c_fc; default q_proj,v_proj or c_attn)', nameList('--target', 'dense_1,dense_2'))
    .option('--train <layers>', 'with --from-tfjs: layers after the cut trained fully besides the head (Dense, Conv2D, DepthwiseConv2D, BatchNormalization γ/β), separated by commas or repeated; a glob pattern such as \'block_1[1-6]_*\' names every layer with weights after the cut it matches', nameList('--train', 'dense_2'))
    .option('--maintainer <peer id | hex key>', 'another maintainer who may open rounds and sign releases: a peer id (12D3KooW…) or its Ed25519 key as 64 hex digits (repeatable); this node is always one', maintainerOption)
    .option('--name <name>', 'community name (default: the task id)')
    .option('--from <tfjs folder>', 'start from the weights of this tfjs model folder instead of the task\'s seeded initialisation')
    .option('--seed <n>', 'seed of the initial weights (default 1)', intOption('--seed', 0))
    .option('--max-delta-norm <n>', 'largest delta L2 norm any round may accept (default 100)', positiveNumber('--max-delta-norm'))
    .option('--max-round-time <time>', 'longest round, e.g. 30m (units ms, s, m or min, h, d; default 1h)', durationOption('--max-round-time', { minMs: 1 }))
    .option('--max-samples <n>', 'most training samples one contribution may claim (default 60000)', intOption('--max-samples', 1))
    .option('-o, --out <file>', 'genesis file to write (default <data folder>/<name>.genesis)')
    .option('--force', 'overwrite an existing genesis file')
    .option('--json', 'print JSON instead of text')
    .action(async (flags: CreateFlags) => {
      checkCreateFlags(flags)
      if (flags.from !== undefined) await checkTfjsFolder(resolve(flags.from))
      const model = flags.fromTfjs === undefined ? undefined : await modelOf(flags, flags.seed ?? roundsConstants.DEFAULT_GENESIS_SEED)
      const lm = flags.fromHf === undefined ? undefined : await lmOf(flags, flags.seed ?? roundsConstants.DEFAULT_GENESIS_SEED)
      if (flags.evalData !== undefined && lm === undefined) throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', '--eval-data names the held-out text of a language-model community: it goes with --from-hf <folder> (for other communities set coordinator.evalData in rounds.json)')
      const evalData = flags.evalData === undefined ? undefined : await lmEvalDataOf(resolve(flags.evalData))
      const name = flags.name ?? (flags.fromHf !== undefined ? basename(resolve(flags.fromHf)) : flags.fromTfjs === undefined ? undefined : flags.fromTfjs === 'mobilenet-v2' ? 'mobilenet-v2' : basename(resolve(flags.fromTfjs)))
      const dataDir = await openDataDir(flags.dataDir)
      const root = dataDir.paths.root
      const file = resolve(flags.out ?? join(root, `${name ?? flags.task as string}.genesis`))
      await checkOutputPath(file, { kind: 'file', force: flags.force, flag: '--out' })
      // the folder's lock, as a daemon takes it: a running daemon owns the blob store and the identity's ledger chain
      const lock = await lockFolder(dataDir, `\`community create\` would write the genesis release into its blob store and sign with its identity beside it`,
        `run \`swarmtune community create -d ${root} …\`, then start the daemon again with \`--community <the genesis file>\`; or create the community from another data folder`)
      try {
        const store = new BlobStore({ root: dataDir.paths.blobs, maxBlobBytes: dataDir.config.blobs.maxBlobBytes })
        await store.open()
        const { community: created, release } = await createCommunity({
          ...(lm !== undefined ? { lm } : model === undefined ? { task: flags.task } : { model }),
          name,
          maintainers: flags.maintainer,
          from: flags.from,
          seed: flags.seed,
          policy: { maxDeltaNorm: flags.maxDeltaNorm, maxRoundMs: flags.maxRoundTime, maxSamples: flags.maxSamples },
          key: dataDir.privateKey,
          store
        })
        await writeGenesisFile(file, created)
        if (evalData !== undefined) {
          const current = await readRoundsConfig(root)
          await writeRoundsConfig(root, validateRoundsConfig({ ...current, coordinator: { ...current.coordinator, evalData } }, 'the coordinator\'s evalData `community create --eval-data` would write to rounds.json'))
        }
        const base = model === undefined ? undefined : baseFacts(model, release.manifest.totalBytes)
        const lmFacts = lm === undefined ? undefined : { spec: lm.spec, weightsBytes: lm.source.weights.length, contributionBytes: release.manifest.totalBytes }
        const info = describe(created, { file, shards: release.shards.length, bytes: release.manifest.totalBytes, ...(base === undefined ? {} : { model: base }), ...(lmFacts === undefined ? {} : { lm: lmFacts }) })
        if (flags.json === true) return out(JSON.stringify(info, null, 2) + '\n')
        out(render(info) + `\nwrote the genesis file ${file}; the genesis release (${count(release.shards.length, 'shard')}, ${release.manifest.totalBytes} bytes) is in ${dataDir.paths.blobs}\n` +
          (base === undefined ? '' : baseText(base)) + (lm === undefined ? '' : lmBaseText(lm, release.manifest.totalBytes)) +
          `start this node with \`swarmtune daemon -d ${root} --community ${file}\`; volunteers join with a copy of that file (\`swarmtune community join <file> -d <their folder>\`)\n`)
      } finally {
        await lock.release()
      }
    })

  community.command('join')
    .description('make this data folder a member: keep the genesis file here and, for a volunteer, name its training data (written to rounds.json)')
    .argument('<genesis file>', 'the file `swarmtune community create` wrote')
    .option('-d, --data-dir <path>', 'data folder created by `swarmtune init` (env SWARMTUNE_HOME)', defaultDataDir())
    .addOption(new Option('--data <folder|file.csv>', 'your own training data: an image folder (one sub-folder per class, named by the community\'s labels; PNG or JPEG) or a CSV file (with --label); for a language model, a folder of UTF-8 .txt files').conflicts(['mnist', 'images', 'labels']))
    .option('--label <column>', 'with --data <file.csv>: the name of its label column (the other columns are the features)')
    .addOption(trainingDataOption('--mnist'))
    .addOption(trainingDataOption('--images'))
    .addOption(trainingDataOption('--labels'))
    .addOption(trainingDataOption('--limit'))
    .addOption(new Option('--partition <scheme>', 'use one client\'s part of the data').choices(['iid', 'pathological', 'dirichlet']))
    .option('--clients <n>', 'number of parts (with --partition)', intOption('--clients', 1))
    .option('--client <i>', 'which part, 0-based (with --partition)', intOption('--client', 0))
    .option('--alpha <a>', 'Dirichlet concentration (with --partition dirichlet; default 0.5)', positiveNumber('--alpha'))
    .option('--partition-seed <n>', 'seed of the partition (default 1)', intOption('--partition-seed', 0))
    .addOption(new Option('--backend <id>', 'tfjs backend for training (default: the fastest available)').choices(['node-gpu', 'node', 'wasm', 'cpu']))
    .option('--max-round-time <time>', `longest local training this volunteer accepts per round, e.g. 10m (units ms, s, m or min, h, d; at most ${roundsConstants.MAX_TIMER_DELAY_MS} ms, about 24.8 days)`, durationOption('--max-round-time', { minMs: 1, maxMs: roundsConstants.MAX_TIMER_DELAY_MS }))
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, flags: JoinFlags) => {
      const { community: joined, bytes } = await loadGenesis(resolve(file))
      if (flags.label !== undefined && flags.data === undefined) throw new InvalidArgumentError('--label names the label column of a CSV file: it goes with --data <file.csv>')
      if (joined.lmSpec !== undefined && (flags.mnist === true || flags.images !== undefined || flags.labels !== undefined)) {
        throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `community ${joined.name} fine-tunes a language model on text: --mnist, --images and --labels (MNIST-shaped IDX files) do not fit it; pass --data <folder of .txt files>`)
      }
      if (joined.modelSpec !== undefined && (flags.mnist === true || flags.images !== undefined || flags.labels !== undefined)) {
        throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `community ${joined.name} fine-tunes a pretrained model on its labels (${joined.modelSpec.head.labels.join(', ')}): --mnist, --images and --labels (MNIST-shaped IDX files) do not fit it; pass --data <image folder | file.csv>`)
      }
      const data = dataSpecOf(flags, flags.data === undefined ? undefined : await dataOf(flags, joined))
      if (data !== undefined) await checkTrainingData(joined.task, data)
      if (flags.backend !== undefined) await checkBackend(joined.task, flags.backend, { modelTask: joined.modelSpec !== undefined || joined.lmSpec !== undefined })
      const dataDir = await openDataDir(flags.dataDir)
      const root = dataDir.paths.root
      // a running daemon read rounds.json at its start: changing it under the daemon would not apply before a restart
      const lock = await lockFolder(dataDir, '`community join` would change its rounds.json, which the running daemon read at its start and would not read again before a restart',
        `run \`swarmtune community join ${file} -d ${root} …\` again, then start the daemon (\`swarmtune daemon -d ${root}\`)`)
      try {
        await joinFolder(flags, joined, bytes, data, dataDir)
      } finally {
        await lock.release()
      }
    })

  common(community.command('show'))
    .description('show a community: from a genesis file, or the one the data folder belongs to (its running daemon, else its genesis file or ledger)')
    .argument('[genesis file]', 'a genesis file; without it, the data folder\'s community')
    .action(async (file: string | undefined, flags: { dataDir: string, json?: boolean }) => {
      const info = file !== undefined ? describe((await loadGenesis(resolve(file))).community) : await folderCommunity(flags.dataDir)
      show(flags.json, info, render)
    })
}
