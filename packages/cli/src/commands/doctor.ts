import { access } from 'node:fs/promises'
import type { Command } from 'commander'
import { count, durationOption } from '../options.js'
import { CAUSAL_LM_KERNEL_NEEDS, listTasks, probeBackends, type BackendReport } from '@swarmtune/model'
import {
  checkReachability, ControlClient, defaultDataDir, describeReachability, openDataDir, portFree, scopeOf, tcpTarget, type DaemonConfig, type DaemonStatus, type DataDir
} from '@swarmtune/node'
import { inspectFolderLedger, moveForeignLedgerAside, type FolderLedgerReport } from '@swarmtune/rounds'

interface DoctorFlags {
  dataDir: string
  json?: boolean
  timeout: number
  repair?: boolean
}

/** One finding: `ok`, `warn` (works, but worth knowing), `fail` (will not work), `info`. */
export interface Check {
  name: string
  status: 'ok' | 'warn' | 'fail' | 'info'
  detail: string
  data?: unknown
}

const MIN_NODE_MAJOR = 22
const MARK: Record<Check['status'], string> = { ok: '✓', warn: '!', fail: '✗', info: '·' }

function nodeCheck (): Check {
  const major = Number(process.versions.node.split('.')[0])
  return major >= MIN_NODE_MAJOR
    ? { name: 'node', status: 'ok', detail: `Node.js ${process.versions.node} (${MIN_NODE_MAJOR} or newer required)` }
    : { name: 'node', status: 'fail', detail: `Node.js ${process.versions.node} is too old: ${MIN_NODE_MAJOR} or newer is required (run through npm, which uses the pinned runtime)` }
}

/**
 * Training backends through `probeBackends()` of `@swarmtune/model`: one line per backend (available or
 * why not), then per task — the built-in ones and causal language models with LoRA — the backend training would
 * use. No backend able to train a task is a failure.
 */
async function backendChecks (): Promise<Check[]> {
  let report: BackendReport
  try {
    report = await probeBackends([...listTasks(), CAUSAL_LM_KERNEL_NEEDS])
  } catch (err) {
    return [{ name: 'backends', status: 'fail', detail: `backend probe failed: ${(err as Error).message}` }]
  }
  const checks: Check[] = report.backends.map((b) => ({
    name: 'backend',
    status: b.available ? 'ok' : 'info',
    detail: `${b.id} (${b.package}): ${b.available ? 'available' : 'unavailable'} — ${b.reason}`,
    data: b
  }))
  for (const choice of report.choices) {
    if (choice.purpose !== 'train') continue
    checks.push(choice.backend == null
      ? { name: 'training', status: 'fail', detail: `task ${choice.task}: no backend can train it — ${choice.reason}`, data: choice }
      : { name: 'training', status: 'ok', detail: `task ${choice.task}: ${choice.backend} — ${choice.reason}`, data: choice })
  }
  return checks
}

