/**
 * The round strategy: what a round decides, as pure functions of the frozen round (Flower's `Strategy` as the
 * model: configure → judge → aggregate → evaluate). The coordinator only persists, fetches and signs: it reads
 * the round-open, the frozen arrivals and their fetched-and-decoded deltas (or fetch failures), the verdicts it
 * signed before a restart and the base release into a {@link FrozenRound}, calls {@link judgeRound},
 * {@link aggregateRound} and {@link evaluateRound}, and signs the verdicts, the release and the round-close the
 * returned {@link CloseOutcome} and {@link ReleaseOutcome} hold. Nothing here reads the ledger, the blob store
 * or the clock, so the same inputs give the same verdicts and the same release bytes on every machine, and
 * `packages/rounds/test/strategy.test.ts` checks every close case without a daemon.
 *
 * - **configure** ({@link configureRound}): the round parameters from a maintainer's request and the
 *   community's limits, and the round-open body they become.
 * - **judge** ({@link screenRound}, {@link judgeRound}): one verdict per frozen arrival, in arrival order — the
 *   per-author cap, the entry checks (round-open, base, codec, samples), replays, the decoded delta's checks,
 *   one accepted contribution per author, at most `maxContributions`; a cancelled round or one whose
 *   parameters cannot be read rejects all. Verdicts signed before a restart stand.
 * - **aggregate** ({@link aggregateRound}): FedAvg over the accepted deltas weighted by their sample counts
 *   (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from Decentralized Data") or a
 *   robust aggregator of `@swarmtune/fedavg` (Krum / Multi-Krum, Blanchard et al. 2017; coordinate-wise median
 *   and trimmed mean, Yin et al. 2018; norm clipping; CenteredClip, Karimireddy et al. 2021), then one
 *   server-optimiser step as fedavg cites them (sgd with η = 1 is plain FedAvg; FedAvgM, Hsu et al. 2019;
 *   DiLoCo's Nesterov outer step, Douillard et al. 2023; FedAdam / FedYogi, Reddi et al. 2021, "Adaptive
 *   Federated Optimization"), then the quorum; the outcome code.
 * - **evaluate** ({@link evaluateRound}): the merged weights measured on the coordinator's evaluation data
 *   (by the evaluator the caller gives), built into the release and its signed body.
 *
 * Every change of a verdict after judging goes through one transition, {@link overrule}.
 */
import type { Contribution, ServerOptimizerState } from '@swarmtune/fedavg'
import { buildRelease, type BuiltRelease, type Weights } from '@swarmtune/model'
import { parseCid, type CID, type RoundOpenBody, type SignedEntry } from '@swarmtune/wire'
import type { Community } from './community.js'
import { MAX_JUDGED_PER_AUTHOR, VERDICT_OK } from './constants.js'
import { RoundsError } from './errors.js'
import { createRoundParams, roundOpenBody, sameMethod, type RoundParams, type RoundPlan } from './params.js'
import { aggregationFailure, mergeRound, stateCid, type DeltaRejection, type MergeResult } from './releases.js'

/**
 * **configure**: a maintainer's round request checked against the community's limits, and the round-open body
 * it becomes once the round number, the base release and the time are known.
 * @param init the request (see `createRoundParams`: quorum, deadline, aggregator, codec, training settings).
 * @returns `params` (the checked settings) and `open(at)`, the round-open body at round `at.round` on base
 *   `at.base` (a release manifest CID) opened at `at.now` (ms since the Unix epoch).
 * @throws RoundParamsError `ERR_ROUNDS_BAD_PARAMS` for values out of range or beyond the community's policy.
 */
export function configureRound (init: unknown, community: Community): { params: RoundParams, open: (at: { round: number, base: CID, now: number }) => RoundOpenBody } {
  const params = createRoundParams(init, community)
  return { params, open: (at) => roundOpenBody(params, at) }
}

