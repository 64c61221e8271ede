/**
 * The long part of the hostile-peer suite (the fast part is test/hostile/hostile.test.ts): a 60 s flood of
 * generated hostile frames from fresh identities on gossip, ledger sync and blob streams against one
 * `swarmtune daemon` process, while 64 blob streams sit idle on half a request and an honest daemon fetches a
 * 64 MiB blob from the target and contributes to an open round; then the same flood from one address held to
 * the per-address limits (a daemon whose loopback exemption is off, `connections.exempt: []`), as a remote
 * attacker's address is, for the memory figures; then identity churn against such a daemon. Seeded:
 * `SWARMTUNE_SEED=<seed>`.
 *
 * Asserts what the fast part asserts over the whole flood (every frame as its kind requires, nothing stored
 * that should not be, evidence bounded), that the honest fetch and the honest contribution (an accepted
 * verdict) succeed during the flood, that identities beyond the churn limit are refused with a code while the
 * honest peer is still served, and — the one generous bound on resources — that the target's resident
 * memory grows by less than {@link RSS_GROWTH_BOUND_BYTES} over each flood (a guard against unbounded reads;
 * the growth is printed beside the goal of 20 MiB, which the exempt flood does not meet and the limited one
 * met narrowly: 0.8–19.7 MiB), measured after a warm-up (a round and a 64 MiB fetch; a fetch and the stream
 * protocols for the limited flood) so that it is the flood's growth and not the coordinator's first model
 * load. Handling times (the daemon's own and end to end), heap figures and CPU time are printed, never asserted.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { parseCid } from '@swarmtune/wire'
import { Cleanups, testSeed, waitFor } from '@swarmtune/test-support'
import { HostileFrames } from '../hostile/frames.js'
import { createAttacker, joinTopic } from '../hostile/peers.js'
import {
  createRng, frameContext, honestBytes, honestContribution, honestFetch, maintainerKey, openIdleStreams, runCampaign, startHonest, storedAudit, Tally, auditText, expectNothingWronglyKept, type Honest
} from '../hostile/suite.js'
import { memoryText, sampleProcess, startTarget, watchMemory, type Target } from '../hostile/target.js'

/** The flood's length, ms. */
const FLOOD_MS = 60_000
/**
 * Resident-memory growth over the flood that fails the test: 384 MiB, a guard against unbounded reads, not the
 * goal. Before the length prefixes were bounded one 1 MiB frame of `0xff` cost +129 MiB, so a flood of them grew
 * by gigabytes; with the bounds, peak growth measured 31–261 MiB from run to run on the shared 2-core build
 * machine with loopback exempt (hundreds of identities from one address) and 0.8–19.7 MiB with the address held
 * to the limits (doc/daemon.md, "Hostile-peer suite"): the figure is printed on every run.
 */
const RSS_GROWTH_BOUND_BYTES = 384 * 1024 * 1024
/** How long the target is left idle after the flood before its memory is read once more, ms. */
const SETTLE_MS = 15_000
/** Distinct peer ids the address of the limited flood may present per 10 min: the daemon's default (DEFAULT_IDENTITIES_PER_ADDRESS). */
const LIMITED_IDENTITIES = 12
/** Fresh identities dialling the daemon whose loopback exemption is off: well above its identitiesPerAddress (12). */
const CHURN_IDENTITIES = 30

const MiB = 1024 * 1024
const cleanups = new Cleanups()
afterAll(cleanups.run)

