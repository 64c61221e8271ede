/**
 * A blob fetch that finds no provider says how many peers it really asked (a blob stream opened), not how many
 * were named, and, on a daemon with no connected peer, says so and how to connect one.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { blobCid } from '@swarmtune/wire'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, type TestNode } from '@swarmtune/test-support/daemons'
import { ControlClient } from '../src/control-client.js'

let node: TestNode
beforeAll(async () => { node = await startNode() })
afterAll(async () => { await node.destroy() })

describe('no providers for a blob', () => {
  it('with 0 connected peers and 1 named provider: asked 0, and how to connect', async () => {
    const client = await ControlClient.fromDataDir(node.dir)
    const named = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const cid = blobCid(new Uint8Array([7, 7, 7])).toString()
    const err = await client.fetchBlob(cid, { providers: [named] }).then(() => undefined, (e: Error & { code?: string }) => e)
    expect(err?.code).toBe('ERR_NODE_BLOB_NO_PROVIDERS')
    expect(err?.message).toContain('this node has no connected peer')
    expect(err?.message).toContain('asked 0 peer(s); 1 peer(s) named or found could not be reached')
    expect(err?.message).not.toContain('asked 1')
    expect(err?.message).toContain('swarmtune peers --connect <address> -d <folder>')
    expect(err?.message).toContain('swarmtune init -d <folder> --bootstrap <address>')
  })
})
