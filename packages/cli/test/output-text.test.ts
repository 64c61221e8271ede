/**
 * The CLI's text output: counts with the right plural ("1 round", "1 entry"), an empty ledger shown as empty,
 * times in status as ISO 8601 (not epoch ms), the peers table's lower-case header like the other tables, and
 * the daemon's help without a log viewer that is not installed.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertSameSpecs } from '@swarmtune/model'
import { type DaemonStatus } from '@swarmtune/node'
import { runCli } from '@swarmtune/test-support/cli'
import { tempDir } from '@swarmtune/test-support'
import { testDataDir } from '@swarmtune/test-support/daemons'
import { count, significant } from '../src/options.js'
import { summary } from '../src/commands/ledger.js'
import { render as renderPeers } from '../src/commands/peers.js'
import { render as renderStatus } from '../src/commands/status.js'
import { buildProgram } from '../src/main.js'

let dir: string
let cleanup: () => Promise<void>
beforeAll(async () => { ({ path: dir, cleanup } = await tempDir('swarmtune-output-')) })
afterAll(async () => { await cleanup() })

describe('text output', () => {
  it('counts take the plural only when not 1', () => {
    expect([count(1, 'round'), count(2, 'round'), count(0, 'round'), count(1, 'entry', 'entries'), count(3, 'entry', 'entries')])
      .toEqual(['1 round', '2 rounds', '0 rounds', '1 entry', '3 entries'])
  })

  it('a contribution\'s norm is printed to 4 significant digits in `ledger list` / `ledger show` text', () => {
    expect([significant(3.432653896353186), significant(0.000123456), significant(12345.6), significant(2)]).toEqual(['3.433', '0.0001235', '12350', '2'])
    const entry = { kind: 'contribution', body: { samples: 600, norm: 3.432653896353186, blob: 'bafkreiabcdefghijklmnop' } }
    expect(summary(entry as unknown as Parameters<typeof summary>[0])).toBe('600 samples, norm 3.433, blob bafkreiabcde…')
  })

  it('`simulate` prints its settings line before its rounds, and only once', async () => {
    const { stdout: out } = await runCli(['simulate', '--rounds', '2', '-K', '2', '-C', '1', '--train-examples', '100', '--test-examples', '100', '--seed', '3'], { reject: 'error' })
    const lines = out.split('\n')
    const settings = lines.findIndex((l) => l.startsWith('mnist-2nn, K=2 C=1'))
    expect(settings, out).toBeGreaterThanOrEqual(0)
    expect(lines.filter((l) => l.startsWith('mnist-2nn, K=2')), out).toHaveLength(1)
    expect(settings, out).toBeLessThan(lines.findIndex((l) => l.startsWith('round ')))
    expect(out).toMatch(/final accuracy [\d.]+%, 2 rounds/)
  })

  it('`ledger stats` of an empty ledger says so instead of "0 by 0 authors ()"', async () => {
    const node = await testDataDir(join(dir, 'empty'))
    const { stdout: out } = await runCli(['ledger', 'stats', '-d', node], { reject: 'error' })
    expect(out).toMatch(/^entries\s+none yet$/m)
    expect(out).not.toContain('()')
  })

  it('status prints times of services as ISO 8601, the peers table has lower-case headers and a singular count', () => {
    const at = Date.UTC(2026, 11, 4, 1, 2, 3)
    const status = {
      peerId: 'p', version: '0.1.0', protocolVersion: 1, pid: 1, startedAt: at, uptimeMs: 1000, addresses: [], connections: 1, peers: 1,
      communities: [], dht: { mode: 'off', routingTable: 0 }, mdns: false,
      reachability: { state: 'local', addresses: [], relays: [], relayServer: false, autonat: false, upnp: false, holePunching: false }, blobs: { count: 0, bytes: 0, fetching: [] }, control: 'http://127.0.0.1:1',
      services: { ledger: { lastSync: { peer: 'q', at, appended: 1 } } }
    } satisfies DaemonStatus
    const text = renderStatus(status)
    expect(text).toContain('at 2026-12-04T01:02:03.000Z')
    expect(text).not.toContain(String(at))
    const peers = renderPeers([{ peerId: 'q', addresses: ['/ip4/127.0.0.1/tcp/1'], direction: 'outbound', path: 'direct', connectedMs: 1, gossipScore: 0, penalty: 0, protocols: [] }], dir)
    expect(peers.split('\n')[0]).toMatch(/^peer\s+dir\s+rtt\s+score\s+penalty\s+address\s+agent$/)
    expect(peers).toContain('\n1 peer\n')
  })

  it('a tensor-count mismatch does not conjugate "have" against its subject', () => {
    const spec = { name: 'w', shape: [1], dtype: 'float32' as const }
    expect(() => { assertSameSpecs([spec, spec], [spec], 'the model in /tmp/out/model') }).toThrow('the model in /tmp/out/model: 1 tensor, expected 2')
  })

  it('`daemon --help` does not send the user to pino-pretty, which is not installed', () => {
    const daemon = buildProgram().commands.find((c) => c.name() === 'daemon')
    expect(daemon?.helpInformation()).not.toContain('pino-pretty')
  })
})