describe('hostile-peer flood', () => {
  it('refuses 60 s of hostile frames with codes, stores nothing it should not, stays within memory, and serves honest peers throughout', async () => {
    const seed = testSeed('hostile flood')
    const rng = createRng(seed)
    const target: Target = await startTarget()
    cleanups.push(target.stop)
    const honest: Honest = await startHonest(target)
    cleanups.push(honest.node.destroy)
    const maintainer = await maintainerKey(target)
    // Warm-up, so that the memory figure is the flood's: one honest round run to its release (the coordinator
    // loads the model and its evaluation data) and one honest 64 MiB fetch (the serving path's buffers).
    const warm = await target.client.request<{ round: number }>('POST', '/v1/rounds', { params: { durationMs: 600_000, quorum: 1, maxContributions: 1 } })
    const warmContribution = await honestContribution(honest, target, warm.round, 30_000)
    await waitFor(() => target.events.some((e) => e.type === 'rounds:release' && e.round === warm.round), 120_000, 'the warm-up round to release')
    const warmFetch = await honestFetch(honest, target, honestBytes(seed + 2, 64 * MiB), 60_000)

    const round = await target.client.request<{ round: number }>('POST', '/v1/rounds', { params: { durationMs: 600_000, quorum: 1, maxContributions: 1 } })
    const blobsBefore = new Set((await target.client.listBlobs()).map((b) => b.cid))
    const small = await honestFetch(honest, target, honestBytes(seed, 300_000), 30_000)
    const frames = new HostileFrames(await frameContext(target, honest, small.cid), rng)
    const tally = new Tally()

    const stopWatch = await watchMemory(target)
    cleanups.push(async () => { await stopWatch().catch(() => {}) })

    const flood = runCampaign(target, frames, rng, {
      gossipFrames: Number.POSITIVE_INFINITY, syncCases: Number.POSITIVE_INFINITY, blobCases: Number.POSITIVE_INFINITY,
      durationMs: FLOOD_MS, gossipConcurrency: 8, deadlineMs: 5_000, maxOversized: 4
    }, tally)

    // 64 idle blob streams (8 connections × 8), and the honest 64 MiB fetch while they are open
    const idle = await openIdleStreams(target, frames, tally, { connections: 8, streams: 8, deadlineMs: 30_000 })
    const stillOpen = (): number => 64 - tally.results.filter((r) => r.kind === 'blob-idle').length
    const openAtStart = stillOpen()
    const big = await honestFetch(honest, target, honestBytes(seed + 1, 64 * MiB), 60_000)
    const openAtEnd = stillOpen()

    // an honest contribution in the middle of the flood, judged by the coordinator
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, FLOOD_MS / 2 - 20_000)))
    const contribution = await honestContribution(honest, target, round.round, 30_000)
    const contributionId = contribution.entry.id.toString()
    const verdictBy = Date.now() + 60_000
    while (Date.now() < verdictBy && !target.events.some((e) => e.type === 'rounds:verdict' && e.contribution === contributionId)) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const verdict = target.events.find((e) => e.type === 'rounds:verdict' && e.contribution === contributionId)

    await flood
    await idle.settled
    await idle.close()
    const memory = await stopWatch()
    // and once more after the daemon had time to collect what the flood left (idle, no attacker connected)
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const settled = await sampleProcess(target.pid)

    const honestKey = Buffer.from(honest.node.daemon.privateKey.publicKey.raw).toString('hex')
    const blobOf = (e: typeof contribution.entry): string => parseCid((e.entry.body as { blob: Uint8Array }).blob).toString()
    const audit = await storedAudit(target, new Set([honestKey, maintainer]), tally.acceptable,
      new Set([...blobsBefore, small.cid.toString(), big.cid.toString(), blobOf(contribution.entry)]))
    const equivocators = tally.results.filter((r) => r.kind === 'equivocation-base').length

    for (const line of tally.lines('hostile flood')) console.log(line)
    for (const line of tally.byKind()) console.log(`hostile flood: ${line}`)
    for (const line of tally.lateLines(target)) console.log(`hostile flood: ${line}`)
    for (const line of tally.slowestKinds()) console.log(`hostile flood: slowest in the daemon: ${line}`)
    console.log(`hostile flood: honest 64 MiB fetch = ${big.error ?? `${(big.ms / 1000).toFixed(2)} s`}, idle blob streams open at its start ${openAtStart}, at its end ${openAtEnd} (of 64)`)
    console.log(`hostile flood: honest contribution ${contribution.error ?? 'stored'}, verdict ${verdict === undefined ? 'none within 60 s' : `${String(verdict.accepted)} ${String(verdict.code)}`}`)
    console.log(`hostile flood: ${tally.identities} identities from one address exempt from the per-address limits; ${memoryText(memory)}; ${SETTLE_MS / 1000} s later RSS ${(settled.rssBytes / MiB).toFixed(1)} MiB`)
    console.log(`hostile flood: ${auditText(audit, equivocators)}`)

    expect(target.running()).toBe(true)
    expect(warmContribution.error).toBeUndefined()
    expect(warmFetch.error).toBeUndefined()
    expect(small.error).toBeUndefined()
    expect(big.error).toBeUndefined()
    expect(contribution.error).toBeUndefined()
    expect(verdict).toMatchObject({ accepted: true })
    // how many frames fit in 60 s depends on the machine's load (2,197 at a load average near 8, 947 near 25)
    expect(tally.sent.length).toBeGreaterThan(500)
    expectNothingWronglyKept(tally, audit, equivocators)
    expect(memory.peakRssBytes - memory.before.rssBytes).toBeLessThan(RSS_GROWTH_BOUND_BYTES)
  })

  it('holds a 60 s flood from one address to the per-address limits, as for a remote attacker: identities bounded, every frame refused with a code, the memory figures printed', async () => {
    const seed = testSeed('hostile flood, one limited address')
    const rng = createRng(seed)
    // loopback held to swarmtune's per-address limits (identity churn, message rate per address), as a remote
    // address is. libp2p's own inbound connection rate per host stays off for loopback (connections.allow):
    // with it the gossip senders' churn kept the two stream senders from reconnecting once dropped
    const target: Target = await startTarget({ config: { connections: { exempt: [], identitiesPerAddress: LIMITED_IDENTITIES } } })
    cleanups.push(target.stop)
    const honest: Honest = await startHonest(target)
    cleanups.push(honest.node.destroy)
    const maintainer = await maintainerKey(target)
    const small = await honestFetch(honest, target, honestBytes(seed, 300_000), 30_000)
    const frames = new HostileFrames(await frameContext(target, honest, small.cid), rng)
    // warm-up of the serving path and of the stream protocols (two identities), so that the figure is the flood's
    const warmFetch = await honestFetch(honest, target, honestBytes(seed + 1, 64 * MiB), 60_000)
    await runCampaign(target, frames, rng, { gossipFrames: 0, syncCases: 100, blobCases: 100, durationMs: 10_000, gossipConcurrency: 0, deadlineMs: 5_000, maxOversized: 0 }, new Tally())
    const blobsBefore = new Set((await target.client.listBlobs()).map((b) => b.cid))

    const tally = new Tally()
    const stopWatch = await watchMemory(target)
    cleanups.push(async () => { await stopWatch().catch(() => {}) })
    await runCampaign(target, frames, rng, {
      gossipFrames: Number.POSITIVE_INFINITY, syncCases: Number.POSITIVE_INFINITY, blobCases: Number.POSITIVE_INFINITY,
      durationMs: FLOOD_MS, gossipConcurrency: 8, deadlineMs: 5_000, maxOversized: 4
    }, tally)
    const memory = await stopWatch()
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const settled = await sampleProcess(target.pid)

    const honestKey = Buffer.from(honest.node.daemon.privateKey.publicKey.raw).toString('hex')
    const audit = await storedAudit(target, new Set([honestKey, maintainer]), tally.acceptable, new Set([...blobsBefore, small.cid.toString()]))
    const equivocators = tally.results.filter((r) => r.kind === 'equivocation-base').length
    const admitted = tally.identities - tally.refusedIdentities
    for (const line of tally.lines('hostile flood (limited)')) console.log(line)
    for (const line of tally.byKind()) console.log(`hostile flood (limited): ${line}`)
    console.log(`hostile flood (limited): ${tally.identities} identities tried from 127.0.0.1, ${admitted} admitted, ${tally.refusedIdentities} refused; ${memoryText(memory)}; ${SETTLE_MS / 1000} s later RSS ${(settled.rssBytes / MiB).toFixed(1)} MiB`)
    console.log(`hostile flood (limited): ${auditText(audit, equivocators)}`)

    expect(target.running()).toBe(true)
    expect(small.error).toBeUndefined()
    expect(warmFetch.error).toBeUndefined()
    // the honest peer and the two warm-up identities came first; the rest share what is left of the address's identities
    expect(admitted).toBeLessThanOrEqual(LIMITED_IDENTITIES)
    expect(tally.refusedIdentities).toBeGreaterThan(0)
    // the two stream senders carry the flood; how many frames they fit in 60 s depends on the machine's load
    expect(tally.sent.length).toBeGreaterThan(100)
    expectNothingWronglyKept(tally, audit, equivocators)
    expect(memory.peakRssBytes - memory.before.rssBytes).toBeLessThan(RSS_GROWTH_BOUND_BYTES)
  })

  it('refuses identities beyond the churn limit of one address with a code, and still serves the honest peer', async () => {
    // the loopback exemption off: every local identity counts against 127.0.0.1
    const target: Target = await startTarget({ config: { connections: { exempt: [] } } })
    cleanups.push(target.stop)
    const honest: Honest = await startHonest(target)
    cleanups.push(honest.node.destroy)
    let joined = 0
    const refused: string[] = []
    for (let i = 0; i < CHURN_IDENTITIES; i++) {
      const a = await createAttacker()
      await a.start()
      const id = a.peerId.toString()
      if (await joinTopic(a, target, 5_000)) joined++
      else {
        const find = () => target.events.find((e) => (e.type === 'peer:refused' || e.type === 'peer:dropped') && e.peer === id)
        await waitFor(() => find() !== undefined, 2_000, 'the refusal event').catch(() => {})
        const code = find()?.code
        refused.push(typeof code === 'string' ? code : '(no code)')
      }
      await Promise.resolve(a.stop()).catch(() => {})
    }
    const served = await honestFetch(honest, target, honestBytes(7, 1 * MiB), 30_000)
    console.log(`hostile churn: ${CHURN_IDENTITIES} fresh identities from 127.0.0.1: ${joined} joined, ${refused.length} refused (${[...new Set(refused)].join(', ')}); honest fetch ${served.error ?? `${served.ms.toFixed(0)} ms`}`)
    expect(refused.length).toBeGreaterThan(0)
    expect(joined).toBeLessThan(CHURN_IDENTITIES)
    expect(refused.filter((c) => c !== 'ERR_NODE_IDENTITY_CHURN')).toEqual([])
    expect(served.error).toBeUndefined()
  })
})
