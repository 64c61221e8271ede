/**
 * The daemon as a user runs it: control API authentication and binding, restart with the same identity
 * and blobs, the data-folder lock, the control client (status, peers, blobs, fetch progress, live
 * events) and plugged-in services, which find each other through `components.services`.
 */
import { connect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterAll, describe, expect, it } from 'vitest'
import { ControlClient, createDaemon, initDataDir, ledgerService, type DaemonComponents, type DaemonEvent, type LedgerService } from '@swarmtune/node'
import { seededBytes, tempDir, waitFor } from '@swarmtune/test-support'
import { runDaemon, startNode, testConfig, testDataDir, type TestNode } from '@swarmtune/test-support/daemons'

/** IPv4/IPv6 addresses of this machine other than loopback. */
function externalAddresses (): string[] {
  return Object.values(networkInterfaces()).flat()
    .filter((i) => i != null && !i.internal && !i.address.startsWith('fe80'))
    .map((i) => (i as { address: string }).address)
}

async function tcpConnects (host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2_000 })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { s.destroy(); resolve(false) })
    s.once('timeout', () => { s.destroy(); resolve(false) })
  })
}

describe('daemon and control API', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.destroy() })) })

  it('answers 401 without the bearer token or with a wrong one, 200 with it', async () => {
    const n = await startNode()
    nodes.push(n)
    const url = n.daemon.control.baseUrl as string
    const none = await fetch(`${url}/v1/status`)
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ code: 'ERR_NODE_CONTROL_UNAUTHORIZED' })
    const wrong = await fetch(`${url}/v1/status`, { headers: { authorization: 'Bearer not-the-token' } })
    expect(wrong.status).toBe(401)
    // routes that do not exist are not revealed before authentication either
    expect((await fetch(`${url}/v1/no-such-route`)).status).toBe(401)
    const ok = await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${n.daemon.dataDir.token}` } })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ peerId: n.daemon.peerId.toString() })
  })

  it('listens on loopback only: not reachable on the machine\'s other addresses', async () => {
    const n = await startNode()
    nodes.push(n)
    const addr = n.daemon.control.app.server.address()
    expect(addr).toMatchObject({ address: '127.0.0.1' })
    const port = (addr as { port: number }).port
    expect(await tcpConnects('127.0.0.1', port)).toBe(true)
    const others = externalAddresses()
    console.log(`non-loopback addresses tried: ${others.join(', ') || '(none on this machine)'}`)
    for (const host of others) expect(await tcpConnects(host, port)).toBe(false)
    // and a configuration asking for another address is refused before anything listens
    const dir = await tempDir()
    try {
      await expect(initDataDir(dir.path, { config: testConfig({ control: { host: '0.0.0.0', port: 0 } }) })).rejects.toMatchObject({ code: 'ERR_NODE_CONFIG_INVALID' })
      await testDataDir(dir.path)
      await expect(createDaemon({ dataDir: dir.path, config: { control: { host: '192.0.2.2', port: 0 } } })).rejects.toMatchObject({ code: 'ERR_NODE_CONFIG_INVALID' })
    } finally {
      await dir.cleanup()
    }
  })

  it('keeps its identity and its blobs across a restart, and holds its data folder exclusively', async () => {
    const dir = await tempDir()
    try {
      await testDataDir(dir.path)
      const first = await runDaemon(dir.path)
      const peerId = first.peerId.toString()
      const data = seededBytes(7, 3 * 1024 * 1024 + 1)
      const cid = await first.exchange.put(data)
      await expect(createDaemon({ dataDir: dir.path })).rejects.toMatchObject({ code: 'ERR_NODE_LOCKED' })
      await first.stop()
      await expect(ControlClient.fromDataDir(dir.path)).rejects.toMatchObject({ code: 'ERR_NODE_DAEMON_NOT_RUNNING' })

      const second = await runDaemon(dir.path)
      try {
        expect(second.peerId.toString()).toBe(peerId)
        expect(second.addresses()[0]).toContain(`/p2p/${peerId}`)
        expect(Buffer.compare(await second.blobs.get(cid), data)).toBe(0)
        const client = await ControlClient.fromDataDir(dir.path)
        expect((await client.status()).blobs.count).toBe(1)
      } finally {
        await second.stop()
      }
    } finally {
      await dir.cleanup()
    }
  })

  it('serves status, peers, blobs, fetches with progress and live events to the control client', async () => {
    const a = await startNode()
    const b = await startNode({ config: { bootstrap: [a.daemon.addresses()[0]] } })
    nodes.push(a, b)
    await waitFor(() => b.daemon.libp2p.getConnections(a.daemon.peerId).length > 0, 5_000, 'b to connect to a')
    const ca = await ControlClient.fromDataDir(a.dir)
    const cb = await ControlClient.fromDataDir(b.dir)

    const status = await cb.status()
    expect(status.peerId).toBe(b.daemon.peerId.toString())
    expect(status.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    await waitFor(async () => (await cb.peers()).some((p) => p.peerId === a.daemon.peerId.toString() && p.protocols.length > 0), 5_000, 'identify')
    const peers = await cb.peers()
    expect(peers).toEqual([expect.objectContaining({ peerId: a.daemon.peerId.toString(), direction: 'outbound' })])
    expect(peers[0].protocols).toContain('/swarmtune/blob/1.0.0')

    // live events of b while a stores and b fetches
    const controller = new AbortController()
    const seen: DaemonEvent[] = []
    const watching = (async () => { for await (const e of cb.events({ signal: controller.signal, prefixes: ['blob:'] })) seen.push(e) })()
    await waitFor(() => b.daemon.events.listenerCount > 0, 2_000, 'the event stream to attach')

    const data = seededBytes(11, 2 * 1024 * 1024 + 3)
    const put = await ca.putBlob(data)
    expect(put.size).toBe(data.length)
    const lines: string[] = []
    const fetched = await cb.fetchBlob(put.cid, { providers: [a.daemon.peerId.toString()], onProgress: (l) => lines.push(l.type) })
    expect(fetched).toMatchObject({ cid: put.cid, size: data.length, resumedBytes: 0 })
    expect(lines[0]).toBe('table')
    expect(lines).toContain('progress')
    expect(Buffer.compare(await cb.getBlob(put.cid), data)).toBe(0)
    expect(await cb.listBlobs()).toEqual([{ cid: put.cid, size: data.length }])

    await waitFor(() => seen.some((e) => e.type === 'blob:fetch:done'), 3_000, 'the fetch-done event')
    controller.abort()
    await watching
    expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining(['blob:fetch:start', 'blob:fetch:done']))
    expect(seen.every((e) => e.type.startsWith('blob:'))).toBe(true)

    // errors carry codes
    await expect(cb.getBlob('not-a-cid')).rejects.toMatchObject({ code: 'ERR_WIRE_BAD_CID', status: 400 })
    await expect(cb.getBlob('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')).rejects.toMatchObject({ code: 'ERR_NODE_BLOB_NOT_FOUND', status: 404 })
    await expect(cb.request('POST', '/v1/blobs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy/fetch', { providers: 'x' })).rejects.toMatchObject({ code: 'ERR_NODE_CONTROL_BAD_REQUEST', status: 400 })
  })

  it('runs plugged-in services: start and stop in order, routes behind the token, status', async () => {
    const order: string[] = []
    const n = await startNode({
      services: {
        first: () => ({ start: () => { order.push('start first') }, stop: () => { order.push('stop first') } }),
        second: (components) => ({
          start: () => { order.push('start second') },
          stop: () => { order.push('stop second') },
          status: () => ({ ready: true, peer: components.peerId.toString() }),
          routes: async (app) => {
            app.get('/hello', async () => ({ hello: 'world' }))
            app.get('/fail', async () => { throw Object.assign(new Error('no such round'), { code: 'ERR_NODE_CONTROL_NOT_FOUND' }) })
          }
        })
      }
    })
    nodes.push(n)
    expect(order).toEqual(['start first', 'start second'])
    const client = await ControlClient.fromDataDir(n.dir)
    expect(await client.request('GET', '/v1/second/hello')).toEqual({ hello: 'world' })
    await expect(client.request('GET', '/v1/second/fail')).rejects.toMatchObject({ code: 'ERR_NODE_CONTROL_NOT_FOUND', status: 404 })
    expect((await fetch(`${client.url}/v1/second/hello`)).status).toBe(401)
    expect((await client.status()).services).toEqual({ second: { ready: true, peer: n.daemon.peerId.toString() } })
    await n.destroy()
    expect(order).toEqual(['start first', 'start second', 'stop second', 'stop first'])
  })

  it('lets a service look up another by name: the ones listed before it when built, all of them at start', async () => {
    const seen: Record<string, unknown> = {}
    const n = await startNode({
      services: {
        early: (c) => {
          seen.earlyBuilt = c.services.ledger === undefined
          return { start: () => { seen.earlyStart = c.services.ledger !== undefined } }
        },
        ledger: ledgerService({ antiEntropyMs: 0 }),
        late: (c: DaemonComponents<{ ledger: LedgerService }>) => {
          seen.lateBuilt = c.services.ledger !== undefined
          // typed by the components it declares: the ledger service's members need no cast
          return { start: () => { seen.lateStart = c.services.ledger?.ledger.size }, status: () => ({ open: c.services.ledger?.ledger.closed === false }) }
        }
      }
    })
    nodes.push(n)
    expect(seen).toEqual({ earlyBuilt: true, earlyStart: true, lateBuilt: true, lateStart: 0 })
    expect((await n.daemon.status()).services.late).toEqual({ open: true })
  })
})
