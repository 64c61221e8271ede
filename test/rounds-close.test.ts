/**
 * Rounds that must close, and a coordinator that joins once, with real daemons on 127.0.0.1: a maintainer of a
 * community that allows 31-day rounds (its daemon's log captured) and two volunteers training mnist-2nn.
 *
 * - starting with `--community` joins once: the state store is opened once, nothing is logged as an error;
 * - a Krum round with fewer deltas than Krum needs (a round-open an older version signed, adopted after a
 *   restart) closes with no release, the aggregator's error code as the reason and in every verdict; a new
 *   round can be opened after it;
 * - such parameters, a negative f and a parameter name Krum does not take are refused at `round start`, and so
 *   are a too short `--duration` and a query parameter on a round's route;
 * - a round whose deadline is beyond one timer's range (2^31 − 1 ms ≈ 24.8 days) stays open, and while it is
 *   open another round cannot be opened.
 */
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient } from '@swarmtune/node'
import { RoundsState, createRoundParams, roundOpenBody, type Community } from '@swarmtune/rounds'
import { waitFor } from '@swarmtune/test-support'
import { destroyAll, jsonLogger } from '@swarmtune/test-support/daemons'
import { eventOf, startMaintainer, startRoundsNode, startVolunteers, UNTIL_DEADLINE, type Maintainer, type RoundsNode } from '@swarmtune/test-support/rounds'
import { cliOutput } from '@swarmtune/test-support/cli'

const TRAIN = { steps: 5, batchSize: 50, learningRate: 0.1 }
const DAY_MS = 86_400_000

const errorsIn = (lines: Array<Record<string, unknown>>): string[] => lines.filter((l) => (l.level as number) >= 50).map((l) => `${String(l.msg)} ${JSON.stringify(l.err ?? '')}`)

