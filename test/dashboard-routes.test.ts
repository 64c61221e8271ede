/**
 * The dashboard's routes on a real maintainer daemon (127.0.0.1, LevelDB in a temp folder): a one-time login URL
 * from `POST /v1/dashboard/login` (bearer) sets an HttpOnly, SameSite=Strict cookie and redirects to a URL with
 * no code; every `/dashboard/…` route, the event stream included, answers 401 without the cookie (the bearer
 * token is not accepted there); every answer carries the strict CSP; the data route answers what the control
 * API reports; nothing but GET is routed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_CSP, DASHBOARD_SOURCES, identityOfKey, identityOfPeer } from '@swarmtune/node'
import { startMaintainer, type Maintainer } from '@swarmtune/test-support/rounds'
import { runCli } from '@swarmtune/test-support/cli'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Every route the page uses, and some it does not. */
const ROUTES = ['/dashboard', '/dashboard/', '/dashboard/index.html', '/dashboard/app.js', '/dashboard/app.css', '/dashboard/api/snapshot', '/dashboard/api/events', '/dashboard/nothing-here']

let m: Maintainer
let base: string
let token: string
beforeAll(async () => {
  m = await startMaintainer({ name: 'dashboard-routes' })
  base = m.node.daemon.control.baseUrl as string
  token = (await readFile(join(m.dir, 'control.token'), 'utf8')).trim()
}, 120_000)
afterAll(async () => { await m?.cleanup() })

async function login (): Promise<{ url: string, cookie: string }> {
  const res = await fetch(`${base}/v1/dashboard/login`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  expect(res.status).toBe(200)
  const { url } = await res.json() as { url: string }
  const redirected = await fetch(url, { redirect: 'manual' })
  expect(redirected.status).toBe(303)
  const setCookie = redirected.headers.get('set-cookie') ?? ''
  return { url, cookie: setCookie.split(';')[0] }
}

describe('dashboard routes', () => {
  it('answer 401 with the CSP to every dashboard route without the session cookie, the bearer token and a forged cookie included', async () => {
    for (const route of ROUTES) {
      for (const headers of [{}, { authorization: `Bearer ${token}` }, { cookie: 'swarmtune_dashboard=forged' }] as Array<Record<string, string>>) {
        const res = await fetch(`${base}${route}`, { headers })
        expect(res.status, `${route} ${JSON.stringify(headers)}`).toBe(401)
        expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
        expect(await res.json()).toMatchObject({ code: 'ERR_NODE_CONTROL_UNAUTHORIZED' })
      }
    }
    // the login URL itself comes only with the bearer token
    expect((await fetch(`${base}/v1/dashboard/login`, { method: 'POST' })).status).toBe(401)
  })

  it('turn a one-time login URL into an HttpOnly SameSite=Strict cookie, once, and redirect to a URL without the code', async () => {
    const res = await fetch(`${base}/v1/dashboard/login`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    const { url, expiresAt } = await res.json() as { url: string, expiresAt: number }
    expect(url).toMatch(new RegExp(`^${base}/dashboard/login\\?code=[A-Za-z0-9_-]{43}$`))
    expect(url).not.toContain(token)
    expect(expiresAt).toBeGreaterThan(Date.now())
    const first = await fetch(url, { redirect: 'manual' })
    expect(first.status).toBe(303)
    expect(first.headers.get('location')).toBe('/dashboard/')
    const cookie = first.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/^swarmtune_dashboard=[A-Za-z0-9_-]{43}; Path=\/dashboard; HttpOnly; SameSite=Strict; Max-Age=\d+$/)
    expect(cookie).not.toContain(token)
    // spent: the same URL again is refused, and sets nothing
    const again = await fetch(url, { redirect: 'manual' })
    expect(again.status).toBe(401)
    expect(again.headers.get('set-cookie')).toBeNull()
    expect(await again.json()).toMatchObject({ code: 'ERR_NODE_CONTROL_UNAUTHORIZED' })
    expect((await fetch(`${base}/dashboard/login?code=${'A'.repeat(43)}`, { redirect: 'manual' })).status).toBe(401)
  })

  it('serve the bundled page with the cookie: same-origin assets only, the CSP on each, and the event stream', async () => {
    const { cookie } = await login()
    const page = await fetch(`${base}/dashboard/`, { headers: { cookie } })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    const html = await page.text()
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((r) => r[1])
    expect(refs.sort()).toEqual(['/dashboard/app.css', '/dashboard/app.js'])
    for (const asset of refs) {
      const res = await fetch(`${base}${asset}`, { headers: { cookie } })
      expect(res.status, asset).toBe(200)
      expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
      // bundled: no other host is named in what the page loads
      expect((await res.text()).match(/https?:\/\/(?!www\.w3\.org)[a-z0-9.-]+/gi) ?? [], asset).toEqual([])
    }
    // the event stream: server-sent events of the bus
    const controller = new AbortController()
    const sse = await fetch(`${base}/dashboard/api/events`, { headers: { cookie }, signal: controller.signal })
    expect(sse.status).toBe(200)
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(sse.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    const emit = setInterval(() => { m.node.daemon.events.emit('rounds:test', { round: 99 }) }, 100)
    try {
      while (!text.includes('"rounds:test"')) text += new TextDecoder().decode((await reader.read()).value)
    } finally {
      clearInterval(emit)
      controller.abort()
    }
    const data = text.split('\n').find((l) => l.startsWith('data: ') && l.includes('rounds:test')) as string
    expect(JSON.parse(data.slice(6))).toMatchObject({ type: 'rounds:test', round: 99 })
  })

  it('answer the snapshot with what the control API reports, and route nothing but GET', async () => {
    const { cookie } = await login()
    const snapshot = await (await fetch(`${base}/dashboard/api/snapshot`, { headers: { cookie } })).json() as Record<string, unknown>
    for (const [name, url] of Object.entries(DASHBOARD_SOURCES)) {
      if (name === 'status' || name === 'peers') continue // uptime and ping times move between two reads
      const direct = await (await fetch(`${base}${url}`, { headers: { authorization: `Bearer ${token}` } })).json()
      expect(snapshot[name], name).toEqual(direct)
    }
    expect(snapshot.errors).toEqual({})
    expect(snapshot.verify).toMatchObject({ ranAt: expect.any(Number), report: { entries: 1, authors: 1 } })
    // one identity everywhere: the maintainer's key and peer id, both ways
    const self = m.node.daemon.peerId.toString()
    const key = (identityOfPeer(self) as { key: string }).key
    expect(identityOfKey(key)).toEqual({ key, peerId: self })
    expect(snapshot.identities).toEqual([{ peerId: self, key }])
    expect((snapshot.heads as Array<{ author: string }>).map((h) => h.author)).toEqual([key])
    // read-only: no other method is routed under /dashboard
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const route of ['/dashboard/', '/dashboard/api/snapshot', '/dashboard/api/events', '/dashboard/login']) {
        const res = await fetch(`${base}${route}`, { method, headers: { cookie } })
        expect(res.status, `${method} ${route}`).toBe(404)
        expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
      }
    }
  })

  it('`swarmtune dashboard` prints a login URL that works once', async () => {
    const run = await runCli(['dashboard', '-d', m.dir, '--json'], { reject: 'failure' })
    const { url } = JSON.parse(run.stdout) as { url: string }
    expect(url.startsWith(`${base}/dashboard/login?code=`)).toBe(true)
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(303)
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(401)
    const text = await runCli(['dashboard', '-d', m.dir], { reject: 'failure' })
    expect(text.stdout).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard\/login\?code=\S+\n/)
  })
})
