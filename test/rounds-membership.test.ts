/**
 * Who a round waits for, with real daemons on 127.0.0.1: a maintainer (delta fetch limit 3 s), a member
 * without training data that signs contributions by hand, two volunteers training mnist-2nn and one whose
 * configured backend (node-gpu) is not installed.
 *
 * - `round start --duration 2` (no unit) is refused before anything is sent: no round number is used up;
 * - `round start` with nobody in the community's topic warns at once, and `--wait` warns when peers are in
 *   the topic but none answers;
 * - the coordinator fetches a delta blob while the round is open; a blob its contributor no longer serves
 *   gets a final `ERR_ROUNDS_BLOB_UNAVAILABLE` verdict naming the contributor, without resume advice;
 * - `round start --duration 2m --quorum 2 --wait` closes as soon as every volunteer that answered the
 *   round-open has contributed or declined, long before its deadline; the volunteer that cannot train
 *   declines with the backend's code, shown per volunteer;
 * - `--wait` on a round that ends without a release exits non-zero with the outcome's code and the
 *   per-volunteer summary;
 * - `community join --backend node-gpu` is refused where that backend is not installed, naming the usable ones.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createModelSpec, encodeDelta } from '@swarmtune/fedavg'
import { getTask } from '@swarmtune/model'
import { type RoundDetail } from '@swarmtune/rounds'
import { blobCid, parseCid } from '@swarmtune/wire'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { destroyAll, testDataDir } from '@swarmtune/test-support/daemons'
import { connectedTo, EVAL_DATA, eventOf, ready, startMaintainer, startRoundsNode, startVolunteers, volunteerData, type RoundsNode } from '@swarmtune/test-support/rounds'
import { runCli } from '@swarmtune/test-support/cli'
import * as roundCommand from '../packages/cli/src/commands/round.js'

const TRAIN = ['--steps', '5', '--batch-size', '50', '--lr', '0.1']

describe('who a round waits for', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let m: RoundsNode
  let member: RoundsNode
  let volunteers: RoundsNode[] = []
  let gpu: RoundsNode

  beforeAll(async () => {
    maintainer = await startMaintainer({ config: { coordinator: { evalData: EVAL_DATA, blobFetchMs: 3_000 } } })
    m = maintainer.node
  })

  afterAll(async () => {
    await destroyAll([member, gpu, ...volunteers])
    await maintainer?.cleanup()
  })

  it('refuses --duration without a unit before anything is sent', async () => {
    const before = (await m.rounds.rounds()).length
    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '2'])
    expect(r.error?.code).toBe('commander.invalidArgument')
    expect(r.error?.message).toMatch(/ 2 has no unit/)
    expect((await m.rounds.rounds()).length).toBe(before)
    // a unit makes the same number a duration
    expect(roundCommand.roundDuration('2s')).toBe(2_000)
    expect(roundCommand.duration('1.5m')).toBe(90_000)
  })

  it('warns at once when nobody is in the community\'s topic', async () => {
    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '1m'])
    expect(r.error).toBeUndefined()
    expect(r.stderr).toMatch(/warning: no peer is in the community's gossip topic/)
    await m.rounds.cancelRound(undefined, 'nobody to train')
  })

  it('fetches a delta while the round is open; a blob its contributor no longer serves is unavailable from that contributor, for good', async () => {
    member = await startRoundsNode({ genesis: maintainer.genesis, bootstrap: [m.daemon.addresses()[0]] })
    await connectedTo(m, [member])
    await waitFor(() => m.daemon.gossip.peers(maintainer.community.id).length > 0, 15_000, 'the member in the community topic')
    // the member is in the topic but trains nothing: `--wait` warns that nobody answered
    const warnings: string[] = []
    // asked the moment its round-open is in the ledger (before the coordinator stored the round's record),
    // the round already names who was in the topic
    let atAppend: Promise<RoundDetail> | undefined
    const unsubscribe = m.daemon.events.subscribe((e) => { if (e.type === 'ledger:append' && e.kind === 'round-open') atAppend ??= m.rounds.round() })
    const cli = runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '10s', '--quorum', '1', '--wait', '--json'], { onStderr: (chunk) => { warnings.push(chunk) } })
    await waitFor(async () => (await m.rounds.rounds()).some((r) => r.state === 'open'), 15_000, 'the round open')
    unsubscribe()
    expect((await atAppend)?.topicPeers).toEqual([member.daemon.peerId.toString()])
    const opened = await m.rounds.round()
    expect(opened.topicPeers).toEqual([member.daemon.peerId.toString()])
    await waitFor(() => warnings.join('').includes('warning:'), 15_000, 'a warning')
    expect(warnings.join('')).toContain(`warning: 1 peer(s) are in the community's topic but none answered round ${opened.round}'s round-open within 2 s`)
    await waitFor(async () => await member.ledger.ledger.get(opened.roundOpen) !== undefined, 10_000, 'the round-open at the member')
    const spec = createModelSpec(getTask('mnist-2nn').weightSpecs.map((s) => s.shape))
    const contribute = async (blob: Uint8Array, store: boolean): Promise<{ id: string, blob: string }> => {
      const cid = store ? await member.daemon.exchange.put(blob) : blobCid(new TextEncoder().encode('a delta nobody serves'))
      const signed = await member.ledger.sign({
        kind: 'contribution',
        body: {
          round: opened.round, roundOpen: parseCid(opened.roundOpen).bytes, base: parseCid(opened.base).bytes, blob: cid.bytes,
          codec: { name: 'fp32', params: {} }, samples: 100, metrics: { lossBefore: 2.3, lossAfter: 2.2 }, norm: 0.09
        }
      })
      return { id: signed.id.toString(), blob: cid.toString() }
    }
    const served = await contribute(encodeDelta(spec.sizes.map((n) => new Float32Array(n).fill(2e-4)), spec, { codec: 'fp32' }), true)
    // the coordinator reads the blob as soon as the contribution arrives, not when the round closes
    await waitFor(async () => await m.daemon.blobs.has(parseCid(served.blob)), 10_000, 'the delta at the coordinator')
    expect((await m.rounds.round(opened.round)).state).toBe('open')
    const missing = await contribute(new Uint8Array(0), false)
    await eventOf(m, 'rounds:contribution', (e) => e.contribution === missing.id, 10_000)
    await member.destroy() // the contributor leaves
    const printed = await cli
    expect(printed.error).toBeUndefined()
    const r = JSON.parse(printed.stdout) as RoundDetail
    expect(r.outcome).toBe('released')
    const verdict = r.contributions.find((c) => c.id === missing.id)?.verdict
    expect(verdict?.code).toBe('ERR_ROUNDS_BLOB_UNAVAILABLE')
    expect(verdict?.reason).toContain(`the contributor ${member.daemon.peerId.toString()} (no longer connected)`)
    expect(verdict?.reason).toContain('within 3 s')
    expect(verdict?.reason).not.toMatch(/resum|aborted|verified chunks/)
    expect(r.contributions.find((c) => c.id === served.id)?.verdict?.code).toBe('OK')
  })

  it('closes as soon as every volunteer that answered has contributed or declined', async () => {
    const bootstrap = [m.daemon.addresses()[0]]
    volunteers = await startVolunteers(maintainer, 2, { lossExamples: 200 })
    gpu = await startRoundsNode({ genesis: maintainer.genesis, bootstrap, config: { volunteer: { data: volunteerData(0, 2), backend: 'node-gpu' } } })
    await connectedTo(m, [...volunteers, gpu])
    await ready([m, ...volunteers])
    // the volunteer whose backend cannot load says so in its status
    await waitFor(() => (gpu.rounds.status?.() as { volunteer?: { unableToTrain?: unknown } }).volunteer?.unableToTrain != null, 60_000, 'the failed warm-up')
    expect((gpu.rounds.status?.() as { volunteer: { unableToTrain: { code: string } } }).volunteer.unableToTrain.code).toBe('ERR_MODEL_BACKEND_UNAVAILABLE')
    await waitFor(() => m.daemon.gossip.peers(maintainer.community.id).length === 3, 15_000, 'three volunteers in the topic')

    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '2m', '--quorum', '2', '--wait', '--json'])
    expect(r.error).toBeUndefined()
    expect(r.stderr).not.toMatch(/warning/)
    const round = JSON.parse(r.stdout) as RoundDetail
    console.log(`a 2 min round closed after ${String(round.timing.wallMs)} ms (slowest training ${String(round.timing.slowestTrainMs)} ms, overhead ${String(round.timing.overheadMs)} ms)`)
    expect(round.outcome).toBe('released')
    // nothing but the answers could have closed it this early: the maximum (100) was not reached
    expect(round.closedAt).toBeLessThan(round.deadline - 60_000)
    const byPeer = new Map(round.volunteers?.map((v) => [v.peer, v]))
    for (const v of volunteers) {
      expect(byPeer.get(v.daemon.peerId.toString())).toMatchObject({ outcome: 'contributed', answer: { status: 'training' }, inTopic: true })
    }
    expect(byPeer.get(gpu.daemon.peerId.toString())).toMatchObject({ outcome: 'declined', answer: { status: 'declined', code: 'ERR_MODEL_BACKEND_UNAVAILABLE' }, contributions: [] })
  })

  it('exits non-zero with the outcome\'s code and who did what when the round ends without a release', async () => {
    // below its quorum the round waits for its deadline (a volunteer may still join), so a short one
    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '6s', '--quorum', '3', '--wait'])
    expect(r.error).toMatchObject({ name: 'RoundOutcomeError', code: 'ERR_ROUNDS_NO_QUORUM' })
    expect(r.stdout).toMatch(/\(no-release, ERR_ROUNDS_NO_QUORUM\)/)
    const rows = r.stdout.split('\n')
    for (const v of volunteers) expect(rows.find((l) => l.startsWith(v.daemon.peerId.toString()))).toMatch(/^\S+\s+rejected\s+training\s+\S+ ERR_ROUNDS_NO_QUORUM\s+yes$/)
    expect(rows.find((l) => l.startsWith(gpu.daemon.peerId.toString()))).toMatch(/declined\s+declined ERR_MODEL_BACKEND_UNAVAILABLE: /)
    const status = JSON.parse((await runCli(['round', 'status', '-d', m.dir, '--json'])).stdout) as RoundDetail
    expect(status.closedAt).toBeGreaterThanOrEqual(status.deadline)
  })

  it('refuses a training backend that is not installed at join, naming the usable ones', async () => {
    const dir = await tempDir('swarmtune-join-backend-')
    try {
      await testDataDir(dir.path)
      const r = await runCli(['community', 'join', maintainer.genesis, '-d', dir.path, '--mnist', '--backend', 'node-gpu'])
      expect(r.error).toMatchObject({ name: 'BackendError', code: 'ERR_MODEL_BACKEND_UNAVAILABLE' })
      expect(r.error?.message).toMatch(/Usable here for training mnist-2nn: (\w[\w-]*, )*wasm(, \w[\w-]*)*;/)
      await expect(readFile(join(dir.path, 'rounds.json'))).rejects.toMatchObject({ code: 'ENOENT' })
      // an installed backend is accepted
      expect((await runCli(['community', 'join', maintainer.genesis, '-d', dir.path, '--mnist', '--backend', 'cpu', '--json'])).error).toBeUndefined()
      expect(JSON.parse(await readFile(join(dir.path, 'rounds.json'), 'utf8')).volunteer.backend).toBe('cpu')
    } finally {
      await dir.cleanup()
    }
  })
})

describe('a maintainer that also trains', () => {
  it('counts its own answer: a round it alone trains for closes once it contributed', async () => {
    const solo = await startMaintainer({ config: { coordinator: { evalData: EVAL_DATA }, volunteer: { data: volunteerData(0, 4), lossExamples: 200 } } })
    try {
      await ready([solo.node])
      const opened = await solo.node.rounds.startRound({ steps: 5, batchSize: 50, learningRate: 0.1, durationMs: 120_000, quorum: 1 })
      const r = await solo.node.rounds.waitClosed(opened.round, { timeoutMs: 60_000 })
      expect(r.outcome).toBe('released')
      // neither the deadline nor the maximum (100) closed it
      expect(r.closedAt).toBeLessThan(r.deadline - 60_000)
      expect(r.volunteers).toMatchObject([{ peer: solo.node.daemon.peerId.toString(), outcome: 'contributed', answer: { status: 'training' }, inTopic: false }])
    } finally {
      await solo.cleanup()
    }
  })
})
