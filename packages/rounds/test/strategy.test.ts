/**
 * The round strategy without a daemon: a real community (genesis release of mnist-2nn, signed entries), real
 * deltas encoded and decoded with @swarmtune/fedavg, real merges and a real evaluation on MNIST test examples
 * through the model package. Every close case the daemon tests cover (test/rounds-close, -slots, -faults,
 * test/faults/*) is reproduced here as a frozen round and the outcome the strategy returns for it.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  aggregate, applyUpdate, createAggregatorConfig, createModelSpec, encodeDelta, initServerOptimizerState, type ModelSpec
} from '@swarmtune/fedavg'
import { assembleRelease, evaluate, loadData, type Weights } from '@swarmtune/model'
import { blobCid, parseCid, signEntry, type CID, type SignedEntry } from '@swarmtune/wire'
import { beforeAll, describe, expect, it } from 'vitest'
import { createCommunity, type Community } from '../src/community.js'
import { MAX_JUDGED_PER_AUTHOR } from '../src/constants.js'
import { RoundParamsError } from '../src/errors.js'
import { blobUnavailable } from '../src/open-round.js'
import { planOf, type RoundPlan } from '../src/params.js'
import { aggregationFailure, decodeContribution, mergeRound, stateCid } from '../src/releases.js'
import {
  aggregateRound, canonicalOrder, configureRound, evaluateRound, judgeRound, mergesRound, overrule, screenRound,
  type Arrival, type Evaluation, type FrozenRound, type Judged
} from '../src/strategy.js'

const TRAIN = { steps: 20, batchSize: 50, learningRate: 0.1 }

let maintainer: PrivateKey
let community: Community
let base: Weights
let spec: ModelSpec
const volunteers: PrivateKey[] = []

beforeAll(async () => {
  maintainer = await generateKeyPair('Ed25519')
  for (let i = 0; i < 20; i++) volunteers.push(await generateKeyPair('Ed25519'))
  const blobs = new Map<string, Uint8Array>()
  const made = await createCommunity({ task: 'mnist-2nn', name: 'strategy', key: maintainer, store: { put: async (b) => { const cid = blobCid(b); blobs.set(cid.toString(), b); return cid } } })
  community = made.community
  base = (await assembleRelease(made.release.manifestBytes, async (cid) => blobs.get(cid.toString()) as Uint8Array)).weights
  spec = createModelSpec(base.specs.map((s) => s.shape))
})

/** A round-open signed by the maintainer, its plan, and a way to sign contributions to it. */
async function openRound (init: Record<string, unknown>, round = 1): Promise<{ open: SignedEntry<'round-open'>, plan: RoundPlan }> {
  const { open: body } = configureRound({ ...TRAIN, durationMs: 60_000, ...init }, community)
  const open = await signEntry({
    v: 1, community: community.id.bytes, author: maintainer.publicKey.raw, seq: round, prev: community.id.bytes, ts: Date.now(), kind: 'round-open',
    body: body({ round, base: community.release, now: Date.now() })
  }, maintainer) as SignedEntry<'round-open'>
  return { open, plan: planOf(open.entry.body, community) }
}

const filled = (value: number): Float32Array[] => spec.sizes.map((n) => new Float32Array(n).fill(value))
let seq = 100

/** A contribution signed by `key` to `open`, its blob's bytes, and the judgement the coordinator's fetch gives. */
async function contribution (key: PrivateKey, open: SignedEntry<'round-open'>, plan: RoundPlan, blob: Uint8Array, over: Partial<SignedEntry<'contribution'>['entry']['body']> = {}): Promise<{ arrival: Arrival, judged: Judged, blob: CID }> {
  const cid = blobCid(blob)
  const entry = await signEntry({
    v: 1, community: community.id.bytes, author: key.publicKey.raw, seq: seq++, prev: community.id.bytes, ts: Date.now(), kind: 'contribution',
    body: { round: open.entry.body.round, roundOpen: open.id.bytes, base: community.release.bytes, blob: cid.bytes, codec: { name: 'fp32', params: {} }, samples: 500, metrics: { lossBefore: 2.3, lossAfter: 0.5 }, norm: 1, ...over }
  }, key) as SignedEntry<'contribution'>
  const r = decodeContribution(blob, spec, plan)
  return { arrival: { id: entry.id.toString(), entry }, judged: 'code' in r ? { ok: false, ...r } : { ok: true, ...r }, blob: cid }
}

