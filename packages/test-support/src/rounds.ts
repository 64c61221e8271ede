/**
 * Daemons of the rounds tests on 127.0.0.1: a maintainer whose data folder creates a mnist-2nn community (its
 * name, policy, coordinator settings and logger as a test needs them), volunteers training IID parts of MNIST,
 * each daemon with the ledger and rounds services and the events it emitted; waiting for warm workers,
 * connections and events; a contribution body for tests that sign their own.
 *
 * ```ts
 * import { destroyAll } from '@swarmtune/test-support/daemons'
 * import { startMaintainer, startVolunteers, UNTIL_DEADLINE } from '@swarmtune/test-support/rounds'
 *
 * const maintainer = await startMaintainer({ config: UNTIL_DEADLINE })
 * const volunteers = await startVolunteers(maintainer, 2, { lossExamples: 300, warm: true })  // connected, workers warm
 * const opened = await maintainer.node.rounds.startRound({ steps: 5, durationMs: 20_000, quorum: 2 })
 * // …
 * await destroyAll(volunteers)
 * await maintainer.cleanup()
 * ```
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { DataSpec } from '@swarmtune/model'
import { BlobStore, initDataDir, openDataDir, type DaemonEvent, type LedgerService } from '@swarmtune/node'
import {
  createCommunity, defaultServices, writeGenesisFile,
  type Community, type CreateCommunityOptions, type RoundDetail, type RoundsConfigInit, type RoundsService
} from '@swarmtune/rounds'
import { parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import { startNode, testConfig, type TestNode } from './daemons.js'
import { tempDir, waitFor } from './index.js'

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

/** One volunteer's IID part (`client` of `clients`, seed 7) of the first {@link TRAIN_EXAMPLES} MNIST training examples. */
export function volunteerData (client: number, clients: number): DataSpec {
  return { source: 'mnist', split: 'train', limit: TRAIN_EXAMPLES, partition: { scheme: 'iid', clients, client, seed: 7 } }
}

/** A daemon of the rounds tests, with every event it emitted (those of its start included). */
export interface RoundsNode extends TestNode {
  events: DaemonEvent[]
  rounds: RoundsService
  ledger: LedgerService
}

/** What {@link startRoundsNode} starts. */
export interface RoundsNodeOptions {
  /** An initialised data folder (kept by `destroy()`); default a fresh one, removed by `destroy()`. */
  dir?: string
  /** The community's genesis file (`rounds.community`); default none (the folder's rounds.json, if any). */
  genesis?: string
  /** The rounds service's settings. */
  config?: RoundsConfigInit
  /** Bootstrap addresses of a fresh folder. */
  bootstrap?: string[]
  /** The daemon's logger; default silent. */
  logger?: Logger
}

/** Starts a daemon with the ledger and rounds services (`defaultServices`) on a data folder, recording its events from before its start. */
export async function startRoundsNode (options: RoundsNodeOptions = {}): Promise<RoundsNode> {
  const events: DaemonEvent[] = []
  const node = await startNode({
    dir: options.dir,
    config: options.bootstrap === undefined ? undefined : { bootstrap: options.bootstrap },
    services: defaultServices({ rounds: { community: options.genesis, config: options.config } }),
    logger: options.logger,
    events
  })
  return { ...node, events, rounds: node.daemon.services.rounds as RoundsService, ledger: node.daemon.services.ledger as LedgerService }
}

/** What {@link startMaintainer} creates and starts. */
export interface MaintainerOptions {
  /** The community's name, and its genesis file's (`<dir>/<name>.genesis`); default `rounds-test`. */
  name?: string
  /** The community's limits (the genesis `policy`); default the rounds package's. */
  policy?: CreateCommunityOptions['policy']
  /** The rounds service's settings, over `{ coordinator: { evalData: EVAL_DATA } }` (a given group replaces that one). */
  config?: RoundsConfigInit
  /** The daemon's logger; default silent. */
  logger?: Logger
}

