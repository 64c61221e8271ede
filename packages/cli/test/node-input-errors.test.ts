/**
 * Coded daemon errors behind the CLI: `POST /v1/peers/connect` (`swarmtune peers --connect`) maps dial failures
 * to `ERR_NODE_DIAL_FAILED` (502) / `ERR_NODE_DIAL_SELF` (400), and a taken control or libp2p port stops
 * `start()` with a `PortInUseError` naming the setting to change. Real daemons on 127.0.0.1 only.
 */
import { writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient, dataDirPaths, initDataDir } from '@swarmtune/node'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir } from '@swarmtune/test-support'
import { runDaemon, startNode, testConfig, testDataDir, type TestNode } from '@swarmtune/test-support/daemons'
import { formatError } from '../src/main.js'

/** A TCP server on 127.0.0.1 that answers every connection with `reply` (or holds it open) until closed. */
async function listen (reply?: string): Promise<{ port: number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    if (reply !== undefined) socket.end(reply)
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  // closes the server and destroys the connections still open (a dialer may keep its end open)
  const close = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    for (const socket of sockets) socket.destroy()
    await closed
  }
  return { port: (server.address() as { port: number }).port, close }
}



describe('control API dial errors', () => {
  let node: TestNode
  let client: ControlClient
  beforeAll(async () => {
    node = await startNode({ config: testConfig() })
    client = await ControlClient.fromDataDir(node.dir)
  })
  afterAll(async () => { await node.destroy() })

  it('refused port → ERR_NODE_DIAL_FAILED (502), which `swarmtune peers --connect` raises with its code', async () => {
    const { port, close } = await listen()
    await close()
    await expect(client.connect(`/ip4/127.0.0.1/tcp/${port}`)).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_FAILED', status: 502 })
    const { error: err } = await runCli(['peers', '-d', node.dir, '--connect', `/ip4/127.0.0.1/tcp/${port}`])
    expect(err).toMatchObject({ code: 'ERR_NODE_DIAL_FAILED' })
    expect(formatError(err)).toContain('(ERR_NODE_DIAL_FAILED)')
  })

  it('a port that answers but not in libp2p → ERR_NODE_DIAL_NOT_LIBP2P (502): an HTTP reply, and a daemon\'s control-API port', async () => {
    const { port, close } = await listen('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
    try {
      await expect(client.connect(`/ip4/127.0.0.1/tcp/${port}`)).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_NOT_LIBP2P', status: 502 })
    } finally {
      await close()
    }
    const other = await startNode({ config: testConfig() })
    try {
      const controlPort = new URL((await ControlClient.fromDataDir(other.dir)).url).port
      await expect(client.connect(`/ip4/127.0.0.1/tcp/${controlPort}/p2p/${other.daemon.peerId.toString()}`)).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_NOT_LIBP2P', status: 502 })
    } finally {
      await other.destroy()
    }
  })

  it('a wrong port of a peer already connected is dialled and fails, not answered with the existing connection', async () => {
    const other = await startNode({ config: testConfig() })
    try {
      const right = other.daemon.addresses().find((a) => a.includes('/ip4/127.0.0.1/tcp/')) as string
      const connected = await client.connect(right)
      expect(connected).toEqual({ peerId: other.daemon.peerId.toString(), address: right })
      const { port, close } = await listen()
      await close()
      const wrong = right.replace(/\/tcp\/\d+\//, `/tcp/${port}/`)
      await expect(client.connect(wrong)).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_FAILED', status: 502 })
      // asking again for the address it is connected at answers with that connection
      expect(await client.connect(right)).toEqual(connected)
    } finally {
      await other.destroy()
    }
  })

  it('its own address → ERR_NODE_DIAL_SELF (400), with or without /p2p/', async () => {
    const own = node.daemon.addresses().find((a) => a.includes('/ip4/127.0.0.1/tcp/')) as string
    expect(own).toBeDefined()
    await expect(client.connect(own)).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_SELF', status: 400 })
    await expect(client.connect(own.replace(/\/p2p\/.*$/, ''))).rejects.toMatchObject({ code: 'ERR_NODE_DIAL_SELF', status: 400 })
  })
})

describe('a daemon that does not answer', () => {
  it('ERR_NODE_CONTROL_UNREACHABLE, with hints that name the data folder', async () => {
    const dir = await tempDir()
    try {
      await testDataDir(dir.path)
      const { port, close } = await listen()
      await close()
      // daemon.json of a live process (this one) whose control URL has nothing behind it
      const info = { pid: process.pid, peerId: '-', control: `http://127.0.0.1:${port}`, addresses: [], startedAt: Date.now() }
      await writeFile(dataDirPaths(dir.path).daemonInfo, JSON.stringify(info))
      const client = await ControlClient.fromDataDir(dir.path)
      const err: unknown = await client.status().then(() => undefined, (e: unknown) => e)
      expect(err).toMatchObject({ code: 'ERR_NODE_CONTROL_UNREACHABLE' })
      expect((err as Error).message).toContain(`\`swarmtune doctor -d ${dataDirPaths(dir.path).root}\``)
    } finally {
      await dir.cleanup()
    }
  })
})

describe('ports in use', () => {
  let dir: { path: string, cleanup: () => Promise<void> }
  let taken: { port: number, close: () => Promise<void> }
  beforeAll(async () => {
    dir = await tempDir()
    taken = await listen()
  })
  afterAll(async () => {
    await taken.close()
    await dir.cleanup()
  })

  it('control port taken → ERR_NODE_CONTROL_PORT_IN_USE, and the folder is released', async () => {
    const d = join(dir.path, 'control')
    await initDataDir(d, { config: testConfig({ control: { host: '127.0.0.1', port: taken.port } }) })
    await expect(runDaemon(d)).rejects.toMatchObject({ code: 'ERR_NODE_CONTROL_PORT_IN_USE', name: 'PortInUseError' })
  })

  it('libp2p listen port taken → ERR_NODE_LISTEN_PORT_IN_USE', async () => {
    const d = join(dir.path, 'listen')
    await initDataDir(d, { config: testConfig({ listen: [`/ip4/127.0.0.1/tcp/${taken.port}`] }) })
    await expect(runDaemon(d)).rejects.toMatchObject({ code: 'ERR_NODE_LISTEN_PORT_IN_USE', name: 'PortInUseError' })
  })
})
