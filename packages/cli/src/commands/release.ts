import { Option, type Command } from 'commander'
import { assembleRelease, exportSafetensors, exportTfjsFolder } from '@swarmtune/model'
import { ControlClient, type ReleaseView, type VerifyReport } from '@swarmtune/node'
import { parseCid } from '@swarmtune/wire'
import { common, show, table } from './round.js'
import { checkOutputPath } from '../files.js'
import { listReleases } from '../store.js'

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
  const releases = await client.request<ReleaseView[]>('GET', '/v1/rounds/releases')
  const found = releases.find((r) => r.round === round)
  if (found !== undefined) return found.entry ?? found.manifest
  const made = releases.map((r) => r.round).join(', ')
  throw Object.assign(new Error(`round ${round} made no release; the rounds with a release are ${made} (\`swarmtune release list -d ${dataDir}\`)`), { code: 'ERR_ROUNDS_RELEASE_NOT_FOUND' })
}

/** The `<release>` argument's help. */
const REF_HELP = 'round number, release manifest id, release entry id, or "latest"'

const accuracy = (m: Record<string, unknown>): string => typeof m.accuracy === 'number' ? `${(m.accuracy * 100).toFixed(2)} %` : '-'

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
    .description('list, inspect, fetch, export and re-verify the community\'s releases (through the running daemon)')

  common(release.command('list'))
    .description('the genesis release and every release since, oldest first (from the ledger store when no daemon runs)')
    .action(async (flags: CommonFlags) => {
      show(flags.json, await listReleases(flags.dataDir), (rows) =>
        table(['round', 'release', 'accuracy', 'contributions', 'signed', 'entry'], rows.map((r) => [r.round, r.manifest, accuracy(r.metrics), r.contributions.length, new Date(r.ts).toISOString(), r.entry ?? '-'])))
    })

  common(release.command('show'))
    .description('one release: its round, parent, signer, metrics and the contributions merged with their weights')
    .argument('<release>', REF_HELP)
    .action(async (ref: string, flags: CommonFlags) => {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      show(flags.json, await client.request<ReleaseView>('GET', `/v1/rounds/releases/${encodeURIComponent(await releaseRef(client, ref, flags.dataDir))}`), renderRelease)
    })

  common(release.command('pull'))
    .description('fetch a release\'s manifest and every shard from peers into the daemon\'s blob store (each shard checked against its id)')
    .argument('<release>', REF_HELP)
    .action(async (ref: string, flags: CommonFlags) => {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      const r = await client.request<{ manifest: string, shards: number, bytes: number }>('POST', `/v1/rounds/releases/${encodeURIComponent(await releaseRef(client, ref, flags.dataDir))}/pull`, {}, { timeoutMs: 0 })
      show(flags.json, r, (v) => `release ${v.manifest}: ${v.shards} shard(s), ${v.bytes} bytes, verified and stored\n`)
    })

  common(release.command('export'))
    .description('write a release\'s weights as a tfjs model folder (model.json + weights) or a safetensors file')
    .argument('<release>', REF_HELP)
    .requiredOption('-o, --out <path>', 'folder (tfjs) or file (safetensors) to write')
    .addOption(new Option('--format <format>', 'output format').choices(['tfjs', 'safetensors']).default('tfjs'))
    .option('--force', 'overwrite an existing output')
    .action(async (ref: string, flags: CommonFlags & { out: string, format: 'tfjs' | 'safetensors', force?: boolean }) => {
      // checked before anything is fetched: an existing output is kept unless --force
      await checkOutputPath(flags.out, { kind: flags.format === 'tfjs' ? 'folder' : 'file', force: flags.force, flag: '--out' })
      const client = await ControlClient.fromDataDir(flags.dataDir)
      const pulled = await client.request<{ manifest: string }>('POST', `/v1/rounds/releases/${encodeURIComponent(await releaseRef(client, ref, flags.dataDir))}/pull`, {}, { timeoutMs: 0 })
      const manifestCid = parseCid(pulled.manifest)
      const manifestBytes = await client.getBlob(manifestCid.toString())
      // every shard is checked against the manifest's CIDs again here: the bytes crossed a process boundary
      const { manifest, weights } = await assembleRelease(manifestBytes, async (cid) => await client.getBlob(cid.toString()), { expectedCid: manifestCid })
      const metadata = { release: pulled.manifest, round: String(manifest.round), task: manifest.task }
      if (flags.format === 'tfjs') await exportTfjsFolder(manifest.task, weights, flags.out, metadata)
      else await exportSafetensors(weights, flags.out, metadata)
      const result = { release: pulled.manifest, round: manifest.round, task: manifest.task, format: flags.format, path: flags.out }
      show(flags.json, result, (v) => `release ${v.release} (round ${v.round}, ${v.task}) written to ${v.path} as ${v.format}\n`)
    })

  common(release.command('verify'))
    .description('recompute a release from the deltas the ledger lists (fetching them from peers as needed) and compare shard ids')
    .argument('<release>', REF_HELP)
    .action(async (ref: string, flags: CommonFlags) => {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      const v = await client.request<VerifyReport>('POST', `/v1/rounds/releases/${encodeURIComponent(await releaseRef(client, ref, flags.dataDir))}/verify`, {}, { timeoutMs: 0 })
      show(flags.json, v, renderVerify)
      if (!v.ok) process.exitCode = 1
    })
}
