/**
 * A malicious volunteer as a process of its own (malicious-peer.ts) next to two honest `swarmtune daemon`
 * volunteers and the maintainer's daemon, all on 127.0.0.1: in round 2 it sends contributions holding NaN,
 * a huge delta, the wrong shapes, the wrong base, a replayed blob of round 1 and of round 2 (fetched over the
 * network), republishes an honest entry and gossips a badly signed one. Each signed bad contribution gets a
 * rejecting verdict with its code and reason in the ledger, the badly signed entry is refused on the topic
 * and recorded as a network-level rejection, the honest daemons keep running, and the release is the merge
 * of the honest deltas alone (it recomputes from the two contributions it lists).
 */
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, swarmtuneJson } from '../../scripts/lib/cli.js'
import type { Child } from '../../scripts/lib/processes.js'
import { createCluster, ledgerEntries, TRAIN, verifyLedger, verifyRelease, type FaultCluster } from './helpers.js'

const ATTACK_ROUND = 2
const EXPECTED: Record<string, string> = {
  nan: 'ERR_FEDAVG_NON_FINITE',
  huge: 'ERR_FEDAVG_NORM_BOUND',
  'wrong-shape': 'ERR_FEDAVG_CODEC_MALFORMED',
  'wrong-base': 'ERR_ROUNDS_STALE_BASE',
  'replay-earlier': 'ERR_ROUNDS_REPLAYED',
  replay: 'ERR_ROUNDS_REPLAYED'
}

describe('a malicious volunteer in a process of its own', () => {
  let f: FaultCluster
  let mal: Child
  let malPeer = ''
  const lines: Array<Record<string, unknown>> = []

  const line = async (type: string, timeoutMs = 120_000): Promise<Record<string, unknown>> => {
    await f.cluster.until(() => {
      const failed = lines.find((l) => l.type === 'error')
      if (failed !== undefined) throw new Error(`the malicious peer failed: ${String(failed.message)}`)
      if (mal.done()) throw new Error(`the malicious peer exited; the end of its log:\n${readFileSync(join(f.cluster.root, 'malicious.log'), 'utf8').split('\n').slice(-15).join('\n')}`)
      return lines.some((l) => l.type === type)
    }, timeoutMs, `"${type}" from the malicious peer`)
    return lines.find((l) => l.type === type) as Record<string, unknown>
  }

  beforeAll(async () => {
    f = await createCluster({ volunteers: 2 })
    const { cluster, supervisor } = f
    await cluster.start()
    const dir = join(cluster.root, 'malicious')
    await swarmtuneJson(supervisor, ['init', '-d', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--dht', 'off', '--control-port', '0'])
    const log = openSync(join(cluster.root, 'malicious.log'), 'a')
    try {
      mal = supervisor.spawn('malicious peer', process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'faults', 'malicious-peer.ts'), dir, cluster.genesis, cluster.maintainer.addresses[0], String(ATTACK_ROUND)], {
        cwd: REPO_ROOT, stdio: ['ignore', 'pipe', log]
      })
    } finally {
      closeSync(log)
    }
    createInterface({ input: mal.process.stdout as NodeJS.ReadableStream }).on('line', (l) => { lines.push(JSON.parse(l) as Record<string, unknown>) })
    malPeer = String((await line('ready')).peerId)
    await cluster.until(async () => (await cluster.maintainer.api().status()).communities[0]?.peers >= 3, 60_000, 'the malicious peer in the community topic')
  })

  afterAll(async () => {
    await f?.teardown()
  })

  it('rejects each bad contribution with its reason on record and releases the merge of the honest deltas alone', async () => {
    const { cluster, supervisor } = f
    const honest = cluster.volunteers.map((v) => v.peerId)
    const first = await cluster.runRound({ ...TRAIN, durationMs: 60_000, quorum: 2, maxContributions: 2 })
    expect(first.outcome).toBe('released')

    // open until the deadline (no maximum that the malicious contributions could fill, no early close once the
    // honest volunteers contributed), so all of them are judged
    const opened = await cluster.openRound({ ...TRAIN, durationMs: 30_000, quorum: 2, maxContributions: 20, untilDeadline: true })
    expect(opened.round).toBe(ATTACK_ROUND)
    await line('done', 60_000)
    const r = await cluster.waitClosed(opened.round, opened.deadline + 60_000)
    expect(r.outcome).toBe('released')

    const sent = lines.filter((l) => l.type === 'sent').map((l) => ({ what: String(l.what), id: String(l.id) }))
    expect(sent.map((s) => s.what).sort()).toEqual(Object.keys(EXPECTED).sort())
    const codes = new Map(r.contributions.map((c) => [c.id, c.verdict]))
    expect(Object.fromEntries(sent.map((s) => [s.what, codes.get(s.id)?.code]))).toEqual(EXPECTED)
    for (const s of sent) expect(codes.get(s.id)?.reason.length).toBeGreaterThan(10)

    // the verdicts are signed ledger entries, one per contribution entry (the republished one included)
    const verdicts = (await ledgerEntries(supervisor, cluster.maintainer, opened.round)).filter((e) => e.kind === 'verdict')
    expect(verdicts).toHaveLength(r.contributions.length)
    expect(new Set(verdicts.map((v) => String(v.body.contribution))).size).toBe(verdicts.length)
    for (const s of sent) {
      const v = verdicts.find((x) => x.body.contribution === s.id)
      expect(v?.body).toMatchObject({ accepted: false, code: EXPECTED[s.what] })
    }
    expect(r.contributions.filter((c) => c.verdict?.accepted === true).map((c) => c.peer).sort()).toEqual([...honest].sort())
    expect(r.counts).toEqual({ contributions: honest.length + sent.length, accepted: honest.length, rejected: sent.length, pending: 0 })

    // the badly signed entry never reached a ledger: the topic refused it and the coordinator recorded it
    expect(r.networkRejections?.some((n) => n.code === 'ERR_WIRE_BAD_SIGNATURE' && n.from === malPeer)).toBe(true)

    // the release lists the honest contributions only and recomputes from them to identical shard ids
    expect(r.release?.contributions).toBe(honest.length)
    for (const v of cluster.volunteers) {
      const report = await verifyRelease(supervisor, v)
      expect(report.ok).toBe(true)
      expect(report.manifest).toBe(r.release?.manifest)
      expect(report.contributions).toBe(honest.length)
    }
    for (const m of cluster.members) {
      expect(m.running).toBe(true)
      expect((await verifyLedger(supervisor, m)).entries).toBeGreaterThan(0)
    }
  })
})
