/**
 * The control API: HTTP/1.1 on a loopback address only, every request authenticated with the bearer token
 * of `<data>/control.token`. JSON in and out, blobs as `application/octet-stream`, live events and fetch
 * progress as NDJSON (one JSON object per line). Errors are `{ code, message }` with the status of their code
 * (control-status.ts).
 *
 * Services plug in with {@link ControlApi.register}: a fastify plugin mounted under `/v1/<prefix>`.
 * See doc/daemon.md, "Control API", for the reference.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { isLoopbackHost } from './config.js'
import { CONTROL_MAX_HEADER_BYTES, CONTROL_MAX_JSON_BYTES, CONTROL_MAX_PARAM_CHARS, EVENT_HEARTBEAT_MS } from './constants.js'
import { CONTROL_STATUS_OF_CODE, controlStatusOf } from './control-status.js'
import { DASHBOARD_COOKIE, DASHBOARD_HEADERS, DASHBOARD_PREFIX, DashboardSessions, cookieValue, dashboardRoutes, isDashboardUrl } from './dashboard.js'
import { ConfigError, ControlError, PortInUseError, errorRecord } from './errors.js'
import type { DaemonEvent, EventBus } from './events.js'

export interface ControlApiInit {
  host: string
  port: number
  token: string
  events: EventBus
  log: Logger
}

/**
 * Maps an error to its HTTP status: its code's in {@link CONTROL_STATUS_OF_CODE}, else the 4xx status fastify
 * gives its own errors (an unparsable body, a wrong content type), else 500.
 */
export function statusOf (err: unknown): number {
  const e = err as { code?: unknown, statusCode?: unknown } | null | undefined
  if (typeof e?.code === 'string' && Object.hasOwn(CONTROL_STATUS_OF_CODE, e.code)) return controlStatusOf(e.code)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return e.statusCode
  return 500
}

/**
 * The `{ code, message }` body of a request refused before it reaches a route: by the router (a path
 * parameter over {@link CONTROL_MAX_PARAM_CHARS} → 414, a malformed URL → 400) or by Node's HTTP parser
 * (request line and headers over {@link CONTROL_MAX_HEADER_BYTES} → 431, too slow → 408, unparsable → 400).
 */
export function frameworkErrorRecord (err: { code?: string }, url: string): { status: number, code: string, message: string } {
  const shown = url.length > 80 ? `${url.slice(0, 80)}… (${url.length} characters)` : url
  switch (err.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, code: 'ERR_NODE_CONTROL_TOO_LARGE', message: `a path parameter of ${shown} is longer than ${CONTROL_MAX_PARAM_CHARS} characters; the control API's parameters are CIDs, peer ids, round numbers or "latest" (see doc/daemon.md, "Control API")` }
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'ERR_NODE_CONTROL_TOO_LARGE', message: `the request line and headers are larger than ${CONTROL_MAX_HEADER_BYTES} bytes; send a shorter URL and fewer or shorter headers` }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'ERR_NODE_CONTROL_BAD_REQUEST', message: 'the request did not arrive in time; send it again' }
    default:
      return { status: 400, code: 'ERR_NODE_CONTROL_BAD_REQUEST', message: `the request ${shown === '' ? '' : `${shown} `}is not valid HTTP/1.1 or has a malformed URL (${err.code ?? 'no code'}); the control API takes requests as doc/daemon.md, "Control API" lists them` }
  }
}

/** Node's 'clientError' on the control server: answer with a `{ code, message }` body, then close the socket. */
function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const r = frameworkErrorRecord(err, '')
  const body = JSON.stringify({ code: r.code, message: r.message })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

export class ControlApi {
  readonly app: FastifyInstance
  private readonly init: ControlApiInit
  private readonly tokenDigest: Buffer
  private readonly dashboard = new DashboardSessions()
  private url?: string

  constructor (init: ControlApiInit) {
    if (!isLoopbackHost(init.host)) {
      throw new ConfigError(`control.host is ${init.host}; the control API listens on loopback only (127.0.0.1 or ::1)`)
    }
    this.init = init
    this.tokenDigest = createHash('sha256').update(init.token).digest()
    this.app = Fastify({
      logger: false,
      bodyLimit: CONTROL_MAX_JSON_BYTES,
      routerOptions: { maxParamLength: CONTROL_MAX_PARAM_CHARS },
      http: { maxHeaderSize: CONTROL_MAX_HEADER_BYTES },
      forceCloseConnections: true,
      // what the router and the HTTP parser refuse gets the API's own { code, message } too
      frameworkErrors: (err, req, reply) => {
        const r = frameworkErrorRecord(err as { code?: string }, req.url)
        void (reply as FastifyReply).status(r.status).send({ code: r.code, message: r.message })
      },
      clientErrorHandler
    })
    // blob uploads stream through untouched; the store enforces its size limit while writing
    this.app.addContentTypeParser('application/octet-stream', (_req, payload, done) => { done(null, payload) })
    this.app.addHook('onRequest', async (req, reply) => { await this.authenticate(req, reply) })
    this.app.setErrorHandler((err, req, reply) => {
      const status = statusOf(err)
      const record = errorRecord(err)
      if (status >= 500) init.log.error({ err, url: req.url }, 'control API request failed')
      // fastify's own codes (FST_…) are not the API's: a body over the limit is TOO_LARGE, the rest BAD_REQUEST
      const own = (err as { code?: string }).code
      const code = own === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'ERR_NODE_CONTROL_TOO_LARGE' : own?.startsWith('FST_') === true ? 'ERR_NODE_CONTROL_BAD_REQUEST' : record.code
      void reply.status(status).send({ code, message: record.message })
    })
    this.app.setNotFoundHandler((req, reply) => {
      // an unknown dashboard path answers with the dashboard's headers too (its CSP among them)
      if (isDashboardUrl(req.url)) void reply.headers(DASHBOARD_HEADERS)
      void reply.status(404).send({ code: 'ERR_NODE_CONTROL_NOT_FOUND', message: `no route ${req.method} ${req.url}; see doc/daemon.md, "Control API"` })
    })
  }

