/**
 * Ledger replication (doc/ledger-format.md, "Sync protocol"): a symmetric session over one byte stream of
 * length-prefixed canonical-msgpack frames. Each side sends `hello` with a digest of its heads, then its
 * heads — none when the peer's digest is the same, so a session between stores that already agree costs a
 * few small frames (what periodic anti-entropy relies on). Each asks for what it
 * lacks (`wants`: author, from seq, to seq) and serves what the other asked for, in seq order, as
 * `entries` frames; each says `served` when done. Every received entry is verified (wire validation,
 * chain position) before it is stored; forged, reordered, replayed and equivocating entries are counted
 * in the report, and equivocations are kept as evidence. Runs over a libp2p stream with protocol id
 * LEDGER_SYNC_PROTOCOL, or any other {@link ByteStream}.
 */
import { CustomProgressEvent } from 'progress-events'
import { AbortError, decodeCanonical, encodeCanonical, parseCid, type LongOperationOptions } from '@swarmtune/wire'
import {
  SYNC_BATCH_ENTRIES, SYNC_HEADS_PER_FRAME, SYNC_IDLE_TIMEOUT_MS, SYNC_MAX_AUTHORS, SYNC_MAX_ENTRIES_PER_SESSION, SYNC_MAX_FRAME_BYTES,
  SYNC_MESSAGE_LIMITS
} from './constants.js'
import { LedgerSyncError } from './errors.js'
import { decodeFrames, encodeFrame, type ByteStream } from './framing.js'
import { cidString, toHex } from './records.js'
import type { Ledger } from './store.js'

/** Version of the sync messages, sent in `hello`. */
export const SYNC_VERSION = 1

/** Bytes of entries put in one `entries` frame before it is sent, leaving room under SYNC_MAX_FRAME_BYTES. */
const FRAME_FILL_BYTES = SYNC_MAX_FRAME_BYTES - 1024 * 1024

/** Options of {@link syncLedger}. */
/** The progress events of a sync session: `ledger:sync:entries` after each received `entries` frame was stored. */
export type SyncProgressEvents = CustomProgressEvent<{ received: number, appended: number }, 'ledger:sync:entries'>

export interface SyncOptions extends LongOperationOptions<SyncProgressEvents> {
  /** Abort when no frame was sent or received for this long, in ms (default SYNC_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number
  /** Most entries accepted from the peer during one run of the sync protocol (default SYNC_MAX_ENTRIES_PER_SESSION). */
  maxEntries?: number
}

/** An entry (or frame) from the peer that was not taken, and why. */
export interface SyncRejection {
  /** `ERR_WIRE_*` (failed validation: forged, malformed, other community), `ERR_LEDGER_*` (chain rules) or `ERR_LEDGER_SYNC_UNEXPECTED` (not asked for / out of order). */
  code: string
  reason?: string
  author?: string
  seq?: number
}

/** What one session did. */
export interface SyncReport {
  /** Author heads the peer advertised. */
  peerHeads: number
  /** Entries asked of the peer. */
  wanted: number
  /** Entries received. */
  received: number
  /** Entries stored now. */
  appended: number
  /** Entries received that were already stored (replays). */
  duplicates: number
  /** Equivocation evidence records stored now. */
  evidence: number
  /** Conflicting entries received that were not kept as evidence (a pair for that seq is kept, or a cap was reached). */
  evidenceDropped: number
  /** Entries sent to the peer. */
  sent: number
  /** Entries refused, with reasons. */
  rejected: SyncRejection[]
  /** Wants the peer did not serve in full. */
  incomplete: number
  /** True when both stores had the same heads digest at `hello`, so no heads were exchanged. */
  inSync: boolean
  /** ms */
  durationMs: number
}

type Message =
  | { t: 'hello', v: number, community: Uint8Array, digest?: Uint8Array }
  | { t: 'heads', heads: Array<[Uint8Array, number, Uint8Array]>, last: boolean }
  | { t: 'wants', wants: Array<[Uint8Array, number, number]>, last: boolean }
  | { t: 'entries', author: Uint8Array, from: number, entries: Uint8Array[] }
  | { t: 'served' }
  | { t: 'error', code: string, reason: string }

