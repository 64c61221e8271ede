import { describe, expect, it } from 'vitest'
import { addressScopes, createConfig, describeReachability, planNat, reachabilityOf, validateConfig } from '../src/index.js'

const ifaces = (...addrs: string[]): NodeJS.Dict<Array<{ address: string, family: string }>> => ({ eth0: addrs.map((address) => ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4' })) })
const addr = (multiaddr: string, type = 'transport', verified = true): { multiaddr: string, type: string, verified: boolean } => ({ multiaddr, type, verified })

describe('reachability parts and states', () => {
  it('a wildcard listen address stands for the interfaces; libp2p\'s private ranges (documentation ranges too) are not public', () => {
    expect(addressScopes(['/ip4/0.0.0.0/tcp/4101'], [], ifaces('127.0.0.1', '192.168.1.2'))).toEqual({ public: false, private: true })
    expect(addressScopes(['/ip4/0.0.0.0/tcp/4101'], [], ifaces('203.0.113.7'))).toEqual({ public: false, private: true })
    expect(addressScopes(['/ip4/0.0.0.0/tcp/4101'], [], ifaces('11.17.0.10'))).toEqual({ public: true, private: false })
    expect(addressScopes(['/ip4/127.0.0.1/tcp/0'], [], ifaces('11.17.0.10'))).toEqual({ public: false, private: false })
    expect(addressScopes(['/ip4/192.168.1.2/tcp/4101'], ['/ip4/11.17.0.1/tcp/4101'], ifaces())).toEqual({ public: true, private: true })
  })

  it('auto: a public node relays, a node behind NAT reserves, a loopback node does neither and asks no router', () => {
    const config = createConfig()
    expect(planNat(config, { public: true, private: false }, 2)).toMatchObject({ relayServer: true, reservations: 0, upnp: false })
    expect(planNat(config, { public: false, private: true }, 2)).toMatchObject({ relayServer: false, reservations: 2, upnp: true })
    expect(planNat(config, { public: false, private: false }, 2)).toMatchObject({ relayServer: false, reservations: 0, upnp: false, autonat: true })
    const forced = createConfig({ relay: { serve: 'on', reserve: 'off' }, nat: { upnp: false, autonat: false, holePunching: false } })
    expect(planNat(forced, { public: false, private: true }, 2)).toEqual({ relayServer: true, reservations: 0, upnp: false, autonat: false, holePunching: false })
  })

  it('states from the address manager: confirmed public, confirmed mapping, relayed, private, local', () => {
    const plan = planNat(createConfig(), { public: false, private: true }, 2)
    const relay = '/ip4/11.17.0.10/tcp/4101/p2p/12D3KooWSTdreGAQwGvsJjiu8VkycwxbtmEJsgLWT2UNuDMfxiTp/p2p-circuit'
    expect(reachabilityOf([addr('/ip4/127.0.0.1/tcp/1')], plan).state).toBe('local')
    expect(reachabilityOf([addr('/ip4/192.168.1.2/tcp/1'), addr('/ip4/11.17.0.1/tcp/1', 'observed', false)], plan).state).toBe('private')
    const relayed = reachabilityOf([addr('/ip4/192.168.1.2/tcp/1'), addr(relay), addr('/ip4/11.17.0.1/tcp/1', 'ip-mapping', false)], plan)
    expect(relayed).toMatchObject({ state: 'relayed', relays: ['12D3KooWSTdreGAQwGvsJjiu8VkycwxbtmEJsgLWT2UNuDMfxiTp'] })
    expect(describeReachability(relayed).advice).toContain('forward the TCP port')
    const mapped = reachabilityOf([addr(relay), addr('/ip4/11.17.0.1/tcp/4101', 'ip-mapping', true)], plan)
    expect(mapped.state).toBe('mapped')
    expect(describeReachability(mapped).summary).toContain('/ip4/11.17.0.1/tcp/4101')
    expect(reachabilityOf([addr('/ip4/11.17.0.10/tcp/4101', 'transport', true)], plan).state).toBe('public')
    expect(reachabilityOf([addr('/ip4/11.17.0.10/tcp/4101', 'transport', false)], plan).state).toBe('private')
  })

  it('relay limits are checked at start, at the limit and past it', () => {
    expect(validateConfig(createConfig({ relay: { dataLimitBytes: 16_384, durationLimitMs: 10_000 } })).relay.dataLimitBytes).toBe(16_384)
    expect(() => validateConfig(createConfig({ relay: { dataLimitBytes: 16_383 } }))).toThrow(/relay\.dataLimitBytes/)
    expect(() => validateConfig(createConfig({ relay: { durationLimitMs: 9_999 } }))).toThrow(/relay\.durationLimitMs/)
    expect(() => validateConfig(createConfig({ relay: { serve: 'maybe' as 'on' } }))).toThrow(/relay\.serve/)
    expect(() => validateConfig(createConfig({ nat: { upnp: 'yes' as unknown as boolean } }))).toThrow(/nat\.upnp/)
  })
})
