/**
 * `release verify`: recompute a release from what the ledger lists — the round's parameters (its round-open),
 * the base release, the accepted contributions' deltas (fetched from any peers that have them), the server
 * optimiser state the parent release recorded — with the same merge rule the coordinator used, then build the
 * release again with the manifest's own metadata and compare shard ids, the manifest id and the new optimiser
 * state's id.
 */
import type { Contribution } from '@swarmtune/fedavg'
import { buildRelease } from '@swarmtune/model'
import { parseCid, type CID, type SignedEntry } from '@swarmtune/wire'
import { keyHex, peerIdOfKey } from './community.js'
import type { RoundsContext } from './context.js'
import { ReleaseVerifyError } from './errors.js'
import { commandHint } from './hints.js'
import { planOf } from './params.js'
import { decodeContribution, getBlob, loadManifest, loadRelease, maxDeltaBytes, mergeRound, serverStateFor, specOf, stateCid } from './releases.js'
import { RELEASE_FETCH_TIMEOUT_MS } from './constants.js'
import { latestRelease, releaseByManifest, roundOpens, verdicts } from './views.js'

/** Outcome of a verification. `ok` only when every check passed. */
export interface VerifyReport {
  ok: boolean
  round: number
  /** Release entry id and manifest CID verified. */
  entry: string
  manifest: string
  /** Manifest CID of the recomputation (equal to `manifest` when ok). */
  recomputedManifest?: string
  /** Shard CIDs the manifest lists and the recomputation produced, in order. */
  shards: { listed: string[], recomputed: string[] }
  contributions: number
  /** What did not match, for people. Empty when ok. */
  problems: string[]
  durationMs: number
}

/**
 * Recomputes a release entry and compares.
 * @throws ReleaseVerifyError `ERR_ROUNDS_VERIFY_INCOMPLETE` when something needed is missing (the round-open, a
 *   listed contribution entry, a delta blob no peer serves, the base release).
 */
