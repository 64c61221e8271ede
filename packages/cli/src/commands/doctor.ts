import type { Command } from 'commander'
import { intOption } from '../options.js'
import { probeBackends, type BackendReport } from '@swarmtune/model'
import {
  checkReachability, ControlClient, defaultDataDir, openDataDir, portFree, scopeOf, tcpTarget,
  type DaemonConfig, type DaemonStatus
} from '@swarmtune/node'

interface DoctorFlags {
  dataDir: string
  json?: boolean
  timeout: number
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
 * why not), then per task the backend training would use. No backend able to train a task is a failure.
 */
async function backendChecks (): Promise<Check[]> {
  let report: BackendReport
  try {
    report = await probeBackends()
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

async function runChecks (flags: DoctorFlags): Promise<Check[]> {
  const timeoutMs = flags.timeout
  const checks: Check[] = [nodeCheck()]
  let config: DaemonConfig | undefined
  try {
    const dir = await openDataDir(flags.dataDir)
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
      checks.push({ name: 'daemon', status: 'ok', detail: `running (pid ${status.pid}), ${status.peers} peer(s) connected, control API ${status.control ?? '?'}` })
    } catch (err) {
      const e = err as { code?: string, message: string }
      checks.push({ name: 'daemon', status: 'warn', detail: `${e.message}${e.code != null ? ` (${e.code})` : ''}` })
    }
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
        detail: free ? `${addr} is free to listen on (${scopeOf(t.host)})` : `${addr}: port ${t.port} is taken by another program; change "listen" in config.json`
      })
    }
  }

  if (config != null) {
    const report = await checkReachability({ listen: status?.addresses ?? [], announce: config.announce, bootstrap: config.bootstrap, timeoutMs })
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
    if (status != null && status.peers === 0 && config.bootstrap.length === 0 && !config.mdns) {
      checks.push({ name: 'discovery', status: 'warn', detail: 'no peers, no bootstrap list and mDNS off: this node cannot find anyone; add a bootstrap peer (`swarmtune init --reset-config --bootstrap …`)' })
    }
  }

  checks.push(...await backendChecks())
  return checks
}

/** Adds `swarmtune doctor` to the program. */
export function register (program: Command): void {
  program
    .command('doctor')
    .description('check this machine: Node.js version, data folder, daemon, listening addresses, reachability, training backends')
    .option('-d, --data-dir <path>', 'data folder (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--timeout <ms>', 'per-connection timeout of reachability checks, ms (1 to 600000)', intOption('--timeout', 1, 600_000), 3000)
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