/** A contribution's judgement by the coordinator's fetch: its decoded delta and L2 norm, or why it is rejected. */
export type Judged = { ok: true, delta: Float32Array[], norm: number } | ({ ok: false } & DeltaRejection)

/** One frozen arrival: the contribution entry id (CID string) and the entry. */
export interface Arrival {
  id: string
  entry: SignedEntry<'contribution'>
}

/** A verdict this coordinator signed before a restart, as the ledger holds it. */
export interface SignedVerdict { accepted: boolean, code: string, reason: string }

/**
 * A round as the strategy sees it once it stopped taking contributions: everything a close decides from.
 */
export interface FrozenRound {
  round: number
  /** Entry id (CID string) of the round-open. */
  roundOpen: string
  /** The round-open's plan; undefined when its parameters cannot be read (then `failure` says why). */
  plan?: RoundPlan
  /** Why the round cannot be judged (a round-open this version cannot read): every arrival is rejected with it. */
  failure?: DeltaRejection
  /** The community policy's sample bound per contribution (`maxSamples`), if it sets one. */
  policy: { maxSamples?: number }
  /** Set when a maintainer cancelled the round: its reason. */
  cancel?: string
  /** The arrivals frozen at the close, in arrival order. */
  arrivals: readonly Arrival[]
  /** Delta blobs (CID strings) contributed to earlier rounds: a contribution reusing one is a replay. */
  earlierBlobs: { has: (blob: string) => boolean }
  /**
   * The fetched and decoded deltas (or fetch failures) by contribution id, for at least the arrivals
   * {@link screenRound} passes (the others are never read).
   */
  judged: ReadonlyMap<string, Judged>
  /** Verdicts this coordinator signed for these arrivals before a restart, by contribution id. */
  signed?: ReadonlyMap<string, SignedVerdict>
}

/** A decision on one contribution: accepted with its decoded delta, or rejected with a stable code and a reason. */
export interface Verdict {
  id: string
  entry: SignedEntry<'contribution'>
  accepted: boolean
  /** `OK` when accepted; otherwise a rejection code (doc/errors.md). */
  code: string
  reason: string
  /** The decoded delta of an accepted contribution (tensors in the base's layout). */
  delta?: Float32Array[]
}

/**
 * The one transition of a verdict after judging: `v` rejected with `code` and `reason` (a new value; `v` is not
 * changed). Used for a verdict signed before a restart, a merge that fails, a delta the aggregator leaves out,
 * and a quorum not met.
 */
export function overrule (v: Verdict, code: string, reason: string): Verdict {
  return { id: v.id, entry: v.entry, accepted: false, code, reason }
}

/**
 * Why a contribution's entry does not fit the round (`ERR_ROUNDS_WRONG_ROUND`, `ERR_ROUNDS_STALE_BASE`,
 * `ERR_ROUNDS_CODEC_MISMATCH`, `ERR_ROUNDS_TOO_MANY_SAMPLES` above the community's `maxSamples`), or undefined.
 * Needs no blob: the coordinator checks it at arrival, before fetching the delta.
 */
export function entryFault (c: SignedEntry<'contribution'>, round: { round: number, roundOpen: string, plan: RoundPlan }, maxSamples: number | undefined): DeltaRejection | undefined {
  const b = c.entry.body
  if (b.round !== round.round || parseCid(b.roundOpen).toString() !== round.roundOpen) {
    return { code: 'ERR_ROUNDS_WRONG_ROUND', reason: `the contribution answers round ${b.round} (round-open ${parseCid(b.roundOpen).toString()}); this is round ${round.round} (${round.roundOpen})` }
  }
  if (parseCid(b.base).toString() !== round.plan.base.toString()) {
    return { code: 'ERR_ROUNDS_STALE_BASE', reason: `the delta was computed against ${parseCid(b.base).toString()}; the round's base is ${round.plan.base.toString()}` }
  }
  if (!sameMethod(b.codec, round.plan.codecMethod)) {
    return { code: 'ERR_ROUNDS_CODEC_MISMATCH', reason: `the contribution names codec ${b.codec.name}; the round asks for ${round.plan.codecMethod.name} with ${JSON.stringify(round.plan.codecMethod.params)}` }
  }
  if (maxSamples !== undefined && b.samples > maxSamples) {
    return { code: 'ERR_ROUNDS_TOO_MANY_SAMPLES', reason: `the contribution claims ${b.samples} samples; the community allows at most ${maxSamples} per contribution` }
  }
  return undefined
}

