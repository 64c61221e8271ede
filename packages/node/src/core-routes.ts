/**
 * The daemon's own control-API routes (under `/v1`): status, peers, blobs, events, as core-protocol.ts declares
 * them. Reference in doc/daemon.md, "Control API".
 */
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { parseCid, type CID } from '@swarmtune/wire'
import type { FastifyPluginAsync } from 'fastify'
import type { BlobFetchProgressEvents } from './blob-fetch.js'
import { coreProtocol } from './core-protocol.js'
import { issuesText, serveProtocol } from './control-protocol.js'
import type { DaemonComponents, DaemonStatus, PeerStatus } from './daemon-types.js'
import { ControlError, DialError, errorRecord } from './errors.js'
import { tcpTarget } from './reachability.js'

/** Minimum interval between progress lines of one fetch on its NDJSON response. */
const FETCH_PROGRESS_LINE_MS = 200

/** Longest dial through `POST /v1/peers/connect`, ms (a libp2p connection upgrade on a slow link takes a few seconds). */
const CONTROL_DIAL_TIMEOUT_MS = 10_000

/** multistream-select's header as sent on the wire (varint length 19, then the protocol id and a newline). */
const MULTISTREAM_HEADER = Buffer.from('\x13/multistream/1.0.0\n', 'latin1')

/** How long the check of what answers at an address waits for its first bytes, ms. */
const GREETING_TIMEOUT_MS = 2_000

/**
 * What answers at a TCP address when greeted the way libp2p starts (the multistream-select header): the first
 * bytes it sends back (at most the header's length), or none when it closes or stays silent. A libp2p listener
 * answers with the same header; an HTTP server with `HTTP/1.1 400 …`.
 */
async function greeting (host: string, port: number): Promise<Buffer> {
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect({ host, port })
    const done = (): void => {
      socket.destroy()
      resolve(Buffer.concat(chunks).subarray(0, MULTISTREAM_HEADER.length))
    }
    socket.setTimeout(GREETING_TIMEOUT_MS, done)
    socket.once('connect', () => { socket.write(MULTISTREAM_HEADER) })
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      if (Buffer.concat(chunks).length >= MULTISTREAM_HEADER.length) done()
    })
    socket.once('error', done)
    socket.once('end', done)
  })
}

/** Bytes as printable text for a message (control characters as `.`), at most 40 characters. */
const printable = (b: Buffer): string => b.toString('latin1').replace(/[^\x20-\x7e]/g, '.').slice(0, 40)

/**
 * A failed dial as a coded error: this node itself (libp2p's "Can not dial self", e.g. its own address without
 * /p2p/); `ERR_NODE_DIAL_NOT_LIBP2P` when something at the address answers but not with multistream-select
 * (checked by greeting it, see {@link greeting}: e.g. an HTTP server, which libp2p itself reports as "Missing
 * newline" or an unexpected end of input); otherwise `ERR_NODE_DIAL_FAILED` naming the cause (refused, timeout,
 * another peer id, …).
 */
