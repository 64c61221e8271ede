/**
 * Home volunteers behind NAT, in network namespaces this test makes (root only; `npm run test:netns`): the
 * maintainer on the internet segment; home 0 behind a router that maps ports (miniupnpd), home 1 behind one
 * that does not. Checks what each daemon learns of its reachability (AutoNAT v2, UPnP, relay reservations),
 * prints `swarmtune doctor` behind the NAT, and shows a relayed connection between the two homes upgraded to a
 * direct one by DCUtR, over which a blob is then fetched; a blob is never fetched over the relayed connection.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DaemonStatus, PeerStatus } from '@swarmtune/node'
import { Agent, createTopology, DaemonProc, missingTools, removeStale, until, type Topology } from './topology.js'

describe('daemons behind NAT', () => {
  let topo: Topology | undefined
  let work = ''
  const agents: Agent[] = []
  const daemons: DaemonProc[] = []

  beforeAll(async () => {
    const missing = missingTools()
    if (missing !== undefined) throw new Error(`the namespace tests need root, iproute2, nftables and miniupnpd: ${missing}`)
    const stale = removeStale()
    if (stale.length > 0) console.log(`removed stale namespaces: ${stale.join(' ')}`)
    work = await mkdtemp(join(tmpdir(), 'swarmtune-netns-'))
    topo = await createTopology({ homes: [{ upnp: true }, { upnp: false }], work })
  })

  afterAll(async () => {
    await Promise.all(daemons.map(async (d) => { await d.stop() }))
    for (const a of agents) a.stop()
    topo?.destroy()
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  it('maintainer public and relaying, home 0 mapped by UPnP, home 1 relayed; DCUtR turns the relayed connection between the homes into a direct one; a blob travels over it', async () => {
    const t = topo as Topology
    const [m, a, b] = [t.maintainer.ns, t.homes[0].volunteer, t.homes[1].volunteer].map((ns) => { const ag = new Agent(ns); agents.push(ag); return ag })
    const dirs = { m: join(work, 'm'), a: join(work, 'a'), b: join(work, 'b') }
    const common = ['--no-mdns', '--dht', 'off', '--control-port', '0']
    const mInit = await m.json<{ peerId: string }>(['init', '-d', dirs.m, '--listen', '/ip4/0.0.0.0/tcp/4101', '--listen', '/ip4/0.0.0.0/tcp/4102/ws', ...common])
    // home 0 dials the maintainer over TCP, home 1 over WebSockets
    await a.json(['init', '-d', dirs.a, '--listen', '/ip4/0.0.0.0/tcp/4101', '--bootstrap', `/ip4/${t.maintainer.ip}/tcp/4101/p2p/${mInit.peerId}`, ...common])
    await b.json(['init', '-d', dirs.b, '--listen', '/ip4/0.0.0.0/tcp/4101', '--bootstrap', `/ip4/${t.maintainer.ip}/tcp/4102/ws/p2p/${mInit.peerId}`, ...common])
    const dm = new DaemonProc(m.ns, dirs.m)
    daemons.push(dm)
    await dm.started()
    const da = new DaemonProc(a.ns, dirs.a)
    const db = new DaemonProc(b.ns, dirs.b)
    daemons.push(da, db)
    await Promise.all([da.started(), db.started()])

    const status = async (ag: Agent, dir: string): Promise<DaemonStatus> => await ag.json<DaemonStatus>(['status', '-d', dir])
    const ms = await until('the maintainer to be confirmed public', 90_000, async () => { const s = await status(m, dirs.m); return s.reachability.state === 'public' && s })
    const as = await until('home 0 to get a UPnP mapping', 90_000, async () => { const s = await status(a, dirs.a); return s.reachability.state === 'mapped' && s.reachability.relays.length > 0 && s })
    const bs = await until('home 1 to hold a relay reservation', 90_000, async () => { const s = await status(b, dirs.b); return s.reachability.state === 'relayed' && s })
    console.log(`reachability: maintainer ${ms.reachability.state} (relay server ${String(ms.reachability.relayServer)}), home 0 ${as.reachability.state}, home 1 ${bs.reachability.state} via ${bs.reachability.relays.join(', ')}`)
    expect(ms.reachability.relayServer).toBe(true)
    expect(bs.reachability.relays).toEqual([mInit.peerId])
    expect(as.reachability.addresses.some((x) => x.type === 'ip-mapping' && x.verified && x.address.startsWith(`/ip4/${t.homes[0].wan}/tcp/4101`))).toBe(true)

    const doctor = await b.cli(['doctor', '-d', dirs.b, '--timeout', '2s'])
    console.log(`swarmtune doctor behind NAT (home 1):\n${doctor.stdout.split('\n').filter((l) => !/backend|training/.test(l)).join('\n')}`)
    expect(doctor.stdout).toMatch(/nat\s+relayed only/)
    expect(doctor.stdout).toContain('what you can do:')
    const doctorA = await a.cli(['doctor', '-d', dirs.a, '--timeout', '2s'])
    expect(doctorA.stdout).toMatch(/nat\s+behind NAT with a mapped port/)

    // home 0 dials home 1 at its relayed address: a limited connection through the maintainer; home 1, on the
    // inbound side, upgrades it (DCUtR) by dialling home 0's mapped address
    const relayed = bs.addresses.find((x) => x.includes('/p2p-circuit') && x.startsWith(`/ip4/${t.maintainer.ip}/`)) as string
    expect(relayed).toBeDefined()
    const bId = bs.peerId
    await a.cli(['peers', '-d', dirs.a, '--connect', relayed])
    const direct = await until('a direct connection between the homes', 60_000, async () => {
      const peers = await a.json<PeerStatus[]>(['peers', '-d', dirs.a])
      return peers.find((p) => p.peerId === bId && p.path === 'direct')
    })
    const seen = [...da.lines, ...db.lines].filter((l) => l.msg === 'connection opened' && (l.peer === bId || l.peer === as.peerId)).sort((x, y) => Number(x.time) - Number(y.time))
    console.log(`connections between the homes, in order: ${seen.map((l) => `${String(l.path)} ${String(l.direction)} ${String(l.remoteAddr)}`).join(' → ')}`)
    expect(seen.map((l) => l.path)).toContain('relayed')
    expect(seen.findIndex((l) => l.path === 'relayed')).toBeLessThan(seen.findIndex((l) => l.path === 'direct'))
    expect(direct.addresses.some((x) => !x.includes('/p2p-circuit'))).toBe(true)

    // a blob of home 1, fetched by home 0 from home 1 alone: over the direct connection
    const data = randomBytes(3 * 1024 * 1024)
    const put = await b.call<{ cid: string }>({ op: 'put', dir: dirs.b, hex: data.toString('hex') })
    const fetched = await a.call<{ providers: Array<{ peer: string, bytes: number }> }>({ op: 'fetch', dir: dirs.a, cid: put.cid, providers: [bId] })
    console.log(`blob ${put.cid} (${data.length} bytes) fetched by home 0 from home 1: ${JSON.stringify(fetched.providers)}`)
    expect(fetched.providers.map((p) => p.peer)).toEqual([bId])
    const after = await a.json<PeerStatus[]>(['peers', '-d', dirs.a])
    expect(after.find((p) => p.peerId === bId)?.path).toBe('direct')
  })
})
