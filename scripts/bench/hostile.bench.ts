/**
 * `npm run bench -- hostile`: what a flood of hostile peers costs a daemon, beside what the same amount of
 * honest traffic costs it, both measured in this run on one `swarmtune daemon` process (test/hostile/ has the
 * harness and the frame kinds). Seeded: `SWARMTUNE_SEED=<seed>`; `SWARMTUNE_HOSTILE_BENCH_S` sets the length
 * of each phase (default 20 s).
 *
 * Figures:
 * - handling time per frame in the daemon (p50, p99): the `handlingMs` of the daemon's decision, from the frame
 *   reaching its code to the decision (its monotonic clock), for hostile frames (refused, and all) vs valid
 *   entries from fresh identities sent the same way (each stored with an fsynced write before it is accepted);
 * - handling time per frame end to end (p99 and max): from the sender's write to the daemon's event for its
 *   decision (both wall clock on this host, ms), for the same two sets;
 * - the target's resident-memory growth (/proc/<pid>/status VmRSS, peak minus start) and CPU time
 *   (/proc/<pid>/stat utime + stime) over the hostile phase vs an honest phase of the same length;
 * - the share of hostile frames refused with a code;
 * - an honest 64 MiB fetch from the target while 64 blob streams sit idle on half a request, vs the same
 *   fetch with no idle streams.
 */
import { testSeed } from '@swarmtune/test-support'
import { HostileFrames, type GossipCase } from '../../test/hostile/frames.js'
import { createAttacker, joinTopic, sendGossip } from '../../test/hostile/peers.js'
import { createRng, frameContext, honestBytes, honestFetch, openIdleStreams, quantile, runCampaign, startHonest, Tally } from '../../test/hostile/suite.js'
import { sampleProcess, startTarget, type ProcSample, type Target } from '../../test/hostile/target.js'

const PHASE_MS = Number(process.env.SWARMTUNE_HOSTILE_BENCH_S ?? 20) * 1000
const MiB = 1024 * 1024

const fmt = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : String(n)
function line (figure: string, value: number, unit: string, reference: string, ref: number, goal: string): void {
  process.stdout.write(`hostile: ${figure} = ${fmt(value)} ${unit}  (vs ${reference} = ${fmt(ref)} ${unit}, ratio ${fmt(value / ref, 2)}; goal ${goal})\n`)
}

/** Samples the target every second while `work` runs: peak RSS growth (bytes) and CPU time (ms) over it. */
async function measured (target: Target, work: () => Promise<void>): Promise<{ rssGrowth: number, cpuMs: number }> {
  const before = await sampleProcess(target.pid)
  const samples: ProcSample[] = []
  const timer = setInterval(() => { sampleProcess(target.pid).then((s) => { samples.push(s) }, () => {}) }, 1_000)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  const after = await sampleProcess(target.pid)
  return { rssGrowth: Math.max(after.rssBytes, ...samples.map((s) => s.rssBytes)) - before.rssBytes, cpuMs: after.cpuMs - before.cpuMs }
}

const seed = testSeed('hostile bench')
const rng = createRng(seed)
const target = await startTarget()
const honest = await startHonest(target)
try {
  const small = await honestFetch(honest, target, honestBytes(seed, 300_000), 30_000)
  const frames = new HostileFrames(await frameContext(target, honest, small.cid), rng)

  // honest phase: valid entries from fresh identities, two per identity as in the hostile phase
  const valid: number[] = []
  const validDaemon: number[] = []
  const honestPhase = await measured(target, async () => {
    const stopAt = Date.now() + PHASE_MS
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (Date.now() < stopAt) {
        const a = await createAttacker()
        await a.start()
        if (await joinTopic(a, target)) {
          for (let i = 0; i < 2; i++) {
            const c: GossipCase = { channel: 'gossip', kind: 'valid', expect: 'accept', data: (await frames.validEntry()).bytes }
            const o = await sendGossip(a, target, c, 5_000)
            if (o.result === 'accepted' && o.ms !== undefined) valid.push(o.ms)
            if (o.result === 'accepted' && o.daemonMs !== undefined) validDaemon.push(o.daemonMs)
          }
        }
        await Promise.resolve(a.stop()).catch(() => {})
      }
    }))
  })

  const tally = new Tally()
  const hostilePhase = await measured(target, async () => {
    await runCampaign(target, frames, rng, {
      gossipFrames: Number.POSITIVE_INFINITY, syncCases: Number.POSITIVE_INFINITY, blobCases: Number.POSITIVE_INFINITY,
      durationMs: PHASE_MS, gossipConcurrency: 4, deadlineMs: 5_000, maxOversized: 2
    }, tally)
  })

  const plain = await honestFetch(honest, target, honestBytes(seed + 1, 64 * MiB), 120_000)
  const idle = await openIdleStreams(target, frames, new Tally(), { connections: 8, streams: 8, deadlineMs: 30_000 })
  const starved = await honestFetch(honest, target, honestBytes(seed + 2, 64 * MiB), 120_000)
  await idle.close()

  const ms = tally.handlingMs
  const sent = tally.mustReject.length
  const refused = tally.daemonHandlingMs('coded')
  const inDaemon = tally.daemonHandlingMs()
  line('handling time in the daemon per refused hostile frame p50', quantile(refused, 0.5), 'ms', 'valid entry p50', quantile(validDaemon, 0.5), '—')
  line('handling time in the daemon per refused hostile frame p99', quantile(refused, 0.99), 'ms', 'valid entry p99', quantile(validDaemon, 0.99), '≤ 5 ms')
  line('handling time in the daemon per hostile frame (refused or stored) p99', quantile(inDaemon, 0.99), 'ms', 'valid entry p99', quantile(validDaemon, 0.99), '≤ 5 ms')
  line('handling time end to end per hostile frame p99', quantile(ms, 0.99), 'ms', 'valid entry p99', quantile(valid, 0.99), '—')
  line('handling time end to end per hostile frame max', Math.max(...ms), 'ms', 'valid entry max', Math.max(...valid), '—')
  line('target RSS growth over the hostile phase', hostilePhase.rssGrowth / MiB, 'MiB', 'honest phase', honestPhase.rssGrowth / MiB, '≤ 20 MiB')
  line('target CPU per frame, hostile phase', hostilePhase.cpuMs / Math.max(1, tally.sent.length), 'ms', 'honest phase', honestPhase.cpuMs / Math.max(1, valid.length), '—')
  line('hostile frames refused with a code', 100 * tally.rejectedWithCode.length / Math.max(1, sent), '%', 'frames that must be', 100, '100 %')
  line('honest 64 MiB fetch with 64 idle streams open', starved.ms / 1000, 's', 'no idle streams', plain.ms / 1000, 'finishes')
  process.stdout.write(`hostile: ${tally.sent.length} hostile frames sent in ${PHASE_MS / 1000} s, ${valid.length} valid entries in the honest phase; accepted that should not be = ${tally.wronglyAccepted.length}${[plain.error, starved.error].filter((e) => e !== undefined).map((e) => `; fetch failed: ${String(e)}`).join('')}\n`)
  for (const f of tally.failureSummary()) process.stdout.write(`hostile: not as expected: ${f}\n`)
  for (const k of tally.slowestKinds()) process.stdout.write(`hostile: slowest in the daemon: ${k}\n`)
} finally {
  await honest.node.destroy()
  await target.stop()
}
process.exit(0)