function evidenceText (r: { evidence: number, evidenceDropped: number }): string {
  return `${count(r.evidence, 'equivocation evidence record')} kept${r.evidenceDropped > 0 ? `, ${count(r.evidenceDropped, 'conflicting entry', 'conflicting entries')} dropped over the caps (a peer sent many; \`swarmtune ledger export --view equivocations\` shows who)` : ''}`
}

/** The ledger of a data folder whose daemon is not running: its community against the folder's; `--repair` moves a foreign one aside. */
async function ledgerChecks (dir: DataDir, repair: boolean): Promise<Check[]> {
  if (!(await access(dir.paths.ledger).then(() => true, () => false))) {
    return [{ name: 'ledger', status: 'info', detail: `${dir.paths.ledger}: none yet (the daemon creates it when it first starts)` }]
  }
  let report: FolderLedgerReport
  let movedTo: string | undefined
  try {
    if (repair) ({ report, movedTo } = await moveForeignLedgerAside(dir))
    else report = await inspectFolderLedger(dir)
  } catch (err) {
    const e = err as { code?: string, message: string }
    return [{ name: 'ledger', status: e.code === 'ERR_LEDGER_LOCKED' || e.code === 'ERR_NODE_LOCKED' ? 'warn' : 'fail', detail: `${e.message}${e.code != null ? ` (${e.code})` : ''}` }]
  }
  const root = dir.paths.root
  const folder = report.folder === undefined ? undefined : `${report.folder.id} (${report.folder.name})`
  if (!report.foreign) {
    const what = report.entries === 0 ? `empty${report.ledger === undefined ? '' : `, bound to community ${report.ledger}`}` : `${count(report.entries, 'entry', 'entries')} of community ${report.ledger ?? '?'} by ${count(report.authors, 'author')}`
    return [{ name: 'ledger', status: report.evidenceDropped > 0 ? 'warn' : 'ok', detail: `${report.path}: ${what}; ${evidenceText(report)}`, data: report }]
  }
  const own = report.own > 0 ? ` ${report.own} of them are signed by this node's own key (its history in that community); the moved folder keeps them.` : ''
  if (movedTo !== undefined) {
    return [{
      name: 'ledger',
      status: 'ok',
      detail: `repaired: moved the ledger of community ${report.ledger as string} (${count(report.entries, 'entry', 'entries')}) to ${movedTo}; this folder belongs to community ${folder as string}, ` +
        `and the daemon starts on an empty ledger of it and syncs it from its peers.${own} Delete ${movedTo} once you no longer need it.`,
      data: { ...report, movedTo }
    }]
  }
  return [{
    name: 'ledger',
    status: 'fail',
    detail: `${report.path} holds ${count(report.entries, 'entry', 'entries')} of community ${report.ledger as string}, but this folder belongs to community ${folder as string}: ` +
      'the daemon refuses to start on it (ERR_LEDGER_COMMUNITY_MISMATCH). Peers of the other community filled it (an earlier swarmtune took any community\'s entries into an empty ledger).' +
      `${own} To repair, run \`swarmtune doctor --repair -d ${root}\`: it moves the ledger to ${report.path}.foreign-${report.ledger as string} (nothing is deleted) and the daemon syncs its own community's ledger from peers again. ` +
      `If this folder is meant for community ${report.ledger as string} instead, keep it as it is and use another data folder (\`swarmtune init -d <folder>\`) for ${report.folder?.name ?? 'the other community'}.`,
    data: report
  }]
}

/**
 * What the running daemon knows of its reachability (AutoNAT v2, UPnP, relays): its state, and for a node that
 * peers cannot dial directly, what the user can do.
 */
function natChecks (r: DaemonStatus['reachability']): Check[] {
  const { summary, advice } = describeReachability(r)
  const on = (b: boolean): string => b ? 'on' : 'off'
  const checks: Check[] = [{
    name: 'nat',
    status: r.state === 'public' || r.state === 'mapped' || r.state === 'local' ? 'ok' : r.state === 'relayed' ? 'info' : 'warn',
    detail: `${summary} (AutoNAT ${on(r.autonat)}, UPnP ${on(r.upnp)}, hole punching ${on(r.holePunching)}, relay server ${on(r.relayServer)})`,
    data: r
  }]
  if (advice !== undefined) checks.push({ name: 'nat', status: 'info', detail: `what you can do: ${advice}` })
  return checks
}

