/**
 * `release verify` with no daemon running: after a real round on 127.0.0.1 (a maintainer's coordinator and one
 * volunteer training mnist-2nn), the maintainer's daemon stops and `swarmtune release verify` recomputes the
 * release from the folder's ledger store and local blobs, with the report the daemon gave; a delta missing
 * from the local blobs makes it incomplete with a code instead of "no daemon is running".
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VerifyReport } from '@swarmtune/rounds'
import { parseCid } from '@swarmtune/wire'
import { connectedTo, ready, startMaintainer, startRoundsNode, volunteerData, type RoundsNode } from '@swarmtune/test-support/rounds'
import { cliOutput, runCli } from '@swarmtune/test-support/cli'

describe('release verify without a daemon', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let volunteer: RoundsNode
  let online: VerifyReport
  let delta: string

  beforeAll(async () => {
    maintainer = await startMaintainer()
    const m = maintainer.node
    volunteer = await startRoundsNode({ genesis: maintainer.genesis, bootstrap: [m.daemon.addresses()[0]], config: { volunteer: { data: { ...volunteerData(0, 1), limit: 1000 }, lossExamples: 100 } } })
    await connectedTo(m, [volunteer])
    await ready([m, volunteer])
    const opened = await m.rounds.startRound({ steps: 3, batchSize: 20, learningRate: 0.1, durationMs: 60_000, quorum: 1, maxContributions: 1 })
    const r = await m.rounds.waitClosed(opened.round, { timeoutMs: 60_000 })
    expect(r.outcome).toBe('released')
    online = JSON.parse(await cliOutput(['release', 'verify', '1', '--json', '-d', m.dir])) as VerifyReport
    delta = parseCid(((await m.ledger.ledger.get(r.contributions[0].id))?.entry.body as { blob: Uint8Array }).blob).toString()
    await volunteer.destroy()
    await m.daemon.stop()
  }, 180_000)

  afterAll(async () => {
    await volunteer?.destroy()
    await maintainer?.cleanup()
  })

  it('recomputes the release from the store and the local blobs, as the daemon did', async () => {
    expect(online.ok).toBe(true)
    const offline = JSON.parse(await cliOutput(['release', 'verify', '1', '--json', '-d', maintainer.node.dir])) as VerifyReport
    expect({ ...offline, durationMs: 0 }).toEqual({ ...online, durationMs: 0 })
  })

  it('reports a delta missing from the local blobs as incomplete, naming what to do', async () => {
    const blobs = join(maintainer.node.dir, 'blobs', delta.slice(-3, -1))
    expect(await readdir(blobs)).toContain(delta)
    await rm(join(blobs, delta))
    const r = await runCli(['release', 'verify', '1', '-d', maintainer.node.dir])
    expect(r.error).toMatchObject({ code: 'ERR_ROUNDS_VERIFY_INCOMPLETE' })
    expect(r.error?.message).toContain('ERR_CLI_NEEDS_DAEMON')
  })
})