export async function verifyRelease (ctx: RoundsContext, release: SignedEntry<'release'>, options: { signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const started = performance.now()
  const { ledger, community } = ctx
  const body = release.entry.body
  const problems: string[] = []
  const signal = options.signal ?? AbortSignal.timeout(RELEASE_FETCH_TIMEOUT_MS)
  const parent = parseCid(body.parent)
  const signer = keyHex(release.entry.author)
  const open = (await roundOpens(ledger, body.round)).find((o) => keyHex(o.entry.author) === signer && parseCid(o.entry.body.base).equals(parent))
  if (open === undefined) throw new ReleaseVerifyError(`no round-open of round ${body.round} by the release's signer on base ${parent.toString()} is in the ledger; connect a peer that has it (\`${commandHint(ctx.components.dataDir.paths.root, 'peers', '--connect <its address>')}\`; the ledgers sync on connect) and retry`)
  const plan = planOf(open.entry.body, community)
  const providers = [peerIdOfKey(release.entry.author)]
  const base = await need(`base release ${parent.toString()}`, async () => await loadRelease(ctx.components, parent, { providers, signal }))
  const spec = specOf(base.weights)
  const judged = await verdicts(ledger, body.round)
  const inputs: Contribution[] = []
  for (const raw of body.contributions) {
    const id = parseCid(raw)
    const c = await ledger.get(id)
    if (c?.entry.kind !== 'contribution') throw new ReleaseVerifyError(`contribution ${id.toString()} listed by the release is not in the ledger; sync the ledger and retry`)
    const entry = c as SignedEntry<'contribution'>
    if (!parseCid(entry.entry.body.roundOpen).equals(open.id)) problems.push(`contribution ${id.toString()} answers another round-open`)
    const v = judged.get(id.toString())
    if (v?.entry.body.accepted !== true) problems.push(`contribution ${id.toString()} has no accepting verdict by a maintainer`)
    const blob = parseCid(entry.entry.body.blob)
    const bytes = await need(`delta blob ${blob.toString()}`, async () => await getBlob(ctx.components, blob, { providers: [peerIdOfKey(entry.entry.author), ...providers], maxBytes: maxDeltaBytes(spec, plan), signal }))
    const decoded = decodeContribution(bytes, spec, plan)
    if ('code' in decoded) {
      problems.push(`contribution ${id.toString()} is invalid (${decoded.code}): ${decoded.reason}`)
      continue
    }
    inputs.push({ id: id.bytes, weight: entry.entry.body.samples, delta: decoded.delta })
  }
  const parentRelease = await releaseByManifest(ledger, parent)
  const state = await need('the parent release\'s optimiser state', async () => await serverStateFor(ctx.components, parentRelease, plan.server, spec, { providers, signal }))
  const merged = mergeRound(base.weights, plan, inputs, state)
  const listed = await need(`release manifest ${parseCid(body.manifest).toString()}`, async () => await loadManifest(ctx.components, parseCid(body.manifest), { providers, signal }))
  const report: VerifyReport = {
    ok: false,
    round: body.round,
    entry: release.id.toString(),
    manifest: parseCid(body.manifest).toString(),
    shards: { listed: listed.manifest.shards.map((s) => parseCid(s.cid).toString()), recomputed: [] },
    contributions: body.contributions.length,
    problems,
    durationMs: 0
  }
  if (merged.weights === undefined) {
    problems.push(`the listed contributions merge to no update (${merged.result.status === 'no-update' ? merged.result.reason : ''})`)
  } else {
    const accepted = merged.result.accepted.map((id) => parseCid(id).toString())
    const claimed = body.contributions.map((c) => parseCid(c).toString())
    if (accepted.join() !== claimed.join()) problems.push(`the merge accepts [${accepted.join(', ')}], the release lists [${claimed.join(', ')}]`)
    const weights = merged.weightsOf ?? []
    if (weights.length !== body.weights.length || weights.some((w, i) => w !== body.weights[i])) problems.push(`aggregation weights differ: recomputed [${weights.join(', ')}], listed [${body.weights.join(', ')}]`)
    const m = listed.manifest
    const rebuilt = buildRelease(merged.weights, {
      community: m.community,
      parent: m.parent,
      round: m.round,
      task: m.task,
      metrics: m.metrics,
      author: m.author
    }, { shardBytes: m.shardBytes })
    report.recomputedManifest = rebuilt.manifestCid.toString()
    report.shards.recomputed = rebuilt.shards.map((s) => s.cid.toString())
    if (report.shards.recomputed.join() !== report.shards.listed.join()) problems.push('recomputed shard ids differ from the listed ones: the weights differ')
    if (!rebuilt.manifestCid.equals(parseCid(body.manifest))) problems.push(`recomputed manifest ${rebuilt.manifestCid.toString()} differs from ${report.manifest}`)
    if (m.round !== body.round || m.parent === null || !parseCid(m.parent).equals(parent) || (m.community.length > 0 && !parseCid(m.community).equals(community.id))) {
      problems.push('the manifest\'s round, parent or community differ from the release entry\'s')
    }
    const recorded = body.metrics.serverOptimizerState
    if (merged.stateBytes !== undefined && recorded !== stateCid(merged.stateBytes)) problems.push(`recomputed optimiser state ${stateCid(merged.stateBytes)} differs from the recorded ${String(recorded)}`)
  }
  report.ok = problems.length === 0
  report.durationMs = Math.round(performance.now() - started)
  return report
}

async function need<T> (what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw new ReleaseVerifyError(`${what} could not be read: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}; connect to a peer that has it and retry`, { cause: err })
  }
}

/** Finds a release by entry id or manifest CID (or `latest`). */
export async function findRelease (ctx: RoundsContext, ref: string): Promise<SignedEntry<'release'> | undefined> {
  const { ledger, community } = ctx
  if (ref === 'latest') return (await latestRelease(ledger, community)).entry
  let cid: CID
  try {
    cid = parseCid(ref)
  } catch {
    return undefined
  }
  const e = await ledger.get(cid)
  if (e?.entry.kind === 'release') return e as SignedEntry<'release'>
  return await releaseByManifest(ledger, cid)
}
