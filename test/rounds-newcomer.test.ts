/**
 * The maintainer's round flow as a new user meets it, with real daemons on 127.0.0.1:
 *
 * - `round start --wait` with no volunteer at all ends with a message that does not point at a table it did not print;
 * - options that do not apply to the chosen optimizer, server optimiser or codec are refused before anything is
 *   sent, naming the option that would apply; `--server momentum --server-momentum μ` signs the server's lr too;
 *   `round status` shows the top-k fraction; every printed command hint carries `-d <folder>`;
 * - `--quorum 3` with two volunteers warns at `round start`, and the round waits for its deadline (a volunteer
 *   may still join) although both answering volunteers are done;
 * - a volunteer whose training data is gone declines with the code and a generic reason: no local path reaches
 *   the coordinator, and the volunteer's own log gives the full message once;
 * - a volunteer stopped while it trains declines with `ERR_ROUNDS_VOLUNTEER_STOPPING`;
 * - a data folder started with another community's genesis is told which two communities are involved and both
 *   remedies, without being sent to `doctor --repair`.
 */
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SERVER_OPTIMIZER_DEFAULTS } from '@swarmtune/fedavg'
import {
  BlobStore, createDaemon, createLogger, defaultDataDir, initDataDir, openDataDir, type Daemon, type DaemonEvent
} from '@swarmtune/node'
import {
  commandHint, createCommunity, createRoundParams, defaultServices, writeGenesisFile, type Community, type RoundsService
} from '@swarmtune/rounds'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { runDaemon, testConfig, testDataDir } from '@swarmtune/test-support/daemons'
import { connectedTo, EVAL_DATA, eventOf, ready, startMaintainer, volunteerData, type RoundsNode } from '@swarmtune/test-support/rounds'
import { runCli } from '@swarmtune/test-support/cli'
import * as roundCommand from '../packages/cli/src/commands/round.js'

const TRAIN = ['--steps', '5', '--batch-size', '50', '--lr', '0.1']

/** A volunteer daemon whose log lines are kept (JSON objects), training on `data`. */
async function loggedVolunteer (genesis: string, bootstrap: string[], data: Parameters<typeof volunteerData>[0] | { source: 'idx', images: string, labels: string }): Promise<{ node: RoundsNode, log: Array<Record<string, unknown>>, cleanup: () => Promise<void> }> {
  const dir = await tempDir('swarmtune-newcomer-v-')
  await initDataDir(dir.path, { config: testConfig({ bootstrap }) })
  const log: Array<Record<string, unknown>> = []
  const destination = new Writable({ write (chunk, _enc, done) { for (const line of String(chunk).split('\n')) if (line !== '') log.push(JSON.parse(line)); done() } })
  const spec = typeof data === 'number' ? volunteerData(data, 2) : data
  const daemon: Daemon = await createDaemon({
    dataDir: dir.path,
    logger: createLogger({ level: 'info', destination }),
    services: defaultServices({ rounds: { community: genesis, config: { volunteer: { data: spec, lossExamples: 200 } } } }),
    maintenanceIntervalMs: 1_000
  })
  await daemon.start()
  const events: DaemonEvent[] = []
  daemon.events.subscribe((e) => { events.push(e) })
  let stopped = false
  const node = {
    daemon,
    dir: dir.path,
    events,
    rounds: daemon.services.rounds as RoundsService,
    ledger: daemon.services.ledger,
    destroy: async () => { if (!stopped) { stopped = true; await daemon.stop().catch(() => {}) } }
  } as unknown as RoundsNode
  return { node, log, cleanup: async () => { await node.destroy(); await dir.cleanup() } }
}

