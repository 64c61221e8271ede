/**
 * The genesis of a community of a pretrained model: its task map carries the model spec (`{ id: 'layers-model/<spec
 * CID>', spec }`), the creator's store gets the base's two blobs and the genesis release is the trainable weights;
 * a spec that is missing, malformed or of another CID is refused with `ERR_ROUNDS_BAD_GENESIS`; a member resolves
 * the task from the blobs in its store; rounds.json takes image-folder and CSV data specs, checked field by field.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { beforeAll, describe, expect, it } from 'vitest'
import { modelSpecCid, type LayersModelSource, type ModelSpec } from '@swarmtune/model'
import { mobilenetLora } from '@swarmtune/test-support/models'
import { blobCid, signEntry, type CID, type SigningKey } from '@swarmtune/wire'
import { Community, createCommunity, parseGenesis } from '../src/community.js'
import { createRoundsConfig, validateRoundsConfig } from '../src/config.js'
import { resolveTask } from '../src/task.js'
import type { BlobAccess } from '../src/releases.js'

/** A blob store in memory: what `createCommunity` puts, `resolveTask` reads (fetching nothing). */
function memoryStore (): BlobAccess & { put: (bytes: Uint8Array) => Promise<CID>, map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>()
  const blobs = {
    has: async (cid: CID) => map.has(cid.toString()),
    get: async (cid: CID) => map.get(cid.toString()) as Uint8Array
  }
  const exchange = { fetch: async (cid: CID) => { throw Object.assign(new Error(`no peer has ${cid.toString()}`), { code: 'ERR_NODE_BLOB_NO_PROVIDERS' }) } }
  return { map, blobs, exchange, put: async (bytes: Uint8Array) => { const cid = blobCid(bytes); map.set(cid.toString(), bytes); return cid } } as unknown as BlobAccess & { put: (bytes: Uint8Array) => Promise<CID>, map: Map<string, Uint8Array> }
}

let key: SigningKey
let base: LayersModelSource
let spec: ModelSpec

beforeAll(async () => {
  [key, { base, spec }] = await Promise.all([generateKeyPair('Ed25519'), mobilenetLora(['cat', 'dog', 'bird'], 1)])
}, 60_000)

/** A genesis entry signed by `key` whose task map is `task`. */
async function genesisWith (task: Record<string, unknown>): Promise<Uint8Array> {
  const signed = await signEntry({
    v: 1, community: new Uint8Array(0), author: key.publicKey.raw, seq: 0, prev: null, ts: 1_700_000_000_000, kind: 'genesis',
    body: { name: 'model-test', task: task as { id: string }, maintainers: [key.publicKey.raw], release: blobCid(new Uint8Array([1])).bytes, policy: { maxDeltaNorm: 100, maxRoundMs: 3_600_000 } }
  }, key)
  return signed.bytes
}