/** One arrival after the checks that need no delta: a rejection, or undefined when its delta is to be judged. */
export interface Screened { arrival: Arrival, rejection?: DeltaRejection }

/**
 * **judge**, first part: the checks of each frozen arrival that need no delta, in arrival order — at most
 * `MAX_JUDGED_PER_AUTHOR` read per author (`ERR_ROUNDS_DUPLICATE` beyond), the entry checks
 * ({@link entryFault}), and a delta blob already used earlier in this round or in an earlier round
 * (`ERR_ROUNDS_REPLAYED`). The arrivals without a rejection are those whose delta {@link judgeRound} reads.
 * @throws Error when the round has no plan (a round without one is rejected as a whole by {@link judgeRound}).
 */
export function screenRound (frozen: FrozenRound): Screened[] {
  const plan = frozen.plan
  if (plan === undefined) throw new Error(`round ${frozen.round} has no readable plan: nothing to screen`)
  const target = { round: frozen.round, roundOpen: frozen.roundOpen, plan }
  const read = new Map<string, number>()
  const blobs = new Set<string>()
  return frozen.arrivals.map((arrival) => {
    const author = Buffer.from(arrival.entry.entry.author).toString('hex')
    const n = (read.get(author) ?? 0) + 1
    read.set(author, n)
    if (n > MAX_JUDGED_PER_AUTHOR) return { arrival, rejection: { code: 'ERR_ROUNDS_DUPLICATE', reason: `the author sent more than ${MAX_JUDGED_PER_AUTHOR} contributions to this round; the rest are not read` } }
    const fault = entryFault(arrival.entry, target, frozen.policy.maxSamples)
    if (fault !== undefined) return { arrival, rejection: fault }
    const blob = parseCid(arrival.entry.entry.body.blob).toString()
    const here = blobs.has(blob)
    if (here || frozen.earlierBlobs.has(blob)) return { arrival, rejection: { code: 'ERR_ROUNDS_REPLAYED', reason: `delta blob ${blob} was already contributed ${here ? 'earlier in this round' : 'in an earlier round'}` } }
    blobs.add(blob)
    return { arrival }
  })
}

/**
 * **judge**: one verdict per frozen arrival, in arrival order. A cancelled round rejects every arrival with
 * `ERR_ROUNDS_CANCELLED`, one whose parameters cannot be read with its `failure` code; otherwise
 * {@link screenRound}, then the delta's judgement (fetch and decoding: `ERR_ROUNDS_BLOB_UNAVAILABLE`,
 * `ERR_FEDAVG_CODEC_*`, `ERR_FEDAVG_NON_FINITE`, `ERR_FEDAVG_NORM_BOUND`, …), then only an author's first valid
 * contribution is accepted (`ERR_ROUNDS_DUPLICATE`) and at most `maxContributions` in all (`ERR_ROUNDS_LATE`).
 * A rejection signed before a restart stands.
 * @throws RoundsError `ERR_ROUNDS_RESUME_CONFLICT` when a contribution accepted before a restart is rejected now
 *   (its delta cannot be read now: the caller retries later rather than lose it); Error when `judged` lacks a
 *   judgement {@link screenRound} asks for.
 */
