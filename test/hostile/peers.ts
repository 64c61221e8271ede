/**
 * Hostile peers: plain libp2p nodes on 127.0.0.1 (TCP, noise, yamux, identify, gossipsub with StrictSign
 * and the daemon's message id) that put generated frames on a target daemon's community topic, ledger sync
 * streams and blob streams, and find out what the daemon did with each one — from the daemon's event stream
 * and log lines ({@link Target}) and from what comes back on the stream.
 */
import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictSign, type GossipSub } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { decodeFrames, decodeSyncMessage } from '@swarmtune/ledger'
import type { DaemonEvent } from '@swarmtune/node'
import { BLOB_PROTOCOL, communityTopic, decodeCanonical, encodeCanonical, LEDGER_SYNC_PROTOCOL } from '@swarmtune/wire'
import { createLibp2p } from 'libp2p'
import type { Expectation, GossipCase, HostileCase, RawStreamCase, SyncServeCase } from './frames.js'
import { lp, varint } from './frames.js'
import type { Target } from './target.js'

/**
 * What became of one frame:
 * - `coded`: the daemon refused it with a code (`code`, and where it was seen);
 * - `closed`: the daemon ended the stream or connection without a code anyone could see;
 * - `accepted`: the daemon took it (delivered on the topic, or stored by sync);
 * - `no-op`: nothing happened and nothing was stored (a replay dropped as already seen);
 * - `silent`: the stream or connection stayed up and nothing was heard within the case's deadline;
 * - `unsent`: the frame could not be put on the wire (the daemon refused the connection: identity churn limits).
 */
export interface Outcome {
  result: 'coded' | 'closed' | 'accepted' | 'no-op' | 'silent' | 'unsent'
  code?: string
  /** `event`, `log`, `response` (an error frame on the stream) or `disconnect`. */
  via?: string
  /**
   * Handling time, ms: from the attacker's send (wall clock, taken just before the write) to the daemon's
   * record of its decision — the event's `ts` or the log line's `time`, stamped by the daemon on the same host
   * clock — or, when the decision is an error frame, to its arrival. Includes loopback transport, noise,
   * yamux, gossipsub decoding and validation. Undefined for deadline-driven cases (idle, slow).
   */
  ms?: number
  /**
   * Handling time inside the daemon, ms: the `handlingMs` of its event or log line — from the frame's bytes
   * reaching the daemon's code (gossipsub's read loop taking the RPC frame; a sync or blob stream's latest
   * chunk) to its decision, on the daemon's monotonic clock. Undefined when the decision carries none
   * (connection-level refusals and disconnects, gossip framing errors, deadline-driven cases).
   */
  daemonMs?: number
  /** For a refusal read from the daemon's answer: looks up the daemon's own record of it for {@link daemonMs}. */
  record?: () => number | undefined
  /** For a `silent` gossip frame: where to look for a decision that came after the deadline ({@link lateDecision}). */
  pending?: { peer: string, since: { events: number, logs: number, at: number } }
}

/** A decision on a `silent` gossip frame that the daemon made after the frame's deadline, with its handling time. */
export function lateDecision (target: Target, o: Outcome): Outcome | undefined {
  if (o.pending === undefined) return undefined
  const d = decision(target, o.pending.peer, o.pending.since, false)
  return d === undefined ? undefined : since(d, o.pending.since.at)
}

export interface CaseResult { kind: string, channel: string, expect: Expectation, outcome: Outcome }

/** Whether an outcome is what a case expects. */
export function meets (expect: Expectation, o: Outcome): boolean {
  switch (expect) {
    case 'reject': return o.result === 'coded'
    case 'refuse': return o.result === 'coded' || o.result === 'closed'
    case 'duplicate': return o.result === 'no-op' || o.result === 'accepted'
    case 'accept': return o.result === 'accepted'
  }
}

export type Attacker = Libp2p<{ pubsub: GossipSub, identify: ReturnType<ReturnType<typeof identify>> }>

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const keys = new WeakMap<Attacker, PrivateKey>()