async function dialFailure (err: unknown, addr: string, selfError: () => DialError): Promise<DialError> {
  const e = err as { code?: unknown, name?: unknown, message?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(err)
  if (/dial self/i.test(message)) return selfError()
  const check = 'Check the address (`swarmtune status -d <folder>` on that peer prints it) and that its daemon runs and is reachable (`swarmtune doctor -d <folder>`).'
  const code = typeof e?.code === 'string' ? e.code : undefined
  const timedOut = e?.name === 'TimeoutError' || e?.name === 'AbortError'
  const target = tcpTarget(addr)
  if (code !== 'ECONNREFUSED' && !timedOut && target !== null) {
    const answer = await greeting(target.host, target.port)
    if (answer.length > 0 && !MULTISTREAM_HEADER.subarray(0, answer.length).equals(answer)) {
      return new DialError('ERR_NODE_DIAL_NOT_LIBP2P', `could not dial ${addr}: something listens there but does not speak libp2p: it answered "${printable(answer)}" instead of a multistream-select header. ` +
        `It may be another program, or a daemon's control-API port (HTTP, default 4100) instead of its libp2p port (default 4101). ${check}`, { cause: err })
    }
  }
  const why = code === 'ECONNREFUSED'
    ? 'the connection was refused: nothing listens on that port'
    : timedOut
      ? `no answer within ${CONTROL_DIAL_TIMEOUT_MS} ms`
      : `${message}${code === undefined ? '' : ` (${code})`}`
  return new DialError('ERR_NODE_DIAL_FAILED', `could not dial ${addr}: ${why}. ${check}`, { cause: err })
}

/** A multiaddr without its trailing `/p2p/<peer id>`, for comparing a dialled address with a connection's. */
const withoutPeer = (a: string): string => a.replace(/\/p2p\/[^/]+$/, '')

/** What the core routes serve: the daemon's host, blob store and exchange, control API, status and peers. */
export interface CoreRoutesTarget extends Pick<DaemonComponents, 'libp2p' | 'blobs' | 'exchange' | 'control'> {
  status: () => Promise<DaemonStatus>
  peers: () => Promise<PeerStatus[]>
}

export function coreRoutes (daemon: CoreRoutesTarget): FastifyPluginAsync {
  return async (app) => {
    serveProtocol(app, coreProtocol, {
      status: async () => await daemon.status(),

      peers: async () => await daemon.peers(),

      connect: async ({ body }) => {
        let addr
        try {
          addr = multiaddr(body.addr)
        } catch (err) {
          throw new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', `'${body.addr}' is not a multiaddr (${(err as Error).message}); expected e.g. /ip4/192.0.2.7/tcp/4101/p2p/12D3KooW…`)
        }
        const self = daemon.libp2p.peerId.toString()
        const selfError = (): DialError => new DialError('ERR_NODE_DIAL_SELF', `${body.addr} is this node's own address (peer id ${self}); give the address of another peer`)
        if (/\/p2p\/([^/]+)$/.exec(addr.toString())?.[1] === self) throw selfError()
        // a connection at exactly this address answers as is; any other address is dialled even when the peer is
        // connected elsewhere (libp2p would hand back that connection and never try the address given)
        const wanted = withoutPeer(addr.toString())
        let conn = daemon.libp2p.getConnections().find((c) => c.status === 'open' && withoutPeer(c.remoteAddr.toString()) === wanted)
        if (conn === undefined) {
          try {
            conn = await daemon.libp2p.dial(addr, { signal: AbortSignal.timeout(CONTROL_DIAL_TIMEOUT_MS), force: true })
          } catch (err) {
            throw await dialFailure(err, body.addr, selfError)
          }
        }
        return { peerId: conn.remotePeer.toString(), address: conn.remoteAddr.toString() }
      },

      listBlobs: async () => {
        const out: Array<{ cid: string, size: number }> = []
        for await (const b of daemon.blobs.list()) out.push({ cid: b.cid.toString(), size: b.size })
        return out
      },

      putBlob: async ({ req, reply }) => {
        if (!(req.body instanceof Readable)) {
          throw new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', 'send the blob as the request body with Content-Type: application/octet-stream')
        }
        const stat = await daemon.exchange.putStream(req.body as AsyncIterable<Uint8Array>)
        return await reply.status(201).send({ cid: stat.cid.toString(), size: stat.size })
      },

      blobStat: async ({ params }) => {
        const stat = await daemon.blobs.stat(parseCid(params.cid))
        return { cid: stat.cid.toString(), size: stat.size }
      },

      getBlob: async ({ params, reply }) => {
        const cid = parseCid(params.cid)
        // verifies the whole blob before the first byte goes out; each chunk is re-checked as it is read
        const table = await daemon.blobs.chunkTable(cid)
        return await reply
          .type('application/octet-stream')
          .header('content-length', table.size)
          .send(Readable.from(daemon.blobs.read(cid)))
      },

      fetchBlob: async ({ params, body = {}, req, reply }) => {
        const cid = parseCid(params.cid)
        const providers = (body.providers ?? []).map((p) => {
          try {
            return peerIdFromString(p)
          } catch {
            throw new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', `provider '${p}' is not a peer id`)
          }
        })
        return daemon.control.streamNdjson(req, reply, (signal) => fetchLines(daemon, cid, { signal, providers, maxBytes: body.maxBytes }))
      },

      dashboardLogin: async () => daemon.control.dashboardLogin(),

      events: async ({ query, req, reply }) => {
        const q = query.prefix
        const prefixes = q == null ? undefined : Array.isArray(q) ? q : [q]
        return daemon.control.eventStream(req, reply, prefixes)
      }
    }, { badRequest: ({ part, issues }) => new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', `bad request ${part === 'body' ? 'body' : part === 'params' ? 'path' : 'query'}: ${issuesText(issues, `(${part})`)}`) })
  }
}

/**
 * One fetch as a sequence of NDJSON lines: `{type:'table',…}`, `{type:'progress', bytesDone, bytesTotal}`
 * (at most every 200 ms), `{type:'penalty',…}`, then `{type:'done', …FetchResult}` or `{type:'error', code, message}`.
 * The fetch stops (keeping its verified chunks) when the client disconnects.
 */
async function * fetchLines (daemon: CoreRoutesTarget, cid: CID, options: { signal: AbortSignal, providers: Awaited<ReturnType<typeof peerIdFromString>>[], maxBytes?: number }): AsyncGenerator<unknown> {
  const lines: unknown[] = []
  let wake: (() => void) | undefined
  let lastProgress = 0
  const push = (line: unknown): void => {
    lines.push(line)
    wake?.()
  }
  const onProgress = (evt: BlobFetchProgressEvents): void => {
    if (evt.type === 'blob:fetch:table') push({ type: 'table', size: evt.detail.size, chunks: evt.detail.chunks, resumedBytes: evt.detail.resumedBytes, providers: evt.detail.providers })
    else if (evt.type === 'blob:fetch:penalty') push({ type: 'penalty', peer: evt.detail.peer, reason: evt.detail.reason, detail: evt.detail.detail })
    else if (Date.now() - lastProgress >= FETCH_PROGRESS_LINE_MS || evt.detail.bytesDone === evt.detail.bytesTotal) {
      lastProgress = Date.now()
      push({ type: 'progress', bytesDone: evt.detail.bytesDone, bytesTotal: evt.detail.bytesTotal })
    }
  }
  let finished = false
  daemon.exchange.fetch(cid, { signal: options.signal, providers: options.providers, maxBytes: options.maxBytes, onProgress })
    .then((r) => { push({ type: 'done', ...r, cid: r.cid.toString() }) }, (err: unknown) => { push({ type: 'error', ...errorRecord(err) }) })
    .finally(() => {
      finished = true
      wake?.()
    })
  while (true) {
    const line = lines.shift()
    if (line !== undefined) {
      yield line
      continue
    }
    if (finished) return
    await new Promise<void>((resolve) => { wake = resolve })
    wake = undefined
  }
}