describe('rounds that must close', () => {
  let maintainer: Maintainer
  let community: Community
  let genesis: string
  let m: RoundsNode
  let lines: Array<Record<string, unknown>> = []
  let volunteers: RoundsNode[] = []

  beforeAll(async () => {
    // a community that allows 31-day rounds; rounds here stay open until their deadline, their maximum or a
    // cancel, whatever the volunteers answered; the daemon's log lines (pino JSON) are kept in `lines`
    maintainer = await startMaintainer({ name: 'close-test', policy: { maxRoundMs: 31 * DAY_MS }, config: UNTIL_DEADLINE, logger: jsonLogger(lines) })
    ;({ node: m, community, genesis } = maintainer)
    volunteers = await startVolunteers(maintainer, 2, { lossExamples: 200, warm: true })
  })

  afterAll(async () => { await destroyAll(volunteers); await m?.destroy(); await maintainer?.cleanup() })

  it('joins the community once when started with --community: one state store, no error logged', async () => {
    expect(m.events.filter((e) => e.type === 'rounds:joined')).toHaveLength(1)
    expect(lines.filter((l) => l.msg === 'joined the community')).toHaveLength(1)
    expect(errorsIn(lines)).toEqual([])
    // a second open in this process is refused before LevelDB is touched, so the daemon keeps its lock
    await expect(RoundsState.open(join(maintainer.dir, 'rounds', 'state'))).rejects.toMatchObject({ code: 'ERR_ROUNDS_STATE_IN_USE' })
    expect(await m.rounds.rounds()).toEqual([])
  })

  it('closes a Krum round with fewer deltas than 2f + 3 with no release and the reason, after a restart', async () => {
    // a round-open signed without the checks of `round start` (as an older version did): Krum f = 1, quorum 1
    const params = createRoundParams({ ...TRAIN, durationMs: 60_000, quorum: 1, maxContributions: 2 }, community)
    const body = roundOpenBody(params, { round: 1, base: community.release, now: Date.now() })
    const open = await m.ledger.sign({ kind: 'round-open', body: { ...body, aggregator: { name: 'krum', params: { ...body.aggregator.params, byzantine: 1, select: 1 } } } })
    await waitFor(async () => {
      let n = 0
      for await (const _ of m.ledger.ledger.entries({ kind: 'contribution', round: 1 })) n++
      return n === 2
    }, 120_000, 'both contributions in the maintainer\'s ledger')

    await m.daemon.stop()
    lines = []
    m = await startRoundsNode({ dir: maintainer.dir, genesis, config: maintainer.config, logger: jsonLogger(lines) })
    for (const v of volunteers) await v.daemon.libp2p.dial(multiaddr(m.daemon.addresses()[0]))
    const r = await m.rounds.waitClosed(1, { timeoutMs: 60_000 })
    expect(r.roundOpen).toBe(open.id.toString())
    expect(r.state).toBe('closed')
    expect(r.phase).toBe('closed')
    expect(r.outcome).toBe('no-release')
    expect(r.release).toBeUndefined()
    expect(r.reason).toMatch(/^ERR_FEDAVG_TOO_FEW_DELTAS: aggregator krum failed: .*needs at least 5/)
    expect(r.contributions.map((c) => [c.verdict?.accepted, c.verdict?.code])).toEqual([[false, 'ERR_FEDAVG_TOO_FEW_DELTAS'], [false, 'ERR_FEDAVG_TOO_FEW_DELTAS']])
    const close = await eventOf(m, 'rounds:close', (e) => e.round === 1)
    expect(close).toMatchObject({ outcome: 'no-release', code: 'ERR_FEDAVG_TOO_FEW_DELTAS' })
    expect(errorsIn(lines)).toEqual([])
    let closes = 0
    for await (const _ of m.ledger.ledger.entries({ kind: 'round-close', round: 1 })) closes++
    expect(closes).toBe(1)
    expect((await m.rounds.release('latest')).manifest).toBe(community.release.toString())
  })

  it('refuses Krum parameters the round cannot meet, a negative f and unknown parameter names at round start', async () => {
    const start = async (...flags: string[]): Promise<string> => await cliOutput(['round', 'start', '-d', m.dir, '--steps', '5', '--duration', '10s', '--aggregator', 'krum', ...flags])
    await expect(start('--quorum', '2')).rejects.toThrow(/krum with f = 1 needs at least 2f \+ 3 = 5 accepted contributions.*--quorum is 2/)
    await expect(start('--quorum', '5', '--aggregator-param', 'f=-1')).rejects.toThrow(/byzantine \(f\) must be an integer ≥ 0, got -1/)
    await expect(start('--quorum', '5', '--aggregator-param', 'bogus=3')).rejects.toThrow(/aggregator krum takes no parameter "bogus"; it takes byzantine, select, f, m/)
    await expect(cliOutput(['round', 'start', '-d', m.dir, '--duration', '1.5s'])).rejects.toThrow(/--duration 1.5s is 1500 ms; the shortest round is 2000 ms/)
    expect((await m.rounds.rounds()).map((r) => r.round)).toEqual([1]) // nothing was signed
    const client = await ControlClient.fromDataDir(m.dir)
    // a round's route takes no query parameter: a close is waited for on the event stream
    await expect(client.request('GET', '/v1/rounds/1?waitMs=0')).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_PARAMS', status: 400, message: expect.stringMatching(/waitMs/) })
    expect(await client.request('GET', '/v1/rounds/1')).toMatchObject({ round: 1, state: 'closed' })
    // f = 0 with quorum 3 is a valid Krum round
    expect(createRoundParams({ aggregator: { kind: 'krum', f: 0 }, quorum: 3 }, community).aggregator).toEqual({ kind: 'krum', byzantine: 0 })
  })

  it('keeps a round with a deadline beyond one timer\'s range open, and opens no other round meanwhile', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error): void => { warnings.push(w) }
    process.on('warning', onWarning)
    try {
      const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 30 * DAY_MS, quorum: 2, maxContributions: 3 })
      expect(opened.round).toBe(2)
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      const r = await m.rounds.round(2)
      expect([r.state, r.phase]).toEqual(['open', 'open'])
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([])
      await expect(m.rounds.startRound({ ...TRAIN })).rejects.toMatchObject({ code: 'ERR_ROUNDS_ALREADY_OPEN' })
      await m.rounds.cancelRound(2, 'far deadline checked')
      expect((await m.rounds.round(2)).outcome).toBe('cancelled')
    } finally {
      process.off('warning', onWarning)
    }
  })
})