export function judgeRound (frozen: FrozenRound): Verdict[] {
  const all = (code: string, reason: string): Verdict[] => frozen.arrivals.map(({ id, entry }) => ({ id, entry, accepted: false, code, reason }))
  const verdicts = frozen.cancel !== undefined
    ? all('ERR_ROUNDS_CANCELLED', `the round was cancelled: ${frozen.cancel}`)
    : frozen.plan === undefined || frozen.failure !== undefined
      ? all(frozen.failure?.code ?? 'ERR_ROUNDS_AGGREGATION_FAILED', `not aggregated: ${frozen.failure?.reason ?? 'the round cannot be judged'}`)
      : decide(frozen, frozen.plan)
  return verdicts.map((v) => {
    const before = frozen.signed?.get(v.id)
    if (before === undefined || before.accepted === v.accepted) return v
    if (!before.accepted) return overrule(v, before.code, before.reason)
    throw new RoundsError('ERR_ROUNDS_RESUME_CONFLICT', `contribution ${v.id} was accepted before a restart but cannot be used now (${v.code}: ${v.reason}); retrying`)
  })
}

function decide (frozen: FrozenRound, plan: RoundPlan): Verdict[] {
  const acceptedAuthors = new Set<string>()
  return screenRound(frozen).map(({ arrival: { id, entry }, rejection }): Verdict => {
    const reject = (r: DeltaRejection): Verdict => ({ id, entry, accepted: false, code: r.code, reason: r.reason })
    if (rejection !== undefined) return reject(rejection)
    const judged = frozen.judged.get(id)
    if (judged === undefined) throw new Error(`contribution ${id} of round ${frozen.round} was not judged; judge every arrival screenRound passes`)
    if (!judged.ok) return reject(judged)
    const author = Buffer.from(entry.entry.author).toString('hex')
    if (acceptedAuthors.has(author)) return reject({ code: 'ERR_ROUNDS_DUPLICATE', reason: 'the author already has an accepted contribution in this round; one per volunteer per round' })
    if (acceptedAuthors.size >= plan.maxContributions) return reject({ code: 'ERR_ROUNDS_LATE', reason: `round ${frozen.round} already had its ${plan.maxContributions} (maxContributions) contribution(s) that passed the checks when this one's turn came` })
    acceptedAuthors.add(author)
    return { id, entry, accepted: true, code: VERDICT_OK, reason: `accepted (delta L2 norm ${judged.norm.toPrecision(6)})`, delta: judged.delta }
  })
}

/**
 * True when a round with these verdicts is merged: not cancelled, its plan readable, and at least `quorum`
 * contributions accepted. Only then does {@link aggregateRound} need the base weights and the server-optimiser
 * state (the coordinator fetches the latter from the parent release).
 */
export function mergesRound (frozen: FrozenRound, verdicts: readonly Verdict[]): boolean {
  return frozen.cancel === undefined && frozen.plan !== undefined && frozen.failure === undefined &&
    verdicts.filter((v) => v.accepted).length >= frozen.plan.quorum
}

/** How a round ends, as its round-close says. */
export type RoundOutcome = 'released' | 'no-release' | 'cancelled'

/** What closing a round decided: the verdicts to sign, the merge, the outcome code and the round-close reason. */
export interface CloseOutcome {
  round: number
  /** `released` when `merged` holds new weights; otherwise `cancelled` or `no-release`. */
  outcome: RoundOutcome
  /** Every frozen arrival's verdict, in arrival order. */
  verdicts: Verdict[]
  /** The verdicts that stand accepted (merged into the release), in arrival order. */
  accepted: Verdict[]
  /** Why the round could not be merged (its parameters, or the aggregator failing); undefined otherwise. */
  failure?: DeltaRejection
  /** True when `failure` is the aggregator's (the merge itself failed). */
  mergeFailed: boolean
  /** The merge (weights, server-optimiser state and its encoding, aggregation weights) when `released`. */
  merged?: MergeResult
  /** The round-close's reason (at most 1,024 characters). */
  reason: string
}

