/**
 * The parts of the peer limits that need no network: the rate-limited rejection log (with a fake clock), the
 * exemption of networks, the refusal of weak identity keys, and the configuration of the limits.
 */
import fc from 'fast-check'
import { pino } from 'pino'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { MultiaddrConnection } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { testSeed } from '@swarmtune/test-support'
import { createConfig, EventBus, PeerGuard, RejectionLog, validateConfig, weakKeyRefusal } from '../src/index.js'
import { ipNetOf } from '../src/config.js'

/** A pino logger whose JSON lines land in `lines`. */
function memoryLogger (): { log: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>)
      done()
    }
  })
  return { log: pino({ level: 'debug' }, destination), lines }
}

const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

describe('RejectionLog', () => {
  it('writes one line per key per interval, and the next line counts what was suppressed', async () => {
    let now = 1_000_000
    const { log, lines } = memoryLogger()
    const r = new RejectionLog({ log, intervalMs: 60_000, now: () => now })
    for (let i = 0; i < 5; i++) r.record('p1|ERR_A', 'warn', { peer: 'p1', code: 'ERR_A' }, 'rejected')
    r.record('p2|ERR_A', 'warn', { peer: 'p2', code: 'ERR_A' }, 'rejected')
    r.record('p1|ERR_B', 'warn', { peer: 'p1', code: 'ERR_B' }, 'rejected')
    now += 59_999
    r.record('p1|ERR_A', 'warn', { peer: 'p1', code: 'ERR_A' }, 'rejected')
    now += 1
    r.record('p1|ERR_A', 'warn', { peer: 'p1', code: 'ERR_A' }, 'rejected')
    await flush()
    expect(lines.map((l) => [l.peer, l.code, l.suppressed, l.level])).toEqual([
      ['p1', 'ERR_A', 0, 40], ['p2', 'ERR_A', 0, 40], ['p1', 'ERR_B', 0, 40], ['p1', 'ERR_A', 5, 40]
    ])
  })

  it('accounts for every record: lines plus suppressed equal the records, whatever the order (seeded)', async () => {
    const seed = testSeed('RejectionLog accounting')
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ key: fc.integer({ min: 0, max: 5 }), dt: fc.integer({ min: 0, max: 3_000 }) }), { maxLength: 200 }),
      async (records) => {
        let now = 0
        const { log, lines } = memoryLogger()
        const r = new RejectionLog({ log, intervalMs: 1_000, now: () => now })
        for (const { key, dt } of records) {
          now += dt
          r.record(String(key), 'info', { peer: String(key), code: 'ERR_X' }, 'x')
        }
        // one last line per key flushes what is still suppressed
        now += 1_000
        for (let key = 0; key <= 5; key++) r.record(String(key), 'info', { peer: String(key), code: 'ERR_X' }, 'x')
        await flush()
        const accounted = lines.length + lines.reduce((sum, l) => sum + (l.suppressed as number), 0)
        expect(accounted).toBe(records.length + 6)
      }
    ), { seed, numRuns: 50 })
  })

  it('remembers at most maxKeys keys, counting the suppressed records it forgets', async () => {
    const { log, lines } = memoryLogger()
    const r = new RejectionLog({ log, intervalMs: 60_000, maxKeys: 3, now: () => 0 })
    r.record('a', 'warn', { peer: 'a', code: 'E' }, 'x')
    r.record('a', 'warn', { peer: 'a', code: 'E' }, 'x')
    for (const k of ['b', 'c', 'd']) r.record(k, 'warn', { peer: k, code: 'E' }, 'x')
    // 'a' (one suppressed) was forgotten for 'd', so it is logged again at once
    r.record('a', 'warn', { peer: 'a', code: 'E' }, 'x')
    await flush()
    expect(lines.map((l) => l.peer)).toEqual(['a', 'b', 'c', 'd', 'a'])
    expect(r.forgotten).toBe(1)
  })
})

describe('exempt networks', () => {
  const guard = (exempt: string[]): PeerGuard => new PeerGuard({
    exempt, identitiesPerAddress: 1, identityWindowMs: 1_000, peerMessagesPerWindow: 1, addressMessagesPerWindow: 1, rateWindowMs: 1_000,
    rejectionLogIntervalMs: 0, graylistThreshold: -80, log: pino({ level: 'silent' }), events: new EventBus()
  })

  it('match addresses inside their prefix only', () => {
    const g = guard(['/ip4/192.0.2.0/ipcidr/24', '/ip6/2001:db8::/ipcidr/32', '/ip4/198.51.100.7'])
    expect(g.exempt('192.0.2.255')).toBe(true)
    expect(g.exempt('192.0.3.0')).toBe(false)
    expect(g.exempt('2001:db8::1')).toBe(true)
    expect(g.exempt('2001:db9::1')).toBe(false)
    expect(g.exempt('198.51.100.7')).toBe(true)
    expect(g.exempt('198.51.100.8')).toBe(false)
  })

  it('by default are loopback, v4 and v6', () => {
    const g = guard(createConfig().connections.exempt)
    expect(g.exempt('127.0.0.1')).toBe(true)
    expect(g.exempt('127.255.0.9')).toBe(true)
    expect(g.exempt('::1')).toBe(true)
    expect(g.exempt('10.0.0.1')).toBe(false)
  })

  it('parse from network multiaddrs and refuse anything else', () => {
    expect(ipNetOf('/ip4/10.1.0.0/ipcidr/16')).toEqual({ address: '10.1.0.0', family: 'ipv4', prefix: 16 })
    expect(ipNetOf('/ip6/::1')).toEqual({ address: '::1', family: 'ipv6', prefix: 128 })
    for (const bad of ['/ip4/10.0.0.0/ipcidr/33', '/ip4/10.0.0.0/tcp/80', '/dns4/example.org', '/ip6/::/ipcidr/129']) {
      expect(() => ipNetOf(bad), bad).toThrow()
    }
  })
})

