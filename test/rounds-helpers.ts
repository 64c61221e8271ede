/**
 * Helpers of the rounds tests: a community created in a maintainer's data folder, daemons with the ledger and
 * rounds services on 127.0.0.1, event recording, and the `swarmtune` commands run in-process.
 */
import { join } from 'node:path'
import { Command } from 'commander'
import type { DataSpec } from '@swarmtune/model'
import { parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import { BlobStore, initDataDir, openDataDir, type DaemonEvent, type LedgerService } from '@swarmtune/node'
import {
  createCommunity, defaultServices, writeGenesisFile, type Community, type RoundDetail, type RoundsConfigInit, type RoundsService
} from '@swarmtune/rounds'
import { tempDir, waitFor } from '@swarmtune/test-support'
import { startNode, testConfig, type TestNode } from '@swarmtune/test-support/daemons'
import * as communityCommand from '../packages/cli/src/commands/community.js'
import * as releaseCommand from '../packages/cli/src/commands/release.js'
import * as roundCommand from '../packages/cli/src/commands/round.js'

/** A contribution entry's body. */
export type ContributionBody = SignedEntry<'contribution'>['entry']['body']

/** Held-out examples the test coordinator evaluates on (the first 1,000 of the MNIST test split). */
export const EVAL_DATA: DataSpec = { source: 'mnist', split: 'test', limit: 1000 }

/**
 * Coordinator settings of tests that act on a round while it is open (extra contributions, a restart): the
 * round waits for its deadline or maxContributions even once every volunteer that answered has contributed.
 */
export const UNTIL_DEADLINE: RoundsConfigInit = { coordinator: { evalData: EVAL_DATA, closeWhenAnswered: false } }

/** MNIST training examples shared out among the test volunteers (the first 6,000). */
export const TRAIN_EXAMPLES = 6000

/** One volunteer's IID part of the first {@link TRAIN_EXAMPLES} MNIST training examples. */
export function volunteerData (client: number, clients: number): DataSpec {
  return { source: 'mnist', split: 'train', limit: TRAIN_EXAMPLES, partition: { scheme: 'iid', clients, client, seed: 7 } }
}

/** A daemon of the rounds tests, with the events it emitted. */
export interface RoundsNode extends TestNode {
  events: DaemonEvent[]
  rounds: RoundsService
  ledger: LedgerService
}

/** Starts a daemon with the ledger and rounds services on a data folder (a fresh one unless `dir`). */
export async function startRoundsNode (options: { dir?: string, genesis?: string, config?: RoundsConfigInit, bootstrap?: string[] } = {}): Promise<RoundsNode> {
  const node = await startNode({
    dir: options.dir,
    config: options.bootstrap === undefined ? undefined : { bootstrap: options.bootstrap },
    services: defaultServices({ rounds: { community: options.genesis, config: options.config } })
  })
  const events: DaemonEvent[] = []
  node.daemon.events.subscribe((e) => { events.push(e) })
  return { ...node, events, rounds: node.daemon.services.rounds as RoundsService, ledger: node.daemon.services.ledger as LedgerService }
}

/**
 * A maintainer: a data folder whose identity creates a mnist-2nn community (the genesis release in its blob
 * store, the genesis file next to it), then a daemon on it.
 */
export async function startMaintainer (config: RoundsConfigInit = {}): Promise<{ node: RoundsNode, community: Community, genesis: string, cleanup: () => Promise<void> }> {
  const dir = await tempDir('swarmtune-rounds-m-')
  await initDataDir(dir.path, { config: testConfig() })
  const dataDir = await openDataDir(dir.path)
  const store = new BlobStore({ root: dataDir.paths.blobs, maxBlobBytes: dataDir.config.blobs.maxBlobBytes })
  await store.open()
  const { community } = await createCommunity({ task: 'mnist-2nn', name: 'rounds-test', key: dataDir.privateKey, store })
  const genesis = join(dir.path, 'rounds-test.genesis')
  await writeGenesisFile(genesis, community)
  const node = await startRoundsNode({ dir: dir.path, genesis, config: { coordinator: { evalData: EVAL_DATA }, ...config } })
  return {
    node,
    community,
    genesis,
    cleanup: async () => {
      await node.destroy()
      await dir.cleanup()
    }
  }
}

/** Waits until each node's worker is warm (data loaded, backend up; `ready` in the service status). */
export async function ready (nodes: RoundsNode[]): Promise<void> {
  await waitFor(() => nodes.every((n) => (n.rounds.status?.() as { ready?: boolean } | undefined)?.ready === true), 120_000, 'warm training workers')
}

/** Waits until every node is connected to `hub`. */
export async function connectedTo (hub: RoundsNode, nodes: RoundsNode[]): Promise<void> {
  await waitFor(() => nodes.every((n) => hub.daemon.libp2p.getConnections(n.daemon.peerId).length > 0), 15_000, 'connections to the maintainer')
}

/** Waits for an event of `type` matching `where` on `node`. */
export async function eventOf (node: RoundsNode, type: string, where: (e: DaemonEvent) => boolean = () => true, timeoutMs = 60_000): Promise<DaemonEvent> {
  let found: DaemonEvent | undefined
  await waitFor(() => (found = node.events.find((e) => e.type === type && where(e))) !== undefined, timeoutMs, `${type} on ${node.daemon.peerId.toString()}`)
  return found as DaemonEvent
}

/** Runs `swarmtune <args>` in-process and returns what it printed; a failed command throws. */
export async function swarmtune (...args: string[]): Promise<string> {
  const program = new Command().name('swarmtune').exitOverride()
  for (const command of [communityCommand, roundCommand, releaseCommand]) command.register(program)
  const chunks: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => { chunks.push(String(chunk)); return true }) as typeof process.stdout.write
  const exitCode = process.exitCode
  try {
    await program.parseAsync(['node', 'swarmtune', ...args])
    if (process.exitCode !== exitCode) throw new Error(`swarmtune ${args.join(' ')} exited with code ${String(process.exitCode)}:\n${chunks.join('')}`)
  } finally {
    process.stdout.write = write
    process.exitCode = exitCode
  }
  return chunks.join('')
}

