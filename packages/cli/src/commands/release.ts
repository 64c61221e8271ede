import { metricCell, metricColumn } from '../metrics.js'
import { Option, type Command } from 'commander'
import { assembleRelease, decodeManifest, exportSafetensors, exportTfjsFolder, MAX_MANIFEST_BYTES, type ReleaseManifest, type Weights } from '@swarmtune/model'
import { dataDirPaths, type ControlClient } from '@swarmtune/node'
import { findRelease, releaseViews, roundsClient, verifyRelease, type ReleaseView, type VerifyReport } from '@swarmtune/rounds'
import { parseCid } from '@swarmtune/wire'
import { common, show, table } from './round.js'
import { CliError } from '../errors.js'
import { checkOutputPath } from '../files.js'
import { LM_EXPORT_FORMATS, exportLmRelease, isLmTask, lmTaskOf } from './release-lm.js'
import { findReleaseView, listReleases, readBlobStore, runningDaemon, storedCommunity, withStore } from '../store.js'

interface CommonFlags {
  dataDir: string
  json?: boolean
}

/**
 * A release reference as the daemon's routes take it: a round number (what `round status` and `release list`
 * show) becomes that round's release entry id (the genesis release's manifest CID for round 0); a manifest
 * CID, an entry id or `latest` passes unchanged.
 * @throws Error `ERR_ROUNDS_RELEASE_NOT_FOUND` when that round made no release.
 */
export async function releaseRef (client: ControlClient, ref: string, dataDir: string): Promise<string> {
  if (!/^\d{1,15}$/.test(ref)) return ref
  const round = Number(ref)
  const releases = await roundsClient(client).releases()
  const found = releases.find((r) => r.round === round)
  if (found !== undefined) return found.entry ?? found.manifest
  const made = releases.map((r) => r.round).join(', ')
  throw Object.assign(new Error(`round ${round} made no release; the rounds with a release are ${made} (\`swarmtune release list -d ${dataDir}\`)`), { code: 'ERR_ROUNDS_RELEASE_NOT_FOUND' })
}

/**
 * A release's manifest and weights from the blob store of `root`, read without a daemon (nothing is fetched):
 * every shard checked against the manifest's CIDs by `assembleRelease`.
 * @throws CliError `ERR_CLI_NEEDS_DAEMON` when the manifest or a shard is not in the local store, naming how
 *   many are missing and how to fetch them (start the daemon, then `release pull`); ReleaseError for a shard
 *   that does not match its CID.
 */
export async function localRelease (root: string, view: ReleaseView): Promise<{ manifest: ReleaseManifest, weights: Weights, bytes: number }> {
  const blobs = readBlobStore(root)
  const manifestCid = parseCid(view.manifest)
  const missing = (count: number, of: number): CliError => new CliError('ERR_CLI_NEEDS_DAEMON',
    `release ${view.manifest} (round ${view.round}): ${count} of its ${of} blob(s) are not in ${blobs.root}, and no daemon runs on ${root} to fetch them from peers. ` +
    `Start it (\`swarmtune daemon -d ${root}\`), then run \`swarmtune release pull ${view.round} -d ${root}\` or this command again.`)
  if (!(await blobs.has(manifestCid))) throw missing(1, 1)
  // sized before it is read: a release manifest is at most MAX_MANIFEST_BYTES
  const { size } = await blobs.stat(manifestCid)
  if (size > MAX_MANIFEST_BYTES) throw new CliError('ERR_CLI_INPUT_TOO_LARGE', `the blob ${view.manifest} in ${blobs.root} is ${size} bytes, a release manifest is at most ${MAX_MANIFEST_BYTES}; it is not the manifest the ledger names: move the blob aside and pull the release again.`)
  const manifestBytes = await blobs.get(manifestCid)
  const shards = decodeManifest(manifestBytes).shards
  let absent = 0
  for (const shard of shards) if (!(await blobs.has(parseCid(shard.cid)))) absent++
  if (absent > 0) throw missing(absent, shards.length + 1)
  const { manifest, weights } = await assembleRelease(manifestBytes, async (cid) => await blobs.get(cid), { expectedCid: manifestCid })
  return { manifest, weights, bytes: manifest.totalBytes }
}

/**
 * `release verify` without a daemon: the same recomputation (`verifyRelease`) on the ledger store and the local
 * blob store of `root`; a delta, base release or state blob that is not stored locally is not fetched (no
 * daemon runs to fetch it) and makes the report `ERR_ROUNDS_VERIFY_INCOMPLETE`, naming it.
 * @throws Error `ERR_ROUNDS_RELEASE_NOT_FOUND` for a ref that names no release entry (the genesis release has
 *   nothing to recompute), as the daemon answers.
 */
