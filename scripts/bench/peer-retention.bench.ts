/**
 * peer-retention benchmark: what a daemon keeps of fresh identities that connect, join the community topic
 * and leave without sending anything (doc/daemon.md, "Gossip and connection limits", departed peers).
 *
 * A daemon runs in a process of its own (peer-retention-daemon.ts, `--expose-gc`); this process makes N fresh
 * libp2p identities on 127.0.0.1, 8 at a time, each dialling it, subscribing and leaving once it sees the
 * daemon on the topic. Figures, for the default bounds beside the same run against a daemon with
 * `connections.pruneDeparted: false` (libp2p's and gossipsub's own behaviour), measured one after the other:
 * - heap used and external (ArrayBuffer) memory after a forced full GC, growth from after a warm-up of 40
 *   identities to after the N (what is retained);
 * - resident memory (/proc/<pid>/status VmRSS, from after the warm-up's forced GC): peak growth during the
 *   churn (high-water marks: V8 and the allocator do not hand freed pages back at once) and growth after the
 *   forced GC at the end;
 * - the sizes of what is kept: peer-store records and gossipsub score records.
 * Run: `npm run bench -- peer-retention` (`SWARMTUNE_RETENTION_BENCH_N` sets N, default 1500).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { RetentionStats } from '@swarmtune/node'
import { communityTopic } from '@swarmtune/wire'
import { waitFor } from '@swarmtune/test-support'
import { communityWithCheckpoints } from '../../test/gossip-entries.js'
import { gossipPeer } from '../../test/gossip-peers.js'
import { sampleProcess } from '../../test/hostile/target.js'

const N = Number(process.env.SWARMTUNE_RETENTION_BENCH_N ?? 1500)
const WARM_UP = 40
const PARALLEL = 8
const MiB = 1024 * 1024

interface Measured extends RetentionStats { heapUsed: number, external: number, rss: number, connections: number }
interface Run { heapGrowth: number, externalGrowth: number, peakRssGrowth: number, rssGrowthAfterGc: number, after: Measured, seconds: number }

const here = dirname(fileURLToPath(import.meta.url))
const { genesis } = await communityWithCheckpoints('peer-retention-bench', 0)
const topic = communityTopic(genesis.id)

function next<T> (child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }): void => { if (m.type === type) { child.off('message', onMessage); child.off('exit', onExit); resolve(m as T) } }
    const onExit = (code: number | null): void => { reject(new Error(`the benchmark daemon exited (${String(code)}) before '${type}'`)) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

async function churn (addr: Multiaddr, count: number): Promise<void> {
  for (let i = 0; i < count; i += PARALLEL) {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, count - i) }, async () => {
      const p = await gossipPeer()
      await p.start()
      p.services.pubsub.subscribe(topic)
      try {
        await p.dial(addr, { signal: AbortSignal.timeout(5_000) })
        await waitFor(() => p.services.pubsub.getSubscribers(topic).length > 0 || p.getConnections().length === 0, 5_000, 'the topic')
      } catch {
        // counted as departed all the same: it connected or tried to
      }
      await p.stop()
    }))
  }
}

async function run (config: Record<string, unknown>): Promise<Run> {
  const child = fork(join(here, 'peer-retention-daemon.ts'), [genesis.id.toString(), JSON.stringify(config)], { execArgv: ['--import', 'tsx', '--expose-gc'] })
  try {
    const { addr } = await next<{ addr: string }>(child, 'ready')
    const target = multiaddr(addr)
    const measure = async (): Promise<Measured> => { child.send({ type: 'measure' }); return await next<Measured>(child, 'measured') }
    await churn(target, WARM_UP)
    const before = await measure()
    let peak = before.rss
    const sampler = setInterval(() => { sampleProcess(child.pid as number).then((s) => { peak = Math.max(peak, s.rssBytes) }, () => {}) }, 250)
    const started = Date.now()
    await churn(target, N)
    const seconds = (Date.now() - started) / 1000
    clearInterval(sampler)
    // the last departures are handled after the connections close
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const after = await measure()
    return { heapGrowth: after.heapUsed - before.heapUsed, externalGrowth: after.external - before.external, peakRssGrowth: peak - before.rss, rssGrowthAfterGc: after.rss - before.rss, after, seconds }
  } finally {
    child.send({ type: 'stop' })
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

const pruned = await run({})
const kept = await run({ connections: { pruneDeparted: false } })
const fmt = (bytes: number): string => (bytes / MiB).toFixed(1)
const ratio = (a: number, b: number): string => b === 0 ? '—' : (a / b).toFixed(2)
function line (figure: string, a: number, b: number, goal: string): void {
  process.stdout.write(`peer-retention: ${figure} = ${fmt(a)} MiB  (vs pruning off = ${fmt(b)} MiB, ratio ${ratio(a, b)}; ${goal})\n`)
}
line(`heap after GC, growth over ${N} departed identities`, pruned.heapGrowth, kept.heapGrowth, 'goal: bounded, not growing with N')
line('external memory after GC, growth', pruned.externalGrowth, kept.externalGrowth, 'goal: bounded')
line('retained after GC (heap + external) per 1,000 identities', 1000 * (pruned.heapGrowth + pruned.externalGrowth) / N, 1000 * (kept.heapGrowth + kept.externalGrowth) / N, '—')
line('RSS peak growth during the churn', pruned.peakRssGrowth, kept.peakRssGrowth, 'high-water mark; goal ≤ 20 MiB')
line('RSS growth after a forced GC', pruned.rssGrowthAfterGc, kept.rssGrowthAfterGc, '—')
process.stdout.write(`peer-retention: peer-store records after ${N} departed = ${pruned.after.storedPeers}  (vs pruning off = ${kept.after.storedPeers}, ratio ${ratio(pruned.after.storedPeers, kept.after.storedPeers)}; cap connections.departedPeers)\n`)
process.stdout.write(`peer-retention: gossipsub score records = ${pruned.after.scoreRecords}  (vs pruning off = ${kept.after.scoreRecords}, ratio ${ratio(pruned.after.scoreRecords, kept.after.scoreRecords)}; cap gossip.departedScores)\n`)
process.stdout.write(`peer-retention: churn of ${N} identities took ${pruned.seconds.toFixed(1)} s  (vs pruning off = ${kept.seconds.toFixed(1)} s, ratio ${ratio(pruned.seconds, kept.seconds)})\n`)
process.exit(0)
