/**
 * Client of the control API, for the CLI and scripts. Finds a running daemon through `daemon.json` and
 * `control.token` in its data folder, or takes a URL and token directly. Its methods are typed by the
 * services' protocols (control-protocol.ts): the core routes as methods of its own, the ledger's as
 * `client.ledger`, any other service's through {@link ControlClient.service} (`@swarmtune/rounds` builds its
 * `roundsClient` on it). Every answer is checked against its route's schema; an error answer is thrown as a
 * `ControlError` with the daemon's code and HTTP status.
 */
import { readFile } from 'node:fs/promises'
import type { EntryJson, LedgerStats, SyncReport, VerifyReport, ViewParams } from '@swarmtune/ledger'
import type { FetchResult } from './blob-fetch.js'
import { CONTROL_REQUEST_TIMEOUT_MS } from './constants.js'
import type { z } from 'zod'
import { issuesText, routeUrl, type JsonRouteName, type RouteInput, type RouteMap, type RouteOutput, type ServiceProtocol } from './control-protocol.js'
import { blobStatSchema, coreProtocol } from './core-protocol.js'
import type { DaemonInfo, DaemonStatus, PeerStatus } from './daemon-types.js'
import { dataDirPaths } from './data-dir.js'
import { ControlError } from './errors.js'
import type { DaemonEvent } from './events.js'
import { ledgerProtocol } from './ledger-protocol.js'
import { processExists } from './lock.js'

export interface ControlClientInit {
  /** Base URL, e.g. `http://127.0.0.1:4100`. */
  url: string
  token: string
  /** Per-request timeout for non-streaming calls, ms (default {@link CONTROL_REQUEST_TIMEOUT_MS}). */
  timeoutMs?: number
  /** The daemon's data folder, when known: named in the hints of errors (`swarmtune daemon -d <folder>`). */
  dataDir?: string
}

/** A progress line of `fetchBlob`. */
export type FetchLine =
  | { type: 'table', size: number, chunks: number, resumedBytes: number, providers: number }
  | { type: 'progress', bytesDone: number, bytesTotal: number }
  | { type: 'penalty', peer: string, reason: string, detail: string }

/** What `fetchBlob` resolves to (CID as a string). */
export type FetchSummary = Omit<FetchResult, 'cid'> & { cid: string }

/** Options of one call. */
export interface CallOptions {
  /** Stops the request (the call rejects with the fetch's abort). */
  signal?: AbortSignal
  /** ms, 0 = none; default the route's, else the client's per-request timeout. */
  timeoutMs?: number
}

/** The arguments of a typed method of route `S`: its input (optional when every part is) and call options. */
export type RouteArgs<S> = Record<never, never> extends RouteInput<S> ? [input?: RouteInput<S>, options?: CallOptions] : [input: RouteInput<S>, options?: CallOptions]

/** A typed method per JSON route of a service's protocol (what {@link ControlClient.service} gives). */
export type ServiceClient<R extends RouteMap> = {
  [K in JsonRouteName<R>]: (...args: RouteArgs<R[K]>) => Promise<RouteOutput<R[K]>>
}

/** The ledger routes (`/v1/ledger`) as methods: `client.ledger`. */
export interface LedgerClient {
  /** A view's rows (views and filters as `queryView` of @swarmtune/ledger takes them). */
  view: (view: string, params?: ViewParams, options?: CallOptions) => Promise<Array<Record<string, unknown>>>
  /** One entry. @throws ControlError `ERR_LEDGER_NOT_FOUND` (404) when the ledger holds no such entry */
  entry: (id: string, options?: CallOptions) => Promise<EntryJson>
  stats: (options?: CallOptions) => Promise<LedgerStats>
  /** Verifies the daemon's ledger (no timeout by default: a large store takes a while). */
  verify: (options?: CallOptions) => Promise<VerifyReport>
  /** One sync session with `peer` (a peer id). @throws ControlError `ERR_NODE_DIAL_SELF`, `ERR_NODE_DIAL_FAILED`, `ERR_LEDGER_BAD_ARGUMENT` … */
  sync: (peer: string, options?: CallOptions) => Promise<SyncReport>
}

/**
 * The JSON of a successful answer, checked against `schema` (when given) and returned as sent.
 * @throws ControlError `ERR_NODE_CONTROL_BAD_RESPONSE` for an answer that is not JSON or does not match
 */
