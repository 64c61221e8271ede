/**
 * The parts of the rounds module that need no network: genesis files (hostile ones included), round
 * parameters and their round trip through a round-open body, maintainer rights (as the ledger enforces them
 * for a genesis the rounds module writes), delta decoding against the round, the rounds settings, and the
 * state store (a real LevelDB in a temporary folder).
 */
import { symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createModelSpec, encodeDelta } from '@swarmtune/fedavg'
import { getTask } from '@swarmtune/model'
import { createMemoryDb, openLedger } from '@swarmtune/ledger'
import {
  RoundsState, createCommunity, createRoundParams, decodeContribution, planOf, readGenesisFile, readRoundsConfig, roundOpenBody, validateRoundsConfig, writeGenesisFile, type Community
} from '@swarmtune/rounds'
import { blobCid, signEntry, type CID } from '@swarmtune/wire'
import { tempDir } from '@swarmtune/test-support'

let dir: string
let removeDir: () => Promise<void>
let community: Community
let maintainerKey: Awaited<ReturnType<typeof generateKeyPair>>
const stored: Uint8Array[] = []
const store = { put: async (bytes: Uint8Array): Promise<CID> => { stored.push(bytes); return blobCid(bytes) } }

beforeAll(async () => {
  ({ path: dir, cleanup: removeDir } = await tempDir('swarmtune-rounds-parts-'))
  maintainerKey = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')
  community = (await createCommunity({ task: 'mnist-2nn', name: 'parts', key: maintainerKey, store, maintainers: [peerIdFromPrivateKey(other).toString()], policy: { maxDeltaNorm: 50, maxRoundMs: 60_000 } })).community
})

afterAll(async () => { await removeDir() })

describe('community genesis', () => {
  it('stores the genesis release and signs a genesis naming both maintainers, the creator first', async () => {
    const manifest = stored[stored.length - 1]
    expect(blobCid(manifest).equals(community.release)).toBe(true)
    expect(community.maintainers).toHaveLength(2)
    expect(community.isMaintainer(maintainerKey.publicKey.raw)).toBe(true)
    expect(community.policy).toEqual({ maxDeltaNorm: 50, maxRoundMs: 60_000, maxSamples: 60_000 })
    expect(community.id.equals(blobCid(community.bytes))).toBe(true)
  })

  it('reads back a genesis file and refuses damaged, foreign or oversized ones with ERR_ROUNDS_BAD_GENESIS', async () => {
    const file = join(dir, 'ok.genesis')
    await writeGenesisFile(file, community)
    expect((await readGenesisFile(file)).id.equals(community.id)).toBe(true)

    const flipped = new Uint8Array(community.bytes)
    flipped[flipped.length - 5] ^= 0x01 // a byte of the signed timestamp
    const roundOpen = await signEntry({
      v: 1, community: community.id.bytes, author: maintainerKey.publicKey.raw, seq: 1, prev: community.id.bytes, ts: Date.now(), kind: 'round-open',
      body: roundOpenBody(createRoundParams({}, community), { round: 1, base: community.release, now: Date.now() })
    }, maintainerKey)
    const cases: Array<[string, Uint8Array]> = [
      ['tampered', flipped],
      ['not a genesis', roundOpen.bytes],
      ['not msgpack', new TextEncoder().encode('{"name":"x"}')],
      ['too large', new Uint8Array(70 * 1024)]
    ]
    for (const [name, bytes] of cases) {
      const path = join(dir, `${name}.genesis`)
      await writeFile(path, bytes)
      await expect(readGenesisFile(path), name).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS' })
    }
    await expect(readGenesisFile(join(dir, 'missing.genesis'))).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS' })
    await symlink('/dev/zero', join(dir, 'zero.genesis'))
    await expect(readGenesisFile(join(dir, 'zero.genesis'))).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringMatching(/not a regular file/) })
    await expect(createCommunity({ task: 'mnist-2nn', key: maintainerKey, store, maintainers: ['not-a-peer-id'] })).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS' })
    // a community whose longest round is shorter than the shortest round could never open one
    await expect(createCommunity({ task: 'mnist-2nn', key: maintainerKey, store, policy: { maxRoundMs: 1_000 } })).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_GENESIS', message: expect.stringMatching(/--max-round-time.*1000 ms is below the shortest round.*2000 ms/) })
  })
})