/** A fresh identity (new Ed25519 key) on 127.0.0.1. */
export async function createAttacker (): Promise<Attacker> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { dialTimeout: 5_000 },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictSign,
        allowPublishToZeroTopicPeers: false,
        emitSelf: false,
        fallbackToFloodsub: false,
        doPX: false,
        // the daemon's message id (protocol/network.md): sha256 of the data
        msgIdFn: (msg) => createHash('sha256').update(msg.data).digest(),
        maxInboundDataLength: 16 * 1024 * 1024
      })
    }
  }) as unknown as Attacker
  keys.set(node, privateKey)
  return node
}

/**
 * Largest message data gossipsub's own publish sends: its RPC framing (it-length-prefixed) refuses frames
 * above 4 MiB. Larger data goes out as a hand-written RPC ({@link publishLarge}).
 */
const PUBLISH_MAX_DATA_BYTES = 4 * 1024 * 1024 - 64 * 1024

/** The gossipsub protocol the daemon speaks. */
const GOSSIPSUB_PROTOCOL = '/meshsub/1.2.0'

/**
 * Publishes `data` on `topic` as a message signed by `a` (StrictSign: the signature covers
 * `libp2p-pubsub:` + the protobuf message without signature, as gossipsub's buildRawMessage makes it),
 * written as one length-prefixed RPC on a gossipsub stream of its own, so that no size limit of our side
 * applies. @throws when the stream cannot be opened
 */
async function publishLarge (a: Attacker, target: Target, topic: string, data: Uint8Array): Promise<void> {
  const key = keys.get(a)
  if (key === undefined) throw new Error('not an attacker made by createAttacker')
  const seqno = new Uint8Array(8)
  new DataView(seqno.buffer).setBigUint64(0, BigInt(Date.now()) * 1_000_000n)
  const message = { from: a.peerId.toMultihash().bytes, data, seqno, topic }
  const signature = await key.sign(Buffer.concat([Buffer.from('libp2p-pubsub:'), RPC.Message.encode(message)]))
  const rpc = RPC.encode({ subscriptions: [], messages: [{ ...message, signature }] })
  const stream = await a.dialProtocol(target.addrs, GOSSIPSUB_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  stream.maxWriteBufferLength = rpc.length + 1024
  // the daemon may cut the stream while the frame is under way: what it did is read from its events
  await write(stream, Buffer.concat([varint(rpc.length), rpc])).catch(() => {})
}

/**
 * Dials the target and waits until the target's subscription to the community topic is known, so that
 * a publish reaches it. @returns false when the daemon refused the connection or never showed its topic
 */
export async function joinTopic (a: Attacker, target: Target, timeoutMs = 10_000): Promise<boolean> {
  const topic = communityTopic(target.community)
  a.services.pubsub.subscribe(topic)
  try {
    await a.dial(target.addrs, { signal: AbortSignal.timeout(timeoutMs) })
  } catch {
    return false
  }
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (a.services.pubsub.getSubscribers(topic).some((p) => p.toString() === target.peerId)) return true
    if (a.getConnections().length === 0) return false
    await sleep(20)
  }
  return false
}

function connected (a: Attacker, target: Target): boolean {
  return a.getConnections().some((c) => c.remotePeer.toString() === target.peerId && c.status === 'open')
}

/**
 * The daemon's decision on something `peer` sent after event index `since.events` (and, for sync sessions,
 * log index `since.logs`), if any yet. Gossip and blob streams are judged by events alone; a sync session
 * that fails is only logged (`inbound ledger sync failed`, level debug, with the error's code), so its log
 * lines count too — those stamped at or after `since.at`, since a line can reach us after the next session
 * began. With `stream` (the case's stream id, which yamux shares between both ends), a stream refusal counts
 * only if it names that stream.
 */
