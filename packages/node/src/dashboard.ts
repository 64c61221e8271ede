/**
 * The researchers' dashboard on the control address (doc/dashboard.md): the read-only page of
 * `@swarmtune/dashboard` under `/dashboard/`, and the routes it reads. Access is by a session cookie, never the
 * bearer token: `swarmtune dashboard` asks `POST /v1/dashboard/login` (bearer) for a one-time login URL;
 * opening it sets an HttpOnly, SameSite=Strict cookie and redirects to the page, so no token or code stays in
 * a URL. Every `/dashboard/…` route but the login answers 401 without a live session, carries a strict
 * Content-Security-Policy, and is a GET that changes nothing: the data routes read the daemon's own GET
 * routes (and `ledger verify`, which only reads) through fastify's `inject`, with the daemon's token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { DASHBOARD_ASSETS, dashboardDistDir } from '@swarmtune/dashboard'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import {
  DASHBOARD_LOGIN_CODE_TTL_MS, DASHBOARD_MAX_CODES, DASHBOARD_MAX_SESSIONS, DASHBOARD_ROUND_EVENTS, DASHBOARD_SESSION_TTL_MS,
  DASHBOARD_VERIFY_INTERVAL_MS, EVENT_HEARTBEAT_MS
} from './constants.js'
import type { DaemonEvent, EventBus } from './events.js'

/** Path prefix of the dashboard's routes. */
export const DASHBOARD_PREFIX = '/dashboard'

/** Name of the session cookie. */
export const DASHBOARD_COOKIE = 'swarmtune_dashboard'

/**
 * The page's Content-Security-Policy: its own script and styles only (no inline code, no other host), data
 * from its own origin, no framing, no forms, no plugins.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Headers of every dashboard response, the 401s included. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin'
}

/** Event types the page's event stream carries (the rest of the bus is noise to it). */
export const DASHBOARD_EVENT_PREFIXES = ['rounds:', 'ledger:', 'peer:connect', 'peer:disconnect', 'daemon:']

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** One-time login codes and the sessions they open, in memory (a restart logs everyone out). */
export class DashboardSessions {
  /** sha-256 of a code (hex) → expiry, ms since the epoch. */
  private readonly codes = new Map<string, number>()
  /** sha-256 of a session id (hex) → expiry. */
  private readonly sessions = new Map<string, number>()

  /** A fresh one-time code (32 random bytes, base64url), valid for {@link DASHBOARD_LOGIN_CODE_TTL_MS}. */
  issueCode (now = Date.now()): { code: string, expiresAt: number } {
    this.prune(now)
    while (this.codes.size >= DASHBOARD_MAX_CODES) this.codes.delete(this.codes.keys().next().value as string)
    const code = randomBytes(32).toString('base64url')
    const expiresAt = now + DASHBOARD_LOGIN_CODE_TTL_MS
    this.codes.set(digest(code).toString('hex'), expiresAt)
    return { code, expiresAt }
  }

  /** Spends a code: a new session id when the code is live (it cannot be used again), else undefined. */
  redeem (code: string, now = Date.now()): string | undefined {
    this.prune(now)
    const key = digest(code).toString('hex')
    if (!this.codes.has(key)) return undefined
    this.codes.delete(key)
    while (this.sessions.size >= DASHBOARD_MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string)
    const session = randomBytes(32).toString('base64url')
    this.sessions.set(digest(session).toString('hex'), now + DASHBOARD_SESSION_TTL_MS)
    return session
  }

  /** Whether `session` (a cookie value) is a live session. */
  valid (session: string | undefined, now = Date.now()): boolean {
    if (session === undefined || session === '') return false
    const d = digest(session)
    for (const [key, expiresAt] of this.sessions) {
      if (expiresAt > now && timingSafeEqual(Buffer.from(key, 'hex'), d)) return true
    }
    return false
  }

  private prune (now: number): void {
    for (const [k, t] of this.codes) if (t <= now) this.codes.delete(k)
    for (const [k, t] of this.sessions) if (t <= now) this.sessions.delete(k)
  }
}

