/**
 * A malicious member in a round, with real daemons on 127.0.0.1: next to two honest volunteers, a daemon of
 * the community signs (with its real key, through its real ledger and blob store) contributions whose delta
 * holds NaN, has a huge norm, has the wrong shapes, answers another base, or replays an honest volunteer's
 * blob, or claims 1e12 training samples; it republishes an honest contribution, sends a contribution with a broken signature, contributes
 * after the round closed, and opens a round of its own although it is no maintainer (refused at ledger
 * ingest; test/ledger-authority.test.ts covers the sync path). Each is refused with its reason on record,
 * and the release equals the aggregate of the honest deltas alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { aggregate, applyUpdate, createAggregatorConfig, createModelSpec, decodeDelta, encodeDelta, type ModelSpec } from '@swarmtune/fedavg'
import { getTask } from '@swarmtune/model'
import { loadRelease, mergeRound, planOf, serverStateFor, type RoundDetail } from '@swarmtune/rounds'
import { blobCid, communityTopic, encodeCanonical, parseCid, signEntry, type SignedEntry } from '@swarmtune/wire'
import { waitFor } from '@swarmtune/test-support'
import { connectedTo, contributionBody, eventOf, ready, startMaintainer, startRoundsNode, startVolunteers, UNTIL_DEADLINE, type RoundsNode } from '@swarmtune/test-support/rounds'
import { destroyAll } from '@swarmtune/test-support/daemons'

const TRAIN = { steps: 20, batchSize: 50, learningRate: 0.1 }
const ROUND_MS = 25_000

describe('a malicious member in a round', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let m: RoundsNode
  let honest: RoundsNode[] = []
  let mal: RoundsNode
  let round: RoundDetail
  const spec: ModelSpec = createModelSpec(getTask('mnist-2nn').weightSpecs.map((s) => s.shape))
  const sent = new Map<string, string>() // contribution id → what it was

  beforeAll(async () => {
    // the tests act on rounds while they are open: no early close once the volunteers that answered contributed
    maintainer = await startMaintainer({ config: UNTIL_DEADLINE })
    m = maintainer.node
    const bootstrap = [m.daemon.addresses()[0]]
    honest = await startVolunteers(maintainer, 2, { lossExamples: 500 })
    mal = await startRoundsNode({ genesis: maintainer.genesis, bootstrap })
    await connectedTo(m, [...honest, mal])
    await ready([m, ...honest])
  })

  afterAll(async () => {
    await destroyAll([...honest, mal])
    await maintainer?.cleanup()
  })

  /** Signs a contribution with the malicious daemon's key and gossips it; its blob goes into its blob store. */
  async function contribute (what: string, blob: Uint8Array, body: Partial<SignedEntry<'contribution'>['entry']['body']> = {}): Promise<SignedEntry> {
    const cid = await mal.daemon.exchange.put(blob)
    const signed = await mal.ledger.sign({ kind: 'contribution', body: contributionBody(round, cid, body) })
    sent.set(signed.id.toString(), what)
    return signed
  }

  const filled = (value: number): Float32Array[] => spec.sizes.map((n) => new Float32Array(n).fill(value))

  it('refuses every bad contribution with its reason and releases the honest aggregate', async () => {
    round = await m.rounds.startRound({ ...TRAIN, durationMs: ROUND_MS, quorum: 2, maxContributions: 10 })
    await waitFor(async () => await mal.ledger.ledger.get(round.roundOpen) !== undefined, 10_000, 'the round-open at the malicious node')

    const nan = encodeDelta(filled(0.001), spec, { codec: 'fp32' })
    new DataView(nan.buffer, nan.byteOffset).setFloat32(nan.length - 4, NaN, true)
    await contribute('nan', nan)
    await contribute('huge', encodeDelta(filled(1), spec, { codec: 'fp32' })) // L2 norm √199210 ≈ 446 > 100
    const transposed = createModelSpec(spec.shapes.map((s) => [...s].reverse()))
    await contribute('shape', encodeDelta(transposed.sizes.map((n) => new Float32Array(n)), transposed, { codec: 'fp32' }))
    await contribute('stale', encodeDelta(filled(0.0001), spec, { codec: 'fp32' }), { base: blobCid(new TextEncoder().encode('another release')).bytes })
    // a claim of 1e12 samples, which would take FedAvg's mean to this delta alone: over the policy's maxSamples
    const greedyBlob = encodeDelta(filled(0.0003), spec, { codec: 'fp32' })
    const greedy = await contribute('greedy', greedyBlob, { samples: 1e12 })

    // wait for an honest contribution, then replay its blob under the malicious node's own entry
    const first = await eventOf(m, 'rounds:contribution', (e) => e.round === round.round && e.peer === honest[0].daemon.peerId.toString(), 60_000)
    const honestEntry = await waitForEntry(mal, String(first.contribution))
    const honestBlob = parseCid(honestEntry.entry.body.blob)
    // (the honest volunteer serves its blob to anyone; taken straight from its store here)
    await contribute('replay', await honest[0].daemon.blobs.get(honestBlob))
    // an exact replay of the honest entry changes nothing: gossipsub drops a message id (the hash of its bytes)
    // it has seen, and a ledger stores an entry once
    await mal.daemon.gossip.publish(maintainer.community.id, honestEntry.bytes).catch(() => {})

    // a contribution whose signature does not verify never reaches a ledger
    const genuine = await signEntry({
      ...honestEntry.entry, author: mal.daemon.privateKey.publicKey.raw, seq: 40, prev: honestEntry.id.bytes, ts: Date.now()
    }, mal.daemon.privateKey)
    const sig = new Uint8Array(genuine.entry.sig)
    sig[0] ^= 0x01
    await mal.daemon.libp2p.services.pubsub.publish(communityTopic(maintainer.community.id), encodeCanonical({ ...genuine.entry, sig }))

    const r = await m.rounds.waitClosed(round.round, { timeoutMs: ROUND_MS + 30_000 })
    expect(r.outcome).toBe('released')
    const codes = new Map(r.contributions.map((c) => [c.id, c.verdict?.code]))
    const byWhat = Object.fromEntries([...sent].map(([id, what]) => [what, codes.get(id)]))
    expect(byWhat).toEqual({
      nan: 'ERR_FEDAVG_NON_FINITE',
      huge: 'ERR_FEDAVG_NORM_BOUND',
      shape: 'ERR_FEDAVG_CODEC_MALFORMED',
      stale: 'ERR_ROUNDS_STALE_BASE',
      replay: 'ERR_ROUNDS_REPLAYED',
      greedy: 'ERR_ROUNDS_TOO_MANY_SAMPLES'
    })
    const honestPeers = honest.map((h) => h.daemon.peerId.toString())
    const accepted = r.contributions.filter((c) => c.verdict?.accepted === true)
    expect(accepted.map((c) => c.peer).sort()).toEqual([...honestPeers].sort())
    // one verdict per contribution entry, the republished one included
    const verdicts: string[] = []
    for await (const v of m.ledger.ledger.entries({ kind: 'verdict', round: round.round })) verdicts.push(parseCid((v as SignedEntry<'verdict'>).entry.body.contribution).toString())
    expect(verdicts.length).toBe(new Set(verdicts).size)
    expect(verdicts.length).toBe(r.contributions.length)
    // the broken signature is on record as a network-level rejection
    expect(r.networkRejections?.some((n) => n.code === 'ERR_WIRE_BAD_SIGNATURE' && n.from === mal.daemon.peerId.toString())).toBe(true)

    // the release is exactly base + FedAvg of the two honest deltas (computed here with fedavg alone)
    const base = await loadRelease(m.daemon, parseCid(r.base))
    const deltas = await Promise.all(accepted.map(async (c) => ({
      id: parseCid(c.id).bytes,
      weight: c.samples,
      delta: decodeDelta(await m.daemon.blobs.get(parseCid(c.blob)), { spec }).tensors
    })))
    const merged = aggregate(deltas, spec, createAggregatorConfig({ kind: 'fedavg' }))
    if (merged.status !== 'update') throw new Error('the honest deltas did not aggregate')
    const expected = applyUpdate(base.weights.values, merged.delta)
    const released = await loadRelease(m.daemon, parseCid(r.release?.manifest as string))
    released.weights.values.forEach((v, t) => { expect(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(expected[t].buffer))).toBe(true) })

    // the merge rule bounds the weight itself: fed the greedy contribution too, it leaves it out (the
    // community's default maxSamples, 60,000) and gives the released bytes
    const open = await m.ledger.ledger.get(round.roundOpen) as SignedEntry<'round-open'>
    const plan = planOf(open.entry.body, maintainer.community)
    expect(plan.maxSamples).toBe(60_000)
    const withGreedy = mergeRound(base.weights, plan, [...deltas, { id: greedy.id.bytes, weight: 1e12, delta: decodeDelta(greedyBlob, { spec }).tensors }], await serverStateFor(m.daemon, undefined, plan.server, spec))
    expect(withGreedy.result.rejected.map((x) => [parseCid(x.id).toString(), x.code])).toEqual([[greedy.id.toString(), 'ERR_FEDAVG_WEIGHT_BOUND']])
    withGreedy.weights?.values.forEach((v, t) => { expect(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(expected[t].buffer))).toBe(true) })
    expect(withGreedy.weights).toBeDefined()
  })

  it('rejects a contribution that arrives after the round closed as late', async () => {
    const late = await contribute('late', encodeDelta(filled(0.0002), spec, { codec: 'fp32' }))
    await waitFor(async () => (await m.rounds.round(round.round)).contributions.find((c) => c.id === late.id.toString())?.verdict !== undefined, 15_000, 'the late verdict')
    const view = await m.rounds.round(round.round)
    expect(view.contributions.find((c) => c.id === late.id.toString())?.verdict?.code).toBe('ERR_ROUNDS_LATE')
  })

  it('refuses a round opened by a member who is not a maintainer, on every peer', async () => {
    const next = round.round + 1
    const body = {
      round: next,
      base: parseCid(round.base).bytes,
      train: { epochs: 1, batchSize: 10, learningRate: 0.05, optimizer: 'sgd' },
      deadline: Date.now() + 30_000,
      quorum: 1,
      maxContributions: 10,
      aggregator: { name: 'fedavg', params: {} },
      codec: { name: 'fp32', params: {} },
      normBound: 10
    }
    // its own daemon's ledger refuses to sign it
    await expect(mal.ledger.sign({ kind: 'round-open', body })).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
    // signed by hand at the head of its chain and put on the topic past its own validator
    const head = mal.ledger.ledger.head(mal.daemon.privateKey.publicKey.raw)
    if (head === undefined) throw new Error('the malicious node has no chain')
    const rogue = await signEntry({
      v: 1, community: maintainer.community.id.bytes, author: mal.daemon.privateKey.publicKey.raw, seq: head.length, prev: parseCid(head.id).bytes, ts: Date.now(), kind: 'round-open', body
    }, mal.daemon.privateKey)
    await mal.daemon.libp2p.services.pubsub.publish(communityTopic(maintainer.community.id), rogue.bytes)
    // the maintainer, the malicious node's only neighbour, rejects it at ledger ingest: it travels no further
    const rejected = await eventOf(m, 'gossip:rejected', (e) => e.code === 'ERR_LEDGER_NOT_MAINTAINER', 15_000)
    expect(rejected.from).toBe(mal.daemon.peerId.toString())
    expect(await m.ledger.ledger.get(rogue.id)).toBeUndefined()
    for (const h of [...honest, m]) expect(h.events.some((e) => (e.type === 'rounds:train:start' || e.type === 'rounds:open') && e.round === next)).toBe(false)
  })
})

async function waitForEntry (node: RoundsNode, id: string): Promise<SignedEntry<'contribution'>> {
  await waitFor(async () => await node.ledger.ledger.get(id) !== undefined, 15_000, `contribution ${id} at ${node.daemon.peerId.toString()}`)
  return await node.ledger.ledger.get(id) as SignedEntry<'contribution'>
}