function decision (target: Target, peer: string, since: { events: number, logs: number, at: number }, sync: boolean, stream?: string): Outcome | undefined {
  for (let i = since.events; i < target.events.length; i++) {
    const e: DaemonEvent = target.events[i]
    if ((e.type === 'peer:refused' || e.type === 'peer:dropped') && e.peer === peer && typeof e.code === 'string') {
      return { result: 'coded', code: e.code, via: 'disconnect', ms: e.ts, daemonMs: handlingOf(e) }
    }
    if (sync) {
      if (e.type === 'ledger:sync' && e.peer === peer && e.ts >= since.at) {
        const rejected = (e.rejected as Array<{ code: string }> | undefined) ?? []
        if (rejected.length > 0) return { result: 'coded', code: rejected[0].code, via: 'event', ms: e.ts, daemonMs: handlingOf(e) }
        return { result: (e.appended as number) > 0 ? 'accepted' : 'no-op', via: 'event', ms: e.ts, daemonMs: handlingOf(e) }
      }
      continue
    }
    // a stream refusal names its stream: the event of an earlier case's stream (answered with an error frame
    // before its event arrived) is not this case's
    if ((e.type === 'blob:stream:rejected' || e.type === 'stream:rejected') && e.peer === peer && typeof e.code === 'string' &&
      (stream === undefined || e.stream === stream)) return { result: 'coded', code: e.code, via: 'event', ms: e.ts, daemonMs: handlingOf(e) }
    if ((e.type === 'gossip:rejected' || e.type === 'gossip:ignored') && e.from === peer) {
      return typeof e.code === 'string' ? { result: 'coded', code: e.code, via: 'event', ms: e.ts, daemonMs: handlingOf(e) } : { result: 'silent', via: 'event' }
    }
    if (e.type === 'gossip:message' && e.from === peer) return { result: 'accepted', via: 'event', ms: e.ts, daemonMs: handlingOf(e) }
  }
  if (!sync) return undefined
  for (let i = since.logs; i < target.logs.length; i++) {
    const l = target.logs[i]
    if (l.peer === peer && l.code !== undefined && l.time >= since.at && l.msg === SYNC_FAILURE_LOG) return { result: 'coded', code: l.code, via: 'log', ms: l.time, daemonMs: l.handlingMs }
  }
  return undefined
}

/** The daemon's own handling time of a decision's event (`handlingMs`, ms), when it has one. */
function handlingOf (e: DaemonEvent): number | undefined {
  return typeof e.handlingMs === 'number' && Number.isFinite(e.handlingMs) && e.handlingMs >= 0 ? e.handlingMs : undefined
}

/** The ledger service's log message for an inbound sync session that failed (ledger-service.ts). */
const SYNC_FAILURE_LOG = 'inbound ledger sync failed'

/** How long, ms, a gossip sender looks for the logged code of a disconnect after its connection closed. */
const DISCONNECT_LOG_WAIT_MS = 3_000

/** Turns an absolute decision time into the handling time since `sentAt`. */
function since (o: Outcome, sentAt: number): Outcome {
  return o.ms === undefined ? o : { ...o, ms: Math.max(0, o.ms - sentAt) }
}

/**
 * Publishes one gossip frame from `a` (already in the topic) and waits up to `deadlineMs` for the daemon's
 * decision: a gossip event naming `a` as the forwarding peer, a logged code naming it, or the daemon
 * closing the connection.
 */
export async function sendGossip (a: Attacker, target: Target, c: GossipCase, deadlineMs: number): Promise<Outcome> {
  const peer = a.peerId.toString()
  const sentAt = Date.now()
  const mark = { events: target.events.length, logs: target.logs.length, at: sentAt }
  try {
    if (c.data.length > PUBLISH_MAX_DATA_BYTES) {
      await publishLarge(a, target, communityTopic(target.community), c.data)
    } else {
      const { recipients } = await a.services.pubsub.publish(communityTopic(target.community), c.data)
      if (!recipients.some((r) => r.toString() === target.peerId)) return { result: 'unsent' }
    }
  } catch {
    // a publish error on our side (the message id seen before, no peer left): nothing reached the daemon
    return { result: 'unsent' }
  }
  const wait = c.expect === 'duplicate' ? Math.min(deadlineMs, 1_500) : deadlineMs
  const deadline = sentAt + wait
  while (Date.now() < deadline) {
    const d = decision(target, peer, mark, false)
    if (d !== undefined) return since(d, sentAt)
    if (!connected(a, target)) {
      // a disconnect with a code is logged as it happens, but on a loaded machine the line may reach the log a
      // while after the connection closed: look for it for up to DISCONNECT_LOG_WAIT_MS
      const until = Date.now() + DISCONNECT_LOG_WAIT_MS
      let late = decision(target, peer, mark, false)
      while (late === undefined && Date.now() < until) {
        await sleep(25)
        late = decision(target, peer, mark, false)
      }
      return late !== undefined ? since(late, sentAt) : { result: 'closed', via: 'disconnect' }
    }
    await sleep(5)
  }
  return c.expect === 'duplicate' ? { result: 'no-op' } : { result: 'silent', pending: { peer, since: mark } }
}

