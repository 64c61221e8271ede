/**
 * Hostile peers against a real `swarmtune daemon` process on 127.0.0.1 (the fast part of the hostile-peer
 * suite; the 60 s flood is test/faults/hostile-flood.test.ts). Seeded: `SWARMTUNE_SEED=<seed>` replays a run.
 *
 * Fresh identities put a few hundred generated frames on the community topic, ledger sync streams and blob
 * streams (test/hostile/frames.ts lists the kinds) while 64 blob streams (8 connections × 8) sit idle on half
 * a request. It asserts that every frame got what its kind must get — a refusal with a code, seen on the
 * daemon's event stream, in its log or in its answer — that the ledger and blob store hold nothing they
 * should not (equivocation evidence at most one record per equivocating key) and that an honest daemon
 * fetches a blob from the target while the idle streams are open and has its contribution stored after
 * the flood. Figures are printed, not asserted: handling times and memory live in the 60 s flood and
 * `npm run bench -- hostile`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCid } from '@swarmtune/wire'
import { testSeed } from '@swarmtune/test-support'
import { HostileFrames } from './frames.js'
import { createRng, frameContext, honestBytes, honestContribution, honestFetch, maintainerKey, openIdleStreams, runCampaign, startHonest, storedAudit, Tally, auditText, expectNothingWronglyKept, type Honest } from './suite.js'
import { sampleProcess, startTarget, type Target } from './target.js'

let target: Target | undefined
let honest: Honest | undefined

beforeAll(async () => {
  target = await startTarget()
  honest = await startHonest(target)
}, 60_000)

afterAll(async () => {
  await honest?.node.destroy()
  await target?.stop()
})

describe('hostile peers against a daemon', () => {
  it('refuses every generated frame with a code, stores nothing it should not, and keeps serving honest peers', async () => {
    const t = target as Target
    const h = honest as Honest
    const seed = testSeed('hostile peers (fast)')
    const rng = createRng(seed)
    const before = await sampleProcess(t.pid)
    const round = await t.client.request<{ round: number }>('POST', '/v1/rounds', { params: { durationMs: 300_000, quorum: 1, maxContributions: 1 } })
    const blobsBefore = new Set((await t.client.listBlobs()).map((b) => b.cid))
    const small = await honestFetch(h, t, honestBytes(seed, 300_000), 15_000)
    const frames = new HostileFrames(await frameContext(t, h, small.cid), rng)
    const tally = new Tally()

    // 64 idle blob streams first; the honest fetch runs while they are open
    const idle = await openIdleStreams(t, frames, tally, { connections: 8, streams: 8, deadlineMs: 20_000 })
    const fetch = await honestFetch(h, t, honestBytes(seed + 1, 4 * 1024 * 1024), 15_000)
    await runCampaign(t, frames, rng, {
      gossipFrames: 160, syncCases: 40, blobCases: 40, durationMs: 12_000, gossipConcurrency: 4, deadlineMs: 3_000, maxOversized: 1
    }, tally)
    const contribution = await honestContribution(h, t, round.round, 15_000)
    await idle.settled
    await idle.close()
    const after = await sampleProcess(t.pid)

    const honestKey = Buffer.from(h.node.daemon.privateKey.publicKey.raw).toString('hex')
    const audit = await storedAudit(t, new Set([honestKey, await maintainerKey(t)]), tally.acceptable,
      new Set([...blobsBefore, small.cid.toString(), fetch.cid.toString(), parseCid((contribution.entry.entry.body as { blob: Uint8Array }).blob).toString()]))
    const equivocators = tally.results.filter((r) => r.kind === 'equivocation-base').length

    for (const line of tally.lines('hostile (fast)')) console.log(line)
    for (const line of tally.byKind()) console.log(`hostile (fast): ${line}`)
    for (const line of tally.lateLines(t)) console.log(`hostile (fast): ${line}`)
    for (const line of tally.slowestKinds()) console.log(`hostile (fast): slowest in the daemon: ${line}`)
    console.log(`hostile (fast): honest 4 MiB fetch with 64 idle streams open = ${fetch.error ?? `${fetch.ms.toFixed(0)} ms`}; target RSS ${(before.rssBytes / 2 ** 20).toFixed(1)} → ${(after.rssBytes / 2 ** 20).toFixed(1)} MiB, CPU ${(after.cpuMs - before.cpuMs).toFixed(0)} ms`)
    console.log(`hostile (fast): honest contribution ${contribution.error ?? 'stored'}`)
    console.log(`hostile (fast): ${auditText(audit, equivocators)}`)

    expect(t.running()).toBe(true)
    expect(small.error).toBeUndefined()
    expect(fetch.error).toBeUndefined()
    expect(contribution.error).toBeUndefined()
    // how many frames fit in the 12 s flood depends on the machine's load (256–306 at a load average of 25, 137 near 35)
    expect(tally.sent.length).toBeGreaterThan(100)
    // the daemon times its own decisions on every channel (handlingMs of its events and log lines)
    for (const channel of ['gossip', 'sync', 'blob']) {
      expect(tally.sent.some((r) => r.channel === channel && (r.outcome.daemonMs ?? r.outcome.record?.()) !== undefined)).toBe(true)
    }
    expectNothingWronglyKept(tally, audit, equivocators)
  })
})