describe('the round flow as a new user meets it', () => {
  let maintainer: Awaited<ReturnType<typeof startMaintainer>>
  let m: RoundsNode
  let good: Awaited<ReturnType<typeof loggedVolunteer>>
  let gone: Awaited<ReturnType<typeof loggedVolunteer>>
  let data: Awaited<ReturnType<typeof tempDir>>

  beforeAll(async () => {
    maintainer = await startMaintainer({ config: { coordinator: { evalData: EVAL_DATA } } })
    m = maintainer.node
    data = await tempDir('swarmtune-newcomer-data-')
  })

  afterAll(async () => {
    await good?.cleanup()
    await gone?.cleanup()
    await maintainer?.cleanup()
    await data?.cleanup()
  })

  it('with no volunteer at all, --wait says nobody took part instead of pointing at a table it did not print', async () => {
    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '2s', '--wait'])
    expect(r.error).toMatchObject({ name: 'RoundOutcomeError', code: 'ERR_ROUNDS_NO_QUORUM' })
    expect(r.stdout).not.toContain('volunteers:')
    expect(r.error?.message).not.toMatch(/table above/)
    expect(r.error?.message).toContain('no volunteer answered or contributed')
    expect(r.error?.message).toContain(`\`swarmtune peers -d ${m.dir}\``)
  })

  it('refuses options that do not apply before anything is sent, naming the option that would apply', async () => {
    const before = (await m.rounds.rounds()).length
    const refusals: Array<[string[], string]> = [
      [['--server-momentum', '0.9'], '--server momentum'],
      [['--server', 'adam', '--server-momentum', '0.9'], '--server momentum'],
      [['--momentum', '0.9'], '--optimizer momentum'],
      [['--optimizer', 'adam', '--momentum', '0.9'], '--optimizer momentum'],
      [['--codec', 'fp16', '--topk-fraction', '0.1'], '--codec topk-int8'],
      [['--topk-fraction', '0.1'], '--codec topk-int8']
    ]
    for (const [flags, applies] of refusals) {
      const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, ...flags])
      expect(r.error, flags.join(' ')).toMatchObject({ name: 'CliError', code: 'ERR_CLI_OPTION_NOT_APPLICABLE' })
      expect(r.error?.message).toContain(`it applies with ${applies}`)
    }
    expect((await m.rounds.rounds()).length).toBe(before)
    // the control API refuses them too, so nothing that does not apply is ever signed into a round-open
    const community = m.rounds.community as Community
    expect(() => createRoundParams({ server: { kind: 'sgd', momentum: 0.9 } }, community)).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_BAD_PARAMS', message: expect.stringContaining('--server momentum') }))
    expect(() => createRoundParams({ momentum: 0.9 }, community)).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_BAD_PARAMS', message: expect.stringContaining('--optimizer momentum') }))
    expect(() => createRoundParams({ codec: { codec: 'fp16', fraction: 0.1 } }, community)).toThrow(expect.objectContaining({ code: 'ERR_ROUNDS_BAD_PARAMS', message: expect.stringContaining('--codec topk-int8') }))
  })

  it('signs the server optimiser in full, shows the top-k fraction, and prints hints with -d <folder>', async () => {
    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '1m', '--server', 'momentum', '--server-momentum', '0.9', '--codec', 'topk-int8', '--topk-fraction', '0.05'])
    expect(r.error).toBeUndefined()
    const opened = await m.rounds.round()
    expect(r.stdout).toContain(`follow it with \`swarmtune round status ${opened.round} -d ${m.dir}\``)
    // the nobody-in-the-topic warning names this folder in its commands too
    expect(r.stderr).toContain(`\`swarmtune status -d ${m.dir}\``)
    expect(opened.aggregator.params.server).toEqual({ kind: 'momentum', lr: SERVER_OPTIMIZER_DEFAULTS.momentum.lr, momentum: 0.9, nesterov: true })
    expect(roundCommand.renderRound(opened)).toMatch(/codec topk-int8 \(top-k fraction 0\.05\)/)
    // a second round while this one is open: the refusal's hint names the folder
    await expect(m.rounds.startRound({ durationMs: 60_000 })).rejects.toMatchObject({ code: 'ERR_ROUNDS_ALREADY_OPEN', message: expect.stringContaining(`swarmtune round cancel ${opened.round} -d ${m.dir}`) })
    await m.rounds.cancelRound(undefined, 'parameters checked')
    // plain FedAvg still signs lr 1
    const sgd = await m.rounds.startRound({ durationMs: 60_000, server: { kind: 'sgd', lr: 0.5 } })
    expect(sgd.aggregator.params.server).toEqual({ kind: 'sgd', lr: 0.5 })
    await m.rounds.cancelRound(undefined, 'parameters checked')
    await expect(m.rounds.release('bafkreinothere')).rejects.toMatchObject({ code: 'ERR_ROUNDS_RELEASE_NOT_FOUND', message: expect.stringContaining(`\`swarmtune release list -d ${m.dir}\``) })
    // -d is left out only for the default folder; a folder with a space is quoted
    expect(commandHint(defaultDataDir(), 'round status 4')).toBe('swarmtune round status 4')
    expect(commandHint('/tmp/my data', 'round status 4')).toBe('swarmtune round status 4 -d \'/tmp/my data\'')
  })

  it('--quorum 3 with two volunteers warns at start and waits for the deadline; a decline carries no local path', async () => {
    const bootstrap = [m.daemon.addresses()[0]]
    const missing = join(data.path, 'gone.idx')
    good = await loggedVolunteer(maintainer.genesis, bootstrap, 0)
    gone = await loggedVolunteer(maintainer.genesis, bootstrap, { source: 'idx', images: missing, labels: join(data.path, 'gone-labels.idx') })
    await connectedTo(m, [good.node, gone.node])
    await ready([m, good.node])
    await waitFor(() => m.daemon.gossip.peers(maintainer.community.id).length === 2, 15_000, 'two volunteers in the topic')

    const r = await runCli(['round', 'start', '-d', m.dir, ...TRAIN, '--duration', '8s', '--quorum', '3', '--wait'])
    expect(r.stderr).toContain('warning: round')
    expect(r.stderr).toMatch(/quorum is 3, but only 2 volunteer\(s\) can contribute now/)
    expect(r.stderr).toContain(`swarmtune round cancel`)
    expect(r.error).toMatchObject({ name: 'RoundOutcomeError', code: 'ERR_ROUNDS_NO_QUORUM' })
    const round = await m.rounds.round()
    // both answering volunteers were done within seconds, but below its quorum the round waited for late joiners
    expect(round.closedAt).toBeGreaterThanOrEqual(round.deadline)
    const byPeer = new Map(round.volunteers?.map((v) => [v.peer, v]))
    expect(byPeer.get(good.node.daemon.peerId.toString())).toMatchObject({ outcome: 'rejected', answer: { status: 'training' } })
    const declined = byPeer.get(gone.node.daemon.peerId.toString())
    expect(declined).toMatchObject({ outcome: 'declined', answer: { status: 'declined', code: 'ERR_MODEL_IDX_MALFORMED', reason: 'the volunteer could not read its training data' } })
    // no local path reaches the coordinator: not its state, not the table it prints
    expect(JSON.stringify(round)).not.toContain(data.path)
    expect(r.stdout).not.toContain(data.path)
    expect(r.stdout).toMatch(/declined ERR_MODEL_IDX_MALFORMED: the volunteer could not read its training data/)
    // the volunteer's own log keeps the full message, each line naming the failure once
    const lines = gone.log.filter((l) => JSON.stringify(l).includes(missing))
    expect(lines.length).toBeGreaterThan(0)
    for (const l of lines) expect(JSON.stringify(l).match(/ENOENT/g)?.length, JSON.stringify(l)).toBe(1)
  })

  it('a volunteer stopped while it trains declines with ERR_ROUNDS_VOLUNTEER_STOPPING', async () => {
    const opened = await m.rounds.startRound({ steps: 1_000_000, batchSize: 10, durationMs: 60_000 })
    await eventOf(good.node, 'rounds:train:progress', (e) => e.round === opened.round, 30_000)
    await good.node.destroy()
    const answer = await eventOf(m, 'rounds:answer', (e) => e.round === opened.round && e.peer === good.node.daemon.peerId.toString() && e.status === 'declined', 15_000)
    expect(answer).toMatchObject({ code: 'ERR_ROUNDS_VOLUNTEER_STOPPING', reason: 'the volunteer\'s daemon is stopping' })
    await m.rounds.cancelRound(undefined, 'the volunteer stopped')
  })
})