  /**
   * Mounts a service's routes under `/v1/<prefix>` (must be called before {@link listen}).
   * Handlers throw errors with a `code` from doc/errors.md; the API turns them into `{ code, message }`.
   */
  register (prefix: string, plugin: FastifyPluginAsync): void {
    const name = prefix.replace(/^\/+|\/+$/g, '')
    void this.app.register(plugin, { prefix: name === '' ? '/v1' : `/v1/${name}` })
  }

  /**
   * Mounts the researchers' dashboard under `/dashboard/` (dashboard.ts; before {@link listen}).
   * @param distDir folder of the built page (default: `@swarmtune/dashboard`'s dist/)
   */
  mountDashboard (distDir?: string): void {
    void this.app.register(dashboardRoutes({ app: this.app, token: this.init.token, events: this.init.events, sessions: this.dashboard, distDir }), { prefix: DASHBOARD_PREFIX })
  }

  /**
   * A one-time dashboard login URL (`POST /v1/dashboard/login`): opening it sets the session cookie.
   * @throws ControlError `ERR_NODE_CONTROL_BAD_REQUEST` before {@link listen}.
   */
  dashboardLogin (): { url: string, expiresAt: number } {
    if (this.url === undefined) throw new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', 'the control API is not listening yet; try again once the daemon has started')
    const { code, expiresAt } = this.dashboard.issueCode()
    return { url: `${this.url}${DASHBOARD_PREFIX}/login?code=${code}`, expiresAt }
  }

  /** Starts listening; returns the base URL (e.g. `http://127.0.0.1:4100`). */
  async listen (): Promise<string> {
    try {
      await this.app.listen({ host: this.init.host, port: this.init.port })
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err
      throw new PortInUseError('ERR_NODE_CONTROL_PORT_IN_USE', `the control API cannot listen on ${this.init.host}:${this.init.port}: another program uses that port. ` +
        'Stop it, or choose another port: `--control-port <port>` for this run, or "control.port" in config.json (0 picks a free one).', { cause: err })
    }
    const addr = this.app.server.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    this.url = `http://${host}:${addr.port}`
    return this.url
  }

  /** The base URL once listening. */
  get baseUrl (): string | undefined {
    return this.url
  }

  async close (): Promise<void> {
    await this.app.close()
  }

  /**
   * Streams `source` as NDJSON until it ends, the client goes away or the server closes. A blank line is sent
   * once `source` has started, and every {@link EVENT_HEARTBEAT_MS} after, so idle connections stay visibly alive.
   */
  streamNdjson (_req: FastifyRequest, reply: FastifyReply, source: (signal: AbortSignal) => AsyncIterable<unknown>): FastifyReply {
    const controller = new AbortController()
    // the response closes when it ends or when the client goes away; either way the source may stop
    reply.raw.on('close', () => { controller.abort() })
    const heartbeat = setInterval(() => { out.push('\n') }, EVENT_HEARTBEAT_MS)
    const out = new Readable({ read () {} })
    void (async () => {
      try {
        for await (const item of source(controller.signal)) out.push(JSON.stringify(item) + '\n')
      } catch (err) {
        out.push(JSON.stringify({ type: 'error', ...errorRecord(err) }) + '\n')
      } finally {
        clearInterval(heartbeat)
        out.push(null)
      }
    })()
    // a first blank line once the source has started (for the event stream: once it follows the bus), so the
    // client's request resolves then and what it reads afterwards misses no event
    out.push('\n')
    return reply.type('application/x-ndjson').header('cache-control', 'no-store').send(out)
  }

  /** The live event stream of the bus, filtered by type prefixes. */
  eventStream (req: FastifyRequest, reply: FastifyReply, prefixes?: string[]): FastifyReply {
    return this.streamNdjson(req, reply, (signal) => this.init.events.stream({ signal, prefixes }) as AsyncIterable<DaemonEvent>)
  }

  private async authenticate (req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (isDashboardUrl(req.url)) {
      await this.authenticateDashboard(req, reply)
      return
    }
    const header = req.headers.authorization
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    const digest = createHash('sha256').update(token).digest()
    if (token === '' || !timingSafeEqual(digest, this.tokenDigest)) {
      await reply.status(401).header('www-authenticate', 'Bearer').send({
        code: 'ERR_NODE_CONTROL_UNAUTHORIZED',
        message: 'missing or wrong bearer token: send "Authorization: Bearer <token>" with the token from control.token in the daemon\'s data folder (the swarmtune CLI does this)'
      })
    }
  }

  /** Dashboard routes take the session cookie only (the login route checks its one-time code itself). */
  private async authenticateDashboard (req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (req.url.split('?')[0] === `${DASHBOARD_PREFIX}/login`) return
    if (this.dashboard.valid(cookieValue(req.headers.cookie, DASHBOARD_COOKIE))) return
    await reply.status(401).headers(DASHBOARD_HEADERS).send({
      code: 'ERR_NODE_CONTROL_UNAUTHORIZED',
      message: 'no dashboard session: the dashboard needs the cookie its login link sets. Run `swarmtune dashboard -d <folder>` and open the link it prints (the bearer token is not accepted here)'
    })
  }
}
