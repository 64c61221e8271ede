/**
 * A partition in network namespaces (root only; `npm run test:netns`): six daemons — the maintainer and two
 * volunteers on the internet segment, three volunteers behind one home router. The home's uplink is cut for two
 * round deadlines, then healed. No contribution the coordinator accepted is lost, every ledger converges to the
 * same entries, no round is released twice, and a round after the heal takes all five volunteers.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Agent, createTopology, DaemonProc, missingTools, removeStale, until, type Topology } from './topology.js'

interface Entry { id: string, kind: string, body: Record<string, unknown> }
interface Round { round: number, outcome?: string, counts: { accepted: number } }

describe('a partition of 3 of 6 daemons for two round deadlines', () => {
  let topo: (Topology & { publics: Array<{ ns: string, ip: string }> }) | undefined
  let work = ''
  const agents = new Map<string, Agent>()
  const daemons: DaemonProc[] = []
  const members: Array<{ name: string, ns: string, dir: string }> = []

  beforeAll(async () => {
    const missing = missingTools()
    if (missing !== undefined) throw new Error(`the namespace tests need root, iproute2, nftables and miniupnpd: ${missing}`)
    removeStale()
    work = await mkdtemp(join(tmpdir(), 'swarmtune-partition-'))
    topo = await createTopology({ homes: [{ upnp: false }], publicHosts: 2, work })
    const t = topo
    const agent = (ns: string): Agent => { let a = agents.get(ns); if (a == null) { a = new Agent(ns); agents.set(ns, a) } return a }
    const m = { name: 'maintainer', ns: t.maintainer.ns, dir: join(work, 'm') }
    members.push(m)
    for (const [i, p] of t.publics.slice(1).entries()) members.push({ name: `public-${i + 1}`, ns: p.ns, dir: join(work, `p${i + 1}`) })
    for (let i = 0; i < 3; i++) members.push({ name: `home-${i + 1}`, ns: t.homes[0].volunteer, dir: join(work, `h${i + 1}`) })
    const common = ['--no-mdns', '--dht', 'off', '--control-port', '0']
    const mInit = await agent(m.ns).json<{ peerId: string }>(['init', '-d', m.dir, '--listen', '/ip4/0.0.0.0/tcp/4101', ...common])
    const genesis = join(work, 'mnist.genesis')
    await agent(m.ns).json(['community', 'create', '-d', m.dir, '--task', 'mnist-2nn', '--seed', '1', '--name', 'partition-test', '-o', genesis])
    for (const [i, v] of members.slice(1).entries()) {
      // the three home daemons share a namespace: one port each
      await agent(v.ns).json(['init', '-d', v.dir, '--listen', `/ip4/0.0.0.0/tcp/${4101 + 10 * i}`, '--bootstrap', `/ip4/${t.maintainer.ip}/tcp/4101/p2p/${mInit.peerId}`, ...common])
      await agent(v.ns).json(['community', 'join', genesis, '-d', v.dir, '--mnist', '--limit', '5000', '--partition', 'iid', '--clients', '5', '--client', String(i), '--partition-seed', '1'])
    }
    const dm = new DaemonProc(m.ns, m.dir, ['--community', genesis])
    daemons.push(dm)
    await dm.started()
    const vs = members.slice(1).map((v) => new DaemonProc(v.ns, v.dir))
    daemons.push(...vs)
    await Promise.all(vs.map(async (d) => { await d.started() }))
    await until('five volunteers in the maintainer\'s topic', 180_000, async () => {
      const s = await agent(m.ns).json<{ communities: Array<{ peers: number }> }>(['status', '-d', m.dir])
      return (s.communities[0]?.peers ?? 0) >= 5
    })
  })

  afterAll(async () => {
    await Promise.all(daemons.map(async (d) => { await d.stop() }))
    for (const a of agents.values()) a.stop()
    topo?.destroy()
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  it('cut off for two rounds, healed: accepted contributions kept, ledgers converge, each round released once', async () => {
    const t = topo as Topology
    const m = members[0]
    const am = agents.get(m.ns) as Agent
    const round = async (quorum: number, duration: string): Promise<Round> =>
      await am.json<Round>(['round', 'start', '-d', m.dir, '--steps', '10', '--batch-size', '50', '--lr', '0.1', '--duration', duration, '--quorum', String(quorum), '--max-contributions', '5', '--until-deadline', '--wait'])

    t.setLink(t.homes[0].volunteer, false)
    console.log('home uplink cut: 3 of 6 daemons off the internet segment')
    const during = [await round(2, '40s'), await round(2, '40s')]
    console.log(`rounds during the cut: ${during.map((r) => `${r.round} ${r.outcome ?? '-'} (${r.counts.accepted} accepted)`).join(', ')}`)
    for (const r of during) {
      expect(r.outcome).toBe('released')
      expect(r.counts.accepted).toBe(2)
    }
    t.setLink(t.homes[0].volunteer, true)
    console.log('healed')

    const entries = async (v: { ns: string, dir: string }): Promise<Entry[]> => await (agents.get(v.ns) as Agent).json<Entry[]>(['ledger', 'list', '-d', v.dir])
    // until every volunteer's ledger holds each of `wanted` (ledger sync and anti-entropy after the heal)
    const converged = async (what: string, wanted: Set<string>): Promise<void> => {
      await until(what, 240_000, async () => {
        for (const v of members.slice(1)) {
          const have = new Set((await entries(v)).map((e) => e.id))
          if ([...wanted].some((id) => !have.has(id))) return false
        }
        return true
      })
    }
    const reference = await entries(m)
    const ids = new Set(reference.map((e) => e.id))
    await converged('every ledger to hold the maintainer\'s entries', ids)
    const after = await round(5, '90s')
    console.log(`round after the heal: ${after.round} ${after.outcome ?? '-'} (${after.counts.accepted} accepted)`)
    expect(after.outcome).toBe('released')
    expect(after.counts.accepted).toBe(5)

    const final = await entries(m)
    const releases = final.filter((e) => e.kind === 'release')
    const perRound = new Map<unknown, number>()
    for (const r of releases) perRound.set(r.body.round, (perRound.get(r.body.round) ?? 0) + 1)
    console.log(`releases per round: ${JSON.stringify([...perRound])}`)
    expect([...perRound.values()].every((n) => n === 1)).toBe(true)
    expect(perRound.size).toBe(3)
    const accepted = releases.flatMap((r) => r.body.contributions as string[])
    expect(accepted.length).toBe(2 + 2 + 5)
    const finalIds = new Set(final.map((e) => e.id))
    await converged('every ledger to converge on the maintainer\'s', finalIds)
    for (const v of members) {
      const have = new Set((await entries(v)).map((e) => e.id))
      for (const c of accepted) expect(have.has(c), `${v.name} holds accepted contribution ${c}`).toBe(true)
    }
  })
})
