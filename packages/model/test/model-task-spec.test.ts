import { describe, expect, it } from 'vitest'
import { blobCid, decodeCanonical, encodeCanonical } from '@swarmtune/wire'
import { encodeModelSpec, modelSpecCid, validateModelSpec, type ModelSpec } from '../src/index.js'

const cid = blobCid(new TextEncoder().encode('x')).toString()
const spec: ModelSpec = {
  kind: 'layers-model',
  topology: cid,
  base: cid,
  features: 'flatten_1',
  head: { replace: 'dense_3', classes: 3, labels: ['cat', 'dog', 'eel'] },
  adapters: { kind: 'lora', rank: 4, alpha: 0.5, targets: ['dense_1'], seed: 7 },
  train: ['dense_2']
}

describe('model spec', () => {
  it('is plain data: canonical msgpack (as a genesis carries it) and canonical JSON round-trip it; its CID ignores key order', () => {
    expect(decodeCanonical(encodeCanonical(validateModelSpec(spec)))).toEqual(spec)
    const withUndefined = { ...spec, train: undefined }
    expect(Object.keys(validateModelSpec(withUndefined))).not.toContain('train')
    expect(() => encodeCanonical(validateModelSpec(withUndefined))).not.toThrow()
    const reordered = JSON.parse(JSON.stringify(spec, Object.keys(spec).reverse().concat(['replace', 'classes', 'labels', 'kind', 'rank', 'alpha', 'targets', 'seed']))) as ModelSpec
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(spec))
    expect(modelSpecCid(reordered)).toBe(modelSpecCid(spec))
    expect(new TextDecoder().decode(encodeModelSpec(spec))).toMatch(/^\{"adapters":\{"alpha":0.5,"kind":"lora","rank":4,"seed":7,"targets":\["dense_1"\]\},"base":/)
    expect(modelSpecCid({ ...spec, head: { ...spec.head, labels: ['cat', 'dog', 'emu'] } })).not.toBe(modelSpecCid(spec))
  })

  it('refuses malformed specs with ERR_MODEL_SPEC_INVALID naming the field', () => {
    const bad: Array<[string, unknown]> = [
      ['kind', { ...spec, kind: 'graph-model' }],
      ['topology', { ...spec, topology: 'not a cid' }],
      ['head.classes', { ...spec, head: { ...spec.head, classes: 1, labels: ['a'] } }],
      ['head', { ...spec, head: { ...spec.head, labels: ['a', 'b'] } }],
      ['head.labels', { ...spec, head: { ...spec.head, labels: ['a', 'a', 'b'] } }],
      ['adapters.rank', { ...spec, adapters: { ...spec.adapters, rank: 1.5 } }],
      ['adapters.alpha', { ...spec, adapters: { ...spec.adapters, alpha: 0 } }],
      ['adapters.targets', { ...spec, adapters: { ...spec.adapters, targets: [] } }],
      ['extra', { ...spec, extra: 1 }],
      ['both adapted and trained', { ...spec, train: ['dense_1'] }],
      ['head dense_3 is also listed', { ...spec, train: ['dense_3'] }]
    ]
    for (const [field, s] of bad) {
      let err: unknown
      try {
        validateModelSpec(s)
      } catch (e) {
        err = e
      }
      expect({ field, code: (err as { code?: string })?.code }).toEqual({ field, code: 'ERR_MODEL_SPEC_INVALID' })
      expect((err as Error).message).toContain(field)
    }
  })
})
