/**
 * Who takes a round's contribution slots, with real daemons on 127.0.0.1: a round with one slot
 * (maxContributions 1) first gets contributions that must not take it — fresh keys naming the open round's
 * number with a made-up round-open id, the real round-open with another round's number, another base, and a
 * delta of the wrong shapes — and only then does an honest volunteer join and contribute. The honest one is
 * accepted and released; each of the others is refused with its code and none of them closed the round.
 * Then: two valid contributions frozen together in a one-slot round (the second is late), and a delta blob of
 * an earlier round replayed under a fresh key (no slot; the valid one after it is released).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createModelSpec, encodeDelta } from '@swarmtune/fedavg'
import { getTask } from '@swarmtune/model'
import type { RoundDetail } from '@swarmtune/rounds'
import { blobCid, parseCid, signEntry, type SignedEntry } from '@swarmtune/wire'
import { waitFor } from '@swarmtune/test-support'
import { connectedTo, contributionBody, ready, startMaintainer, startRoundsNode, UNTIL_DEADLINE, volunteerData, type ContributionBody, type RoundsNode } from '@swarmtune/test-support/rounds'
import { destroyAll } from '@swarmtune/test-support/daemons'

const TRAIN = { steps: 10, batchSize: 50, learningRate: 0.1 }
const ROUND_MS = 120_000

describe('contribution slots of a round', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let m: RoundsNode
  let mal: RoundsNode
  let honest: RoundsNode | undefined
  const spec = createModelSpec(getTask('mnist-2nn').weightSpecs.map((s) => s.shape))
  const small = (): Uint8Array => encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(0.0001)), spec, { codec: 'fp32' })

  beforeAll(async () => {
    // no early close once the volunteers that answered contributed: only the slot (or the deadline) closes it
    maintainer = await startMaintainer({ config: UNTIL_DEADLINE })
    m = maintainer.node
    mal = await startRoundsNode({ genesis: maintainer.genesis, bootstrap: [m.daemon.addresses()[0]] })
    await connectedTo(m, [mal])
    await ready([m])
  })

  afterAll(async () => {
    await destroyAll([honest, mal])
    await maintainer?.cleanup()
  })

  /** A contribution body for `round`, its blob put into the hostile daemon's store. */
  async function body (round: RoundDetail, blob: Uint8Array, over: Partial<ContributionBody> = {}): Promise<ContributionBody> {
    return contributionBody(round, await mal.daemon.exchange.put(blob), { norm: 0.04, ...over })
  }

  /** Signs `b` as the first entry of a fresh key's chain and gossips it through the hostile daemon. */
  async function fromFreshKey (b: ContributionBody): Promise<SignedEntry> {
    const key = await generateKeyPair('Ed25519')
    const signed = await signEntry({ v: 1, community: maintainer.community.id.bytes, author: key.publicKey.raw, seq: 0, prev: null, ts: Date.now(), kind: 'contribution', body: b }, key)
    await mal.daemon.gossip.publish(maintainer.community.id, signed.bytes)
    return signed
  }

  it('gives the only slot to the honest contribution that arrives after contributions naming a made-up round-open', async () => {
    const round = await m.rounds.startRound({ ...TRAIN, durationMs: ROUND_MS, quorum: 1, maxContributions: 1 })
    await waitFor(async () => await mal.ledger.ledger.get(round.roundOpen) !== undefined, 10_000, 'the round-open at the hostile node')

    const sent = new Map<string, string>()
    const madeUp = blobCid(new TextEncoder().encode('no such round-open')).bytes
    sent.set((await fromFreshKey(await body(round, small(), { roundOpen: madeUp }))).id.toString(), 'made-up round-open')
    sent.set((await fromFreshKey(await body(round, small(), { roundOpen: madeUp, samples: 7 }))).id.toString(), 'made-up round-open, another key')
    sent.set((await fromFreshKey(await body(round, small(), { round: round.round + 1 }))).id.toString(), 'another round number')
    sent.set((await fromFreshKey(await body(round, small(), { base: blobCid(new TextEncoder().encode('another release')).bytes }))).id.toString(), 'another base')
    // the wrong shapes, signed by the hostile daemon's own key so that its blob is served
    const transposed = createModelSpec(spec.shapes.map((s) => [...s].reverse()))
    const shape = await mal.ledger.sign({ kind: 'contribution', body: await body(round, encodeDelta(transposed.sizes.map((n) => new Float32Array(n)), transposed, { codec: 'fp32' })) }) as SignedEntry<'contribution'>
    sent.set(shape.id.toString(), 'wrong shapes')

    // every one of them reached the coordinator as an arrival of the open round, and the wrong-shaped delta was
    // fetched — unless one of them took the slot and closed the round
    const closing = (): boolean => m.events.some((e) => e.type === 'rounds:closing' && e.round === round.round)
    const arrived = (id: string): boolean => m.events.some((e) => e.type === 'rounds:contribution' && e.contribution === id)
    await waitFor(async () => closing() || ([...sent.keys()].every(arrived) && await m.daemon.blobs.has(parseCid(shape.entry.body.blob))), 30_000, 'the arrivals at the coordinator')
    expect(closing()).toBe(false)

    // only now does an honest volunteer join: it gets the round-open by ledger sync, trains and contributes
    honest = await startRoundsNode({ genesis: maintainer.genesis, bootstrap: [m.daemon.addresses()[0]], config: { volunteer: { data: volunteerData(0, 2), lossExamples: 500 } } })
    await connectedTo(m, [honest])

    const r = await m.rounds.waitClosed(round.round, { timeoutMs: ROUND_MS + 30_000 })
    expect(r.outcome).toBe('released')
    // the verdicts the coordinator signed in this round (the round view lists only the contributions that name
    // its round-open and number)
    const codes: Record<string, string> = {}
    let verdicts = 0
    for await (const v of m.ledger.ledger.entries({ kind: 'verdict', round: round.round })) {
      const b = (v as SignedEntry<'verdict'>).entry.body
      const id = parseCid(b.contribution).toString()
      codes[sent.get(id) ?? r.contributions.find((c) => c.id === id)?.peer ?? id] = b.code
      verdicts++
    }
    expect(verdicts).toBe(sent.size + 1)
    expect(codes).toEqual({
      'made-up round-open': 'ERR_ROUNDS_WRONG_ROUND',
      'made-up round-open, another key': 'ERR_ROUNDS_WRONG_ROUND',
      'another round number': 'ERR_ROUNDS_WRONG_ROUND',
      'another base': 'ERR_ROUNDS_STALE_BASE',
      'wrong shapes': 'ERR_FEDAVG_CODEC_MALFORMED',
      [honest.daemon.peerId.toString()]: 'OK'
    })
    const release = r.release
    if (release === undefined) throw new Error('no release')
    const accepted = r.contributions.filter((c) => c.verdict?.accepted === true).map((c) => c.id)
    expect(accepted.length).toBe(1)
    const entry = await m.ledger.ledger.get(release.entry) as SignedEntry<'release'>
    expect(entry.entry.body.contributions.map((c) => parseCid(c).toString())).toEqual(accepted)
  })

  it('accepts at most maxContributions contributions: a valid one frozen after the slot was taken is late', async () => {
    // the honest volunteer would contribute too: this round has only contributions signed here
    await honest?.destroy()
    honest = undefined
    const round = await m.rounds.startRound({ ...TRAIN, durationMs: ROUND_MS, quorum: 1, maxContributions: 1 })
    await waitFor(async () => await mal.ledger.ledger.get(round.roundOpen) !== undefined, 10_000, 'the round-open at the hostile node')
    const delta = (value: number): Uint8Array => encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(value)), spec, { codec: 'fp32' })
    const blobs = [delta(0.00031), delta(0.00047)] // not the blobs of the first test (those would be replays)
    // both valid, from two fresh keys, arrive while no peer serves their blobs yet (the coordinator asks again
    // every second), so both are arrivals when the first is judged valid and the round closes
    const sent: string[] = []
    for (const b of blobs) {
      const c = await fromFreshKey(contributionBody(round, blobCid(b), { norm: 0.04 }))
      sent.push(c.id.toString())
      await waitFor(() => m.events.some((e) => e.type === 'rounds:contribution' && e.contribution === c.id.toString()), 15_000, 'the arrival at the coordinator')
    }
    expect(m.events.some((e) => e.type === 'rounds:closing' && e.round === round.round)).toBe(false)
    for (const b of blobs) expect((await mal.daemon.exchange.put(b)).equals(blobCid(b))).toBe(true)

    const r = await m.rounds.waitClosed(round.round, { timeoutMs: ROUND_MS + 30_000 })
    expect(r.outcome).toBe('released')
    expect(sent.map((id) => r.contributions.find((c) => c.id === id)?.verdict?.code)).toEqual(['OK', 'ERR_ROUNDS_LATE'])
    expect(r.release?.contributions).toBe(1)
  })

  it('gives no slot to a delta blob contributed in an earlier round', async () => {
    const round = await m.rounds.startRound({ ...TRAIN, durationMs: ROUND_MS, quorum: 1, maxContributions: 1 })
    await waitFor(async () => await mal.ledger.ledger.get(round.roundOpen) !== undefined, 10_000, 'the round-open at the hostile node')
    // the blob of the first test's made-up round-open contribution, which the coordinator never fetched: it is
    // fetched and decodes and validates, and is a replay
    const old = small()
    const replay = await fromFreshKey(await body(round, old))
    await waitFor(async () => await m.daemon.blobs.has(blobCid(old)), 30_000, 'the replayed delta at the coordinator')
    // a fresh valid one, whose blob is served only once it arrived
    const blob = encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(0.00053)), spec, { codec: 'fp32' })
    const fresh = await fromFreshKey(contributionBody(round, blobCid(blob), { norm: 0.04 }))
    const closing = (): boolean => m.events.some((e) => e.type === 'rounds:closing' && e.round === round.round)
    await waitFor(() => closing() || m.events.some((e) => e.type === 'rounds:contribution' && e.contribution === fresh.id.toString()), 15_000, 'the fresh contribution at the coordinator')
    expect(closing()).toBe(false)
    await mal.daemon.exchange.put(blob)
    const r = await m.rounds.waitClosed(round.round, { timeoutMs: ROUND_MS + 30_000 })
    expect(r.outcome).toBe('released')
    expect([replay, fresh].map((c) => r.contributions.find((x) => x.id === c.id.toString())?.verdict?.code)).toEqual(['ERR_ROUNDS_REPLAYED', 'OK'])
  })
})
