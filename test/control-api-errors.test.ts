/**
 * Every error of the daemon's control API is the API's own `{ code, message }` with a stable code, including
 * what fastify's router and Node's HTTP parser refuse before a route runs (an over-long path parameter, request
 * line or headers, a malformed URL or request, an over-large body). Raw HTTP/1.1 over TCP to a real daemon on
 * 127.0.0.1, so nothing in between rewrites the answer.
 */
import { connect } from 'node:net'
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient, constants, dataDirPaths } from '@swarmtune/node'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'

interface Answer { status: number, body: unknown }

/** Sends `request` as is and reads the answer until the server closes or ends it (a reset after the answer is fine). */
async function raw (port: number, request: string | Buffer): Promise<Answer> {
  const received = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => { socket.end(request) })
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      // keep-alive answers: stop once the whole body (Content-Length) is in
      const text = Buffer.concat(chunks).toString('latin1')
      const head = text.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(text.slice(0, head))
      if (head >= 0 && length !== null && text.length - head - 4 >= Number(length[1])) socket.destroy()
    })
    socket.on('error', () => {})
    socket.on('close', () => { resolve(Buffer.concat(chunks)) })
  })
  const text = received.toString('utf8')
  const head = text.indexOf('\r\n\r\n')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1])
  return { status, body: JSON.parse(text.slice(head + 4)) }
}

let node: TestNode
let port: number
let token: string

beforeAll(async () => {
  node = await startNode()
  const client = await ControlClient.fromDataDir(node.dir)
  port = Number(new URL(client.url).port)
  token = (await readFile(dataDirPaths(node.dir).token, 'utf8')).trim()
})
afterAll(async () => { await node.destroy() })

const get = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n${headers}Connection: close\r\n\r\n`
const post = (path: string, body: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`

describe('control API error bodies', () => {
  const cases: Array<[string, () => string, number, string]> = [
    ['a path parameter one over the limit', () => get(`/v1/blobs/${'b'.repeat(constants.CONTROL_MAX_PARAM_CHARS + 1)}/stat`), 414, 'ERR_NODE_CONTROL_TOO_LARGE'],
    ['a header over the header limit', () => get('/v1/status', `X-Filler: ${'a'.repeat(constants.CONTROL_MAX_HEADER_BYTES)}\r\n`), 431, 'ERR_NODE_CONTROL_TOO_LARGE'],
    ['a request line over the header limit', () => get(`/v1/status?q=${'a'.repeat(constants.CONTROL_MAX_HEADER_BYTES)}`), 431, 'ERR_NODE_CONTROL_TOO_LARGE'],
    ['a body over the JSON limit', () => post('/v1/peers/connect', JSON.stringify({ addr: 'a'.repeat(constants.CONTROL_MAX_JSON_BYTES) })), 413, 'ERR_NODE_CONTROL_TOO_LARGE'],
    ['a malformed percent-encoding in the path', () => get('/v1/blobs/%E0%A4%A/stat'), 400, 'ERR_NODE_CONTROL_BAD_REQUEST'],
    ['bytes that are not HTTP', () => 'HELLO\u0000 THERE\r\n\r\n', 400, 'ERR_NODE_CONTROL_BAD_REQUEST'],
    ['a body that is not JSON', () => post('/v1/peers/connect', '{"addr": '), 400, 'ERR_NODE_CONTROL_BAD_REQUEST'],
    ['no such route', () => get('/v1/nothing-here'), 404, 'ERR_NODE_CONTROL_NOT_FOUND'],
    ['no token', () => 'GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 401, 'ERR_NODE_CONTROL_UNAUTHORIZED']
  ]
  for (const [name, request, status, code] of cases) {
    it(`${name} → ${status} { code: ${code}, message }`, async () => {
      const answer = await raw(port, request())
      expect(answer.status).toBe(status)
      expect(answer.body).toEqual({ code, message: expect.any(String) })
    })
  }

  it('a path parameter at the limit still reaches its route', async () => {
    const answer = await raw(port, get(`/v1/blobs/${'b'.repeat(constants.CONTROL_MAX_PARAM_CHARS)}/stat`))
    expect(answer).toEqual({ status: 400, body: { code: 'ERR_WIRE_BAD_CID', message: expect.any(String) } })
  })
})