/** A started maintainer: its daemon, its community and genesis file, and its data folder. */
export interface Maintainer {
  node: RoundsNode
  community: Community
  /** The genesis file's path. */
  genesis: string
  /** The data folder (removed by `cleanup()`). */
  dir: string
  /** The rounds settings its daemon started with (to start it again on `dir` with {@link startRoundsNode}). */
  config: RoundsConfigInit
  /** Stops the daemon it started and removes its data folder. */
  cleanup: () => Promise<void>
}

/**
 * A maintainer: a fresh data folder whose identity creates a mnist-2nn community (the genesis release in its
 * blob store, the genesis file next to it), then a daemon on it with the ledger and rounds services.
 */
export async function startMaintainer (options: MaintainerOptions = {}): Promise<Maintainer> {
  const name = options.name ?? 'rounds-test'
  const dir = await tempDir('swarmtune-rounds-m-')
  await initDataDir(dir.path, { config: testConfig() })
  const dataDir = await openDataDir(dir.path)
  const store = new BlobStore({ root: dataDir.paths.blobs, maxBlobBytes: dataDir.config.blobs.maxBlobBytes })
  await store.open()
  const { community } = await createCommunity({ task: 'mnist-2nn', name, key: dataDir.privateKey, store, policy: options.policy })
  const genesis = join(dir.path, `${name}.genesis`)
  await writeGenesisFile(genesis, community)
  const config: RoundsConfigInit = { coordinator: { evalData: EVAL_DATA }, ...options.config }
  const node = await startRoundsNode({ dir: dir.path, genesis, config, logger: options.logger })
  return {
    node,
    community,
    genesis,
    dir: dir.path,
    config,
    cleanup: async () => {
      await node.destroy()
      await dir.cleanup()
    }
  }
}

/** What {@link startVolunteers} starts. */
export interface VolunteerOptions {
  /** Examples each volunteer measures its loss on before and after training. */
  lossExamples?: number
  /** Bootstrap addresses; default the maintainer's first address. */
  bootstrap?: string[]
  /** Resolve only once every volunteer is connected to the maintainer and every worker, the maintainer's too, is warm. */
  warm?: boolean
}

/**
 * `count` volunteers of `maintainer`'s community, each on a fresh folder bootstrapped to the maintainer,
 * volunteer `i` training {@link volunteerData}(i, count); with `warm`, once {@link connectedTo} and {@link ready}.
 */
export async function startVolunteers (maintainer: Pick<Maintainer, 'node' | 'genesis'>, count: number, options: VolunteerOptions = {}): Promise<RoundsNode[]> {
  const bootstrap = options.bootstrap ?? [maintainer.node.daemon.addresses()[0]]
  const volunteers = await Promise.all(Array.from({ length: count }, async (_, i) => await startRoundsNode({
    genesis: maintainer.genesis,
    bootstrap,
    config: { volunteer: { data: volunteerData(i, count), ...(options.lossExamples === undefined ? {} : { lossExamples: options.lossExamples }) } }
  })))
  if (options.warm === true) {
    await connectedTo(maintainer.node, volunteers)
    await ready([maintainer.node, ...volunteers])
  }
  return volunteers
}

/** Waits until each node's worker is warm (data loaded, backend up; `ready` in the service status), up to 120 s. */
export async function ready (nodes: RoundsNode[]): Promise<void> {
  await waitFor(() => nodes.every((n) => (n.rounds.status?.() as { ready?: boolean } | undefined)?.ready === true), 120_000, 'warm training workers')
}

/** Waits until every node is connected to `hub`, up to 15 s. */
export async function connectedTo (hub: RoundsNode, nodes: RoundsNode[]): Promise<void> {
  await waitFor(() => nodes.every((n) => hub.daemon.libp2p.getConnections(n.daemon.peerId).length > 0), 15_000, 'connections to the maintainer')
}

/** Waits for an event of `type` matching `where` on `node` (any it emitted, those of its start included), up to `timeoutMs`. */
export async function eventOf (node: RoundsNode, type: string, where: (e: DaemonEvent) => boolean = () => true, timeoutMs = 60_000): Promise<DaemonEvent> {
  let found: DaemonEvent | undefined
  await waitFor(() => (found = node.events.find((e) => e.type === type && where(e))) !== undefined, timeoutMs, `${type} on ${node.daemon.peerId.toString()}`)
  return found as DaemonEvent
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