/**
 * **aggregate**: merges the accepted deltas with the round's aggregator and server optimiser (`mergeRound`:
 * canonical order by entry id, FedAvg weights n_k / n or the robust rule, one server step from `serverState`),
 * overrules the contributions the aggregator leaves out (its code, else `ERR_FEDAVG_OUTLIER`), and checks the
 * quorum on what remains (`ERR_ROUNDS_NO_QUORUM`). A merge that throws is deterministic — it fails on every
 * retry — so the round closes without a release and its accepted verdicts carry the failure's code.
 * @param merge the base weights and the server-optimiser state the round starts from; needed when
 *   {@link mergesRound} is true.
 * @throws Error when {@link mergesRound} is true and `merge` is missing.
 */
export function aggregateRound (frozen: FrozenRound, judged: readonly Verdict[], merge?: { base: Weights, serverState: ServerOptimizerState }): CloseOutcome {
  let verdicts = [...judged]
  let failure = frozen.failure
  let mergeFailed = false
  let noRelease: string | undefined = frozen.cancel ?? (failure === undefined ? undefined : `${failure.code}: ${failure.reason}`)
  let merged: MergeResult | undefined
  const plan = frozen.plan
  const rejectWhere = (which: (v: Verdict) => DeltaRejection | undefined): void => {
    verdicts = verdicts.map((v) => {
      const r = v.accepted ? which(v) : undefined
      return r === undefined ? v : overrule(v, r.code, r.reason)
    })
  }
  if (frozen.cancel === undefined && plan !== undefined && failure === undefined) {
    if (mergesRound(frozen, verdicts)) {
      if (merge === undefined) throw new Error(`round ${frozen.round} is to be merged: pass its base weights and server-optimiser state`)
      const accepted = verdicts.filter((v) => v.accepted)
      try {
        merged = mergeRound(merge.base, plan, accepted.map((v) => ({ id: v.entry.id.bytes, weight: v.entry.entry.body.samples, delta: v.delta as Float32Array[] }) satisfies Contribution), merge.serverState)
      } catch (err) {
        const f = aggregationFailure(err, `aggregator ${plan.aggregator.kind} failed`)
        failure = f
        mergeFailed = true
        noRelease = `${f.code}: ${f.reason}`
        rejectWhere(() => ({ code: f.code, reason: `not aggregated: ${f.reason}` }))
      }
    }
    if (merged !== undefined) {
      const kept = new Set(merged.result.accepted.map((id) => Buffer.from(id).toString('hex')))
      const why = new Map(merged.result.rejected.map((r) => [Buffer.from(r.id).toString('hex'), r]))
      rejectWhere((v) => {
        const hex = Buffer.from(v.entry.id.bytes).toString('hex')
        if (kept.has(hex)) return undefined
        const r = why.get(hex)
        return { code: r?.code ?? 'ERR_FEDAVG_OUTLIER', reason: r?.reason ?? 'left out by the aggregator' }
      })
    }
    const count = verdicts.filter((v) => v.accepted).length
    if (failure === undefined && count < plan.quorum) {
      const why = `${count} contribution(s) passed validation; the round's quorum is ${plan.quorum}`
      noRelease = `ERR_ROUNDS_NO_QUORUM: ${why}`
      rejectWhere(() => ({ code: 'ERR_ROUNDS_NO_QUORUM', reason: `not aggregated: ${why}` }))
      merged = undefined
    }
  }
  const accepted = verdicts.filter((v) => v.accepted)
  const released = merged?.weights !== undefined && merged.stateBytes !== undefined
  return {
    round: frozen.round,
    outcome: released ? 'released' : frozen.cancel !== undefined ? 'cancelled' : 'no-release',
    verdicts,
    accepted,
    ...(failure === undefined ? {} : { failure }),
    mergeFailed,
    ...(released ? { merged } : {}),
    reason: released
      ? `${accepted.length} of ${verdicts.length} contribution(s) accepted`
      : (noRelease ?? 'ERR_ROUNDS_NO_QUORUM: no contribution').slice(0, 1024)
  }
}