function frozenRound (open: SignedEntry<'round-open'>, plan: RoundPlan | undefined, sent: Array<{ arrival: Arrival, judged: Judged }>, over: Partial<FrozenRound> = {}): FrozenRound {
  return {
    round: open.entry.body.round,
    roundOpen: open.id.toString(),
    ...(plan === undefined ? {} : { plan }),
    policy: { maxSamples: community.policy.maxSamples },
    arrivals: sent.map((s) => s.arrival),
    earlierBlobs: new Set<string>(),
    judged: new Map(sent.map((s) => [s.arrival.id, s.judged])),
    ...over
  }
}

/** judge → aggregate as the coordinator runs them, merging from a fresh server-optimiser state. */
function close (frozen: FrozenRound): ReturnType<typeof aggregateRound> {
  const judged = judgeRound(frozen)
  const merge = frozen.plan !== undefined && mergesRound(frozen, judged) ? { base, serverState: initServerOptimizerState(frozen.plan.server, spec) } : undefined
  return aggregateRound(frozen, judged, merge)
}

const codes = (o: { verdicts: Array<{ id: string, code: string }> }): Map<string, string> => new Map(o.verdicts.map((v) => [v.id, v.code]))

describe('the round strategy', () => {
  it('configures a round from the request and the community, and refuses parameters beyond its policy', () => {
    const { params, open } = configureRound({ ...TRAIN, durationMs: 60_000, quorum: 2, maxContributions: 5 }, community)
    expect(params).toMatchObject({ quorum: 2, maxContributions: 5 })
    const body = open({ round: 3, base: community.release, now: 1_000 })
    expect(body).toMatchObject({ round: 3, quorum: 2, maxContributions: 5, deadline: 61_000 })
    expect(planOf(body, community).base.equals(community.release)).toBe(true)
    expect(() => configureRound({ ...TRAIN, durationMs: 60_000, normBound: community.policy.maxDeltaNorm * 2 }, community)).toThrow(RoundParamsError)
  })

  it('refuses every bad contribution with its code and releases base + FedAvg of the honest deltas alone', async () => {
    const { open, plan } = await openRound({ quorum: 2, maxContributions: 10 })
    const [h1, h2] = volunteers
    // each bad contribution from a member of its own (one author's first 8 are read)
    let next = 2
    const mal = (): PrivateKey => volunteers[next++]
    const honest1 = await contribution(h1, open, plan, encodeDelta(filled(0.001), spec, { codec: 'fp32' }), { samples: 300 })
    const honest2 = await contribution(h2, open, plan, encodeDelta(filled(-0.002), spec, { codec: 'fp32' }), { samples: 700 })
    const nanBlob = encodeDelta(filled(0.001), spec, { codec: 'fp32' })
    new DataView(nanBlob.buffer, nanBlob.byteOffset).setFloat32(nanBlob.length - 4, NaN, true)
    const transposed = createModelSpec(spec.shapes.map((s) => [...s].reverse()))
    const earlier = encodeDelta(filled(0.0004), spec, { codec: 'fp32' })
    const absent = mal()
    const unavailable = await contribution(absent, open, plan, encodeDelta(filled(0.0005), spec, { codec: 'fp32' }))
    const unserved: Judged = { ok: false, code: 'ERR_ROUNDS_BLOB_UNAVAILABLE', reason: blobUnavailable(unavailable.blob, peerIdFromPrivateKey(absent), 60_000, 'ERR_ABORTED', false) }
    const sent = {
      honest1,
      nan: await contribution(mal(), open, plan, nanBlob),
      huge: await contribution(mal(), open, plan, encodeDelta(filled(1), spec, { codec: 'fp32' })), // L2 norm √199210 ≈ 446 > 100
      shape: await contribution(mal(), open, plan, encodeDelta(transposed.sizes.map((n) => new Float32Array(n)), transposed, { codec: 'fp32' })),
      garbage: await contribution(mal(), open, plan, new TextEncoder().encode('not a delta')),
      stale: await contribution(mal(), open, plan, encodeDelta(filled(0.0001), spec, { codec: 'fp32' }), { base: blobCid(new TextEncoder().encode('another release')).bytes }),
      wrongRound: await contribution(mal(), open, plan, encodeDelta(filled(0.0001), spec, { codec: 'fp32' }), { roundOpen: blobCid(new TextEncoder().encode('a made-up round-open')).bytes }),
      codec: await contribution(mal(), open, plan, encodeDelta(filled(0.0001), spec, { codec: 'fp16' }), { codec: { name: 'fp16', params: {} } }),
      greedy: await contribution(mal(), open, plan, encodeDelta(filled(0.0003), spec, { codec: 'fp32' }), { samples: 1e12 }),
      replay: await contribution(mal(), open, plan, encodeDelta(filled(0.001), spec, { codec: 'fp32' })), // honest1's blob
      earlierRound: await contribution(mal(), open, plan, earlier),
      unavailable: { ...unavailable, judged: unserved },
      honest2,
      second: await contribution(h2, open, plan, encodeDelta(filled(0.0006), spec, { codec: 'fp32' }))
    }
    const frozen = frozenRound(open, plan, Object.values(sent), { earlierBlobs: new Set([blobCid(earlier).toString()]) })
    const outcome = close(frozen)
    const byWhat = Object.fromEntries(Object.entries(sent).map(([what, s]) => [what, codes(outcome).get(s.arrival.id)]))
    expect(byWhat).toEqual({
      honest1: 'OK',
      nan: 'ERR_FEDAVG_NON_FINITE',
      huge: 'ERR_FEDAVG_NORM_BOUND',
      shape: 'ERR_FEDAVG_CODEC_MALFORMED',
      garbage: 'ERR_FEDAVG_CODEC_MALFORMED',
      stale: 'ERR_ROUNDS_STALE_BASE',
      wrongRound: 'ERR_ROUNDS_WRONG_ROUND',
      codec: 'ERR_ROUNDS_CODEC_MISMATCH',
      greedy: 'ERR_ROUNDS_TOO_MANY_SAMPLES',
      replay: 'ERR_ROUNDS_REPLAYED',
      earlierRound: 'ERR_ROUNDS_REPLAYED',
      unavailable: 'ERR_ROUNDS_BLOB_UNAVAILABLE',
      honest2: 'OK',
      second: 'ERR_ROUNDS_DUPLICATE'
    })
    const reasons = new Map(outcome.verdicts.map((v) => [v.id, v.reason]))
    expect(reasons.get(sent.replay.arrival.id)).toMatch(/already contributed earlier in this round$/)
    expect(reasons.get(sent.earlierRound.arrival.id)).toMatch(/already contributed in an earlier round$/)
    expect(reasons.get(sent.unavailable.arrival.id)).toMatch(/was not served by the contributor .* \(no longer connected\) or any other connected peer within 60 s/)
    expect(reasons.get(sent.honest1.arrival.id)).toMatch(/^accepted \(delta L2 norm [0-9.]+\)$/)
    // what is read: everything that passed the entry checks and is not a replay
    expect(screenRound(frozen).filter((s) => s.rejection === undefined).map((s) => s.arrival.id).sort())
      .toEqual([honest1, sent.nan, sent.huge, sent.shape, sent.garbage, sent.unavailable, honest2, sent.second].map((s) => s.arrival.id).sort())
    // verdicts in arrival order; the outcome and its reason
    expect(outcome.verdicts.map((v) => v.id)).toEqual(Object.values(sent).map((s) => s.arrival.id))
    expect(outcome).toMatchObject({ outcome: 'released', mergeFailed: false, reason: `2 of ${Object.keys(sent).length} contribution(s) accepted` })
    expect(outcome.failure).toBeUndefined()
    expect(outcome.accepted.map((v) => v.id)).toEqual([honest1.arrival.id, honest2.arrival.id])

    // the merged weights are exactly base + FedAvg (n_k / n) of the two honest deltas, computed with fedavg alone
    const honestDeltas = [honest1, honest2].map((s) => ({ id: s.arrival.entry.id.bytes, weight: s.arrival.entry.entry.body.samples, delta: (s.judged as { delta: Float32Array[] }).delta }))
    const merged = aggregate(honestDeltas, spec, createAggregatorConfig({ kind: 'fedavg' }))
    if (merged.status !== 'update') throw new Error('the honest deltas did not aggregate')
    const expected = applyUpdate(base.values, merged.delta)
    outcome.merged?.weights?.values.forEach((v, t) => { expect(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(expected[t].buffer))).toBe(true) })
    const order = canonicalOrder(outcome.accepted).map((v) => v.id)
    expect(outcome.merged?.weightsOf).toEqual(order.map((id) => (id === honest1.arrival.id ? 300 : 700) / 1000))
  })

  it('gives at most maxContributions slots: a valid contribution after they are taken is late', async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 2 })
    const sent = await Promise.all(volunteers.slice(0, 3).map(async (k, i) => await contribution(k, open, plan, encodeDelta(filled(0.001 * (i + 1)), spec, { codec: 'fp32' }))))
    const outcome = close(frozenRound(open, plan, sent))
    expect(outcome.verdicts.map((v) => v.code)).toEqual(['OK', 'OK', 'ERR_ROUNDS_LATE'])
    expect(outcome.verdicts[2].reason).toBe(`round 1 already had its 2 (maxContributions) contribution(s) that passed the checks when this one's turn came`)
    expect(outcome.outcome).toBe('released')
  })

  it('gives the only slot to the honest contribution after ones naming a made-up round-open or holding bad deltas', async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 1 })
    const [mal, honest] = volunteers
    const madeUp = await contribution(mal, open, plan, encodeDelta(filled(0.0001), spec, { codec: 'fp32' }), { roundOpen: blobCid(new TextEncoder().encode('made up')).bytes })
    const transposed = createModelSpec(spec.shapes.map((s) => [...s].reverse()))
    const shape = await contribution(volunteers[2], open, plan, encodeDelta(transposed.sizes.map((n) => new Float32Array(n)), transposed, { codec: 'fp32' }))
    const good = await contribution(honest, open, plan, encodeDelta(filled(0.001), spec, { codec: 'fp32' }))
    const outcome = close(frozenRound(open, plan, [madeUp, shape, good]))
    expect(outcome.verdicts.map((v) => v.code)).toEqual(['ERR_ROUNDS_WRONG_ROUND', 'ERR_FEDAVG_CODEC_MALFORMED', 'OK'])
    expect(outcome.outcome).toBe('released')
  })

  it(`reads at most ${MAX_JUDGED_PER_AUTHOR} contributions of one author; the rest are duplicates, unread`, async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 5 })
    const key = volunteers[3]
    const sent = []
    for (let i = 0; i < MAX_JUDGED_PER_AUTHOR + 2; i++) sent.push(await contribution(key, open, plan, encodeDelta(filled(0.0001 * (i + 1)), spec, { codec: 'fp32' })))
    const frozen = frozenRound(open, plan, sent)
    const unread = sent.slice(MAX_JUDGED_PER_AUTHOR).map((s) => s.arrival.id)
    expect(screenRound(frozen).filter((s) => s.rejection === undefined).map((s) => s.arrival.id)).toEqual(sent.slice(0, MAX_JUDGED_PER_AUTHOR).map((s) => s.arrival.id))
    // judging needs no judgement of an unread one
    const outcome = close({ ...frozen, judged: new Map([...frozen.judged].filter(([id]) => !unread.includes(id))) })
    expect(outcome.verdicts.map((v) => v.code)).toEqual(['OK', ...Array(MAX_JUDGED_PER_AUTHOR - 1).fill('ERR_ROUNDS_DUPLICATE'), 'ERR_ROUNDS_DUPLICATE', 'ERR_ROUNDS_DUPLICATE'])
    expect(outcome.verdicts.at(-1)?.reason).toBe(`the author sent more than ${MAX_JUDGED_PER_AUTHOR} contributions to this round; the rest are not read`)
    // a judgement screenRound asks for and the caller did not give is a programming error
    expect(() => judgeRound({ ...frozen, judged: new Map() })).toThrow(/was not judged/)
  })

  it('closes without a release below the quorum, and with no contribution at all', async () => {
    const { open, plan } = await openRound({ quorum: 2, maxContributions: 5 })
    const one = await contribution(volunteers[0], open, plan, encodeDelta(filled(0.001), spec, { codec: 'fp32' }))
    const frozen = frozenRound(open, plan, [one])
    expect(mergesRound(frozen, judgeRound(frozen))).toBe(false)
    const outcome = close(frozen)
    expect(outcome).toMatchObject({ outcome: 'no-release', reason: 'ERR_ROUNDS_NO_QUORUM: 1 contribution(s) passed validation; the round\'s quorum is 2', accepted: [] })
    expect(outcome.verdicts.map((v) => [v.accepted, v.code, v.reason])).toEqual([[false, 'ERR_ROUNDS_NO_QUORUM', 'not aggregated: 1 contribution(s) passed validation; the round\'s quorum is 2']])
    expect(outcome.merged).toBeUndefined()
    const empty = close(frozenRound(open, plan, []))
    expect(empty).toMatchObject({ outcome: 'no-release', verdicts: [], reason: 'ERR_ROUNDS_NO_QUORUM: 0 contribution(s) passed validation; the round\'s quorum is 2' })
  })

  it('rejects every contribution of a cancelled round and closes it as cancelled', async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 5 })
    const sent = await Promise.all(volunteers.slice(0, 2).map(async (k, i) => await contribution(k, open, plan, encodeDelta(filled(0.001 * (i + 1)), spec, { codec: 'fp32' }))))
    // the judgements of a cancelled round are never awaited
    const outcome = close(frozenRound(open, plan, sent, { cancel: 'wrong data', judged: new Map() }))
    expect(outcome).toMatchObject({ outcome: 'cancelled', reason: 'wrong data', accepted: [] })
    expect(outcome.verdicts.map((v) => [v.code, v.reason])).toEqual(sent.map(() => ['ERR_ROUNDS_CANCELLED', 'the round was cancelled: wrong data']))
  })

  it('closes a Krum round with fewer deltas than 2f + 3 without a release: the merge failure is every accepted verdict\'s code', async () => {
    const { open: signed } = await openRound({ quorum: 1, maxContributions: 2 })
    // a round-open signed without the checks of `round start` (as an older version did): Krum f = 1
    const body = signed.entry.body
    const open = { ...signed, entry: { ...signed.entry, body: { ...body, aggregator: { name: 'krum', params: { ...body.aggregator.params, byzantine: 1, select: 1 } } } } } as SignedEntry<'round-open'>
    const plan = planOf(open.entry.body, community)
    const sent = await Promise.all(volunteers.slice(0, 2).map(async (k, i) => await contribution(k, open, plan, encodeDelta(filled(0.001 * (i + 1)), spec, { codec: 'fp32' }))))
    const outcome = close(frozenRound(open, plan, sent))
    expect(outcome).toMatchObject({ outcome: 'no-release', mergeFailed: true, failure: { code: 'ERR_FEDAVG_TOO_FEW_DELTAS' }, accepted: [] })
    expect(outcome.reason).toMatch(/^ERR_FEDAVG_TOO_FEW_DELTAS: aggregator krum failed: .*needs at least 5/)
    expect(outcome.verdicts.map((v) => [v.accepted, v.code])).toEqual([[false, 'ERR_FEDAVG_TOO_FEW_DELTAS'], [false, 'ERR_FEDAVG_TOO_FEW_DELTAS']])
    expect(outcome.verdicts[0].reason).toMatch(/^not aggregated: aggregator krum failed: /)
  })

  it('leaves out the deltas a robust aggregator excludes (Multi-Krum keeps the m lowest scores) and releases the rest', async () => {
    const { open, plan } = await openRound({ quorum: 5, maxContributions: 6, aggregator: { kind: 'krum', byzantine: 1, select: 5 } })
    const values = [0.001, 0.0011, 0.0012, 0.0009, 0.02, 0.00105]
    const sent = await Promise.all(values.map(async (x, i) => await contribution(volunteers[i], open, plan, encodeDelta(filled(x), spec, { codec: 'fp32' }))))
    const outcome = close(frozenRound(open, plan, sent))
    expect(outcome.outcome).toBe('released')
    expect(outcome.accepted).toHaveLength(5)
    expect(outcome.verdicts.filter((v) => !v.accepted).map((v) => [v.id, v.code])).toEqual([[sent[4].arrival.id, 'ERR_FEDAVG_OUTLIER']])
    expect(outcome.verdicts[4].reason).toMatch(/^Krum score .* is not among the 5 lowest$/)
    expect(outcome.reason).toBe('5 of 6 contribution(s) accepted')

    // the quorum counts what the aggregator keeps: Multi-Krum keeping fewer than the quorum releases nothing
    const few = await openRound({ quorum: 5, maxContributions: 6, aggregator: { kind: 'krum', byzantine: 1, select: 2 } })
    const again = await Promise.all(values.map(async (x, i) => await contribution(volunteers[i], few.open, few.plan, encodeDelta(filled(x), spec, { codec: 'fp32' }))))
    const none = close(frozenRound(few.open, few.plan, again))
    expect(none).toMatchObject({ outcome: 'no-release', reason: 'ERR_ROUNDS_NO_QUORUM: 2 contribution(s) passed validation; the round\'s quorum is 5', accepted: [] })
    expect(none.verdicts.filter((v) => v.code === 'ERR_FEDAVG_OUTLIER')).toHaveLength(4)
    expect(none.verdicts.filter((v) => v.code === 'ERR_ROUNDS_NO_QUORUM')).toHaveLength(2)
  })

  it('rejects every arrival of a round whose parameters cannot be read, with the reading\'s code', async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 5 })
    const sent = [await contribution(volunteers[0], open, plan, encodeDelta(filled(0.001), spec, { codec: 'fp32' }))]
    const failure = aggregationFailure(new RoundParamsError('train.optimizer "rmsprop" is unknown'), 'its parameters cannot be read')
    const outcome = close(frozenRound(open, undefined, sent, { failure }))
    expect(failure.code).toBe('ERR_ROUNDS_BAD_PARAMS')
    expect(outcome).toMatchObject({ outcome: 'no-release', failure, mergeFailed: false, reason: `${failure.code}: ${failure.reason}` })
    expect(outcome.verdicts.map((v) => [v.code, v.reason])).toEqual([[failure.code, `not aggregated: ${failure.reason}`]])
  })

  it('keeps the verdicts signed before a restart: a rejection stands, an acceptance that cannot be used now is a conflict', async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 5 })
    const [a, b] = await Promise.all(volunteers.slice(0, 2).map(async (k, i) => await contribution(k, open, plan, encodeDelta(filled(0.001 * (i + 1)), spec, { codec: 'fp32' }))))
    const signed = new Map([[a.arrival.id, { accepted: false, code: 'ERR_ROUNDS_LATE', reason: 'signed before the restart' }], [b.arrival.id, { accepted: true, code: 'OK', reason: 'accepted' }]])
    const outcome = close(frozenRound(open, plan, [a, b], { signed }))
    expect(outcome.verdicts.map((v) => [v.accepted, v.code, v.reason])).toEqual([[false, 'ERR_ROUNDS_LATE', 'signed before the restart'], [true, 'OK', expect.stringMatching(/^accepted/)]])
    expect(outcome.accepted.map((v) => v.id)).toEqual([b.arrival.id])
    const unreadable: Judged = { ok: false, code: 'ERR_ROUNDS_BLOB_UNAVAILABLE', reason: 'not served' }
    expect(() => judgeRound(frozenRound(open, plan, [a, { ...b, judged: unreadable }], { signed }))).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_RESUME_CONFLICT' }))
  })

  it('overrules a verdict into a new value and leaves the old one as it was', async () => {
    const { open, plan } = await openRound({ quorum: 1, maxContributions: 5 })
    const one = await contribution(volunteers[0], open, plan, encodeDelta(filled(0.001), spec, { codec: 'fp32' }))
    const [v] = judgeRound(frozenRound(open, plan, [one]))
    const w = overrule(v, 'ERR_ROUNDS_NO_QUORUM', 'not aggregated')
    expect(w).toEqual({ id: v.id, entry: v.entry, accepted: false, code: 'ERR_ROUNDS_NO_QUORUM', reason: 'not aggregated' })
    expect(v.accepted).toBe(true)
    expect(v.delta).toBeDefined()
  })

  it('evaluates the merged weights on MNIST and builds the same release bytes on every call', async () => {
    const { open, plan } = await openRound({ quorum: 2, maxContributions: 5 })
    const sent = await Promise.all(volunteers.slice(0, 3).map(async (k, i) => await contribution(k, open, plan, encodeDelta(filled(0.0005 * (i + 1)), spec, { codec: 'fp32' }), { samples: 100 * (i + 1) })))
    const frozen = frozenRound(open, plan, sent)
    const outcome = close(frozen)
    const data = await loadData({ source: 'mnist', split: 'test', limit: 200 })
    const evaluator = async (weights: Weights): Promise<Evaluation> => await evaluate({ task: 'mnist-2nn', weights, data })
    const who = { community: community.id, task: 'mnist-2nn', author: maintainer.publicKey.raw }
    const release = await evaluateRound(frozen, outcome, evaluator, who)
    expect(release.evaluation.count).toBe(200)
    expect(release.evaluation.accuracy).toBeGreaterThanOrEqual(0)
    expect(release.evaluation.accuracy).toBeLessThanOrEqual(1)
    expect(release.body).toMatchObject({
      round: 1,
      weights: outcome.merged?.weightsOf,
      metrics: { accuracy: release.evaluation.accuracy, loss: release.evaluation.loss, evalExamples: 200, samples: 600, serverOptimizerState: stateCid(release.stateBytes) }
    })
    expect(parseCid(release.body.parent).equals(community.release)).toBe(true)
    expect(parseCid(release.body.manifest).equals(release.built.manifestCid)).toBe(true)
    expect(release.body.contributions.map((c) => parseCid(c).toString())).toEqual(canonicalOrder(outcome.accepted).map((v) => v.id))
    // deterministic: the same merge and metrics give the same manifest; mergeRound alone gives the same weights
    const again = await evaluateRound(frozen, close(frozen), evaluator, who)
    expect(again.built.manifestCid.toString()).toBe(release.built.manifestCid.toString())
    const direct = mergeRound(base, plan, canonicalOrder(outcome.accepted).map((v) => ({ id: v.entry.id.bytes, weight: v.entry.entry.body.samples, delta: (sent.find((s) => s.arrival.id === v.id)?.judged as { delta: Float32Array[] }).delta })), initServerOptimizerState(plan.server, spec))
    expect(Buffer.from(direct.stateBytes as Uint8Array).equals(Buffer.from(release.stateBytes))).toBe(true)
    // an outcome without a release has nothing to evaluate
    await expect(evaluateRound(frozen, close(frozenRound(open, plan, [])), evaluator, who)).rejects.toThrow(/no merged weights/)
  })
})