interface StreamEnd { bytes: Uint8Array, end: 'closed' | 'reset' | 'open', at: number, error?: string }

/** Reads what the daemon sends until it ends the stream or `deadlineMs` passes (the stream is then aborted). */
async function drain (stream: Stream, deadlineMs: number): Promise<StreamEnd> {
  const chunks: Uint8Array[] = []
  let end: StreamEnd['end'] = 'open'
  let error: string | undefined
  const reading = (async () => {
    try {
      for await (const chunk of stream) chunks.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
      end = 'closed'
    } catch (err) {
      end = 'reset'
      error = (err as Error).name
    }
  })()
  let timer: NodeJS.Timeout | undefined
  await Promise.race([reading, new Promise((resolve) => { timer = setTimeout(resolve, deadlineMs) })])
  clearTimeout(timer)
  const at = Date.now()
  if (end === 'open') stream.abort(new Error('the hostile peer gives up on this stream'))
  return { bytes: Buffer.concat(chunks), end, at, error }
}

/** The code of the first error frame in `bytes`, for the blob (`{ ok: false, code }`) or sync (`{ t: 'error', code }`) protocol. */
function errorFrameCode (bytes: Uint8Array): string | undefined {
  let length = 0
  let shift = 0
  let i = 0
  for (; i < Math.min(bytes.length, 5); i++) {
    length += (bytes[i] & 0x7f) * 2 ** shift
    shift += 7
    if ((bytes[i] & 0x80) === 0) break
  }
  if (i >= bytes.length || bytes.length < i + 1 + length) return undefined
  try {
    const m = decodeCanonical(bytes.subarray(i + 1, i + 1 + length)) as Record<string, unknown>
    if (m?.ok === false && typeof m.code === 'string') return m.code
    if (m?.t === 'error' && typeof m.code === 'string') return m.code
  } catch {
    // not an error frame
  }
  return undefined
}

/** Opens a stream to the target: negotiated (`protocol`) or raw on the muxer. */
async function openStream (a: Attacker, target: Target, protocol: string, unnegotiated: boolean): Promise<Stream> {
  if (!unnegotiated) return await a.dialProtocol(target.addrs, protocol, { signal: AbortSignal.timeout(10_000) })
  const conn: Connection = await a.dial(target.addrs, { signal: AbortSignal.timeout(10_000) })
  const muxer = (conn as unknown as { muxer?: { createStream: (o?: unknown) => Promise<Stream> | Stream } }).muxer
  if (muxer === undefined) throw new Error('the connection has no stream muxer to open a raw stream on')
  return await muxer.createStream({})
}

async function write (stream: Stream, bytes: Uint8Array): Promise<void> {
  if (stream.send(bytes) === false) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
}

/**
 * After a stream ended, how long to wait for the daemon's event or log line about it, ms: events cross the
 * control API's stream and log lines a pipe, each a few hundred ms late at worst under the 60 s flood.
 */
const RECORD_GRACE_MS = 3_000

/**
 * Sends a raw stream case (sync or blob protocol) and waits up to `deadlineMs` for the daemon's answer:
 * an error frame, the end of the stream, a logged code or a sync report.
 */