async function verifyLocally (root: string, ref: string): Promise<VerifyReport> {
  return await withStore(root, async (ledger) => {
    const community = await storedCommunity(root, ledger)
    const view = findReleaseView(await releaseViews(ledger, community), ref, root)
    const blobs = readBlobStore(root)
    const exchange = {
      fetch: async (cid: { toString: () => string }): Promise<never> => {
        throw new CliError('ERR_CLI_NEEDS_DAEMON', `blob ${cid.toString()} is not in ${blobs.root}, and no daemon runs on ${root} to fetch it from peers; start it (\`swarmtune daemon -d ${root}\`) and verify again`)
      }
    }
    // what verifyRelease reads of a daemon's rounds context: the ledger, the community, the blob store and
    // exchange (here: local blobs only) and the data folder's paths for its hints
    const ctx = { ledger, community, components: { blobs, exchange, dataDir: { paths: dataDirPaths(root) } } } as unknown as Parameters<typeof verifyRelease>[0]
    const entry = await findRelease(ctx, view.entry ?? view.manifest)
    if (entry === undefined) {
      throw Object.assign(new Error(`${ref} is the genesis release, which no round computed: there is nothing to recompute (\`swarmtune release list -d ${root}\` lists the others)`), { code: 'ERR_ROUNDS_RELEASE_NOT_FOUND' })
    }
    return await verifyRelease(ctx, entry)
  })
}

/** The `<release>` argument's help. */
const REF_HELP = 'round number, release manifest id, release entry id, or "latest"'


function renderRelease (r: ReleaseView): string {
  const lines = [
    `release ${r.manifest}${r.round === 0 ? ' (genesis)' : ''}`,
    `  round      ${r.round}`,
    `  entry      ${r.entry ?? '- (named by the genesis)'}`,
    `  parent     ${r.parent ?? '-'}`,
    `  signed by  ${r.signer} at ${new Date(r.ts).toISOString()}`,
    `  metrics    ${Object.keys(r.metrics).length === 0 ? '-' : JSON.stringify(r.metrics)}`,
    `  merged     ${r.contributions.length} contribution(s)`
  ]
  let text = lines.join('\n') + '\n'
  if (r.contributions.length > 0) text += '\n' + table(['contribution', 'weight'], r.contributions.map((c) => [c.id, c.weight.toFixed(6)]))
  return text
}

function renderVerify (v: VerifyReport): string {
  const head = v.ok
    ? `ok: release ${v.manifest} (round ${v.round}) recomputed from ${v.contributions} contribution(s) in ${v.durationMs} ms; all ${v.shards.recomputed.length} shard id(s) and the manifest id are identical\n`
    : `FAILED: release ${v.manifest} (round ${v.round}) does not recompute:\n${v.problems.map((p) => `  - ${p}`).join('\n')}\n`
  return head + table(['shard', 'listed', 'recomputed'], v.shards.listed.map((s, i) => [i, s, v.shards.recomputed[i] ?? '-']))
}

