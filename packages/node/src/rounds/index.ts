/**
 * Training rounds over the network (doc/rounds.md): communities (genesis entry and genesis release), the
 * coordinator role in a maintainer's daemon, the volunteer role, release verification, and the `rounds`
 * daemon service with its control-API routes. Re-exported by the package root.
 */
export * as roundsConstants from './constants.js'
export { RoundsError, CommunityError, RoundParamsError, RoundsConfigError, RoundStateError, ReleaseVerifyError, RoundsStateError, VERDICT_CODES, type VerdictCode } from './errors.js'
export {
  Community, communityInfo, createCommunity, readGenesisFile, parseGenesis, writeGenesisFile, maintainerKeyOf, peerIdOfKey, keyHex,
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
export { RoundsState, type CoordinatorRound, type RoundPhase, type NetworkRejection, type VolunteerRound, type VolunteerAnswer } from './state.js'
export { verifyRelease, findRelease, type VerifyReport } from './verify.js'
export type { RoundView, ReleaseView, ContributionView } from './views.js'
export { roundOpens, roundView, releaseViews } from './views.js'
export { Coordinator } from './coordinator.js'
export { Volunteer } from './volunteer.js'
export { roundsService, type RoundsService, type RoundsServiceInit, type RoundDetail, type VolunteerSummary } from './service.js'
export { commandHint } from './hints.js'
export { AnswerTopic, answerTopic, validateAnswer, encodeAnswer, ANSWER_TOPIC_PREFIX, type RoundAnswer, type AnswerValidation } from './answers.js'