async function checkedJson<T> (res: Response, method: string, path: string, schema: z.ZodType<T> | undefined): Promise<T> {
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch (err) {
    throw new ControlError('ERR_NODE_CONTROL_BAD_RESPONSE', `${method} ${path} answered with something that is not JSON (${(err as Error).message}); is ${res.url} a swarmtune daemon's control API?`, { cause: err })
  }
  const checked = schema?.safeParse(json)
  if (checked?.success === false) {
    throw new ControlError('ERR_NODE_CONTROL_BAD_RESPONSE', `${method} ${path} answered with JSON that is not what the route answers (${issuesText(checked.error.issues.slice(0, 3), '(answer)')}); ` +
      'the daemon may run another version of swarmtune: `swarmtune status` prints it')
  }
  return json as T
}

/** The query-string text of view filters (undefined and false left out). */
function viewQuery (p: ViewParams = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined && v !== false).map(([k, v]) => [k, String(v)]))
}

export class ControlClient {
  readonly url: string
  private readonly token: string
  private readonly timeoutMs: number
  private readonly dataDir?: string

  constructor (init: ControlClientInit) {
    this.url = init.url.replace(/\/+$/, '')
    this.token = init.token
    this.timeoutMs = init.timeoutMs ?? CONTROL_REQUEST_TIMEOUT_MS
    this.dataDir = init.dataDir
  }

  /**
   * A client for the daemon running on a data folder.
   *
   * @throws ControlError `ERR_NODE_DAEMON_NOT_RUNNING` when no daemon runs there
   */
  static async fromDataDir (root: string): Promise<ControlClient> {
    const paths = dataDirPaths(root)
    let info: DaemonInfo
    let text: string
    try {
      text = await readFile(paths.daemonInfo, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ControlError('ERR_NODE_DAEMON_INFO_UNREADABLE', `${paths.daemonInfo} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check its permissions, or delete it if no daemon runs on ${paths.root}.`, { cause: err })
      }
      const initialised = await readFile(paths.key).then(() => true, () => false)
      throw new ControlError('ERR_NODE_DAEMON_NOT_RUNNING', initialised
        ? `no daemon is running on ${paths.root} (no daemon.json). Start one with \`swarmtune daemon --data-dir ${paths.root}\`.`
        : `no daemon is running on ${paths.root}: there is no data folder there yet (no identity.key). Create it with \`swarmtune init -d ${paths.root}\`, then start the daemon with \`swarmtune daemon -d ${paths.root}\`.`)
    }
    try {
      info = JSON.parse(text) as DaemonInfo
      if (typeof info?.control !== 'string' || !Number.isSafeInteger(info.pid)) throw new Error('no "control" URL or "pid"')
    } catch (err) {
      throw new ControlError('ERR_NODE_DAEMON_INFO_UNREADABLE', `${paths.daemonInfo} exists but is unreadable (${(err as Error).message}): the daemon writes it at start and removes it at stop. ` +
        `If a daemon runs on ${paths.root}, restart it to rewrite the file; if none runs, delete the file and start one with \`swarmtune daemon -d ${paths.root}\`.`, { cause: err })
    }
    if (!processExists(info.pid)) {
      throw new ControlError('ERR_NODE_DAEMON_NOT_RUNNING', `the daemon of ${paths.root} (pid ${info.pid}) is no longer running; it did not stop cleanly. Start it again with \`swarmtune daemon --data-dir ${paths.root}\`.`)
    }
    const token = (await readFile(paths.token, 'utf8')).trim()
    return new ControlClient({ url: info.control, token, dataDir: paths.root })
  }

  /**
   * Calls route `name` of `protocol`: the path, query and JSON body built from `input`, the answer checked
   * against the route's schema and returned as the daemon sent it.
   *
   * @throws ControlError with the daemon's `code` and the HTTP status; `ERR_NODE_CONTROL_UNREACHABLE`;
   *   `ERR_NODE_CONTROL_BAD_RESPONSE` when the answer does not match the route's schema
   */
  async call<R extends RouteMap, K extends JsonRouteName<R>> (protocol: ServiceProtocol<R>, name: K, input?: RouteInput<R[K]>, options: CallOptions = {}): Promise<RouteOutput<R[K]>> {
    const spec = protocol.routes[name]
    const i = (input ?? {}) as { params?: unknown, query?: unknown, body?: unknown }
    const path = routeUrl(protocol, spec, i.params, i.query)
    const body = spec.method === 'POST' ? (i.body ?? {}) : undefined
    const res = await this.send(spec.method, path, body, { timeoutMs: options.timeoutMs ?? spec.timeoutMs, signal: options.signal })
    return await checkedJson(res, spec.method, path, spec.response) as RouteOutput<R[K]>
  }

