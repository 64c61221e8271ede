/**
 * The rounds service of the daemon: joins the community named by a genesis file (or the one the ledger
 * already holds), runs the coordinator role when this node is a maintainer and the volunteer role when it
 * has training data, and serves rounds and releases on the control API under `/v1/rounds`. It needs the
 * ledger service (listed before it), whose ledger enforces maintainer rights on every path: a round-open,
 * verdict, release or round-close a non-maintainer signed is refused at ingest (a gossip reject) and never
 * reaches the roles.
 */
import { join } from 'node:path'
import type { Ledger } from '@swarmtune/ledger'
import { AbortError, parseCid, type SignedEntry } from '@swarmtune/wire'
import type { LedgerService, ServiceFactory } from '@swarmtune/node'
import type { RoundsComponents } from './components.js'
import { AnswerTopic } from './answers.js'
import { Community, keyHex, peerIdOfKey, readGenesisFile } from './community.js'
import { communityMismatchError } from './folder.js'
import { busCloseEvents, followRound } from './follow.js'
import { readRoundsConfig, resolveIn, type RoundsConfig } from './config.js'
import { RoundsContext } from './context.js'
import { Coordinator } from './coordinator.js'
import { CommunityError, RoundStateError } from './errors.js'
import { commandHint, noCommunity } from './hints.js'
import { loadRelease } from './releases.js'
import { roundsRoutes } from './routes.js'
import { RoundsState, type VolunteerAnswer } from './state.js'
import { findRelease, verifyRelease } from './verify.js'
import { releaseView, releaseViews, roundOpens, roundView, type ReleaseView, type RoundView } from './views.js'
import { Volunteer } from './volunteer.js'
import type { RoundDetail, RoundsService, RoundsServiceInit, VolunteerSummary } from './service-types.js'

export type { RoundDetail, RoundsService, RoundsServiceInit, VolunteerSummary } from './service-types.js'

/** A joined community's context (with the rounds state store) and the roles running for it. */
interface Joined {
  ctx: RoundsContext
  coordinator: Coordinator | undefined
  volunteer: Volunteer | undefined
  answers: AnswerTopic
  unsubscribe: () => void
}

/**
 * A {@link ServiceFactory}: `createDaemon({ services: { ledger: ledgerService({ community }), rounds: roundsService({ community }) } })`
 * (`defaultServices()` gives both, the ledger bound to the folder's community).
 */