/** Verdicts in canonical order (by contribution entry id bytes): the order they are signed and a release lists them. */
export function canonicalOrder (verdicts: readonly Verdict[]): Verdict[] {
  return [...verdicts].sort((a, b) => Buffer.compare(Buffer.from(a.entry.id.bytes), Buffer.from(b.entry.id.bytes)))
}

/**
 * Test loss of some weights on `count` evaluation examples, with accuracy (a classifier) or perplexity (a language
 * model): what the model package's `evaluate` returns.
 */
export interface Evaluation { accuracy?: number, perplexity?: number, loss: number, count: number }

/** The metrics a release records of its evaluation: `{ accuracy, loss }` (a classifier) or `{ loss, perplexity }` (a language model). */
export function releaseMetrics (e: Evaluation): { accuracy: number, loss: number } | { loss: number, perplexity: number } {
  return e.perplexity !== undefined && e.accuracy === undefined ? { loss: e.loss, perplexity: e.perplexity } : { accuracy: e.accuracy ?? NaN, loss: e.loss }
}

/** A release built from a round's merge, ready to be stored and signed. */
export interface ReleaseOutcome {
  /** The release's shards and manifest (stored before the entry is signed). */
  built: BuiltRelease
  /** The server-optimiser state after the round's step (a blob; its CID is in `body.metrics`). */
  stateBytes: Uint8Array
  evaluation: Evaluation
  /** The release entry's body: round, parent, manifest, contributions in canonical order, weights n_k / n, metrics. */
  body: {
    round: number
    parent: Uint8Array
    manifest: Uint8Array
    contributions: Uint8Array[]
    weights: number[]
    metrics: ({ accuracy: number, loss: number } | { loss: number, perplexity: number }) & { evalExamples: number, samples: number, serverOptimizerState: string }
  }
}

/**
 * **evaluate**: measures a released outcome's merged weights with `evaluator` (the coordinator's worker thread
 * on its evaluation data; a test may call the model package's `evaluate`) and builds the release: shards and
 * manifest (`buildRelease`, deterministic), and the body of its entry.
 * @param release the community id, the task id and the signing key (raw Ed25519 public key) the manifest names.
 * @throws Error when the outcome is not `released`; the evaluator's errors.
 */
export async function evaluateRound (frozen: FrozenRound, outcome: CloseOutcome, evaluator: (weights: Weights) => Promise<Evaluation>, release: { community: CID, task: string, author: Uint8Array }): Promise<ReleaseOutcome> {
  const merged = outcome.merged
  const plan = frozen.plan
  if (outcome.outcome !== 'released' || merged?.weights === undefined || merged.stateBytes === undefined || plan === undefined) throw new Error(`round ${frozen.round} has no merged weights to evaluate (${outcome.outcome})`)
  const weights = merged.weights
  const evaluation = await evaluator(weights)
  const built = buildRelease(weights, {
    community: release.community,
    parent: plan.base,
    round: frozen.round,
    task: release.task,
    metrics: releaseMetrics(evaluation),
    author: release.author
  })
  return {
    built,
    stateBytes: merged.stateBytes,
    evaluation,
    body: {
      round: frozen.round,
      parent: plan.base.bytes,
      manifest: built.manifestCid.bytes,
      contributions: canonicalOrder(outcome.accepted).map((v) => v.entry.id.bytes),
      weights: merged.weightsOf as number[],
      metrics: {
        ...releaseMetrics(evaluation),
        evalExamples: evaluation.count,
        samples: merged.result.totalWeight,
        serverOptimizerState: stateCid(merged.stateBytes)
      }
    }
  }
}
