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
  let dirs = { m: '', a: '', b: '', c: '' }
  let mInit = { peerId: '' }
  let da: DaemonProc
  let db: DaemonProc
  let dc: DaemonProc
  let genesis = ''

  beforeAll(async () => {
    const missing = missingTools()
    if (missing !== undefined) throw new Error(`the namespace tests need root, iproute2, nftables and miniupnpd: ${missing}`)
    const stale = removeStale()
    if (stale.length > 0) console.log(`removed stale namespaces: ${stale.join(' ')}`)
    work = await mkdtemp(join(tmpdir(), 'swarmtune-netns-'))
    topo = await createTopology({ homes: [{ upnp: true }, { upnp: false }, { upnp: false }], work })
    const t = topo
    const [m, a, b, c] = [t.maintainer.ns, ...t.homes.map((h) => h.volunteer)].map((ns) => { const ag = new Agent(ns); agents.push(ag); return ag })
    dirs = { m: join(work, 'm'), a: join(work, 'a'), b: join(work, 'b'), c: join(work, 'c') }
    const common = ['--no-mdns', '--dht', 'off', '--control-port', '0']
    mInit = await m.json<{ peerId: string }>(['init', '-d', dirs.m, '--listen', '/ip4/0.0.0.0/tcp/4101', '--listen', '/ip4/0.0.0.0/tcp/4102/ws', ...common])
    // home 0 dials the maintainer over TCP, home 1 over WebSockets
    await a.json(['init', '-d', dirs.a, '--listen', '/ip4/0.0.0.0/tcp/4101', '--bootstrap', `/ip4/${t.maintainer.ip}/tcp/4101/p2p/${mInit.peerId}`, ...common])
    await b.json(['init', '-d', dirs.b, '--listen', '/ip4/0.0.0.0/tcp/4101', '--bootstrap', `/ip4/${t.maintainer.ip}/tcp/4102/ws/p2p/${mInit.peerId}`, ...common])
    await c.json(['init', '-d', dirs.c, '--listen', '/ip4/0.0.0.0/tcp/4101', '--bootstrap', `/ip4/${t.maintainer.ip}/tcp/4101/p2p/${mInit.peerId}`, ...common])
    // an MNIST community: 6,000 training examples split IID among the three homes
    genesis = join(work, 'mnist.genesis')
    await m.json(['community', 'create', '-d', dirs.m, '--task', 'mnist-2nn', '--seed', '1', '--name', 'nat-test', '-o', genesis])
    for (const [i, [ag, dir]] of ([[a, dirs.a], [b, dirs.b], [c, dirs.c]] as const).entries()) {
      await ag.json(['community', 'join', genesis, '-d', dir, '--mnist', '--limit', '6000', '--partition', 'iid', '--clients', '3', '--client', String(i), '--partition-seed', '1'])
    }
    const dm = new DaemonProc(m.ns, dirs.m, ['--community', genesis])
    daemons.push(dm)
    await dm.started()
    da = new DaemonProc(a.ns, dirs.a)
    db = new DaemonProc(b.ns, dirs.b)
    dc = new DaemonProc(c.ns, dirs.c)
    daemons.push(da, db, dc)
    await Promise.all([da.started(), db.started(), dc.started()])
  })

  afterAll(async () => {
    await Promise.all(daemons.map(async (d) => { await d.stop() }))
    for (const a of agents) a.stop()
    topo?.destroy()
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  it('maintainer public and relaying, home 0 mapped by UPnP, home 1 relayed; DCUtR turns the relayed connection between the homes into a direct one; a blob travels over it', async () => {
    const t = topo as Topology
    const [m, a, b] = agents
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
    const seen: Array<Record<string, unknown>> = [...da.lines.map((l): Record<string, unknown> => ({ ...l, at: 'home 0' })), ...db.lines.map((l): Record<string, unknown> => ({ ...l, at: 'home 1' }))]
      .filter((l) => l.msg === 'connection opened' && (l.peer === bId || l.peer === as.peerId)).sort((x, y) => Number(x.time) - Number(y.time))
    console.log(`connections between home 0 and home 1, in order:\n${seen.map((l) => `  ${String(l.at)}: ${String(l.path)} ${String(l.direction)} ${String(l.remoteAddr).replace(/\/p2p\/12D3KooW\w+/g, '/p2p/…')}`).join('\n')}`)
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

  it('between two homes whose routers map no port the connection stays relayed, and no blob travels over it (ERR_NODE_BLOB_RELAYED_ONLY)', async () => {
    const [, , b, c] = agents
    const bs = await b.json<DaemonStatus>(['status', '-d', dirs.b])
    await until('home 2 to hold a relay reservation', 90_000, async () => (await c.json<DaemonStatus>(['status', '-d', dirs.c])).reachability.state === 'relayed')
    const relayed = bs.addresses.find((x) => x.includes('/p2p-circuit') && !x.startsWith('/ip4/127.')) as string
    await c.cli(['peers', '-d', dirs.c, '--connect', relayed])
    const put = await b.call<{ cid: string }>({ op: 'put', dir: dirs.b, hex: randomBytes(512 * 1024).toString('hex') })
    const started = Date.now()
    const err = await c.call({ op: 'fetch', dir: dirs.c, cid: put.cid, providers: [bs.peerId] }).then(() => undefined, (e: Error & { code?: string }) => e)
    const peers = await c.json<PeerStatus[]>(['peers', '-d', dirs.c])
    console.log(`home 2 → home 1: ${peers.find((p) => p.peerId === bs.peerId)?.path ?? 'none'} (${peers.find((p) => p.peerId === bs.peerId)?.addresses.length ?? 0} connections); fetch after ${Date.now() - started} ms: ${err?.code ?? 'ok'}: ${err?.message ?? ''}`)
    expect(peers.find((p) => p.peerId === bs.peerId)?.path).toBe('relayed')
    expect(err?.code).toBe('ERR_NODE_BLOB_NO_PROVIDERS')
    expect(err?.message).toContain('through a relay only')
  })

  it('a round through the NAT: the three homes train and contribute (home 2 has no direct path to home 1: the coordinator fetches each delta over the connection the volunteer opened), and each gets the release', async () => {
    const [m, a, b] = agents
    const opened = await m.json<{ round: number, state: string, outcome?: string, counts: { accepted: number }, contributions: Array<{ author?: string, verdict?: string }> }>(
      ['round', 'start', '-d', dirs.m, '--steps', '20', '--batch-size', '50', '--lr', '0.1', '--duration', '3m', '--quorum', '3', '--max-contributions', '3', '--wait'])
    console.log(`round ${opened.round}: ${opened.state}, ${opened.outcome ?? '-'}, ${opened.counts.accepted} contributions accepted`)
    expect(opened.outcome).toBe('released')
    expect(opened.counts.accepted).toBe(3)
    // the maintainer's connections to the homes are the ones they dialled: direct, inbound at the maintainer
    const mPeers = await m.json<PeerStatus[]>(['peers', '-d', dirs.m])
    for (const d of [da, db, dc]) {
      const id = String(d.lines.find((l) => l.msg === 'daemon started')?.peerId)
      expect(mPeers.find((p) => p.peerId === id)?.path, `maintainer → ${d.ns}`).toBe('direct')
    }
    for (const [ag, dir] of [[a, dirs.a], [b, dirs.b], [agents[3], dirs.c]] as const) {
      const r = await until(`the release at ${ag.ns}`, 120_000, async () => {
        const v = await ag.json<{ ok?: boolean, release?: string }>(['release', 'verify', 'latest', '-d', dir])
        return v
      })
      console.log(`${ag.ns}: release verify latest → ok ${String(r.ok)}, release ${String(r.release ?? (r as { entry?: string }).entry)}`)
      expect(r.ok).toBe(true)
    }
  })
})