describe('round parameters', () => {
  it('fill defaults from the community and survive the round trip through a round-open body', () => {
    const params = createRoundParams({ steps: 30, batchSize: 50, aggregator: { kind: 'trimmed-mean', beta: 0.2 }, server: { kind: 'momentum', lr: 0.7 }, codec: { codec: 'topk-int8', fraction: 0.05 } }, community)
    expect(params.normBound).toBe(50)
    const body = roundOpenBody(params, { round: 4, base: community.release, now: 1_000 })
    expect(body.train).toEqual({ epochs: 1, batchSize: 50, learningRate: 0.05, optimizer: 'sgd', steps: 30 })
    const plan = planOf(body, community)
    expect(plan.train).toEqual({ steps: 30, batchSize: 50, learningRate: 0.05, optimizer: { name: 'sgd' } })
    expect(plan.aggregator).toEqual({ kind: 'trimmed-mean', beta: 0.2 })
    expect(plan.server).toMatchObject({ kind: 'momentum', lr: 0.7, nesterov: true })
    expect(plan.codec).toEqual({ codec: 'topk-int8', fraction: 0.05 })
    expect(plan.deadline).toBe(1_000 + params.durationMs)
  })

  it('refuse values out of range, naming the field (ERR_ROUNDS_BAD_PARAMS)', () => {
    const bad: unknown[] = [
      { durationMs: 120_000 }, // above the community's maxRoundMs
      { normBound: 51 }, // above maxDeltaNorm
      { quorum: 5, maxContributions: 4 },
      { steps: 0 },
      { aggregator: { kind: 'trimmed-mean', beta: 0.7 } },
      { codec: { codec: 'zip' } },
      { learningRate: -1 },
      { unknown: 1 },
      { aggregator: { kind: 'krum' }, quorum: 4 }, // Krum with f = 1 needs 2f + 3 = 5
      { aggregator: { kind: 'krum', f: 2 }, quorum: 6 },
      { aggregator: { kind: 'krum', f: -1 }, quorum: 5 },
      { aggregator: { kind: 'krum', f: 1.5 }, quorum: 9 },
      { aggregator: { kind: 'krum', f: 1, byzantine: 1 }, quorum: 5 },
      { aggregator: { kind: 'krum', bogus: 3 }, quorum: 5 },
      { aggregator: { kind: 'fedavg', beta: 0.1 } }
    ]
    for (const init of bad) expect(() => createRoundParams(init, community), JSON.stringify(init)).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_BAD_PARAMS' }))
    expect(() => createRoundParams({ durationMs: 1_500 }, community)).toThrow(/durationMs: the round duration \(--duration\) must be at least 2000 ms \(2 s\), got 1500 ms/)
    expect(createRoundParams({ aggregator: { kind: 'krum', f: 2, m: 3 }, quorum: 7, maxContributions: 7 }, community).aggregator).toEqual({ kind: 'krum', byzantine: 2, select: 3 })
    const body = roundOpenBody(createRoundParams({}, community), { round: 1, base: community.release, now: 0 })
    expect(() => planOf({ ...body, normBound: 500 }, community)).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_BAD_PARAMS' }))
    expect(() => planOf({ ...body, aggregator: { name: 'bogus', params: {} } }, community)).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_BAD_PARAMS' }))
  })
})

describe('maintainer rights', () => {
  it('are the ones the genesis of `community create --maintainer` names, enforced by the ledger that stores it', async () => {
    const stranger = await generateKeyPair('Ed25519')
    const ledger = await openLedger({ db: createMemoryDb() })
    try {
      await ledger.append(community.bytes)
      expect(community.maintainers.map((k) => Buffer.from(k).toString('hex')).sort()).toEqual([...ledger.maintainers ?? []].sort())
      expect(community.isMaintainer(maintainerKey.publicKey.raw)).toBe(true)
      expect(community.isMaintainer(stranger.publicKey.raw)).toBe(false)
      const open = () => ({ kind: 'round-open' as const, body: roundOpenBody(createRoundParams({}, community), { round: 1, base: community.release, now: 0 }) })
      await expect(ledger.sign(open(), stranger)).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
      expect((await ledger.sign(open(), maintainerKey)).entry.kind).toBe('round-open')
      await ledger.sign({ kind: 'contribution', body: { round: 1, roundOpen: community.id.bytes, base: community.release.bytes, blob: community.release.bytes, codec: { name: 'fp32', params: {} }, samples: 1, metrics: { lossBefore: 1, lossAfter: 1 }, norm: 0 } }, stranger)
      expect(ledger.size).toBe(3)
    } finally {
      await ledger.close()
    }
  })
})