  /** A typed method per JSON route of `protocol`: `client.service(p).name({ params, query, body }, { signal })`. */
  service<R extends RouteMap> (protocol: ServiceProtocol<R>): ServiceClient<R> {
    const methods: Record<string, (input?: RouteInput<unknown>, options?: CallOptions) => Promise<unknown>> = {}
    for (const [name, spec] of Object.entries(protocol.routes)) {
      if (spec.response === undefined) continue
      methods[name] = async (input, options) => await this.call(protocol as ServiceProtocol, name as never, input as never, options)
    }
    return methods as unknown as ServiceClient<R>
  }

  /** The ledger routes (`/v1/ledger`). */
  get ledger (): LedgerClient {
    const api = this.service(ledgerProtocol)
    return {
      view: async (view, params, options) => await api.view({ params: { view }, query: viewQuery(params) }, options),
      entry: async (id, options) => await api.entry({ params: { id } }, options),
      stats: async (options) => await api.stats({}, options),
      verify: async (options) => await api.verify({}, options),
      sync: async (peer, options) => await api.sync({ body: { peer } }, options)
    }
  }

  async status (options?: CallOptions): Promise<DaemonStatus> {
    return await this.call(coreProtocol, 'status', {}, options)
  }

  async peers (options?: CallOptions): Promise<PeerStatus[]> {
    return await this.call(coreProtocol, 'peers', {}, options)
  }

  /** A one-time login URL of the daemon's dashboard (`POST /v1/dashboard/login`; doc/dashboard.md). */
  async dashboardLogin (options?: CallOptions): Promise<{ url: string, expiresAt: number }> {
    return await this.call(coreProtocol, 'dashboardLogin', {}, options)
  }

  /** Dials a peer by multiaddr (ending in /p2p/<peer id>). */
  async connect (addr: string, options?: CallOptions): Promise<{ peerId: string, address: string }> {
    return await this.call(coreProtocol, 'connect', { body: { addr } }, options)
  }

  /** Stores bytes (or a stream of them) in the daemon's blob store. */
  async putBlob (data: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ cid: string, size: number }> {
    const body = data instanceof Uint8Array ? data : ReadableStream.from(data)
    const path = routeUrl(coreProtocol, coreProtocol.routes.putBlob)
    const res = await this.send('POST', path, body, { contentType: 'application/octet-stream', timeoutMs: 0 })
    return await checkedJson(res, 'POST', path, blobStatSchema)
  }

  /** Reads a blob from the daemon's store (verified by the daemon). */
  async getBlob (cid: string): Promise<Uint8Array> {
    const res = await this.send('GET', routeUrl(coreProtocol, coreProtocol.routes.getBlob, { cid }), undefined, { timeoutMs: 0 })
    return new Uint8Array(await res.arrayBuffer())
  }

  async listBlobs (options?: CallOptions): Promise<Array<{ cid: string, size: number }>> {
    return await this.call(coreProtocol, 'listBlobs', {}, options)
  }

  /** Size of a blob in the daemon's store. @throws ControlError `ERR_NODE_BLOB_NOT_FOUND` (404), `ERR_WIRE_BAD_CID` (400) */
  async blobStat (cid: string, options?: CallOptions): Promise<{ cid: string, size: number }> {
    return await this.call(coreProtocol, 'blobStat', { params: { cid } }, options)
  }

  /**
   * Has the daemon fetch a blob from peers, reporting progress lines.
   *
   * @throws ControlError with the daemon's code (`ERR_NODE_BLOB_NO_PROVIDERS`, `ERR_ABORTED` …)
   */
  async fetchBlob (cid: string, options: { providers?: string[], maxBytes?: number, signal?: AbortSignal, onProgress?: (line: FetchLine) => void } = {}): Promise<FetchSummary> {
    const body = { providers: options.providers, maxBytes: options.maxBytes }
    for await (const line of this.ndjson<FetchLine | ({ type: 'done' } & FetchSummary) | { type: 'error', code: string, message: string }>(
      'POST', routeUrl(coreProtocol, coreProtocol.routes.fetchBlob, { cid }), body, options.signal)) {
      if (line.type === 'done') {
        const { type: _type, ...summary } = line
        return summary
      }
      if (line.type === 'error') throw new ControlError(line.code, line.message)
      options.onProgress?.(line)
    }
    throw new ControlError('ERR_NODE_CONTROL_UNREACHABLE', 'the daemon closed the fetch stream before reporting a result; check its log')
  }