/** The value of cookie `name` in a Cookie header, if present. */
export function cookieValue (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** Whether a request URL is under the dashboard prefix. */
export const isDashboardUrl = (url: string): boolean => url === DASHBOARD_PREFIX || url.startsWith(`${DASHBOARD_PREFIX}/`) || url.startsWith(`${DASHBOARD_PREFIX}?`)

/** One member as the page names it everywhere: its peer id, with its raw Ed25519 key. */
export interface DashboardIdentity {
  peerId: string
  /** Raw Ed25519 public key, 64 hex (the ledger's `author`). */
  key: string
}

/** The identity of a 64-hex author key, or undefined when it is not an Ed25519 key. */
export function identityOfKey (key: string): DashboardIdentity | undefined {
  try {
    return { key, peerId: peerIdFromPublicKey(publicKeyFromRaw(Buffer.from(key, 'hex'))).toString() }
  } catch {
    return undefined
  }
}

/** The identity of a peer id, or undefined when it does not embed an Ed25519 key. */
export function identityOfPeer (peerId: string): DashboardIdentity | undefined {
  try {
    const raw = peerIdFromString(peerId).publicKey?.raw
    return raw === undefined || raw.length !== 32 ? undefined : { peerId, key: Buffer.from(raw).toString('hex') }
  } catch {
    return undefined
  }
}

/** A part of the snapshot that could not be read: the control route's status and its `{ code, message }`. */
export interface DashboardPartError {
  status: number
  code: string
  message: string
}

/** The daemon's own GET routes that the snapshot holds, by the name the page reads them under. */
export const DASHBOARD_SOURCES: Readonly<Record<string, string>> = {
  status: '/v1/status',
  peers: '/v1/peers',
  community: '/v1/rounds/community',
  rounds: '/v1/rounds',
  releases: '/v1/ledger/view/releases',
  ledgerRounds: '/v1/ledger/view/rounds',
  contributions: '/v1/ledger/view/contributions',
  heads: '/v1/ledger/view/heads',
  stats: '/v1/ledger/stats'
}

/** What the dashboard routes read: the control API's fastify app (for `inject`), its token and event bus. */
export interface DashboardInit {
  app: FastifyInstance
  token: string
  events: EventBus
  sessions: DashboardSessions
  /** Folder of the built page (default: `@swarmtune/dashboard`'s dist/). */
  distDir?: string
}

/** The dashboard routes, to mount under {@link DASHBOARD_PREFIX}; authentication is the control API's hook. */
export function dashboardRoutes (init: DashboardInit): FastifyPluginAsync {
  const assets = new Map<string, { body: Buffer, contentType: string }>()
  let missing: string | undefined
  const roundEvents: DaemonEvent[] = []
  let verified: { ranAt: number, report?: unknown, error?: DashboardPartError } | undefined
  let verifying: Promise<void> | undefined

  const get = async (url: string, method: 'GET' | 'POST' = 'GET'): Promise<{ ok: true, data: unknown } | { ok: false, error: DashboardPartError }> => {
    const res = await init.app.inject({ method, url, headers: { authorization: `Bearer ${init.token}` } })
    const body = res.json<unknown>()
    if (res.statusCode === 200) return { ok: true, data: body }
    const e = body as { code?: string, message?: string }
    return { ok: false, error: { status: res.statusCode, code: e.code ?? 'ERR_NODE_CONTROL_BAD_REQUEST', message: e.message ?? res.body } }
  }

  const verify = async (): Promise<void> => {
    if (verified !== undefined && Date.now() - verified.ranAt < DASHBOARD_VERIFY_INTERVAL_MS) return
    verifying ??= (async () => {
      const r = await get('/v1/ledger/verify', 'POST')
      verified = r.ok ? { ranAt: Date.now(), report: r.data } : { ranAt: Date.now(), error: r.error }
    })().finally(() => { verifying = undefined })
    await verifying
  }

  const snapshot = async (): Promise<Record<string, unknown>> => {
    await verify()
    const parts: Record<string, unknown> = {}
    const errors: Record<string, DashboardPartError> = {}
    for (const [name, url] of Object.entries(DASHBOARD_SOURCES)) {
      const r = await get(url)
      if (r.ok) parts[name] = r.data
      else errors[name] = r.error
    }
    const identities = new Map<string, DashboardIdentity>()
    const add = (id: DashboardIdentity | undefined): void => { if (id !== undefined) identities.set(id.peerId, id) }
    for (const h of (parts.heads ?? []) as Array<{ author?: string }>) if (typeof h.author === 'string') add(identityOfKey(h.author))
    for (const p of (parts.peers ?? []) as Array<{ peerId?: string }>) if (typeof p.peerId === 'string') add(identityOfPeer(p.peerId))
    const self = (parts.status as { peerId?: string } | undefined)?.peerId
    if (self !== undefined) add(identityOfPeer(self))
    return {
      generatedAt: Date.now(),
      ...parts,
      verify: verified,
      identities: [...identities.values()].sort((a, b) => a.peerId < b.peerId ? -1 : 1),
      roundEvents: [...roundEvents],
      errors
    }
  }

  const send = (reply: FastifyReply, status: number, code: string, message: string): FastifyReply =>
    reply.status(status).headers(DASHBOARD_HEADERS).send({ code, message })

  const events = (reply: FastifyReply): void => {
    const controller = new AbortController()
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
    res.write(': stream open\n\n')
    const heartbeat = setInterval(() => { res.write(': keep-alive\n\n') }, EVENT_HEARTBEAT_MS)
    res.on('close', () => {
      clearInterval(heartbeat)
      controller.abort()
    })
    void (async () => {
      try {
        for await (const e of init.events.stream({ signal: controller.signal, prefixes: DASHBOARD_EVENT_PREFIXES })) {
          res.write(`data: ${JSON.stringify(e)}\n\n`)
        }
      } finally {
        clearInterval(heartbeat)
        res.end()
      }
    })()
  }

  return async (app) => {
    const dir = init.distDir ?? dashboardDistDir()
    for (const a of DASHBOARD_ASSETS) {
      try {
        assets.set(a.file, { body: await readFile(join(dir, a.file)), contentType: a.contentType })
      } catch {
        missing = join(dir, a.file)
      }
    }
    const unsubscribe = init.events.subscribe((e) => {
      if (!e.type.startsWith('rounds:')) return
      roundEvents.push(e)
      if (roundEvents.length > DASHBOARD_ROUND_EVENTS) roundEvents.shift()
    })
    app.addHook('onClose', async () => { unsubscribe() })
    app.addHook('onSend', async (_req, reply, payload) => {
      reply.headers(DASHBOARD_HEADERS)
      return payload
    })

    app.get('/login', async (req, reply) => {
      const code = (req.query as { code?: unknown }).code
      const session = typeof code === 'string' && code.length <= 64 ? init.sessions.redeem(code) : undefined
      if (session === undefined) {
        return send(reply, 401, 'ERR_NODE_CONTROL_UNAUTHORIZED', 'this dashboard login link is not valid: it was used already, it expired (links last ' +
          `${DASHBOARD_LOGIN_CODE_TTL_MS / 1000} s) or the daemon restarted. Run \`swarmtune dashboard -d <folder>\` for a new one`)
      }
      return await reply.status(303)
        .header('set-cookie', `${DASHBOARD_COOKIE}=${session}; Path=${DASHBOARD_PREFIX}; HttpOnly; SameSite=Strict; Max-Age=${DASHBOARD_SESSION_TTL_MS / 1000}`)
        .header('location', `${DASHBOARD_PREFIX}/`)
        .send()
    })

    const asset = (file: string) => async (_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const a = assets.get(file)
      if (a === undefined) {
        return send(reply, 503, 'ERR_NODE_DASHBOARD_NOT_BUILT', `the dashboard page is not built (${missing ?? file} is missing); ` +
          'run `npm ci` (or `npm run build --workspace packages/dashboard`) in the swarmtune checkout, then restart the daemon')
      }
      return await reply.type(a.contentType).send(a.body)
    }
    app.get('/', asset('index.html'))
    for (const a of DASHBOARD_ASSETS) app.get(`/${a.file}`, asset(a.file))

    app.get('/api/snapshot', async () => await snapshot())
    app.get('/api/events', (_req, reply) => { events(reply) })
  }
}
