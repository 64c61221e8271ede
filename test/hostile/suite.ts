/**
 * The hostile-peer campaign shared by the fast test (test/hostile/hostile.test.ts), the 60 s flood
 * (test/faults/hostile-flood.test.ts) and the benchmark (scripts/bench/hostile.bench.ts): hostile peers with
 * fresh identities flood a {@link Target} daemon with generated frames on gossip, ledger sync and blob
 * streams while an honest daemon (in this process) keeps fetching and contributing; afterwards the target's
 * ledger and blob store are checked against what may be there, and every figure is tallied.
 */
import { expect } from 'vitest'
import { createModelSpec, encodeDelta } from '@swarmtune/fedavg'
import { ledgerService, type LedgerService } from '@swarmtune/node'
import { createRng, getTask, type Rng } from '@swarmtune/model'
import { blobCid, parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import { seededBytes, waitFor } from '@swarmtune/test-support'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'
import { BLOB_KINDS, GOSSIP_KINDS, HostileFrames, SYNC_KINDS, type FrameContext, type GossipCase, type HostileCase } from './frames.js'
import { createAttacker, joinTopic, lateDecision, meets, sendCase, sendRaw, type Attacker, type CaseResult, type Outcome } from './peers.js'
import type { Target } from './target.js'

export { createRng }

/** Gossip frames one identity sends before the next takes over: the daemon graylists a peer at its second invalid entry (peer-score.ts). */
export const FRAMES_PER_IDENTITY = 2

/** The quantile `q` (0–1) of `values` by the nearest-rank method. */
export function quantile (values: number[], q: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Every result of a campaign and the figures drawn from them. */
export class Tally {
  readonly results: CaseResult[] = []
  identities = 0
  refusedIdentities = 0
  /** Ids of entries sent that the target may store (the first entry of each equivocating key). */
  readonly acceptable = new Set<string>()

  add (c: HostileCase, outcome: Outcome): void {
    if (c.expect === 'accept' && c.channel === 'gossip') this.acceptable.add(blobCid(c.data).toString())
    this.results.push({ kind: c.kind, channel: c.channel, expect: c.expect, outcome })
  }

  /** Frames that reached the daemon (`unsent` ones did not: it refused the connection first). */
  get sent (): CaseResult[] { return this.results.filter((r) => r.outcome.result !== 'unsent') }
  /** Sent frames the daemon must refuse with a code. */
  get mustReject (): CaseResult[] { return this.sent.filter((r) => r.expect === 'reject') }
  get rejectedWithCode (): CaseResult[] { return this.mustReject.filter((r) => r.outcome.result === 'coded') }
  /** Frames taken that must not have been. */
  get wronglyAccepted (): CaseResult[] { return this.sent.filter((r) => (r.expect === 'reject' || r.expect === 'refuse') && r.outcome.result === 'accepted') }
  /** Frames whose outcome is not what their case expects. */
  get failures (): CaseResult[] { return this.sent.filter((r) => !meets(r.expect, r.outcome)) }
  /** End-to-end handling times of sent frames that have one (attacker's write → the daemon's record of its decision), ms. */
  get handlingMs (): number[] { return this.sent.map((r) => r.outcome.ms).filter((ms): ms is number => ms !== undefined) }
  /** Sent frames with an end-to-end time, each with the daemon's own handling time when its decision carries one, ms. */
  private get timed (): Array<{ r: CaseResult, daemonMs: number | undefined }> {
    return this.sent.filter((r) => r.outcome.ms !== undefined).map((r) => ({ r, daemonMs: r.outcome.daemonMs ?? r.outcome.record?.() }))
  }

  /**
   * The daemon's own handling times (`handlingMs` of its events and log lines) of the frames timed end to end,
   * ms: of all, or only of those it refused with a code (`coded`) or stored (`accepted`).
   */
  daemonHandlingMs (result?: 'coded' | 'accepted'): number[] {
    return this.timed.filter((t) => result === undefined || t.r.outcome.result === result).map((t) => t.daemonMs).filter((ms): ms is number => ms !== undefined)
  }

  /** The `n` frame kinds with the longest handling time in the daemon: count, p50 and max. */
  slowestKinds (n = 5): string[] {
    const kinds = new Map<string, number[]>()
    for (const { r, daemonMs } of this.timed) {
      if (daemonMs === undefined) continue
      const key = `${r.channel} ${r.kind}`
      kinds.set(key, [...(kinds.get(key) ?? []), daemonMs])
    }
    return [...kinds].sort(([, a], [, b]) => Math.max(...b) - Math.max(...a)).slice(0, n)
      .map(([k, ms]) => `${k}: ${ms.length} frames, in the daemon p50 ${quantile(ms, 0.5).toFixed(2)} ms, max ${Math.max(...ms).toFixed(2)} ms`)
  }

  /** Failures grouped as `channel kind → outcome (code)` with counts, for messages. */
  failureSummary (): string[] {
    const counts = new Map<string, number>()
    for (const r of this.failures) {
      const key = `${r.channel} ${r.kind} (expected ${r.expect}) → ${r.outcome.result}${r.outcome.code === undefined ? '' : ` ${r.outcome.code}`}${r.outcome.via === undefined ? '' : ` via ${r.outcome.via}`}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return [...counts].map(([k, n]) => `${n} × ${k}`)
  }

  /** One line per channel and kind: how many were sent and what became of them (`result code × n`). */
  byKind (): string[] {
    const kinds = new Map<string, Map<string, number>>()
    for (const r of this.sent) {
      const key = `${r.channel} ${r.kind}`
      const outcomes = kinds.get(key) ?? new Map<string, number>()
      const o = `${r.outcome.result}${r.outcome.code === undefined ? '' : ` ${r.outcome.code}`}`
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1)
      kinds.set(key, outcomes)
    }
    return [...kinds].sort(([a], [b]) => a.localeCompare(b)).map(([k, o]) => `${k}: ${[...o].map(([what, n]) => `${what} × ${n}`).join(', ')}`)
  }

  /** One line per silent frame kind: how many the daemon judged after the deadline after all, and how late. */
  lateLines (target: Target): string[] {
    const kinds = new Map<string, { silent: number, late: number[] }>()
    for (const r of this.results) {
      if (r.outcome.result !== 'silent') continue
      const k = kinds.get(`${r.channel} ${r.kind}`) ?? { silent: 0, late: [] }
      k.silent++
      const late = lateDecision(target, r.outcome)
      if (late?.ms !== undefined) k.late.push(late.ms)
      kinds.set(`${r.channel} ${r.kind}`, k)
    }
    return [...kinds].map(([kind, k]) => `${kind}: ${k.silent} silent past the deadline; ${k.late.length} judged later${k.late.length === 0 ? '' : ` (after ${Math.min(...k.late)}–${Math.max(...k.late)} ms)`}`)
  }

  /** Lines of figures, one per line, for the test output and the benchmark. */
  lines (label: string): string[] {
    const sent = this.sent.length
    const must = this.mustReject.length
    const coded = this.rejectedWithCode.length
    const ms = this.handlingMs
    const daemon = this.daemonHandlingMs()
    const f = (v: number): string => v.toFixed(2)
    const spread = (xs: number[]): string => `p50 = ${f(quantile(xs, 0.5))} ms, p99 = ${f(quantile(xs, 0.99))} ms, max = ${f(xs.length === 0 ? NaN : Math.max(...xs))} ms over ${xs.length} frames`
    const byChannel = ['gossip', 'sync', 'blob'].map((ch) => `${ch} ${this.sent.filter((r) => r.channel === ch).length}`).join(', ')
    return [
      `${label}: frames sent = ${sent} (${byChannel}; ${this.results.length - sent} not sent: the daemon had refused or dropped the connection), identities = ${this.identities} (${this.refusedIdentities} refused)`,
      `${label}: rejected with a code = ${coded} of ${must} that must be (${must === 0 ? 'n/a' : (100 * coded / must).toFixed(1)} %; goal 100 %)`,
      `${label}: accepted that should not be = ${this.wronglyAccepted.length} (goal 0)`,
      `${label}: handling time per frame in the daemon (from its code taking the frame to its decision) ${spread(daemon)} (goal p99 ≤ 5 ms); ${ms.length - daemon.length} decided without a time of the daemon's (connection refusals and drops, gossip framing errors, answers without an event)`,
      `${label}: in the daemon, frames refused with a code ${spread(this.daemonHandlingMs('coded'))}; frames stored (valid entries of fresh keys, each answered after its fsynced LevelDB write) ${spread(this.daemonHandlingMs('accepted'))}`,
      `${label}: end to end (attacker's write to the daemon's record of its decision, across loopback and its event stream) p50 = ${quantile(ms, 0.5)} ms, p99 = ${quantile(ms, 0.99)} ms, max = ${ms.length === 0 ? NaN : Math.max(...ms)} ms over ${ms.length} frames`,
      ...this.failureSummary().map((f) => `${label}: not as expected: ${f}`)
    ]
  }
}

/** Ready attackers already in the topic, made ahead of use so that identity churn does not wait on handshakes. */
export class IdentityPool {
  private readonly ready: Array<Promise<Attacker | undefined>> = []
  private readonly all = new Set<Attacker>()

  constructor (private readonly target: Target, private readonly tally: Tally, private readonly depth: number) {
    for (let i = 0; i < depth; i++) this.ready.push(this.make())
  }

  private async make (): Promise<Attacker | undefined> {
    const a = await createAttacker()
    this.all.add(a)
    await a.start()
    this.tally.identities++
    if (await joinTopic(a, this.target)) return a
    this.tally.refusedIdentities++
    await this.retire(a)
    return undefined
  }

  /** The next attacker in the topic (undefined when the daemon refused this identity). */
  async next (): Promise<Attacker | undefined> {
    this.ready.push(this.make())
    return await (this.ready.shift() as Promise<Attacker | undefined>)
  }

  async retire (a: Attacker): Promise<void> {
    this.all.delete(a)
    await Promise.resolve(a.stop()).catch(() => {})
  }

  async close (): Promise<void> {
    await Promise.allSettled(this.ready)
    await Promise.all([...this.all].map(async (a) => { await this.retire(a) }))
  }
}

/** The honest side: a daemon of the community in this process (ledger service only) connected to the target. */
export interface Honest {
  node: TestNode
  ledger: LedgerService
}

export async function startHonest (target: Target): Promise<Honest> {
  const node = await startNode({ services: { ledger: ledgerService({ antiEntropyMs: 0 }) } })
  const ledger = node.daemon.services.ledger as LedgerService
  await node.daemon.libp2p.dial(target.addrs)
  await waitFor(() => ledger.ledger.community?.equals(target.community) === true, 30_000, 'the honest daemon to sync the genesis from the target')
  await waitFor(() => node.daemon.gossip.peers(target.community).some((p) => p.toString() === target.peerId), 30_000, 'the honest daemon and the target to share the community topic')
  return { node, ledger }
}

/**
 * An honest volunteer's contribution to round `round`: a small fp32 delta of the community's model stored in
 * the honest daemon, its entry signed and gossiped. @returns the entry once the target stored it, or why not
 */
export async function honestContribution (honest: Honest, target: Target, round: number, timeoutMs: number): Promise<{ entry: SignedEntry, error?: string }> {
  const l = honest.ledger.ledger
  let open: SignedEntry<'round-open'> | undefined
  await waitFor(async () => {
    for await (const e of l.entries({ kind: 'round-open', round })) open = e as SignedEntry<'round-open'>
    return open !== undefined
  }, timeoutMs, `round-open ${round} at the honest daemon`)
  const body = (open as SignedEntry<'round-open'>).entry.body
  const spec = createModelSpec(getTask('mnist-2nn').weightSpecs.map((s) => s.shape))
  // a delta of its own per round (a blob contributed twice is a replay)
  const blob = encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(1e-4 * (1 + round))), spec, { codec: 'fp32' })
  const cid = await honest.node.daemon.exchange.put(blob)
  const signed = await honest.ledger.sign({
    kind: 'contribution',
    body: { round, roundOpen: (open as SignedEntry).id.bytes, base: body.base, blob: cid.bytes, codec: body.codec, samples: 100, metrics: { lossBefore: 2.3, lossAfter: 1.9 }, norm: 0.5 }
  })
  const id = signed.id.toString()
  const from = honest.node.daemon.peerId.toString()
  try {
    await waitFor(() => target.events.some((e) => e.type === 'ledger:append' && e.id === id), timeoutMs, 'the target to store the honest contribution')
  } catch {
    const refused = target.events.find((e) => e.type.startsWith('gossip:') && e.from === from && e.type !== 'gossip:message')
    return { entry: signed, error: refused !== undefined ? `${refused.type} ${String(refused.code)}: ${String(refused.reason)}` : `not stored within ${timeoutMs} ms (honest peer connected: ${String(honest.node.daemon.libp2p.getPeers().some((p) => p.toString() === target.peerId))})` }
  }
  return { entry: signed }
}