  /**
   * Follows the daemon's live events (optionally only types starting with one of `prefixes`). Resolves once the
   * daemon's stream follows its event bus — every event emitted from then on is in it, so state read after
   * this resolves misses no later change — to the events, until `signal` aborts (the iteration then ends) or
   * the daemon closes the stream.
   *
   * @throws ControlError `ERR_NODE_CONTROL_UNREACHABLE`, or the daemon's code
   */
  async subscribe (options: { signal?: AbortSignal, prefixes?: string[] } = {}): Promise<AsyncGenerator<DaemonEvent>> {
    const path = routeUrl(coreProtocol, coreProtocol.routes.events, undefined, { prefix: options.prefixes })
    // the daemon sends its first (blank) line once subscribed; fetch resolves with the first bytes
    const res = await this.send('GET', path, undefined, { timeoutMs: 0, signal: options.signal })
    return this.lines<DaemonEvent>(res, options.signal)
  }

  /** The daemon's live events (optionally only types starting with one of `prefixes`) until `signal` aborts. */
  async * events (options: { signal?: AbortSignal, prefixes?: string[] } = {}): AsyncGenerator<DaemonEvent> {
    yield * await this.subscribe(options)
  }

  /**
   * Any route, untyped: for a route no protocol declares (a script's own service). Prefer the typed methods,
   * {@link call} and {@link service}, which check the answer.
   *
   * @throws ControlError with the daemon's `code` and the HTTP status, or `ERR_NODE_CONTROL_UNREACHABLE`
   */
  async request<T = unknown> (method: string, path: string, body?: unknown, options: { contentType?: string, timeoutMs?: number } = {}): Promise<T> {
    const res = await this.send(method, path, body, options)
    const text = await res.text()
    return (text === '' ? undefined : JSON.parse(text)) as T
  }

  /** A streaming NDJSON route, line by line (blank heartbeat lines skipped). */
  async * ndjson<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const res = await this.send(method, path, body, { timeoutMs: 0, signal })
    yield * this.lines<T>(res, signal)
  }

  /** The NDJSON lines of a response (blank heartbeat lines skipped); ends quietly when `signal` aborts. */
  private async * lines<T> (res: Response, signal?: AbortSignal): AsyncGenerator<T> {
    if (res.body == null) return
    const decoder = new TextDecoder()
    let buffered = ''
    try {
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(piece, { stream: true })
        let nl
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim()
          buffered = buffered.slice(nl + 1)
          if (line !== '') yield JSON.parse(line) as T
        }
      }
    } catch (err) {
      if (signal?.aborted === true) return
      throw new ControlError('ERR_NODE_CONTROL_UNREACHABLE', `the connection to the daemon at ${this.url} broke: ${(err as Error).message}`, { cause: err })
    }
  }

  private async send (method: string, path: string, body: unknown, options: { contentType?: string, timeoutMs?: number, signal?: AbortSignal }): Promise<Response> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => s != null)
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` }
    let payload: RequestInit['body']
    if (body !== undefined) {
      if (options.contentType != null) {
        headers['content-type'] = options.contentType
        payload = body as RequestInit['body']
      } else {
        headers['content-type'] = 'application/json'
        payload = JSON.stringify(body)
      }
    }
    let res: Response
    try {
      res = await fetch(this.url + path, {
        method,
        headers,
        body: payload,
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
        ...(payload instanceof ReadableStream ? { duplex: 'half' } : {})
      } as RequestInit)
    } catch (err) {
      throw new ControlError('ERR_NODE_CONTROL_UNREACHABLE', `cannot reach the daemon's control API at ${this.url} (${(err as Error).cause != null ? String((err as { cause: Error }).cause.message) : (err as Error).message}). Is \`swarmtune daemon${this.dataDir === undefined ? '' : ` -d ${this.dataDir}`}\` running? \`swarmtune doctor${this.dataDir === undefined ? '' : ` -d ${this.dataDir}`}\` checks it.`, { cause: err })
    }
    if (!res.ok) {
      let code = 'ERR_NODE_CONTROL_FAILED'
      let message = `${method} ${path} failed with HTTP ${res.status}`
      try {
        const e = await res.json() as { code?: string, message?: string }
        if (typeof e.code === 'string') code = e.code
        if (typeof e.message === 'string') message = e.message
      } catch {
        // not JSON: keep the generic message
      }
      throw new ControlError(code, message, { status: res.status })
    }
    return res
  }
}
