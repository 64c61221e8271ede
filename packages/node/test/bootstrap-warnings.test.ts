/**
 * A wrong bootstrap address is not silent at the default log level: each failed dial is a warn line with the
 * address and a code (a closed port: ERR_NODE_BOOTSTRAP_UNREACHABLE; a live node under another peer id:
 * ERR_NODE_BOOTSTRAP_WRONG_PEER), rate-limited per address; and a daemon still alone after `noPeerWarningMs`
 * warns ERR_NODE_NO_PEERS with the reason.
 */
import { Writable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { Cleanups, tempDir, waitFor } from '@swarmtune/test-support'
import { closedPort, startNode, testConfig } from '@swarmtune/test-support/daemons'
import { createDaemon, initDataDir } from '../src/index.js'

interface Line { level: number, msg: string, addr?: string, code?: string, reason?: string, suppressed?: number }

describe('bootstrap warnings', () => {
  const cleanups = new Cleanups()
  afterAll(cleanups.run)

  it('a closed port and a wrong peer id are each logged at warn with address and code, once per interval; then ERR_NODE_NO_PEERS', async () => {
    const live = await startNode()
    cleanups.push(live.destroy)
    const otherId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const liveAddr = live.daemon.addresses()[0]
    const wrongPeer = `${liveAddr.slice(0, liveAddr.lastIndexOf('/p2p/'))}/p2p/${otherId}`
    // another peer id again: dials to one peer id share libp2p's dial queue and its addresses
    const closed = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`

    const dir = await tempDir()
    cleanups.push(dir.cleanup)
    await initDataDir(dir.path, { config: testConfig({ bootstrap: [closed, wrongPeer], log: { level: 'info' } }) })
    const lines: Line[] = []
    const sink = new Writable({ write (chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line); done() } })
    // the default level of a daemon (config log.level "info"); maintenance every 300 ms so that re-dials happen within the test
    const daemon = await createDaemon({ dataDir: dir.path, logger: pino({ level: 'info' }, sink), maintenanceIntervalMs: 300, noPeerWarningMs: 1_500 })
    await daemon.start()
    cleanups.push(async () => { await daemon.stop() })
    await waitFor(() => lines.some((l) => l.code === 'ERR_NODE_NO_PEERS'), 15_000, 'the no-peer warning')

    const failed = lines.filter((l) => l.msg === 'bootstrap dial failed')
    expect(failed.every((l) => l.level === 40), 'warn').toBe(true)
    expect(failed.filter((l) => l.addr === closed).map((l) => l.code)).toEqual(['ERR_NODE_BOOTSTRAP_UNREACHABLE'])
    expect(failed.filter((l) => l.addr === wrongPeer).map((l) => l.code)).toEqual(['ERR_NODE_BOOTSTRAP_WRONG_PEER'])
    const alone = lines.find((l) => l.code === 'ERR_NODE_NO_PEERS')
    expect(alone?.level).toBe(40)
    expect(alone?.reason).toContain(closed)
    expect(alone?.reason).toContain('ERR_NODE_BOOTSTRAP_WRONG_PEER')
    expect(daemon.libp2p.getPeers()).toEqual([])
  })
})