async function runChecks (flags: DoctorFlags): Promise<Check[]> {
  const timeoutMs = flags.timeout
  const checks: Check[] = [nodeCheck()]
  let config: DaemonConfig | undefined
  let dataDir: DataDir | undefined
  try {
    const dir = await openDataDir(flags.dataDir)
    dataDir = dir
    config = dir.config
    checks.push({ name: 'data folder', status: 'ok', detail: `${dir.paths.root} (peer id ${dir.peerId.toString()}); identity and token are private (0600)` })
  } catch (err) {
    const e = err as { code?: string, message: string }
    checks.push({ name: 'data folder', status: 'fail', detail: `${e.message}${e.code != null ? ` (${e.code})` : ''}` })
  }

  let status: DaemonStatus | undefined
  if (config != null) {
    try {
      const client = await ControlClient.fromDataDir(flags.dataDir)
      status = await client.status()
      checks.push({ name: 'daemon', status: 'ok', detail: `running (pid ${status.pid}), ${count(status.peers, 'peer')} connected, control API ${status.control ?? '?'}` })
    } catch (err) {
      const e = err as { code?: string, message: string }
      checks.push({ name: 'daemon', status: 'warn', detail: `${e.message}${e.code != null ? ` (${e.code})` : ''}` })
    }
  }

  if (status != null) {
    const l = status.services.ledger as { open?: boolean, community?: string, entries?: number, authors?: number, equivocations?: number, evidenceDropped?: number } | undefined
    if (l?.open === true) {
      const dropped = l.evidenceDropped ?? 0
      checks.push({ name: 'ledger', status: dropped > 0 ? 'warn' : 'ok', detail: `${(l.entries ?? 0) === 0 ? 'no entries yet' : `${count(l.entries ?? 0, 'entry', 'entries')} of community ${l.community ?? '(none yet)'} by ${count(l.authors ?? 0, 'author')}`}; ${evidenceText({ evidence: l.equivocations ?? 0, evidenceDropped: dropped })}`, data: l })
    }
    if (flags.repair === true) checks.push({ name: 'repair', status: 'warn', detail: 'the daemon is running, so nothing was repaired: a running daemon\'s ledger belongs to its community. Stop it to repair the folder.' })
  } else if (dataDir != null) {
    checks.push(...await ledgerChecks(dataDir, flags.repair === true))
  }

  if (config != null && status == null) {
    // not running: can the configured addresses be listened on?
    for (const addr of config.listen) {
      const t = tcpTarget(addr)
      if (t == null) continue
      const free = t.port === 0 || await portFree(t.host, t.port)
      checks.push({
        name: 'listen',
        status: free ? 'ok' : 'fail',
        detail: free ? `${addr} is free to listen on (${scopeOf(t.host)})` : `${addr}: port ${t.port} is taken by another program; choose another port with \`swarmtune init -d ${flags.dataDir} --listen /ip4/0.0.0.0/tcp/<port>\` (changes only "listen")`
      })
    }
  }

  if (config != null) {
    const report = await checkReachability({ listen: (status?.addresses ?? []).filter((a) => !a.includes('/p2p-circuit')), announce: config.announce, bootstrap: config.bootstrap, timeoutMs, mdns: config.mdns, dht: config.dht.mode !== 'off' })
    for (const l of report.listen) {
      checks.push({
        name: 'listen',
        status: l.reachable === false ? 'fail' : 'ok',
        detail: `${l.address} (${l.scope}${l.reachable == null ? '' : l.reachable ? `, accepts connections in ${l.ms ?? '?'} ms` : `, does not accept connections: ${l.error ?? ''}`})`
      })
    }
    for (const b of report.bootstrap) {
      checks.push({
        name: 'bootstrap',
        status: b.reachable === true ? 'ok' : 'warn',
        detail: b.reachable === true ? `${b.address} answers (${b.ms ?? '?'} ms)` : `${b.address} does not answer: ${b.error ?? 'unknown'}`
      })
    }
    checks.push({ name: 'reachability', status: report.publicAddress ? 'ok' : 'info', detail: report.summary })
    if (status?.reachability != null) checks.push(...natChecks(status.reachability))
    if (status != null && status.peers === 0 && config.bootstrap.length === 0 && !config.mdns) {
      checks.push({ name: 'discovery', status: 'warn', detail: `no peers, no bootstrap list and mDNS off: this node cannot find anyone; add a bootstrap peer (\`swarmtune init -d ${flags.dataDir} --bootstrap <address>\`, which changes only that setting)` })
    }
  }

  checks.push(...await backendChecks())
  return checks
}

/** Adds `swarmtune doctor` to the program. */
export function register (program: Command): void {
  program
    .command('doctor')
    .description('check this machine: Node.js version, data folder, its ledger, daemon, listening addresses, reachability, training backends')
    .option('-d, --data-dir <path>', 'data folder (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--repair', 'with the daemon stopped: move a ledger of another community than the folder\'s aside (to ledger.foreign-<id>), so the daemon can start')
    .option('--timeout <time>', 'per-connection timeout of reachability checks, e.g. 3s or 500ms (1ms to 10m; a bare number is ms)', durationOption('--timeout', { minMs: 1, maxMs: 600_000, bareUnit: 'ms' }), 3000)
    .option('--json', 'print the checks as JSON')
    .action(async (flags: DoctorFlags) => {
      const checks = await runChecks(flags)
      if (flags.json === true) {
        process.stdout.write(JSON.stringify(checks, null, 2) + '\n')
      } else {
        process.stdout.write(checks.map((c) => `${MARK[c.status]} ${c.name.padEnd(12)} ${c.detail}`).join('\n') + '\n')
      }
      if (checks.some((c) => c.status === 'fail')) process.exitCode = 1
    })
}