const isBytes = (v: unknown, length?: number): v is Uint8Array => v instanceof Uint8Array && (length === undefined || v.length === length)
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Decodes and shape-checks one frame, under {@link SYNC_MESSAGE_LIMITS} (checked before decoding).
 * @throws LedgerSyncError `ERR_LEDGER_SYNC_PROTOCOL` (with the codec's WireError as `cause` when the bytes are not a message within the limits)
 */
export function decodeMessage (frame: Uint8Array): Message {
  const bad = (what: string, cause?: unknown): never => { throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', `malformed sync frame from the peer: ${what}`, cause === undefined ? undefined : { cause }) }
  let m: Record<string, unknown>
  try {
    m = decodeCanonical(frame, SYNC_MESSAGE_LIMITS) as Record<string, unknown>
  } catch (err) {
    return bad(`not canonical msgpack within the limits of a sync message (${(err as { code?: string }).code ?? String(err)}: at most 8 keys per map, 4 levels of nesting, ${SYNC_HEADS_PER_FRAME} elements per array)`, err)
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m) || m instanceof Uint8Array) return bad('not a map')
  switch (m.t) {
    case 'hello':
      if (!isSeq(m.v) || !isBytes(m.community)) bad('hello needs v and community')
      if (m.digest !== undefined && !isBytes(m.digest, 32)) bad('the heads digest of hello must be 32 bytes')
      break
    case 'heads':
      if (!Array.isArray(m.heads) || typeof m.last !== 'boolean' || m.heads.length > SYNC_HEADS_PER_FRAME ||
        !m.heads.every((h) => Array.isArray(h) && h.length === 3 && isBytes(h[0], 32) && isSeq(h[1]) && isBytes(h[2]))) bad('heads must be [author (32 bytes), seq, id] triples')
      break
    case 'wants':
      if (!Array.isArray(m.wants) || typeof m.last !== 'boolean' || m.wants.length > SYNC_HEADS_PER_FRAME ||
        !m.wants.every((w) => Array.isArray(w) && w.length === 3 && isBytes(w[0], 32) && isSeq(w[1]) && isSeq(w[2]) && w[1] <= w[2])) bad('wants must be [author (32 bytes), from, to] with from <= to')
      break
    case 'entries':
      if (!isBytes(m.author, 32) || !isSeq(m.from) || !Array.isArray(m.entries) || m.entries.length === 0 || !m.entries.every((e) => isBytes(e))) bad('entries needs author, from and a non-empty list of entry frames')
      break
    case 'served':
      break
    case 'error':
      if (typeof m.code !== 'string' || typeof m.reason !== 'string') bad('error needs code and reason')
      break
    default:
      bad(`unknown message type ${JSON.stringify(typeof m.t === 'string' ? m.t.slice(0, 32) : m.t)}`)
  }
  return m as unknown as Message
}

interface Want { author: string, next: number, to: number, stopped: boolean }

/**
 * Runs one sync session with a peer over `stream`; both ends call this. Resolves when both sides have
 * served each other and the stream is closed.
 *
 * @throws LedgerSyncError `ERR_LEDGER_SYNC_PROTOCOL` (malformed or out-of-turn frame),
 *   `ERR_LEDGER_SYNC_FRAME_TOO_LARGE`, `ERR_LEDGER_SYNC_LIMIT`, `ERR_LEDGER_SYNC_COMMUNITY` (the peer's
 *   ledger is of another community), `ERR_LEDGER_SYNC_PEER` (the peer reported an error),
 *   `ERR_LEDGER_SYNC_TIMEOUT`; AbortError `ERR_ABORTED` when `options.signal` aborts. Entries stored before
 *   the error stay stored.
 */
export async function syncLedger (ledger: Ledger, stream: ByteStream, options: SyncOptions = {}): Promise<SyncReport> {
  const started = performance.now()
  const maxEntries = options.maxEntries ?? SYNC_MAX_ENTRIES_PER_SESSION
  const report: SyncReport = { peerHeads: 0, wanted: 0, received: 0, appended: 0, duplicates: 0, evidence: 0, evidenceDropped: 0, sent: 0, rejected: [], incomplete: 0, inSync: false, durationMs: 0 }
  const internal = new AbortController()
  const signal = options.signal === undefined ? internal.signal : AbortSignal.any([options.signal, internal.signal])
  let failure: Error | undefined
  const fail = (err: Error): void => {
    if (failure !== undefined) return
    failure = err
    internal.abort(err)
    stream.abort?.(err)
  }
  const idleMs = options.idleTimeoutMs ?? SYNC_IDLE_TIMEOUT_MS
  let idle: NodeJS.Timeout | undefined
  const touch = (): void => {
    clearTimeout(idle)
    idle = setTimeout(() => fail(new LedgerSyncError('ERR_LEDGER_SYNC_TIMEOUT', `no sync frame in either direction for ${idleMs} ms; the peer stalled or the connection is gone`)), idleMs)
  }
  const onAbort = (): void => {
    if (options.signal?.aborted === true) fail(new AbortError('the sync session was aborted; the entries stored before it stay stored', { cause: options.signal.reason }))
  }
  options.signal?.addEventListener('abort', onAbort)
  onAbort()
  touch()

  let sendChain: Promise<void> = Promise.resolve()
  const send = async (message: Message): Promise<void> => {
    const frame = encodeFrame(encodeCanonical(message))
    sendChain = sendChain.then(async () => {
      if (signal.aborted) throw signal.reason
      touch()
      if (stream.send(frame) === false) await stream.onDrain?.({ signal })
    })
    await sendChain
  }

  const peerHeads: Array<[string, number, string]> = []
  const peerWants: Array<[string, number, number]> = []
  const wants = new Map<string, Want>()
  let helloSeen = false
  let peerHello: (hello: Extract<Message, { t: 'hello' }>) => void = () => {}
  const hello = new Promise<Extract<Message, { t: 'hello' }>>((resolve) => { peerHello = resolve })
  let headsDone = false
  let wantsDone = false
  let weServed = false
  let peerServed = false
  let bothServed: () => void = () => {}
  const both = new Promise<void>((resolve) => { bothServed = resolve })
  const checkDone = (): void => { if (weServed && peerServed) bothServed() }

  const serve = async (): Promise<void> => {
    for (const [author, from, to] of peerWants) {
      const head = ledger.head(author)
      if (head === undefined || from > head.seq) continue
      let batch: Uint8Array[] = []
      let batchFrom = from
      let bytes = 0
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return
        await send({ t: 'entries', author: Buffer.from(author, 'hex'), from: batchFrom, entries: batch })
        report.sent += batch.length
        batchFrom += batch.length
        batch = []
        bytes = 0
      }
      for await (const entry of ledger.chainBytes(author, from, Math.min(to, head.seq))) {
        if (batch.length >= SYNC_BATCH_ENTRIES || bytes + entry.length > FRAME_FILL_BYTES) await flush()
        batch.push(entry)
        bytes += entry.length
      }
      await flush()
    }
    await send({ t: 'served' })
    weServed = true
    checkDone()
  }

  const sendWants = async (): Promise<void> => {
    const list: Array<[Uint8Array, number, number]> = []
    let total = 0
    for (const [author, seq, id] of peerHeads) {
      const ours = ledger.head(author)
      let from: number | undefined
      if (ours === undefined) from = 0
      else if (seq > ours.seq) from = ours.seq + 1
      // an equivocation: fetch the peer's entry as evidence, unless the store would not keep it
      else if (ledger.wantsEvidence(author, seq) && (seq === ours.seq ? ours.id : await ledger.idAt(author, seq)) !== id) from = seq
      if (from === undefined || total >= maxEntries) continue
      const to = Math.min(seq, from + (maxEntries - total) - 1)
      total += to - from + 1
      wants.set(author, { author, next: from, to, stopped: false })
      list.push([Buffer.from(author, 'hex'), from, to])
    }
    report.wanted = total
    for (let i = 0; i < list.length || i === 0; i += SYNC_HEADS_PER_FRAME) {
      await send({ t: 'wants', wants: list.slice(i, i + SYNC_HEADS_PER_FRAME), last: i + SYNC_HEADS_PER_FRAME >= list.length })
    }
  }

  const ingest = async (m: Extract<Message, { t: 'entries' }>): Promise<void> => {
    const author = toHex(m.author)
    const want = wants.get(author)
    report.received += m.entries.length
    if (report.received > maxEntries + SYNC_BATCH_ENTRIES) throw new LedgerSyncError('ERR_LEDGER_SYNC_LIMIT', `the peer sent more than the ${maxEntries} entries asked for`)
    if (want === undefined || want.stopped || m.from !== want.next || want.next + m.entries.length - 1 > want.to) {
      report.rejected.push({ code: 'ERR_LEDGER_SYNC_UNEXPECTED', reason: `entries ${m.from}..${m.from + m.entries.length - 1} of ${author} were not asked for at this point`, author, seq: m.from })
      return
    }
    // The store takes whatever fits its chains; the peer is held to the order it was asked for.
    const results = await ledger.ingest(m.entries)
    for (const r of results) {
      if (r.status === 'accept') report.appended++
      if (r.evidence === true) report.evidence++
      if (r.evidenceDropped !== undefined) report.evidenceDropped++
      if (want.stopped) continue
      const seq = want.next
      if (r.author !== undefined && (r.author !== author || r.seq !== seq)) {
        report.rejected.push({ code: 'ERR_LEDGER_SYNC_UNEXPECTED', reason: `expected entry ${seq} of ${author}, got entry ${r.seq ?? '?'} of ${r.author}`, author, seq })
        want.stopped = true
      } else if (r.status === 'accept' || r.code === 'ERR_LEDGER_DUPLICATE') {
        if (r.status !== 'accept') report.duplicates++
        want.next++
      } else {
        report.rejected.push({ code: r.code ?? 'ERR_LEDGER_INVALID_ENTRY', reason: r.reason, author, seq })
        want.stopped = true
      }
    }
    options.onProgress?.(new CustomProgressEvent('ledger:sync:entries', { received: report.received, appended: report.appended }))
  }

  const read = async (): Promise<void> => {
    for await (const frame of decodeFrames(stream, SYNC_MAX_FRAME_BYTES)) {
      if (signal.aborted) return
      touch()
      const m = decodeMessage(frame)
      if (!helloSeen && m.t !== 'hello') throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', `the peer sent ${m.t} before hello`)
      switch (m.t) {
        case 'hello': {
          if (helloSeen) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'the peer sent hello twice')
          helloSeen = true
          if (m.v !== SYNC_VERSION) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', `the peer speaks sync version ${m.v}, this ledger speaks ${SYNC_VERSION}`)
          const theirs = m.community.length === 0 ? undefined : cidString(m.community)
          const ours = ledger.community?.toString()
          if (theirs !== undefined && ours !== undefined && theirs !== ours) {
            await send({ t: 'error', code: 'ERR_LEDGER_SYNC_COMMUNITY', reason: `this ledger is of community ${ours}` }).catch(() => {})
            throw new LedgerSyncError('ERR_LEDGER_SYNC_COMMUNITY', `the peer's ledger is of community ${theirs}, this one of ${ours}; peers sync only within one community`)
          }
          peerHello(m)
          break
        }
        case 'heads': {
          if (headsDone) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'the peer sent heads after its last heads frame')
          for (const [author, seq, id] of m.heads) peerHeads.push([toHex(author), seq, cidString(id) ?? ''])
          if (peerHeads.length > SYNC_MAX_AUTHORS) throw new LedgerSyncError('ERR_LEDGER_SYNC_LIMIT', `the peer advertised more than ${SYNC_MAX_AUTHORS} author heads`)
          report.peerHeads = peerHeads.length
          if (m.last) {
            headsDone = true
            sendWants().catch((err: unknown) => fail(toSyncError(err)))
          }
          break
        }
        case 'wants': {
          if (wantsDone) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'the peer sent wants after its last wants frame')
          for (const [author, from, to] of m.wants) peerWants.push([toHex(author), from, to])
          if (peerWants.length > SYNC_MAX_AUTHORS) throw new LedgerSyncError('ERR_LEDGER_SYNC_LIMIT', `the peer asked for more than ${SYNC_MAX_AUTHORS} chains`)
          if (m.last) {
            wantsDone = true
            serve().catch((err: unknown) => fail(err as Error))
          }
          break
        }
        case 'entries':
          if (!headsDone) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'the peer sent entries before they were asked for')
          await ingest(m)
          break
        case 'served':
          if (!headsDone) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'the peer sent served before it was asked for anything')
          peerServed = true
          checkDone()
          break
        case 'error':
          throw new LedgerSyncError('ERR_LEDGER_SYNC_PEER', `the peer ended the session: ${m.code}: ${m.reason.slice(0, 1024)}`)
      }
    }
    if (!(weServed && peerServed)) throw new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', 'the peer closed the stream before the session was complete')
  }

  const aborted = new Promise<never>((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
  aborted.catch(() => {})

  try {
    const reading = read().catch((err: unknown) => fail(toSyncError(err)))
    const digest = ledger.headsDigest()
    await send({ t: 'hello', v: SYNC_VERSION, community: ledger.community?.bytes ?? new Uint8Array(0), digest })
    // Heads go out once the peer's hello is in: when its digest is ours, the stores agree and none are sent.
    const theirs = await Promise.race([hello, aborted])
    report.inSync = theirs.digest !== undefined && Buffer.compare(theirs.digest, digest) === 0
    const heads = report.inSync ? [] : ledger.heads()
    for (let i = 0; i < heads.length || i === 0; i += SYNC_HEADS_PER_FRAME) {
      const chunk = heads.slice(i, i + SYNC_HEADS_PER_FRAME).map((h): [Uint8Array, number, Uint8Array] => [Buffer.from(h.author, 'hex'), h.seq, parseCid(h.id).bytes])
      await send({ t: 'heads', heads: chunk, last: i + SYNC_HEADS_PER_FRAME >= heads.length })
    }
    await Promise.race([both, aborted])
    await sendChain
    await stream.close({ signal })
    await reading
    if (failure !== undefined) throw failure
  } catch (err) {
    fail(toSyncError(err))
    throw failure
  } finally {
    clearTimeout(idle)
    options.signal?.removeEventListener('abort', onAbort)
  }
  for (const want of wants.values()) if (want.stopped || want.next <= want.to) report.incomplete++
  report.durationMs = performance.now() - started
  return report
}

function toSyncError (err: unknown): Error {
  if (err instanceof LedgerSyncError) return err
  const e = err as { code?: string, message?: string }
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_LEDGER_')) return err as Error
  return new LedgerSyncError('ERR_LEDGER_SYNC_PROTOCOL', `the sync session failed: ${e?.message ?? String(err)}`, { cause: err })
}