describe('configuration of the limits', () => {
  it('has defaults that validate, with loopback exempt and the gossipsub P6 threshold of the spec', () => {
    const c = validateConfig(createConfig())
    expect(c.connections).toMatchObject({ identitiesPerAddress: 12, identityWindowMs: 600_000, exempt: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] })
    expect(c.gossip).toMatchObject({ ipColocationThreshold: 10, peerMessagesPerWindow: 256, addressMessagesPerWindow: 1024, rateWindowMs: 10_000, rejectionLogIntervalMs: 60_000 })
  })

  it('fills the new fields of an older config.json from the defaults', () => {
    const c = validateConfig(createConfig({ connections: { target: 8, max: 64, allow: [] }, gossip: { ipColocationWhitelist: [] } }))
    expect(c.connections.identitiesPerAddress).toBe(12)
    expect(c.gossip.peerMessagesPerWindow).toBe(256)
  })

  it('names each bad limit', () => {
    const cases: Array<[Parameters<typeof createConfig>[0], RegExp]> = [
      [{ connections: { exempt: ['127.0.0.1'] } }, /connections\.exempt\.0/],
      [{ connections: { exempt: ['/ip4/10.0.0.0/ipcidr/40'] } }, /connections\.exempt\.0: .*prefix/],
      [{ connections: { identitiesPerAddress: 0 } }, /connections\.identitiesPerAddress/],
      [{ connections: { identityWindowMs: 10 } }, /connections\.identityWindowMs/],
      [{ gossip: { peerMessagesPerWindow: 0 } }, /gossip\.peerMessagesPerWindow/],
      [{ gossip: { addressMessagesPerWindow: 1.5 } }, /gossip\.addressMessagesPerWindow/],
      [{ gossip: { rateWindowMs: 50 } }, /gossip\.rateWindowMs/],
      [{ gossip: { rejectionLogIntervalMs: -1 } }, /gossip\.rejectionLogIntervalMs/],
      [{ gossip: { ipColocationThreshold: 0 } }, /gossip\.ipColocationThreshold/]
    ]
    for (const [init, message] of cases) {
      expect(() => validateConfig(createConfig(init)), JSON.stringify(init)).toThrow(message)
      try { validateConfig(createConfig(init)) } catch (err) { expect((err as { code: string }).code).toBe('ERR_NODE_CONFIG_INVALID') }
    }
  })
})

describe('weak identity keys', () => {
  // The Ed25519 identity point, a point of order 4 (y = 0) and the non-canonical y = p + 1 form of the
  // identity, each also with the sign bit set: keys under which node:crypto accepts forged signatures.
  const weak = [
    '0100000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000000000000000000000000000000000000',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    '0100000000000000000000000000000000000000000000000000000000000080',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85'
  ]
  const maConn = { remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4001') } as unknown as MultiaddrConnection

  it('are refused on every path of the gater with ERR_NODE_WEAK_PEER_KEY; an honest key passes', async () => {
    const events = new EventBus()
    const refused: string[] = []
    events.subscribe((e) => { if (e.type === 'peer:refused') refused.push(e.code as string) })
    const g = new PeerGuard({
      exempt: createConfig().connections.exempt, identitiesPerAddress: 12, identityWindowMs: 600_000, peerMessagesPerWindow: 256,
      addressMessagesPerWindow: 1024, rateWindowMs: 10_000, rejectionLogIntervalMs: 0, graylistThreshold: -80, log: pino({ level: 'silent' }), events
    })
    for (const hex of weak) {
      const peer = peerIdFromPublicKey(publicKeyFromRaw(Buffer.from(hex, 'hex')))
      expect(weakKeyRefusal(peer)?.code, hex).toBe('ERR_NODE_WEAK_PEER_KEY')
      expect(await g.gater.denyDialPeer?.(peer), hex).toBe(true)
      expect(await g.gater.denyInboundEncryptedConnection?.(peer, maConn), hex).toBe(true)
      expect(await g.gater.denyOutboundEncryptedConnection?.(peer, maConn), hex).toBe(true)
    }
    expect(refused).toEqual(Array(weak.length * 3).fill('ERR_NODE_WEAK_PEER_KEY'))
    const honest = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    expect(weakKeyRefusal(honest)).toBeUndefined()
    expect(await g.gater.denyInboundEncryptedConnection?.(honest, maConn)).toBe(false)
  })
})
