/**
 * The typed control protocol: a service's routes served with `serveProtocol` on a real control API on
 * 127.0.0.1 and called through `ControlClient.service` — requests parsed by the schemas (the service's 400 code
 * on bad input), answers checked (`ERR_NODE_CONTROL_BAD_RESPONSE`), the daemon's error thrown with its code and
 * status; the event stream resolves once it follows the bus; `roundsClient(...).waitClosed` misses no close that
 * lands while it reads the round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ControlApi, ControlClient, ControlError, EventBus, createLogger, defineProtocol, issuesText, serveProtocol } from '@swarmtune/node'
import { RoundStateError, roundsClient, roundsProtocol, type RoundDetail } from '@swarmtune/rounds'

const echo = defineProtocol('echo', {
  say: { method: 'POST', path: '/say/:times', params: z.strictObject({ times: z.string().regex(/^\d$/) }), body: z.strictObject({ text: z.string().max(8) }), response: z.object({ text: z.string() }), status: 201 },
  wrong: { method: 'GET', path: '/wrong', response: z.object({ text: z.string() }) },
  fail: { method: 'GET', path: '/fail', response: z.object({}) }
})

/** A round as the rounds routes answer it, only the fields the protocol's schema checks and the client reads. */
function round (n: number, state: 'open' | 'closed'): RoundDetail {
  return { round: n, roundOpen: 'bafkreiopen', coordinator: 'peer', state, counts: { contributions: 0, accepted: 0, rejected: 0, pending: 0 }, contributions: [], timing: { bytes: 0 } } as unknown as RoundDetail
}

const events = new EventBus()
let api: ControlApi
let client: ControlClient
/** What the stand-in rounds routes answer for round 7, and what they do while answering it. */
let round7: () => RoundDetail = () => round(7, 'open')
let reads = 0

beforeAll(async () => {
  api = new ControlApi({ host: '127.0.0.1', port: 0, token: 'secret', events, log: createLogger({ level: 'silent' }) })
  api.register('', async (app) => {
    app.get('/events', async (req, reply) => {
      const q = (req.query as { prefix?: string | string[] }).prefix
      return api.eventStream(req, reply, q === undefined ? undefined : Array.isArray(q) ? q : [q])
    })
  })
  api.register('echo', async (app) => {
    serveProtocol(app, echo, {
      say: async ({ params, body }) => ({ text: body.text.repeat(Number(params.times)) }),
      wrong: async () => ({ text: 5 }) as never,
      fail: async () => { throw new RoundStateError('ERR_ROUNDS_NOT_FOUND', 'no such thing') }
    }, { badRequest: ({ issues }) => new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', issuesText(issues, '(request)')) })
  })
  api.register('rounds', async (app) => {
    const unused = async (): Promise<never> => { throw new Error('not served here') }
    serveProtocol(app, roundsProtocol, {
      status: async ({ params }) => {
        reads++
        if (params.round !== 7) throw new RoundStateError('ERR_ROUNDS_NOT_FOUND', `round ${String(params.round)} is not in the ledger`)
        return round7()
      },
      list: unused, start: unused, cancel: unused, community: unused, releases: unused, release: unused, pull: unused, verify: unused
    }, { badRequest: ({ issues }) => new ControlError('ERR_ROUNDS_BAD_PARAMS', issuesText(issues, '(request)')) })
  })
  client = new ControlClient({ url: await api.listen(), token: 'secret' })
})
afterAll(async () => { await api?.close() })

describe('a service protocol', () => {
  it('builds the request from the schemas and returns the answer as sent', async () => {
    await expect(client.service(echo).say({ params: { times: '3' }, body: { text: 'ab' } })).resolves.toEqual({ text: 'ababab' })
  })

  it('refuses a request its schemas refuse with the service\'s code and status 400', async () => {
    await expect(client.service(echo).say({ params: { times: '3' }, body: { text: 'far too long' } })).rejects.toMatchObject({ code: 'ERR_NODE_CONTROL_BAD_REQUEST', status: 400, message: expect.stringMatching(/^text: /) })
    await expect(client.service(echo).say({ params: { times: 'x' }, body: { text: 'a' } })).rejects.toMatchObject({ code: 'ERR_NODE_CONTROL_BAD_REQUEST', status: 400, message: expect.stringMatching(/^times: /) })
  })

  it('throws an answer that does not match the route\'s schema as ERR_NODE_CONTROL_BAD_RESPONSE', async () => {
    await expect(client.service(echo).wrong()).rejects.toMatchObject({ code: 'ERR_NODE_CONTROL_BAD_RESPONSE', message: expect.stringMatching(/GET \/v1\/echo\/wrong .*text: /) })
  })

  it('throws the error the daemon answered, with its code and the status of the control API\'s table', async () => {
    await expect(client.service(echo).fail()).rejects.toMatchObject({ code: 'ERR_ROUNDS_NOT_FOUND', status: 404, message: 'no such thing' })
  })
})

describe('the event stream', () => {
  it('resolves once it follows the bus: an event emitted right after is in it', async () => {
    const controller = new AbortController()
    const stream = await Promise.race([
      client.subscribe({ prefixes: ['test:'], signal: controller.signal }),
      new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error('the stream did not open within 5 s')) }, 5_000))
    ])
    events.emit('test:one', { n: 1 })
    const first = await stream.next()
    controller.abort()
    expect(first.value).toMatchObject({ type: 'test:one', n: 1 })
  })
})

describe('roundsClient.waitClosed', () => {
  it('sees a close that lands while it reads the round (it subscribed first)', async () => {
    reads = 0
    let closed = false
    round7 = () => {
      // the round closes while its open state is being answered: only a subscription made before the read sees it
      const answer = round(7, closed ? 'closed' : 'open')
      if (!closed) {
        closed = true
        events.emit('rounds:close', { round: 7, outcome: 'released' })
      }
      return answer
    }
    const controller = new AbortController()
    try {
      const r = await Promise.race([
        roundsClient(client).waitClosed(7, { signal: controller.signal }),
        new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error('the close was missed')) }, 3_000))
      ])
      expect([r.state, reads]).toEqual(['closed', 2])
    } finally {
      controller.abort()
    }
  })

  it('re-reads on a stored round-close entry and ignores events of other rounds', async () => {
    reads = 0
    let state: 'open' | 'closed' = 'open'
    round7 = () => round(7, state)
    const waiting = roundsClient(client).waitClosed(7, { timeoutMs: 10_000 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    events.emit('rounds:close', { round: 6, outcome: 'released' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(reads).toBe(1)
    state = 'closed'
    events.emit('ledger:append', { kind: 'round-close', id: 'bafkreiclose' })
    await expect(waiting).resolves.toMatchObject({ round: 7, state: 'closed' })
    expect(reads).toBe(2)
  })

  it('resolves to the round as it is once timeoutMs passes, and rejects when its signal aborts', async () => {
    round7 = () => round(7, 'open')
    await expect(roundsClient(client).waitClosed(7, { timeoutMs: 300 })).resolves.toMatchObject({ state: 'open' })
    const controller = new AbortController()
    const waiting = roundsClient(client).waitClosed(7, { signal: controller.signal })
    setTimeout(() => { controller.abort(new Error('stopped by the test')) }, 300)
    await expect(waiting).rejects.toThrow('stopped by the test')
  })
})
