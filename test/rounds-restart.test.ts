/**
 * The coordinator's state machine across a restart, with real daemons on 127.0.0.1: a maintainer's daemon
 * stops while its round is open, after the volunteers contributed, and starts again after the deadline; the
 * round then closes exactly once, with every contribution that arrived before the stop accepted, and the
 * ledgers verify. Then a round is cancelled: its contributions are rejected with `ERR_ROUNDS_CANCELLED`.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SignedEntry } from '@swarmtune/wire'
import { waitFor } from '@swarmtune/test-support'
import { eventOf, startMaintainer, startRoundsNode, startVolunteers, UNTIL_DEADLINE, type RoundsNode } from '@swarmtune/test-support/rounds'
import { cliOutput } from '@swarmtune/test-support/cli'
import { destroyAll } from '@swarmtune/test-support/daemons'

const TRAIN = { steps: 15, batchSize: 50, learningRate: 0.1 }

describe('a coordinator restarted in the middle of a round', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let m: RoundsNode
  let volunteers: RoundsNode[] = []

  beforeAll(async () => {
    // the tests act on rounds while they are open: no early close once the volunteers that answered contributed
    maintainer = await startMaintainer({ config: UNTIL_DEADLINE })
    m = maintainer.node
    volunteers = await startVolunteers(maintainer, 2, { lossExamples: 300, warm: true })
  })

  afterAll(async () => { await destroyAll(volunteers); await m?.destroy(); await maintainer?.cleanup() })

  it('resumes after the restart and closes the round exactly once, losing no contribution', async () => {
    const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 20_000, quorum: 2, maxContributions: 3 })
    for (const v of volunteers) await eventOf(m, 'rounds:contribution', (e) => e.round === opened.round && e.peer === v.daemon.peerId.toString())
    await m.daemon.stop()
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, opened.deadline - Date.now() + 500)))

    m = await startRoundsNode({ dir: m.dir, genesis: maintainer.genesis, config: UNTIL_DEADLINE })
    for (const v of volunteers) await v.daemon.libp2p.dial(multiaddr(m.daemon.addresses()[0]))
    const r = await m.rounds.waitClosed(opened.round, { timeoutMs: 60_000 })
    expect(r.outcome).toBe('released')
    expect(r.counts).toEqual({ contributions: 2, accepted: 2, rejected: 0, pending: 0 })
    expect(r.phase).toBe('closed')
    const kinds: string[] = []
    for await (const e of m.ledger.ledger.entries({ round: opened.round })) kinds.push(e.entry.kind)
    expect(kinds.filter((k) => k === 'release')).toHaveLength(1)
    expect(kinds.filter((k) => k === 'round-close')).toHaveLength(1)
    expect(kinds.filter((k) => k === 'verdict')).toHaveLength(2)
    await m.ledger.ledger.verify()
    for (const v of volunteers) {
      // entries gossiped before the volunteer was back in the topic's mesh come by ledger sync
      await v.ledger.syncWith(m.daemon.peerId)
      await eventOf(v, 'rounds:release:fetched', (e) => e.manifest === r.release?.manifest, 30_000)
      await v.ledger.ledger.verify()
    }
    expect(JSON.parse(await cliOutput(['release', 'verify', r.release?.entry as string, '--json', '-d', m.dir])).ok).toBe(true)
  })

  it('cancels a round: contributions rejected, no release', async () => {
    const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 60_000, quorum: 2, maxContributions: 3 })
    for (const v of volunteers) await eventOf(m, 'rounds:contribution', (e) => e.round === opened.round && e.peer === v.daemon.peerId.toString())
    const out = await cliOutput(['round', 'cancel', String(opened.round), '--reason', 'wrong learning rate', '-d', m.dir])
    expect(out).toContain('cancelled')
    const r = await m.rounds.round(opened.round)
    expect(r.outcome).toBe('cancelled')
    expect(r.reason).toBe('wrong learning rate')
    expect(r.contributions.map((c) => c.verdict?.code)).toEqual(['ERR_ROUNDS_CANCELLED', 'ERR_ROUNDS_CANCELLED'])
    await waitFor(async () => {
      for await (const e of volunteers[0].ledger.ledger.entries({ kind: 'round-close', round: opened.round })) return (e as SignedEntry<'round-close'>).entry.body.outcome === 'cancelled'
      return false
    }, 10_000, 'the cancellation at a volunteer')
  })
})
