/**
 * The model spec: plain data (canonical-encodable, pinned by a community's genesis) that makes a task out of a
 * pretrained tfjs LayersModel — which base, where the frozen backbone ends, the new head, adapters and the
 * layers trained fully.
 */
import { blobCid, parseCid } from '@swarmtune/wire'
import { z } from 'zod'
import { ModelSpecError } from '../errors.js'
import { canonicalJson } from '../layers/source.js'

/** Most classes a model task's head may have. */
export const MAX_MODEL_CLASSES = 1000
/** Most adapter rank accepted. */
export const MAX_LORA_RANK = 256
/** Longest layer name or label accepted, in characters. */
export const MAX_NAME_CHARS = 128

/** LoRA adapters on dense layers after the cut (Hu et al. 2021; A frozen and seeded, B trained — FFA-LoRA). */
export interface LoraSpec {
  kind: 'lora'
  /** Rank r of every adapter, 1 … 256. */
  rank: number
  /** α: the adapter's output is scaled by α / r. Finite, > 0. */
  alpha: number
  /** Dense layers after the feature cut (and before the head) to adapt, e.g. `['dense_1', 'dense_2']`. */
  targets: string[]
  /** Seed of the frozen factors A (`loraFactorA(seed, layer, in, r)`), a safe integer. */
  seed: number
}

/** A task from a model (see doc/model.md, "Tasks from a model"). */
export interface ModelSpec {
  kind: 'layers-model'
  /** CID (string) of the canonical topology JSON (`layersModelCids(source).topology`). */
  topology: string
  /** CID (string) of the base weights blob (`layersModelCids(source).base`). */
  base: string
  /** Name of the layer whose output is cached: it and every layer before it form the frozen backbone. */
  features: string
  /** The head: the dense layer `replace` gets `classes` outputs (new weights), named by `labels`. */
  head: { replace: string, classes: number, labels: string[] }
  /** Adapters, if any. */
  adapters?: LoraSpec
  /** Dense layers after the cut trained fully besides the head, starting from the base's values. */
  train?: string[]
}

const name = z.string().min(1).max(MAX_NAME_CHARS)
/** A CID as a string (what specs pin their blobs by). */
export const cidString = z.string().min(1).max(128).refine((s) => {
  try {
    parseCid(s)
    return true
  } catch {
    return false
  }
}, 'not a CID')
const uniqueNames = z.array(name).max(1024).refine((xs) => new Set(xs).size === xs.length, 'names repeat')

const schema = z.strictObject({
  kind: z.literal('layers-model'),
  topology: cidString,
  base: cidString,
  features: name,
  head: z.strictObject({
    replace: name,
    classes: z.number().int().min(2).max(MAX_MODEL_CLASSES),
    labels: uniqueNames
  }).refine((h) => h.labels.length === h.classes, 'labels must name each of the classes once'),
  adapters: z.strictObject({
    kind: z.literal('lora'),
    rank: z.number().int().min(1).max(MAX_LORA_RANK),
    alpha: z.number().finite().positive(),
    targets: uniqueNames.min(1),
    seed: z.number().int().refine(Number.isSafeInteger, 'not a safe integer')
  }).optional(),
  train: uniqueNames.optional()
})

/**
 * Checks a model spec's form (not yet against a topology, see `createModelTask`) and returns a copy.
 * @throws ModelSpecError ERR_MODEL_SPEC_INVALID naming the first bad field and what it must be.
 */
export function validateModelSpec (spec: unknown): ModelSpec {
  const r = schema.safeParse(spec)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec field ${issue.path.length === 0 ? '(root)' : issue.path.join('.')} is invalid: ${issue.message}. ` +
      'A model spec is { kind: \'layers-model\', topology, base, features, head: { replace, classes, labels }, adapters?: { kind: \'lora\', rank, alpha, targets, seed }, train? }')
  }
  const s = r.data
  const targets = s.adapters?.targets ?? []
  const both = (s.train ?? []).filter((t) => targets.includes(t))
  if (both.length > 0) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec layer(s) ${both.join(', ')} are both adapted and trained fully: choose one`)
  const headTwice = [...targets, ...(s.train ?? [])].includes(s.head.replace)
  if (headTwice) throw new ModelSpecError('ERR_MODEL_SPEC_INVALID', `model spec head ${s.head.replace} is also listed in adapters.targets or train: the new head is always trained fully; list it only as head.replace`)
  // a fresh copy without undefined fields, so that it encodes as canonical msgpack (genesis) and JSON alike
  return JSON.parse(JSON.stringify(s)) as ModelSpec
}

/** The spec's canonical JSON bytes (sorted keys): what `modelSpecCid` hashes. */
export function encodeModelSpec (spec: ModelSpec): Uint8Array {
  return new TextEncoder().encode(canonicalJson(validateModelSpec(spec)))
}

/** The CID of a model spec (of its canonical JSON); a model task's id is `layers-model/<this CID>`. */
export function modelSpecCid (spec: ModelSpec): string {
  return blobCid(encodeModelSpec(spec)).toString()
}
