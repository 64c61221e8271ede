/**
 * @packageDocumentation
 *
 * Training rounds over the swarmtune network (doc/rounds.md): communities (a genesis entry and a genesis
 * release), the coordinator role in a maintainer's daemon (opens rounds, judges contributions, merges them
 * with FedAvg into the next release and signs it), the volunteer role (fetches the base release, trains in a
 * worker thread on data that never leaves the machine, publishes a compressed delta), release verification
 * (recomputes a release from the ledger, bit for bit), the round strategy (`configureRound` → `judgeRound` →
 * `aggregateRound` → `evaluateRound`: what a close decides, as pure functions of the frozen round), and the
 * `rounds` daemon service with its control-API routes under `/v1/rounds`. Built on `@swarmtune/node`'s public
 * contract (the daemon, its components and the ledger service); `@swarmtune/node` never imports this package.
 *
 * ```ts
 * import { BlobStore, createDaemon, initDataDir, openDataDir } from '@swarmtune/node'
 * import { createCommunity, defaultServices, writeGenesisFile } from '@swarmtune/rounds'
 *
 * // a maintainer makes a community of the built-in mnist-2nn task (genesis release into its blob store) …
 * const dir = '/tmp/st-maintainer'
 * await initDataDir(dir, { config: { listen: ['/ip4/127.0.0.1/tcp/0'], control: { port: 0 }, mdns: false } })
 * const { privateKey, paths, config } = await openDataDir(dir)
 * const store = new BlobStore({ root: paths.blobs, maxBlobBytes: config.blobs.maxBlobBytes })
 * await store.open()
 * const { community } = await createCommunity({ task: 'mnist-2nn', name: 'mnist-demo', key: privateKey, store })
 * await writeGenesisFile(`${dir}/mnist-demo.genesis`, community)
 * // … and runs the daemon `swarmtune daemon` runs, which coordinates the community's rounds
 * const daemon = await createDaemon({ dataDir: dir, services: defaultServices({ rounds: { community: `${dir}/mnist-demo.genesis` } }) })
 * await daemon.start()
 * const [genesis] = await daemon.services.rounds.releases()
 * console.log(daemon.services.rounds.community?.name, genesis.manifest, daemon.services.ledger.ledger.size)
 * await daemon.stop()
 * ```
 *
 * `defaultServices()` is what `swarmtune daemon` runs: the ledger service of `@swarmtune/node` bound to the
 * folder's community, then {@link roundsService}. Error codes: doc/errors.md, `## rounds`.
 */
export * as roundsConstants from './constants.js'
export { RoundsError, CommunityError, RoundParamsError, RoundsConfigError, RoundStateError, ReleaseVerifyError, RoundsStateError, VERDICT_CODES, type VerdictCode } from './errors.js'
export {
  Community, communityInfo, createCommunity, readGenesisFile, parseGenesis, writeGenesisFile, maintainerKeyOf, peerIdOfKey, keyHex, MODEL_TASK_PREFIX,
  type CommunityInfo, type CommunityPolicy, type CreateCommunityOptions, type BlobSink
} from './community.js'
export {
  ROUNDS_CONFIG_FILE, DEFAULT_ROUNDS_CONFIG, createRoundsConfig, validateRoundsConfig, readRoundsConfig, writeRoundsConfig, dataSpecSchema,
  type RoundsConfig, type RoundsConfigInit
} from './config.js'
export { CLIENT_OPTIMIZERS, createRoundParams, roundOpenBody, planOf, sameMethod, type RoundParams, type RoundParamsInit, type RoundPlan } from './params.js'
export {
  getBlob, loadManifest, loadRelease, storeRelease, decodeContribution, mergeRound, serverStateFor, specOf,
  type BlobAccess, type MergeResult, type DeltaRejection
} from './releases.js'
export { resolveTask, ModelBaseUnavailableError, type ResolvedTask, type BaseFetch, type ResolveTaskOptions } from './task.js'
export { FEATURES_DIR } from './context.js'
export { RoundsState, advanceRound, type CoordinatorRound, type RoundEvent, type RoundPhase, type NetworkRejection, type VolunteerRound, type VolunteerAnswer } from './state.js'
export { verifyRelease, findRelease, type VerifyReport } from './verify.js'
export type { RoundView, ReleaseView, ContributionView } from './views.js'
export { roundOpens, roundView, releaseViews } from './views.js'
export {
  configureRound, screenRound, judgeRound, mergesRound, aggregateRound, evaluateRound, releaseMetrics, entryFault, overrule, canonicalOrder,
  type FrozenRound, type Arrival, type Judged, type SignedVerdict, type Screened, type Verdict, type RoundOutcome, type CloseOutcome,
  type Evaluation, type ReleaseOutcome
} from './strategy.js'
export { Coordinator, type CoordinatorHooks, type OpenRoundOptions, type OpenRoundProgressEvents } from './coordinator.js'
export { Volunteer } from './volunteer.js'
export { roundsService, type RoundsService, type RoundsServiceInit, type RoundDetail, type VolunteerSummary } from './service.js'
export type { RoundsComponents } from './components.js'
export { defaultServices, type DefaultServices, type DefaultServicesOptions } from './services.js'
export { roundsClient, type RoundsClient, type RoundRef, type WaitClosedOptions } from './client.js'
export { roundsProtocol, roundRef, roundViewSchema, roundDetailSchema, releaseViewSchema } from './protocol.js'
export { folderCommunity, inspectFolderLedger, moveForeignLedgerAside, explainLedgerMismatch, communityMismatchError, type FolderLedgerReport } from './folder.js'
export { commandHint } from './hints.js'
export { AnswerTopic, answerTopic, validateAnswer, encodeAnswer, ANSWER_TOPIC_PREFIX, type RoundAnswer, type AnswerValidation } from './answers.js'
