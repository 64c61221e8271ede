/**
 * A client that stops reading the daemon's event stream (`round start --wait`, `round status --follow`, curl
 * /v1/events ended) is an ordinary disconnect: the daemon logs no error for it and keeps answering.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { ControlClient } from '@swarmtune/node'
import { jsonLogger, startNode, type TestNode } from '@swarmtune/test-support/daemons'

describe('event stream disconnects', () => {
  let node: TestNode | undefined
  afterAll(async () => { await node?.destroy() })

  it('log no error and leave the control API answering', async () => {
    const lines: Array<Record<string, unknown>> = []
    node = await startNode({ logger: jsonLogger(lines, 'debug') })
    const client = await ControlClient.fromDataDir(node.dir)
    for (let i = 0; i < 5; i++) {
      const ac = new AbortController()
      const events = await client.subscribe({ signal: ac.signal, prefixes: ['rounds:close'] })
      ac.abort()
      await events.return(undefined).catch(() => {})
    }
    // the server sees each close a little later
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(lines.filter((l) => (l.level as number) >= 50).map((l) => `${String(l.msg)}: ${JSON.stringify(l.err ?? {})}`)).toEqual([])
    expect((await client.status()).peerId).toBe(node.daemon.peerId.toString())
  })
})