describe('a data folder started with another community\'s genesis', () => {
  it('names both communities and both remedies, and sends nobody to doctor --repair', async () => {
    const dir = await tempDir('swarmtune-newcomer-r2-')
    const other = await tempDir('swarmtune-newcomer-other-')
    try {
      const genesisOf = async (root: string, name: string): Promise<{ community: Community, file: string }> => {
        await testDataDir(root)
        const d = await openDataDir(root)
        const store = new BlobStore({ root: d.paths.blobs, maxBlobBytes: d.config.blobs.maxBlobBytes })
        await store.open()
        const { community } = await createCommunity({ task: 'mnist-2nn', name, key: d.privateKey, store })
        const file = join(root, `${name}.genesis`)
        await writeGenesisFile(file, community)
        return { community, file }
      }
      const own = await genesisOf(dir.path, 'home')
      const foreign = await genesisOf(other.path, 'other')
      // the folder joins its own community once
      const first = await runDaemon(dir.path, defaultServices({ rounds: { community: own.file, config: { coordinator: { enabled: false } } } }))
      await first.stop()
      const err = await runDaemon(dir.path, defaultServices({ rounds: { community: foreign.file } })).then(() => undefined, (e: unknown) => e as { code?: string, message: string })
      expect(err).toMatchObject({ code: 'ERR_ROUNDS_COMMUNITY_MISMATCH' })
      for (const text of [`home (${own.community.id.toString()})`, `other (${foreign.community.id.toString()})`, `swarmtune daemon -d ${dir.path} --community`, 'another data folder']) {
        expect(err?.message).toContain(text)
      }
      expect(err?.message).not.toMatch(/doctor/)
      // its own genesis still starts it
      const again = await runDaemon(dir.path, defaultServices({ rounds: { community: own.file, config: { coordinator: { enabled: false } } } }))
      await again.stop()
    } finally {
      await dir.cleanup()
      await other.cleanup()
    }
  })
})