export async function sendRaw (a: Attacker, target: Target, c: RawStreamCase, deadlineMs: number, slowMs = 200): Promise<Outcome> {
  const peer = a.peerId.toString()
  const mark = { events: target.events.length, logs: target.logs.length, at: Date.now() }
  let stream: Stream
  try {
    stream = await openStream(a, target, c.channel === 'sync' ? LEDGER_SYNC_PROTOCOL : BLOB_PROTOCOL, c.unnegotiated === true)
  } catch {
    return { result: 'unsent' }
  }
  const sentAt = Date.now()
  const ended = drain(stream, deadlineMs)
  try {
    if (c.then === 'slow') {
      const bytes = Buffer.concat(c.chunks)
      for (let i = 0; i < bytes.length && stream.status === 'open'; i++) {
        await write(stream, bytes.subarray(i, i + 1))
        await sleep(slowMs)
      }
    } else {
      for (const chunk of c.chunks) await write(stream, chunk)
      if (c.then === 'close') await stream.close().catch(() => {})
    }
  } catch {
    // the daemon ended the stream while we wrote: what it did is read below
  }
  const end = await ended
  const deadlineDriven = c.then !== 'close'
  const code = errorFrameCode(end.bytes)
  if (code !== undefined) {
    // the daemon's record of the same refusal (its event naming the stream, or its log line) has its own
    // handling time; it may come after the answer, so it is looked up when the figures are drawn
    const id = stream.id
    const record = deadlineDriven ? undefined : (): number | undefined => decision(target, peer, mark, c.channel === 'sync', id)?.daemonMs
    return { result: 'coded', code, via: 'response', ms: deadlineDriven ? undefined : end.at - sentAt, record }
  }
  const grace = Date.now() + RECORD_GRACE_MS
  while (true) {
    const d = decision(target, peer, mark, c.channel === 'sync', stream.id)
    if (d !== undefined) return deadlineDriven ? { ...d, ms: undefined, daemonMs: undefined } : since(d, sentAt)
    if (Date.now() > grace) break
    await sleep(20)
  }
  if (end.end === 'open') return { result: 'silent' }
  return { result: 'closed', via: end.error === undefined ? end.end : `${end.end} (${end.error})`, ms: deadlineDriven ? undefined : end.at - sentAt }
}

/**
 * Runs a regular sync handshake (hello, heads naming the served entries' authors, empty wants), serves
 * what the daemon asks for of `c.serve`, says served, and reads the daemon's sync report.
 */
export async function sendServe (a: Attacker, target: Target, c: SyncServeCase, deadlineMs: number): Promise<Outcome> {
  const peer = a.peerId.toString()
  const mark = { events: target.events.length, logs: target.logs.length, at: Date.now() }
  let stream: Stream
  try {
    stream = await a.dialProtocol(target.addrs, LEDGER_SYNC_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  } catch {
    return { result: 'unsent' }
  }
  const sentAt = Date.now()
  const send = async (m: unknown): Promise<void> => { await write(stream, lp(encodeCanonical(m))) }
  const session = (async () => {
    const frames = decodeFrames(stream, 4 * 1024 * 1024)
    await send({ t: 'hello', v: 1, community: target.community.bytes })
    await send({ t: 'heads', heads: c.serve.map((e) => [e.entry.author, e.entry.seq, e.id.bytes]), last: true })
    let wanted: Array<[Uint8Array, number, number]> = []
    for await (const frame of frames) {
      const m = decodeSyncMessage(frame)
      if (m.t === 'wants') {
        wanted = [...wanted, ...m.wants]
        if (m.last) break
      }
      if (m.t === 'error') return
    }
    await send({ t: 'wants', wants: [], last: true })
    for (const [author] of wanted) {
      const e = c.serve.find((s) => Buffer.compare(s.entry.author, author) === 0)
      if (e !== undefined) await send({ t: 'entries', author, from: e.entry.seq, entries: [e.bytes] })
    }
    await send({ t: 'served' })
    for await (const frame of frames) {
      if (decodeSyncMessage(frame).t === 'served') break
    }
    await stream.close()
  })()
  let timer: NodeJS.Timeout | undefined
  await Promise.race([session.catch(() => {}), new Promise((resolve) => { timer = setTimeout(resolve, deadlineMs) })])
  clearTimeout(timer)
  const grace = Date.now() + RECORD_GRACE_MS
  while (true) {
    const d = decision(target, peer, mark, true)
    if (d !== undefined) return since(d, sentAt)
    if (Date.now() > grace) break
    await sleep(20)
  }
  if (stream.status === 'open') stream.abort(new Error('this peer ends the sync session here'))
  return { result: 'silent' }
}

/** Sends any case from `a`. Gossip cases need `a` in the topic ({@link joinTopic}). */
export async function sendCase (a: Attacker, target: Target, c: HostileCase, deadlineMs: number): Promise<Outcome> {
  if (c.channel === 'gossip') return await sendGossip(a, target, c, deadlineMs)
  if ('serve' in c) return await sendServe(a, target, c, deadlineMs)
  return await sendRaw(a, target, c, deadlineMs)
}
