/**
 * Client of the control API, for the CLI and scripts. Finds a running daemon through `daemon.json` and
 * `control.token` in its data folder, or takes a URL and token directly.
 */
import { readFile } from 'node:fs/promises'
import type { FetchResult } from './blob-fetch.js'
import { CONTROL_REQUEST_TIMEOUT_MS } from './constants.js'
import type { DaemonInfo, DaemonStatus, PeerStatus } from './daemon-types.js'
import { dataDirPaths } from './data-dir.js'
import { ControlError } from './errors.js'
import type { DaemonEvent } from './events.js'
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

  async status (): Promise<DaemonStatus> {
    return await this.request<DaemonStatus>('GET', '/v1/status')
  }

  async peers (): Promise<PeerStatus[]> {
    return await this.request<PeerStatus[]>('GET', '/v1/peers')
  }

  /** Dials a peer by multiaddr (ending in /p2p/<peer id>). */
  async connect (addr: string): Promise<{ peerId: string, address: string }> {
    return await this.request('POST', '/v1/peers/connect', { addr })
  }

  /** Stores bytes (or a stream of them) in the daemon's blob store. */
  async putBlob (data: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ cid: string, size: number }> {
    const body = data instanceof Uint8Array ? data : ReadableStream.from(data)
    return await this.request('POST', '/v1/blobs', body, { contentType: 'application/octet-stream', timeoutMs: 0 })
  }

  /** Reads a blob from the daemon's store (verified by the daemon). */
  async getBlob (cid: string): Promise<Uint8Array> {
    const res = await this.send('GET', `/v1/blobs/${encodeURIComponent(cid)}`, undefined, { timeoutMs: 0 })
    return new Uint8Array(await res.arrayBuffer())
  }

  async listBlobs (): Promise<Array<{ cid: string, size: number }>> {
    return await this.request('GET', '/v1/blobs')
  }

  /**
   * Has the daemon fetch a blob from peers, reporting progress lines.
   *
   * @throws ControlError with the daemon's code (`ERR_NODE_BLOB_NO_PROVIDERS`, `ERR_ABORTED` …)
   */
  async fetchBlob (cid: string, options: { providers?: string[], maxBytes?: number, signal?: AbortSignal, onProgress?: (line: FetchLine) => void } = {}): Promise<FetchSummary> {
    const body = { providers: options.providers, maxBytes: options.maxBytes }
    for await (const line of this.ndjson<FetchLine | ({ type: 'done' } & FetchSummary) | { type: 'error', code: string, message: string }>(
      'POST', `/v1/blobs/${encodeURIComponent(cid)}/fetch`, body, options.signal)) {
      if (line.type === 'done') {
        const { type: _type, ...summary } = line
        return summary
      }
      if (line.type === 'error') throw new ControlError(line.code, line.message)
      options.onProgress?.(line)
    }
    throw new ControlError('ERR_NODE_CONTROL_UNREACHABLE', 'the daemon closed the fetch stream before reporting a result; check its log')
  }

  /** The daemon's live events (optionally only types starting with one of `prefixes`) until `signal` aborts. */
  async * events (options: { signal?: AbortSignal, prefixes?: string[] } = {}): AsyncGenerator<DaemonEvent> {
    const q = (options.prefixes ?? []).map((p) => `prefix=${encodeURIComponent(p)}`).join('&')
    yield * this.ndjson<DaemonEvent>('GET', `/v1/events${q === '' ? '' : `?${q}`}`, undefined, options.signal)
  }

  /**
   * Any JSON route (services add their own under `/v1/<service>`).
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