/** What {@link run} saw: stdout, stderr and the error the command ended with. */
export interface CommandRun { stdout: string, stderr: string, error?: { code?: string, name?: string, message: string } }

/**
 * Runs `swarmtune <args>` in-process and keeps what it printed on stdout and stderr, and the error it ended with
 * (never thrown). `stderr` receives the lines as they are printed.
 */
export async function run (args: string[], stderr: string[] = []): Promise<CommandRun> {
  const program = new Command().name('swarmtune').exitOverride()
  for (const command of [communityCommand, roundCommand, releaseCommand]) command.register(program)
  const stdout: string[] = []
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout.push(String(chunk)); return true }) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr.push(String(chunk)); return true }) as typeof process.stderr.write
  let error: CommandRun['error']
  try {
    await program.parseAsync(['node', 'swarmtune', ...args])
  } catch (err) {
    error = err as CommandRun['error']
  } finally {
    process.stdout.write = write.out
    process.stderr.write = write.err
  }
  return { stdout: stdout.join(''), stderr: stderr.join(''), ...(error === undefined ? {} : { error }) }
}

/**
 * A contribution body answering `round` (its number, round-open and base) with the delta blob `blob`, fp32, 500
 * samples and made-up training metrics; `over` replaces fields.
 */
export function contributionBody (round: RoundDetail, blob: CID, over: Partial<ContributionBody> = {}): ContributionBody {
  return {
    round: round.round,
    roundOpen: parseCid(round.roundOpen).bytes,
    base: parseCid(round.base).bytes,
    blob: blob.bytes,
    codec: { name: 'fp32', params: {} },
    samples: 500,
    metrics: { lossBefore: 2.3, lossAfter: 0.5 },
    norm: 1,
    ...over
  }
}