/** How an honest fetch went: `error` is the fetch's error code when it failed. */
export interface HonestFetch { cid: CID, ms: number, error?: string }

/** The target stores `bytes`; the honest daemon fetches them from it alone (a failure is returned, not thrown). */
export async function honestFetch (honest: Honest, target: Target, bytes: Uint8Array, timeoutMs: number): Promise<HonestFetch> {
  const cid = parseCid((await target.client.putBlob(bytes)).cid)
  const provider = honest.node.daemon.libp2p.getPeers().find((p) => p.toString() === target.peerId)
  if (provider === undefined) return { cid, ms: NaN, error: 'the honest daemon lost its connection to the target' }
  const started = performance.now()
  try {
    await honest.node.daemon.exchange.fetch(cid, { providers: [provider], signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    return { cid, ms: performance.now() - started, error: `${(err as { code?: string }).code ?? (err as Error).name}: ${(err as Error).message}` }
  }
  const ms = performance.now() - started
  const got = await honest.node.daemon.blobs.get(cid)
  return Buffer.compare(got, bytes) === 0 ? { cid, ms } : { cid, ms, error: 'the fetched bytes differ from the stored ones' }
}

/** Bytes for an honest blob of `size` bytes from a seed. */
export const honestBytes = seededBytes

/** What a campaign sends. */
export interface CampaignPlan {
  /** Stop after this many gossip frames, or when `durationMs` has passed, whichever comes first. */
  gossipFrames: number
  syncCases: number
  blobCases: number
  durationMs: number
  /** Gossip senders at once (each with its own identity at a time). */
  gossipConcurrency: number
  /** How long a frame may wait for the daemon's decision, ms. */
  deadlineMs: number
  /** Gossip kinds above the 4 MiB entry cap are sent at most this many times each (they cost 4 MiB apiece). */
  maxOversized: number
}

/** Entries the target stores (as synced by the honest daemon) and a blob it stores, as the frame generators need them. */
export async function frameContext (target: Target, honest: Honest, honestBlob: CID): Promise<FrameContext> {
  const stored: SignedEntry[] = []
  for await (const e of honest.ledger.ledger.entries({})) stored.push(e)
  if (stored.length === 0) throw new Error('the target holds no entries to replay')
  return { community: target.community, stored, blob: honestBlob }
}

/**
 * Floods the target: `plan.gossipConcurrency` gossip senders churning identities every
 * {@link FRAMES_PER_IDENTITY} frames (an oversized RPC is followed by one more frame from the same peer, to
 * see that peer is still heard or was disconnected with a code), one sync sender and one blob sender, each
 * drawing kinds uniformly at random from `rng`.
 */
export async function runCampaign (target: Target, frames: HostileFrames, rng: Rng, plan: CampaignPlan, tally: Tally): Promise<void> {
  const stopAt = Date.now() + plan.durationMs
  // the stream senders connect first, so that a daemon holding the address to its identity limit admits
  // them before the gossip senders' churn uses the rest up
  const streamAttackers = await Promise.all(['sync', 'blob'].map(async () => {
    const a = await createAttacker()
    await a.start()
    tally.identities++
    await a.dial(target.addrs, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
    return a
  }))
  const pool = new IdentityPool(target, tally, plan.gossipConcurrency + 2)
  let gossipLeft = plan.gossipFrames
  const oversized = new Map<string, number>()
  const nextUnit = async (): Promise<GossipCase[]> => {
    while (true) {
      const kind = GOSSIP_KINDS[rng.int(GOSSIP_KINDS.length)]
      if (kind === 'oversized-entry' || kind === 'oversized-rpc') {
        if ((oversized.get(kind) ?? 0) >= plan.maxOversized) continue
        oversized.set(kind, (oversized.get(kind) ?? 0) + 1)
      }
      const cases = await frames.gossip(kind)
      if (kind === 'oversized-rpc') return [...cases, ...await frames.gossip('random')]
      if (kind === 'equivocation') return cases
      return [...cases, ...await frames.gossip(GOSSIP_KINDS[rng.int(GOSSIP_KINDS.length - 2)])]
    }
  }
  const gossipWorker = async (): Promise<void> => {
    while (gossipLeft > 0 && Date.now() < stopAt) {
      const unit = await nextUnit()
      gossipLeft -= unit.length
      const a = await pool.next()
      for (const c of unit) {
        const outcome = a === undefined ? { result: 'unsent' as const } : await sendCase(a, target, c, plan.deadlineMs)
        tally.add(c, outcome)
        // nothing more from a peer whose frame went unanswered: a later decision naming it is then that frame's
        if (outcome.result === 'silent') break
      }
      if (a !== undefined) await pool.retire(a)
    }
  }
  const streamWorker = async (a: Attacker, channel: 'sync' | 'blob', count: number): Promise<void> => {
    try {
      for (let i = 0; i < count && Date.now() < stopAt; i++) {
        const c = channel === 'sync'
          ? await frames.sync(SYNC_KINDS.filter((k) => k !== 'sync-idle' && k !== 'sync-slow')[rng.int(SYNC_KINDS.length - 2)])
          : frames.blob(BLOB_KINDS.filter((k) => k !== 'blob-idle' && k !== 'blob-slow')[rng.int(BLOB_KINDS.length - 2)])
        tally.add(c, await sendCase(a, target, c, plan.deadlineMs))
      }
    } finally {
      await Promise.resolve(a.stop()).catch(() => {})
    }
  }
  try {
    await Promise.all([
      ...Array.from({ length: plan.gossipConcurrency }, gossipWorker),
      streamWorker(streamAttackers[0], 'sync', plan.syncCases),
      streamWorker(streamAttackers[1], 'blob', plan.blobCases)
    ])
  } finally {
    await pool.close()
  }
}

/**
 * Idle and slow streams: `connections` fresh identities each open `streams` blob streams that send half a
 * request (`1e 82`) and then nothing, plus one slow blob stream and an idle and a slow sync session.
 * @returns a promise of their outcomes (each settles when the daemon ends the stream or `deadlineMs`
 *   passes) and a function that closes the attackers
 */
export async function openIdleStreams (target: Target, frames: HostileFrames, tally: Tally, init: { connections: number, streams: number, deadlineMs: number }): Promise<{ settled: Promise<void>, close: () => Promise<void> }> {
  const attackers: Attacker[] = []
  const pending: Array<Promise<void>> = []
  const opened: Array<Promise<void>> = []
  for (let i = 0; i < init.connections; i++) {
    const a = await createAttacker()
    await a.start()
    tally.identities++
    attackers.push(a)
    await a.dial(target.addrs)
    for (let s = 0; s < init.streams; s++) {
      const c = frames.blob('blob-idle')
      let markOpen: () => void = () => {}
      opened.push(new Promise<void>((resolve) => { markOpen = resolve }))
      pending.push((async () => {
        const outcome = sendRaw(a, target, c, init.deadlineMs)
        // the stream counts as open once its half request is written (sendRaw writes before it waits)
        setTimeout(markOpen, 200)
        tally.add(c, await outcome)
      })())
    }
  }
  // one identity per slow or idle session, so that what the daemon logs about one is not taken for another's
  for (const c of [frames.blob('blob-slow'), await frames.sync('sync-idle'), await frames.sync('sync-slow')]) {
    const a = await createAttacker()
    await a.start()
    tally.identities++
    attackers.push(a)
    pending.push((async () => { tally.add(c, await sendCase(a, target, c, init.deadlineMs)) })())
  }
  await Promise.all(opened)
  return {
    settled: Promise.all(pending).then(() => {}),
    close: async () => { await Promise.all(attackers.map(async (a) => { await Promise.resolve(a.stop()).catch(() => {}) })) }
  }
}

/** The hex public key of the target's maintainer identity (its own entries belong in its ledger). */
export async function maintainerKey (target: Target): Promise<string> {
  const rows = await target.client.request<Array<{ author: string }>>('GET', '/v1/ledger/view/entries?kind=genesis&limit=1')
  return rows[0]?.author ?? ''
}

/**
 * What the target stores that it should not: ledger entries neither by `allowedAuthors` (hex keys) nor in
 * `allowed` (entry ids); blobs outside `allowedBlobs` that the target did not store itself (its own
 * `blob:stored` events: releases it signed, blobs put through its control API — a blob fetched from a peer
 * is not among them); and its equivocation evidence count.
 */
export async function storedAudit (target: Target, allowedAuthors: Set<string>, allowed: Set<string>, allowedBlobs: Set<string>): Promise<{ entries: number, unexpected: string[], blobs: number, unexpectedBlobs: string[], evidence: number }> {
  const rows = await target.client.request<Array<{ id: string, kind: string, author: string }>>('GET', '/v1/ledger/view/entries?limit=100000')
  const blobs = await target.client.listBlobs()
  const ownBlobs = new Set(target.events.filter((e) => e.type === 'blob:stored').map((e) => String(e.cid)))
  const status = await target.client.status()
  const ledger = status.services.ledger as { equivocations?: number }
  return {
    entries: rows.length,
    unexpected: rows.filter((r) => !allowedAuthors.has(r.author) && !allowed.has(r.id)).map((r) => `${r.kind} ${r.id} by ${r.author}`),
    blobs: blobs.length,
    unexpectedBlobs: blobs.filter((b) => !allowedBlobs.has(b.cid) && !ownBlobs.has(b.cid)).map((b) => `${b.cid} (${b.size} bytes)`),
    evidence: ledger.equivocations ?? 0
  }
}

/** What {@link storedAudit} found. */
export type StoredAudit = Awaited<ReturnType<typeof storedAudit>>

/** The audit as the campaigns print it: entries, blobs and evidence, each with what was unexpected. */
export function auditText (audit: StoredAudit, equivocators: number): string {
  return `ledger ${audit.entries} entries (${audit.unexpected.length} unexpected), ${audit.blobs} blobs (${audit.unexpectedBlobs.length} unexpected), evidence ${audit.evidence} for ${equivocators} equivocating keys`
}

/**
 * Checks what every campaign ends with: no input got another outcome than expected, none was wrongly
 * accepted, the target stores no entry or blob it should not, and holds no more evidence than `equivocators` keys.
 */
export function expectNothingWronglyKept (tally: Tally, audit: StoredAudit, equivocators: number): void {
  expect(tally.failureSummary()).toEqual([])
  expect(tally.wronglyAccepted).toEqual([])
  expect(audit.unexpected).toEqual([])
  expect(audit.unexpectedBlobs).toEqual([])
  expect(audit.evidence).toBeLessThanOrEqual(equivocators)
}
