/**
 * `round status --follow` on a maintainer's daemon, with real daemons on 127.0.0.1: a round with one volunteer
 * is followed on the daemon's event stream, one line per event of the round (the volunteer's answer, its
 * contribution's arrival, the freeze, the verdict, the signed release, the close), then the round as `round
 * status` prints it; with `--json`, one JSON object per event line, then the round on one line. The volunteer is
 * connected only once the follow has subscribed, so every event of the round comes after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RoundDetail } from '@swarmtune/rounds'
import { waitFor } from '@swarmtune/test-support'
import { destroyAll } from '@swarmtune/test-support/daemons'
import { ready, startMaintainer, startVolunteers, type Maintainer, type RoundsNode } from '@swarmtune/test-support/rounds'
import { runCli, type CliRun } from '@swarmtune/test-support/cli'

const TRAIN = { steps: 5, batchSize: 50, learningRate: 0.1 }

describe('round status --follow', () => {
  const started: { maintainer?: Maintainer, volunteers: RoundsNode[] } = { volunteers: [] }
  beforeAll(async () => { started.maintainer = await startMaintainer() })
  afterAll(async () => {
    await destroyAll(started.volunteers)
    await started.maintainer?.cleanup()
  })

  /** Opens a round for one volunteer, follows it with `round status --follow` + `extra`, and connects the volunteer once the follow subscribed. */
  async function follow (extra: string[]): Promise<{ run: CliRun, opened: RoundDetail, m: RoundsNode, volunteer: string }> {
    const maintainer = started.maintainer as Maintainer
    const m = maintainer.node
    await destroyAll(started.volunteers)
    const volunteers = started.volunteers = await startVolunteers(maintainer, 1, { bootstrap: [] })
    await ready([m, ...volunteers])
    const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 60_000, quorum: 1, maxContributions: 1 })
    const listeners = m.daemon.events.listenerCount
    const run = runCli(['round', 'status', String(opened.round), '--follow', '-d', m.dir, ...extra])
    await waitFor(() => m.daemon.events.listenerCount > listeners, 15_000, 'the follow subscribed to the event stream')
    await volunteers[0].daemon.libp2p.dial(m.daemon.libp2p.getMultiaddrs())
    return { run: await run, opened, m, volunteer: volunteers[0].daemon.peerId.toString() }
  }

  it('prints a line per event of the round, then the closed round', async () => {
    const { run, opened, m, volunteer } = await follow([])
    expect(run.error).toBeUndefined()
    const r = opened.round
    const lines = run.stdout.split('\n')
    const events = lines.filter((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}round \d+ /.test(l)).map((l) => l.slice(22))
    expect(events).toEqual([
      `round ${r} volunteer ${volunteer} answered: training`,
      expect.stringMatching(new RegExp(`^round ${r} contribution \\S+ arrived from ${volunteer}$`)),
      `round ${r} frozen with 1 contribution(s)`,
      expect.stringMatching(new RegExp(`^round ${r} verdict on \\S+: accepted$`)),
      expect.stringMatching(new RegExp(`^round ${r} release \\S+ signed: manifest \\S+, 1 contribution\\(s\\), accuracy 0\\.\\d{4}$`)),
      `round ${r} closed: released, 1 of 1 accepted`
    ])
    // then the round as `round status` prints it
    const status = await runCli(['round', 'status', String(r), '-d', m.dir], { reject: 'failure' })
    expect(run.stdout.endsWith(status.stdout)).toBe(true)
    expect(status.stdout).toMatch(/released/)
  }, 180_000)

  it('prints each event as a JSON line with --json, then the round', async () => {
    const { run, opened, volunteer } = await follow(['--json'])
    expect(run.error).toBeUndefined()
    const lines = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const round = lines.pop() as unknown as RoundDetail
    expect(round).toMatchObject({ round: opened.round, state: 'closed', outcome: 'released' })
    expect(lines.map((e) => e.type)).toEqual(['rounds:answer', 'rounds:contribution', 'rounds:closing', 'rounds:verdict', 'rounds:release', 'rounds:close'])
    expect(lines.every((e) => e.round === opened.round && typeof e.ts === 'number')).toBe(true)
    expect(lines[0]).toMatchObject({ peer: volunteer, status: 'training' })
    expect(lines[5]).toMatchObject({ outcome: 'released', accepted: 1, contributions: 1 })
  }, 180_000)
})