describe('the genesis of a community of a pretrained model', () => {
  it('carries the spec in its task map; the base blobs are stored; the genesis release is the trainable weights only; a member resolves the task from them', async () => {
    const store = memoryStore()
    const { community, release } = await createCommunity({ model: { source: base, spec }, name: 'pets', key, store })
    expect(community.task).toBe(`layers-model/${modelSpecCid(spec)}`)
    expect(community.genesis.entry.body.task).toEqual({ id: community.task, spec })
    expect(community.modelSpec).toEqual(spec)
    expect(store.map.has(spec.topology)).toBe(true)
    expect(store.map.has(spec.base)).toBe(true)
    expect(release.manifest.task).toBe(community.task)
    expect(release.manifest.weights.map((w) => w.name)).toEqual(['dense_1/lora_b', 'dense_2/lora_b', 'dense_3/kernel', 'dense_3/bias'])
    expect(release.manifest.totalBytes).toBe(4 * (4 * 256 + 4 * 128 + 128 * 3 + 3))
    // the genesis as bytes round-trips through the full check
    const again = await parseGenesis(community.bytes)
    expect(again.modelSpec).toEqual(spec)

    const resolved = await resolveTask(again, store)
    expect(resolved.task.id).toBe(community.task)
    expect(resolved.base).toMatchObject({ topology: { cid: spec.topology, fetched: false }, weights: { cid: spec.base, fetched: false } })
    expect(resolved.model?.spec).toEqual(spec)
    expect(resolved.task.weightSpecs.map((s) => s.name)).toEqual(release.manifest.weights.map((w) => w.name))
  }, 60_000)

  it('a member without the base blobs and no peer: ERR_ROUNDS_MODEL_BASE_UNAVAILABLE naming the blob', async () => {
    const { community } = await createCommunity({ model: { source: base, spec }, name: 'pets', key, store: memoryStore() })
    await expect(resolveTask(community, memoryStore())).rejects.toMatchObject({ code: 'ERR_ROUNDS_MODEL_BASE_UNAVAILABLE', message: expect.stringContaining(spec.topology) })
  }, 60_000)

  it('refuses a model task without a spec, with a malformed spec, or whose spec has another CID (ERR_ROUNDS_BAD_GENESIS)', async () => {
    const id = `layers-model/${modelSpecCid(spec)}`
    await expect(parseGenesis(await genesisWith({ id }))).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringContaining('no model spec') })
    await expect(parseGenesis(await genesisWith({ id, spec: { ...spec, head: { ...spec.head, classes: 4 } } }))).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringMatching(/refuses.*labels must name each of the classes once/) })
    await expect(parseGenesis(await genesisWith({ id, spec: { ...spec, extra: 1 } }))).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS' })
    const other = { ...spec, head: { ...spec.head, labels: ['bird', 'cat', 'dog'] } }
    await expect(parseGenesis(await genesisWith({ id, spec: other }))).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringContaining(`has the id layers-model/${modelSpecCid(other)}`) })
    // the right pair is accepted
    expect((await parseGenesis(await genesisWith({ id, spec }))).task).toBe(id)
    expect(() => Community.fromGenesis({ entry: { kind: 'release' } } as never)).toThrow(/expected a genesis entry/)
  })

  it('createCommunity refuses a spec whose CIDs are not the base\'s, neither or both of task and model, and model with from', async () => {
    const store = memoryStore()
    await expect(createCommunity({ model: { source: base, spec: { ...spec, base: spec.topology } }, key, store })).rejects.toMatchObject({ code: 'ERR_MODEL_BASE_MISMATCH' })
    await expect(createCommunity({ key, store })).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringContaining('not none') })
    await expect(createCommunity({ task: 'mnist-2nn', model: { source: base, spec }, key, store })).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringContaining('not several') })
    await expect(createCommunity({ model: { source: base, spec }, from: '/tmp', key, store })).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS' })
    expect(store.map.size).toBe(0)
  }, 60_000)
})

describe('rounds.json data specs of a volunteer\'s own data', () => {
  const check = (data: unknown): unknown => validateRoundsConfig(createRoundsConfig({ volunteer: { data: data as never } }))

  it('takes an image folder and a CSV file with their options', () => {
    expect(() => check({ source: 'images', path: '/data/pets', size: [224, 224], channels: 3, labels: ['cat', 'dog'], resize: 'crop', minExamples: 10, limit: 100 })).not.toThrow()
    expect(() => check({ source: 'csv', path: '/data/iris.csv', label: 'species', features: ['a', 'b'], labels: ['setosa', 'virginica'] })).not.toThrow()
  })

  it('refuses bad fields, naming each', () => {
    expect(() => check({ source: 'images' })).toThrow(/volunteer\.data\.path/)
    expect(() => check({ source: 'images', path: '/p', resize: 'squash' })).toThrow(/volunteer\.data\.resize: .*crop.*stretch.*none/)
    expect(() => check({ source: 'images', path: '/p', channels: 4 })).toThrow(/volunteer\.data\.channels/)
    expect(() => check({ source: 'images', path: '/p', size: [0, 224] })).toThrow(/volunteer\.data\.size/)
    expect(() => check({ source: 'images', path: '/p', labels: ['cat', 'cat'] })).toThrow(/labels repeat/)
    expect(() => check({ source: 'images', path: '/p', colour: true })).toThrow(/volunteer\.data/)
    expect(() => check({ source: 'csv', path: '/p.csv' })).toThrow(/volunteer\.data\.label/)
    expect(() => check({ source: 'csv', path: '/p.csv', label: 'y', features: [] })).toThrow(/volunteer\.data\.features/)
    expect(() => check({ source: 'csv', path: '/p.csv', label: 'y', maxFileBytes: 2 ** 40 })).toThrow(/volunteer\.data\.maxFileBytes/)
  })
})