describe('delta decoding against the round', () => {
  const spec = createModelSpec(getTask('mnist-2nn').weightSpecs.map((s) => s.shape))
  const plan = (): ReturnType<typeof planOf> => planOf(roundOpenBody(createRoundParams({ codec: { codec: 'int8' }, normBound: 10 }, community), { round: 1, base: community.release, now: 0 }), community)
  const small = spec.sizes.map((n) => new Float32Array(n).fill(0.001))

  it('accepts a delta of the round\'s codec and layout, and reports its norm', () => {
    const r = decodeContribution(encodeDelta(small, spec, { codec: 'int8' }), spec, plan())
    expect('norm' in r && r.norm).toBeCloseTo(0.001 * Math.sqrt(spec.params), 4)
  })

  it('rejects another codec, a wrong size, garbage and a delta over the norm bound with stable codes', () => {
    const code = (bytes: Uint8Array): string | undefined => { const r = decodeContribution(bytes, spec, plan()); return 'code' in r ? r.code : undefined }
    const fp16 = encodeDelta(small, spec, { codec: 'fp16' })
    expect(code(fp16)).toBe('ERR_FEDAVG_CODEC_MALFORMED') // size of an int8 delta expected
    const int8 = encodeDelta(small, spec, { codec: 'int8' })
    expect(code(int8.subarray(0, int8.length - 1))).toBe('ERR_FEDAVG_CODEC_MALFORMED')
    const garbage = new Uint8Array(int8.length)
    expect(code(garbage)).toBe('ERR_FEDAVG_CODEC_MAGIC')
    expect(code(encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(1)), spec, { codec: 'int8' }))).toBe('ERR_FEDAVG_NORM_BOUND')
  })
})

describe('rounds settings and state store', () => {
  it('validates settings and names every bad field', async () => {
    expect(() => validateRoundsConfig({ coordinator: { enabled: 'yes', evalData: { source: 'mnist', split: 'test' } }, volunteer: { enabled: true, maxRoundMs: 0 } }))
      .toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_CONFIG_INVALID', message: expect.stringMatching(/coordinator\.enabled[\s\S]*volunteer\.maxRoundMs/) }))
    // the training budget is one timer: beyond 2^31 − 1 ms Node.js would fire it at once
    expect(() => validateRoundsConfig({ volunteer: { maxRoundMs: 2 ** 31 } })).toThrow(/volunteer\.maxRoundMs: must be at most 2147483647 ms/)
    await writeFile(join(dir, 'rounds.json'), JSON.stringify({ volunteer: { data: { source: 'mnist', split: 'train', partition: { scheme: 'iid', clients: 2, client: 2, seed: 1 } } } }))
    await expect(readRoundsConfig(dir)).rejects.toMatchObject({ code: 'ERR_ROUNDS_CONFIG_INVALID' })
    await writeFile(join(dir, 'rounds.json'), '{ not json')
    await expect(readRoundsConfig(dir)).rejects.toMatchObject({ code: 'ERR_ROUNDS_CONFIG_INVALID' })
    await writeFile(join(dir, 'rounds.json'), JSON.stringify({ volunteer: { backend: 'cpu' } }))
    const config = await readRoundsConfig(dir, { volunteer: { maxRoundMs: 5_000 } })
    expect(config.volunteer).toMatchObject({ enabled: true, backend: 'cpu', maxRoundMs: 5_000 })
    expect(config.coordinator.evalData).toEqual({ source: 'mnist', split: 'test', limit: 10_000 })
  })

  it('keeps arrival order idempotently across a reopen, and refuses another layout version', async () => {
    const path = join(dir, 'state')
    let state = await RoundsState.open(path)
    expect(await state.addArrival(3, 'a')).toBe(0)
    expect(await state.addArrival(3, 'b')).toBe(1)
    expect(await state.addArrival(3, 'a')).toBe(0)
    await state.putRound({ round: 3, roundOpen: 'x', phase: 'closing', frozen: 2 })
    await state.close()
    state = await RoundsState.open(path)
    expect(await state.arrivals(3)).toEqual(['a', 'b'])
    expect(await state.getRound(3)).toEqual({ round: 3, roundOpen: 'x', phase: 'closing', frozen: 2 })
    await state.close()
    const { Level } = await import('level')
    const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('meta!version', new TextEncoder().encode(JSON.stringify({ version: 99 })))
    await db.close()
    await expect(RoundsState.open(path)).rejects.toMatchObject({ code: 'ERR_ROUNDS_STATE_VERSION' })
  })
})