/** Adds `swarmtune release` to the program. */
export function register (program: Command): void {
  const release = program
    .command('release')
    .description('list, inspect, fetch, export and re-verify the community\'s releases (through the running daemon; without one, from the folder\'s ledger and blob stores, fetching nothing)')

  common(release.command('list'))
    .description('the genesis release and every release since, oldest first (from the ledger store when no daemon runs)')
    .action(async (flags: CommonFlags) => {
      show(flags.json, await listReleases(flags.dataDir), (rows) => {
        const column = metricColumn(rows.map((r) => r.metrics))
        return table(['round', 'release', column, 'contributions', 'signed', 'entry'], rows.map((r) => [r.round, r.manifest, metricCell(r.metrics, column), r.contributions.length, new Date(r.ts).toISOString(), r.entry ?? '-']))
      })
    })

  common(release.command('show'))
    .description('one release: its round, parent, signer, metrics and the contributions merged with their weights')
    .argument('<release>', REF_HELP)
    .action(async (ref: string, flags: CommonFlags) => {
      const client = await runningDaemon(flags.dataDir)
      show(flags.json, client === undefined
        ? findReleaseView(await listReleases(flags.dataDir), ref, flags.dataDir)
        : await roundsClient(client).release(await releaseRef(client, ref, flags.dataDir)), renderRelease)
    })

  common(release.command('pull'))
    .description('fetch a release\'s manifest and every shard from peers into the daemon\'s blob store (each shard checked against its id); without a daemon, check that the local store holds it all')
    .argument('<release>', REF_HELP)
    .action(async (ref: string, flags: CommonFlags) => {
      const client = await runningDaemon(flags.dataDir)
      if (client === undefined) {
        // no daemon to fetch with: the release is pulled when the local store already holds all of it
        const view = findReleaseView(await listReleases(flags.dataDir), ref, flags.dataDir)
        const local = await localRelease(flags.dataDir, view)
        show(flags.json, { manifest: view.manifest, shards: local.manifest.shards.length, bytes: local.bytes },
          (v) => `release ${v.manifest}: ${v.shards} shard(s), ${v.bytes} bytes, verified, already in the local blob store (no daemon runs: nothing fetched)\n`)
        return
      }
      const r = await roundsClient(client).pull(await releaseRef(client, ref, flags.dataDir))
      show(flags.json, r, (v) => `release ${v.manifest}: ${v.shards} shard(s), ${v.bytes} bytes, verified and stored\n`)
    })

  common(release.command('export'))
    .description('write a release\'s weights as a tfjs model folder (model.json + weights) or a safetensors file; a language-model release as a Hugging Face folder (the adapters merged into the base) or a PEFT adapter folder')
    .argument('<release>', REF_HELP)
    .requiredOption('-o, --out <path>', 'folder (tfjs, hf, peft) or file (safetensors) to write')
    .addOption(new Option('--format <format>', 'output format: tfjs, safetensors (the release\'s weights), hf or peft (a language-model release)').choices(['tfjs', 'safetensors', ...LM_EXPORT_FORMATS]).default('tfjs'))
    .option('--force', 'overwrite an existing output')
    .action(async (ref: string, flags: CommonFlags & { out: string, format: 'tfjs' | 'safetensors' | typeof LM_EXPORT_FORMATS[number], force?: boolean }) => {
      // checked before anything is fetched: an existing output is kept unless --force
      await checkOutputPath(flags.out, { kind: flags.format === 'safetensors' ? 'file' : 'folder', force: flags.force, flag: '--out' })
      const client = await runningDaemon(flags.dataDir)
      const { release: id, manifest, weights } = client === undefined
        ? await (async () => {
          const view = findReleaseView(await listReleases(flags.dataDir), ref, flags.dataDir)
          return { release: view.manifest, ...(await localRelease(flags.dataDir, view)) }
        })()
        : await (async () => {
          const pulled = await roundsClient(client).pull(await releaseRef(client, ref, flags.dataDir))
          const manifestCid = parseCid(pulled.manifest)
          const manifestBytes = await client.getBlob(manifestCid.toString())
          // every shard is checked against the manifest's CIDs again here: the bytes crossed a process boundary
          return { release: pulled.manifest, ...(await assembleRelease(manifestBytes, async (cid) => await client.getBlob(cid.toString()), { expectedCid: manifestCid })) }
        })()
      const pulled = { manifest: id }
      const metadata = { release: pulled.manifest, round: String(manifest.round), task: manifest.task }
      const lmFormat = flags.format === 'hf' || flags.format === 'peft'
      if (lmFormat !== isLmTask(manifest.task) && flags.format !== 'safetensors') {
        throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', lmFormat
          ? `--format ${flags.format} exports a language-model release; release ${pulled.manifest} is of task ${manifest.task}: use --format tfjs or safetensors`
          : `release ${pulled.manifest} is of a language model (${manifest.task}): export it with --format hf (the merged model) or --format peft (the adapter), or safetensors (the adapters' B factors)`)
      }
      if (lmFormat) {
        const task = await lmTaskOf(flags.dataDir, client)
        try {
          await exportLmRelease(task, weights, flags.format as typeof LM_EXPORT_FORMATS[number], flags.out, metadata)
        } finally {
          task.dispose()
        }
      } else if (flags.format === 'tfjs') {
        await exportTfjsFolder(manifest.task, weights, flags.out, metadata)
      } else {
        await exportSafetensors(weights, flags.out, metadata)
      }
      const result = { release: pulled.manifest, round: manifest.round, task: manifest.task, format: flags.format, path: flags.out }
      show(flags.json, result, (v) => `release ${v.release} (round ${v.round}, ${v.task}) written to ${v.path} as ${v.format}\n`)
    })

  common(release.command('verify'))
    .description('recompute a release from the deltas the ledger lists (fetching them from peers as needed) and compare shard ids')
    .argument('<release>', REF_HELP)
    .action(async (ref: string, flags: CommonFlags) => {
      const client = await runningDaemon(flags.dataDir)
      const view = client === undefined
        ? findReleaseView(await listReleases(flags.dataDir), ref, flags.dataDir)
        : await roundsClient(client).release(await releaseRef(client, ref, flags.dataDir))
      if (view.entry === undefined) {
        // the genesis release: named by the genesis entry (whose signature `ledger verify` checks), computed by no round
        const g = { ok: true, genesis: true, round: view.round, manifest: view.manifest }
        show(flags.json, g, () => `ok: release ${g.manifest} (round ${g.round}) is the genesis release, which no round computed from deltas: there is nothing to recompute. Its id is signed in the genesis entry, which \`swarmtune ledger verify -d ${flags.dataDir}\` checks\n`)
        return
      }
      const v = client === undefined
        ? await verifyLocally(flags.dataDir, ref)
        : await roundsClient(client).verify(await releaseRef(client, ref, flags.dataDir))
      show(flags.json, v, renderVerify)
      if (!v.ok) process.exitCode = 1
    })
}