export function roundsService (init: RoundsServiceInit = {}): ServiceFactory<RoundsService, RoundsComponents> {
  return (c: RoundsComponents): RoundsService => {
    const log = c.log.child({ part: 'rounds' })
    let config: RoundsConfig | undefined
    let ledgerService: LedgerService | undefined
    /**
     * The community this service joined and the roles it runs, set once by `activate` and cleared by `stop`. It
     * holds no round state: that is the rounds state store (`joined.ctx.state`) and the ledger.
     */
    let joined: Joined | undefined
    let activating: Promise<void> | undefined

    const active = (): RoundsContext => {
      if (joined === undefined) throw noCommunity(c.dataDir.paths.root)
      return joined.ctx
    }
    const ledger = (): Ledger => (ledgerService as LedgerService).ledger

    const dispatch = (e: SignedEntry): void => {
      if (joined === undefined) {
        if (e.entry.kind === 'genesis') void activateFromLedger()
        return
      }
      const { coordinator, volunteer } = joined
      coordinator?.onEntry(e)
      // The local volunteer hears of every entry here — remote maintainers' round-opens, synced or gossiped,
      // included — except the round-open this daemon's own coordinator is signing: `openRound` hands that one
      // to it (the coordinator's `localVolunteer` hook below) once the round is recorded and tracked.
      if (coordinator?.isOpening(e) === true) return
      volunteer?.onEntry(e)
    }
    const onEntry = (evt: Event): void => { dispatch((evt as CustomEvent<SignedEntry>).detail) }

    const activate = async (community: Community): Promise<void> => {
      const cfg = config as RoundsConfig
      const l = ledger()
      if (l.community !== undefined && l.community.toString() !== community.id.toString()) {
        const genesis = await l.get(l.community)
        throw communityMismatchError(c.dataDir.paths.root, { id: l.community.toString(), ...(genesis === undefined ? {} : { name: Community.fromGenesis(genesis).name }), entries: l.size, own: l.head(keyHex(c.privateKey.publicKey.raw))?.length ?? 0 },
          { id: community.id.toString(), name: community.name, ...(init.community === undefined ? {} : { file: init.community }) }, init.community === undefined ? undefined : config?.community)
      }
      // storing the genesis makes the ledger service join the community's topic with its validator
      if (await l.get(community.id) === undefined) await l.append(community.bytes)
      if (!c.gossip.communities().some((j) => j.equals(community.id))) c.gossip.join(community.id)
      const state = await RoundsState.open(join(c.dataDir.paths.root, 'rounds', 'state'))
      const ctx = new RoundsContext(c, ledgerService as LedgerService, community, state, cfg, log)
      const isMaintainer = community.isMaintainer(ctx.key)
      // the coordinator hands the round-opens it signs to this daemon's volunteer, if it has one
      const coordinator = isMaintainer && cfg.coordinator.enabled ? new Coordinator(ctx, { localVolunteer: (open) => { volunteer?.onEntry(open) } }) : undefined
      const answers = new AnswerTopic(c, community.id, (a, from) => { coordinator?.onAnswer(a, from) })
      answers.start()
      const volunteer = cfg.volunteer.enabled && cfg.volunteer.data !== undefined ? new Volunteer(ctx, answers) : undefined
      const unsubscribe = c.events.subscribe((e) => {
        if (e.type === 'gossip:rejected' && e.community === community.id.toString()) coordinator?.onNetworkRejection(String(e.from), String(e.code), String(e.reason ?? ''))
      })
      joined = { ctx, coordinator, volunteer, answers, unsubscribe }
      await coordinator?.start()
      await volunteer?.start()
      c.events.emit('rounds:joined', { community: community.id.toString(), name: community.name, coordinator: coordinator !== undefined, volunteer: volunteer !== undefined })
      log.info({ community: community.id.toString(), name: community.name, task: community.task, coordinator: coordinator !== undefined, volunteer: volunteer !== undefined }, 'joined the community')
    }

    /**
     * Joins once per process: storing the genesis given with --community makes the ledger announce it, and that
     * announcement must not start a second join (which would open the state store twice).
     */
    const activateOnce = async (community: () => Promise<Community | undefined>): Promise<void> => {
      if (activating !== undefined || joined !== undefined) return await activating
      const run = (async () => {
        const c = await community()
        if (c !== undefined) await activate(c)
      })()
      activating = run.finally(() => { if (joined === undefined) activating = undefined })
      await activating
    }

    const activateFromLedger = async (): Promise<void> => {
      await activateOnce(async () => {
        const id = ledger().community
        const genesis = id === undefined ? undefined : await ledger().get(id)
        return genesis === undefined ? undefined : Community.fromGenesis(genesis)
      }).catch((err: unknown) => { log.error({ err }, 'could not join the community the ledger learned') })
    }

    /** A round's view with what this node's state store records of it (the coordinator's record, answers, rejections). */
    const detail = async (view: RoundView): Promise<RoundDetail> => {
      if (joined === undefined) return view
      const { ctx: { state }, coordinator, volunteer } = joined
      // a task from a model: the whole model's float32 bytes, beside the round's delta bytes
      const modelBytes = joined.ctx.modelBytes()
      const sized: RoundDetail = modelBytes === undefined ? view : { ...view, modelBytes }
      const record = await state.getRound(view.round) ?? coordinator?.openingRecord(view.round, view.roundOpen)
      if (record === undefined || record.roundOpen !== view.roundOpen) return sized
      const answered = await state.answers(view.round)
      const topicPeers = record.topicPeers ?? []
      return { ...sized, phase: record.phase, networkRejections: await state.networkRejections(view.round), topicPeers, volunteers: volunteerSummaries(view, answered, topicPeers), localVolunteer: volunteer !== undefined }
    }

    const roundOf = async (round?: number): Promise<RoundDetail> => {
      const x = active()
      const open = (await roundOpens(x.ledger, round)).at(-1)
      if (open === undefined) throw new RoundStateError('ERR_ROUNDS_NOT_FOUND', round === undefined ? `no round has been opened in this community yet; open one with \`${commandHint(c.dataDir.paths.root, 'round start')}\`` : `round ${round} is not in the ledger${round === 0 ? ' (round 0 is the genesis: its release is `release show 0`)' : ''}; \`${commandHint(c.dataDir.paths.root, 'round list')}\` lists the rounds it holds`)
      return await detail(await roundView(x.ledger, open))
    }

    const releaseOf = async (ref: string): Promise<ReleaseView> => {
      const x = active()
      const entry = await findRelease(x, ref)
      if (entry !== undefined) return releaseView(entry)
      const genesis = (await releaseViews(x.ledger, x.community))[0]
      if (ref === genesis.manifest || (ref === 'latest')) return genesis
      throw new RoundStateError('ERR_ROUNDS_RELEASE_NOT_FOUND', `no release ${ref} in this community's ledger; list them with \`${commandHint(c.dataDir.paths.root, 'release list')}\``)
    }

    const service: RoundsService = {
      get community () { return joined?.ctx.community },
      dataDir: c.dataDir.paths.root,
      get coordinator () { return joined?.coordinator },
      get volunteer () { return joined?.volunteer },

      async startRound (params, options) {
        const x = active()
        const coordinator = joined?.coordinator
        if (coordinator === undefined) {
          throw new CommunityError('ERR_ROUNDS_NOT_MAINTAINER', x.community.isMaintainer(x.key)
            ? 'the coordinator role is turned off in rounds.json (coordinator.enabled); turn it on to open rounds'
            : `this node (${c.peerId.toString()}) is not a maintainer of community ${x.community.name}; only the maintainers the genesis names may open rounds`)
        }
        const { round } = await coordinator.openRound(params, options)
        return await roundOf(round)
      },

      async cancelRound (round, reason) {
        const coordinator = joined?.coordinator
        if (coordinator === undefined) throw new CommunityError('ERR_ROUNDS_NOT_MAINTAINER', 'only the coordinator that opened a round can cancel it')
        const target = round ?? (await roundOf()).round
        await coordinator.cancel(target, reason ?? 'cancelled by a maintainer')
        return await roundOf(target)
      },

      round: roundOf,

      async waitClosed (round, options = {}) {
        // the bus is followed from before the round is read, so a close between the two is not missed
        return await followRound(async (signal) => busCloseEvents(c.events, signal), async () => await roundOf(round), round, options,
          () => new AbortError(`stopped following round ${round} before it closed`))
      },

      async rounds () {
        const x = active()
        return await Promise.all((await roundOpens(x.ledger)).map(async (o) => await roundView(x.ledger, o)))
      },

      async releases () {
        const x = active()
        return await releaseViews(x.ledger, x.community)
      },

      release: releaseOf,

      async pullRelease (ref) {
        const x = active()
        const view = await releaseOf(ref)
        const signer = view.entry === undefined ? undefined : await x.ledger.get(view.entry)
        const providers = signer === undefined ? [] : [peerIdOfKey(signer.entry.author)]
        const r = await loadRelease(c, parseCid(view.manifest), { providers })
        return { manifest: view.manifest, shards: r.manifest.shards.length, bytes: r.manifest.totalBytes }
      },

      async verifyRelease (ref) {
        const x = active()
        const entry = await findRelease(x, ref)
        if (entry === undefined) throw new RoundStateError('ERR_ROUNDS_RELEASE_NOT_FOUND', `no release entry ${ref} in this community's ledger (the genesis release has nothing to recompute); list them with \`${commandHint(c.dataDir.paths.root, 'release list')}\``)
        return await verifyRelease(x, entry)
      },

      routes: roundsRoutes(() => service),

      async start () {
        ledgerService = init.ledger?.() ?? c.services.ledger
        if (ledgerService === undefined) throw new CommunityError('ERR_ROUNDS_NO_COMMUNITY', 'the rounds service needs the ledger service; list `ledger` before `rounds` in the daemon\'s services')
        config = await readRoundsConfig(c.dataDir.paths.root, init.config)
        ledger().addEventListener('entry', onEntry)
        const file = init.community ?? config.community
        if (file !== undefined) await activateOnce(async () => await readGenesisFile(resolveIn(c.dataDir.paths.root, file)))
        else await activateFromLedger()
        if (joined === undefined) log.info('no community joined yet: waiting for one (sync from a peer, or start with --community <genesis file>)')
      },

      async stop () {
        ledgerService?.ledger.removeEventListener('entry', onEntry)
        const was = joined
        if (was !== undefined) {
          was.unsubscribe()
          // the volunteer first: a training it stops is declined on the answer topic, which is still up
          await was.volunteer?.stop()
          await was.coordinator?.stop()
          was.answers.stop()
          await was.ctx.close()
          await was.ctx.state.close()
        }
        joined = undefined
        activating = undefined
      },

      status () {
        if (joined === undefined) return { community: null }
        const { ctx, coordinator, volunteer } = joined
        return {
          community: { id: ctx.community.id.toString(), name: ctx.community.name, task: ctx.community.task },
          maintainer: ctx.community.isMaintainer(ctx.key),
          ready: ctx.warm,
          coordinator: coordinator?.status() ?? null,
          volunteer: volunteer?.status() ?? null
        }
      }
    }
    return service
  }
}

/**
 * The per-volunteer rows of a round: every peer that answered, contributed or was in the topic (the coordinator
 * excluded), sorted by peer id; `silent` for one that contributed nothing and did not decline (never answered, or
 * answered that it trains and sent nothing). Exported for its tests.
 */
export function volunteerSummaries (view: RoundView, answered: VolunteerAnswer[], topicPeers: string[]): VolunteerSummary[] {
  const rows = new Map<string, VolunteerSummary>()
  const row = (peer: string): VolunteerSummary => {
    let r = rows.get(peer)
    if (r === undefined) rows.set(peer, r = { peer, contributions: [], inTopic: topicPeers.includes(peer), outcome: 'silent' })
    return r
  }
  for (const a of answered) row(a.peer).answer = { status: a.status, ...(a.code === undefined ? {} : { code: a.code }), ...(a.reason === undefined ? {} : { reason: a.reason }), at: a.at }
  for (const c of view.contributions) row(c.peer).contributions.push({ id: c.id, verdict: c.verdict === undefined ? 'pending' : c.verdict.accepted ? 'OK' : c.verdict.code })
  for (const p of topicPeers) if (p !== view.coordinator) row(p)
  for (const r of rows.values()) {
    const v = r.contributions.map((c) => c.verdict)
    r.outcome = v.includes('OK') ? 'contributed' : v.includes('pending') ? 'pending' : v.length > 0 ? 'rejected' : r.answer?.status === 'declined' ? 'declined' : 'silent'
  }
  return [...rows.values()].sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
}
