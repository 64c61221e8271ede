import { metricCell, metricColumn, metricText } from '../metrics.js'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { AGGREGATOR_KINDS, CODEC_NAMES, SERVER_OPTIMIZER_KINDS } from '@swarmtune/fedavg'
import { BackendError, chooseBackend, getTask, probeBackendStatus } from '@swarmtune/model'
import { SwarmtuneError } from '@swarmtune/wire'
import { ControlClient, defaultDataDir, type DaemonEvent } from '@swarmtune/node'
import { CLIENT_OPTIMIZERS, commandHint, roundsClient, roundsConstants, type RoundDetail, type RoundParamsInit, type RoundView } from '@swarmtune/rounds'
import { CliError } from '../errors.js'
import { listRounds, runningDaemon, storedRound } from '../store.js'
import { parseDuration } from '../options.js'

interface CommonFlags {
  dataDir: string
  json?: boolean
}

interface StartFlags extends CommonFlags {
  steps?: number
  epochs?: number
  batchSize?: number
  lr?: number
  optimizer?: typeof CLIENT_OPTIMIZERS[number]
  momentum?: number
  duration?: number
  quorum?: number
  maxContributions?: number
  untilDeadline?: boolean
  aggregator?: string
  aggregatorParam?: Array<[string, number]>
  server?: string
  serverLr?: number
  serverMomentum?: number
  codec?: string
  topkFraction?: number
  normBound?: number
  wait?: boolean
}

/**
 * `round start --wait` saw the round close without a release; `code` is the outcome's code (`ERR_ROUNDS_NO_QUORUM`,
 * `ERR_ROUNDS_CANCELLED`, an aggregator's code), the message names it and points at the per-volunteer summary.
 */
export class RoundOutcomeError extends SwarmtuneError {}

/** The warning `round start` prints when no peer is in the community's topic, or undefined. */
export function noVolunteerWarning (r: RoundDetail, dataDir: string): string | undefined {
  if (r.topicPeers === undefined || r.topicPeers.length > 0) return undefined
  return `warning: no peer is in the community's gossip topic, so no volunteer gets round ${r.round}'s round-open now; ` +
    `start volunteers with \`swarmtune daemon -d <their folder> --bootstrap <this daemon's address>\` (\`${commandHint(dataDir, 'status')}\` prints it) ` +
    `and check \`${commandHint(dataDir, 'peers')}\`; a volunteer that connects later joins through ledger sync with less of the round left\n`
}

/**
 * The warning `round start` prints when the round's quorum is larger than the volunteers that can contribute now
 * (the peers in the community's topic, and this daemon when it trains), or undefined.
 */
export function quorumWarning (r: RoundDetail, dataDir: string): string | undefined {
  if (r.topicPeers === undefined) return undefined
  const peers = r.topicPeers.length + (r.localVolunteer === true ? 1 : 0)
  if (peers === 0 || r.quorum <= peers) return undefined
  return `warning: round ${r.round}'s quorum is ${r.quorum}, but only ${peers} volunteer(s) can contribute now ` +
    `(${r.topicPeers.length} peer(s) in the community's topic${r.localVolunteer === true ? ', and this daemon, which trains' : ''}); ` +
    'the round waits until its deadline for more volunteers and closes without a release unless ' +
    `${r.quorum} contributions pass. Start more volunteers, or cancel it (\`${commandHint(dataDir, `round cancel ${r.round}`)}\`) and open it with --quorum ${peers}\n`
}

export const out = (text: string): void => { process.stdout.write(text) }

/** Prints `value` as JSON with `--json`, otherwise as `text(value)`. */
export function show<T> (json: boolean | undefined, value: T, text: (v: T) => string): void {
  out(json === true ? JSON.stringify(value, null, 2) + '\n' : text(value))
}

/** Aligned text columns. */
export function table (columns: string[], rows: unknown[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (cells: unknown[]): string => cells.map((cell, i) => String(cell ?? '').padEnd(widths[i])).join('  ').trimEnd() + '\n'
  return line(columns) + rows.map(line).join('')
}

/** A long id shortened for tables. */
export const short = (s: unknown, n = 12): string => typeof s === 'string' && s.length > n + 1 ? `${s.slice(0, n)}…` : String(s ?? '-')

/** `--data-dir` and `--json`, shared by the commands that ask the daemon; `help` replaces their descriptions. */
export function common (cmd: Command, help: { dataDir?: string, json?: string } = {}): Command {
  return cmd
    .option('-d, --data-dir <path>', help.dataDir ?? 'data folder of the running daemon (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--json', help.json ?? 'print JSON instead of text')
}

export const positiveInt = (what: string) => (value: string): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be an integer ≥ 1, got ${value}`)
  return n
}

export const positiveNumber = (what: string) => (value: string): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a number > 0, got ${value}`)
  return n
}

/**
 * A duration: a number and its unit (ms, s, m or min, h, d; the CLI's one parser, `parseDuration` in
 * ../options.ts) → ms. The unit is required: a bare `2` could mean 2 s, 2 min or 2 ms, and read as seconds it
 * opens a round that closes with no release before anyone trains.
 * @throws InvalidArgumentError before anything is sent, for a bare number, no number or an unknown unit.
 */
export function duration (value: string): number {
  return parseDuration('the duration', value)
}

/** `--duration`: a {@link duration} no shorter than the shortest round a coordinator opens. */
export function roundDuration (value: string): number {
  const ms = parseDuration('--duration', value)
  const min = roundsConstants.MIN_ROUND_DURATION_MS
  if (ms < min) throw new InvalidArgumentError(`--duration ${value} is ${ms} ms; the shortest round is ${min} ms (${min / 1000}s)`)
  return ms
}

/**
 * Refuses a training backend this machine cannot use for `taskId` (`community join --backend`), naming the ones
 * it can, before anything is written. For a task from a model (`layers-model/…`), whose kernels are known only once
 * the daemon has its base, only whether the backend loads here is checked (the kernels, when the daemon builds the
 * task: a volunteer that cannot train then says so in `round status`).
 * @throws BackendError `ERR_MODEL_BACKEND_UNAVAILABLE` (not installed or failed to load) or
 *   `ERR_MODEL_BACKEND_MISSING_KERNELS` (installed, but lacks a kernel training the task needs).
 */
export async function checkBackend (taskId: string, backend: string, options: { modelTask?: boolean } = {}): Promise<void> {
  if (options.modelTask === true) {
    const statuses = await probeBackendStatus()
    const s = statuses.find((x) => x.id === backend)
    if (s?.available === true) return
    const usable = statuses.filter((x) => x.available).map((x) => x.id)
    throw new BackendError('ERR_MODEL_BACKEND_UNAVAILABLE', backend, `${s?.reason ?? 'unknown backend'}. Available here: ${usable.length === 0 ? 'none' : usable.join(', ')}; pass one of them to --backend or leave --backend out to use the fastest that can train ${taskId}. Nothing was written`)
  }
  const task = getTask(taskId)
  try {
    await chooseBackend(task, { backend, purpose: 'train' })
  } catch (err) {
    if (!(err instanceof BackendError)) throw err
    const usable: string[] = []
    for (const s of await probeBackendStatus()) {
      if (s.available && await chooseBackend(task, { backend: s.id, purpose: 'train' }).then(() => true, () => false)) usable.push(s.id)
    }
    throw new BackendError(err.code, backend, `${err.reason}. Usable here for training ${taskId}: ${usable.length === 0 ? 'none' : usable.join(', ')}; pass one of them to --backend or leave --backend out to use the fastest. Nothing was written`, { cause: err })
  }
}

/** The warning `round start --wait` prints when the round is still open and no volunteer has answered it, or undefined. */
export function noAnswerWarning (r: RoundDetail): string | undefined {
  if (r.state !== 'open' || r.volunteers === undefined || r.volunteers.some((v) => v.answer !== undefined || v.contributions.length > 0)) return undefined
  return `warning: ${r.topicPeers?.length ?? 0} peer(s) are in the community's topic but none answered round ${r.round}'s round-open within ` +
    `${roundsConstants.ANSWER_WINDOW_MS / 1000} s: none of them is a volunteer with training data (\`swarmtune community join <genesis file> -d <their folder> --mnist | --images … --labels …\`), ` +
    'or they run a version that does not answer; the round waits for its deadline\n'
}

/** What `round start --wait` says of a round that closed with no release: who to look at, or that nobody took part. */
export function outcomeMessage (r: RoundDetail, dataDir: string): string {
  const who = (r.volunteers ?? []).length > 0
    ? 'the volunteers table above shows who contributed, who was rejected and who never contributed'
    : r.contributions.length > 0
      ? 'the contributions above show who contributed and each verdict'
      : `no volunteer answered or contributed, and none was in the community's topic: start volunteers (\`swarmtune daemon -d <their folder> --bootstrap <this daemon's address>\`, \`${commandHint(dataDir, 'status')}\` prints it) and check \`${commandHint(dataDir, 'peers')}\``
  return `round ${r.round} closed with no release (${r.outcome ?? 'no-release'}): ${r.reason ?? ''}; ${who}`
}

function keyValue (value: string, previous: Array<[string, number]> = []): Array<[string, number]> {
  const m = /^([A-Za-z][A-Za-z0-9]*)=(.+)$/.exec(value)
  if (m === null || !Number.isFinite(Number(m[2]))) throw new InvalidArgumentError(`${value} is not name=number (e.g. beta=0.1)`)
  return [...previous, [m[1], Number(m[2])]]
}

/**
 * Refuses flags that do not apply to the optimizer, server optimiser or codec the command chooses (a default
 * included), naming the option that would make each apply, before anything is sent.
 * @throws CliError `ERR_CLI_OPTION_NOT_APPLICABLE`.
 */
export function checkApplicable (f: StartFlags): void {
  const refuse = (flag: string, value: unknown, chosen: string, needs: string): never => {
    throw new CliError('ERR_CLI_OPTION_NOT_APPLICABLE', `${flag} ${String(value)} does not apply to ${chosen}; it applies with ${needs}. Add ${needs} or leave ${flag} out; nothing was sent to the daemon`)
  }
  const optimizer = f.optimizer ?? 'sgd'
  if (f.momentum !== undefined && optimizer !== 'momentum') refuse('--momentum', f.momentum, `the client optimizer ${optimizer}${f.optimizer === undefined ? ' (the default)' : ''}`, '--optimizer momentum')
  const server = f.server ?? 'sgd'
  if (f.serverMomentum !== undefined && server !== 'momentum') refuse('--server-momentum', f.serverMomentum, `the server optimiser ${server}${f.server === undefined ? ' (the default, plain FedAvg)' : ''}`, '--server momentum')
  const codec = f.codec ?? 'fp32'
  if (f.topkFraction !== undefined && codec !== 'topk-int8') refuse('--topk-fraction', f.topkFraction, `the codec ${codec}${f.codec === undefined ? ' (the default)' : ''}`, '--codec topk-int8')
}

/** The round parameters the flags ask for (unset flags are left to the daemon's defaults). */
export function paramsOf (f: StartFlags): RoundParamsInit {
  const p: Record<string, unknown> = {}
  const set = (k: string, v: unknown): void => { if (v !== undefined) p[k] = v }
  set('steps', f.steps)
  set('epochs', f.epochs)
  set('batchSize', f.batchSize)
  set('learningRate', f.lr)
  set('optimizer', f.optimizer)
  set('momentum', f.momentum)
  set('durationMs', f.duration)
  set('quorum', f.quorum)
  set('maxContributions', f.maxContributions)
  if (f.untilDeadline === true) p.untilDeadline = true
  set('normBound', f.normBound)
  if (f.aggregator !== undefined || f.aggregatorParam !== undefined) p.aggregator = { kind: f.aggregator ?? 'fedavg', ...Object.fromEntries(f.aggregatorParam ?? []) }
  if (f.server !== undefined || f.serverLr !== undefined || f.serverMomentum !== undefined) {
    p.server = { kind: f.server ?? 'sgd', ...(f.serverLr === undefined ? {} : { lr: f.serverLr }), ...(f.serverMomentum === undefined ? {} : { momentum: f.serverMomentum }) }
  }
  if (f.codec !== undefined) p.codec = { codec: f.codec, ...(f.topkFraction === undefined ? {} : { fraction: f.topkFraction }) }
  return p as RoundParamsInit
}

const time = (ms: number | undefined): string => ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
const seconds = (ms: number | undefined): string => ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`

/** A round in full: parameters, contributions with verdicts, release, timing. */
export function renderRound (r: RoundDetail): string {
  const t = r.train
  const lines = [
    `round ${r.round} — ${r.state}${r.outcome === undefined ? '' : ` (${r.outcome}${r.code === undefined ? '' : `, ${r.code}`})`}${r.phase === undefined ? '' : `, coordinator phase ${r.phase}`}`,
    `  round-open   ${r.roundOpen} by ${r.coordinator}`,
    `  opened       ${time(r.openedAt)}   deadline ${time(r.deadline)}${r.closedAt === undefined ? '' : `   closed ${time(r.closedAt)}`}`,
    `  base         ${r.base}`,
    `  training     ${t.steps !== undefined ? `${String(t.steps)} steps` : `${String(t.epochs)} epoch(s)`}, batch ${String(t.batchSize)}, lr ${String(t.learningRate)}, ${String(t.optimizer)}`,
    `  merge        ${r.aggregator.name} ${JSON.stringify(r.aggregator.params)}, codec ${r.codec.name}${typeof r.codec.params?.fraction === 'number' ? ` (top-k fraction ${String(r.codec.params.fraction)})` : ''}, norm bound ${r.normBound}, quorum ${r.quorum}, max ${r.maxContributions}`,
    ...(r.reason === undefined ? [] : [`  outcome      ${r.reason}`]),
    ...(r.release === undefined ? [] : [`  release      ${r.release.manifest} (entry ${r.release.entry}), ${metricText(r.release.metrics)}`]),
    `  timing       wall ${seconds(r.timing.wallMs)}, slowest training ${seconds(r.timing.slowestTrainMs)}, overhead ${seconds(r.timing.overheadMs)}; ${r.timing.bytes} delta bytes${r.modelBytes === undefined ? '' : ` (the whole model: ${r.modelBytes} bytes)`}`,
    `  contributions ${r.counts.contributions}: ${r.counts.accepted} accepted, ${r.counts.rejected} rejected, ${r.counts.pending} pending`
  ]
  let text = lines.join('\n') + '\n'
  if (r.contributions.length > 0) {
    text += '\n' + table(['contribution', 'peer', 'samples', 'loss before→after', 'train', 'bytes', 'verdict', 'reason'], r.contributions.map((c) => [
      c.id, c.peer, c.samples, `${c.lossBefore.toFixed(3)}→${c.lossAfter.toFixed(3)}`, seconds(c.trainMs), c.blobBytes ?? '-',
      c.verdict === undefined ? 'pending' : c.verdict.accepted ? 'accepted' : c.verdict.code, c.verdict?.accepted === false ? c.verdict.reason.slice(0, 80) : ''
    ]))
  }
  if ((r.volunteers ?? []).length > 0) {
    text += '\nvolunteers:\n' + table(['peer', 'outcome', 'answer', 'contributions', 'in topic'], (r.volunteers ?? []).map((v) => [
      v.peer, v.outcome,
      v.answer === undefined ? '-' : v.answer.status === 'declined' ? `declined ${v.answer.code ?? ''}: ${(v.answer.reason ?? '').slice(0, 80)}` : 'training',
      v.contributions.length === 0 ? '-' : v.contributions.map((c) => `${short(c.id, 16)} ${c.verdict}`).join(', '),
      v.inTopic ? 'yes' : 'no'
    ]))
  }
  if ((r.networkRejections ?? []).length > 0) {
    text += '\nrefused on the network while open:\n' + table(['time', 'from', 'code', 'reason'], (r.networkRejections ?? []).map((n) => [time(n.ts), n.from, n.code, n.reason.slice(0, 80)]))
  }
  return text
}

/** What `round status` adds to a round read from the store: where it came from and what only a daemon knows. */
export function storeNote (dataDir: string): string {
  return `\n(no daemon runs on ${dataDir}: read from its ledger store, which holds the round-open, contributions, verdicts, release and close. ` +
    `The coordinator's phase, the volunteers' answers, who was in the topic and what the network refused are known only to the running coordinator's daemon: \`${commandHint(dataDir, 'daemon')}\`)\n`
}

/** One line per round. */
export function renderRounds (rounds: RoundView[]): string {
  const column = metricColumn(rounds.map((r) => r.release?.metrics))
  return table(['round', 'state', 'outcome', 'contributions', 'accepted', column, 'wall', 'overhead', 'release'], rounds.map((r) => [
    r.round, r.state, r.outcome ?? '-', r.counts.contributions, r.counts.accepted, metricCell(r.release?.metrics, column), seconds(r.timing.wallMs), seconds(r.timing.overheadMs), r.release?.manifest ?? '-'
  ])) + `${rounds.length} round(s)\n`
}

/** A daemon event's number field, or `?`. */
const num = (v: unknown, digits?: number): string => typeof v === 'number' ? (digits === undefined ? String(v) : v.toFixed(digits)) : '?'

/**
 * The line `round status --follow` prints for a daemon event of the round it follows (`rounds:*` events that
 * name the round), or undefined for an event it does not print: its time, then what happened.
 */
export function renderRoundEvent (e: DaemonEvent, round: number): string | undefined {
  if (!e.type.startsWith('rounds:') || e.round !== round) return undefined
  const what = ((): string => {
    switch (e.type) {
      case 'rounds:open': return `opened (${String(e.roundOpen)}), deadline ${time(e.deadline as number | undefined)}`
      case 'rounds:answer': return `volunteer ${String(e.peer)} answered: ${String(e.status)}${e.code === undefined ? '' : ` ${String(e.code)}`}${e.reason === undefined ? '' : `: ${String(e.reason).slice(0, 80)}`}`
      case 'rounds:train:start': return 'training started'
      case 'rounds:train:progress': return `training step ${num(e.step)}/${num(e.steps)}, loss ${num(e.loss, 4)}`
      case 'rounds:contributed': return `contributed ${String(e.contribution ?? '')}`.trimEnd()
      case 'rounds:skipped': return `skipped: ${String(e.code)}: ${String(e.reason ?? '').slice(0, 80)}`
      case 'rounds:contribution': return `contribution ${String(e.contribution)} arrived from ${String(e.peer)}`
      case 'rounds:closing': return `frozen with ${Array.isArray(e.arrivals) ? e.arrivals.length : num(e.arrivals)} contribution(s)`
      case 'rounds:verdict': return `verdict on ${String(e.contribution)}: ${e.accepted === true ? 'accepted' : `rejected ${String(e.code ?? '')}`.trimEnd()}`
      case 'rounds:release': return `release ${String(e.release)} signed: manifest ${String(e.manifest)}, ${num(e.contributions)} contribution(s), ${e.perplexity === undefined ? `accuracy ${num(e.accuracy, 4)}` : `perplexity ${num(e.perplexity, 4)}`}`
      case 'rounds:close': return `closed: ${String(e.outcome)}${e.code === undefined ? '' : ` (${String(e.code)})`}, ${num(e.accepted)} of ${num(e.contributions)} accepted`
      default: return e.type.slice('rounds:'.length)
    }
  })()
  return `${time(e.ts)}  round ${round} ${what}\n`
}

/**
 * `round status --follow`: each event of round `which` on the daemon's event stream as a line (`--json`: the
 * event as one JSON line), until the round closes; then the round as `round status` prints it (`--json`: one line).
 */
async function followStatus (client: ControlClient, which: string, json: boolean | undefined): Promise<RoundDetail> {
  const rounds = roundsClient(client)
  const first = await rounds.status(which)
  if (first.state === 'closed') return first
  return await rounds.waitClosed(first.round, {
    onEvent: (e) => {
      const line = renderRoundEvent(e, first.round)
      if (line !== undefined) out(json === true ? JSON.stringify(e) + '\n' : line)
    }
  })
}

/** Adds `swarmtune round` to the program. */
export function register (program: Command): void {
  const round = program
    .command('round')
    .description('open, follow and cancel training rounds (through the running daemon; opening needs a maintainer\'s daemon)')

  common(round.command('start'))
    .description('open the next round on the newest release; volunteers train and contribute until the deadline')
    .option('--steps <n>', 'local optimizer steps per volunteer (instead of epochs)', positiveInt('--steps'))
    .option('--epochs <n>', 'local epochs E (default 1)', positiveInt('--epochs'))
    .option('--batch-size <n>', 'local batch size B (default 10)', positiveInt('--batch-size'))
    .option('--lr <rate>', 'client learning rate η (default 0.05)', positiveNumber('--lr'))
    .addOption(new Option('--optimizer <name>', 'client optimizer (default sgd)').choices([...CLIENT_OPTIMIZERS]))
    .option('--momentum <m>', 'client momentum (optimizer momentum)', Number)
    .option('--duration <time>', `time from opening to deadline, e.g. 90s or 2m (default 2m, at least ${roundsConstants.MIN_ROUND_DURATION_MS / 1000}s)`, roundDuration)
    .option('--quorum <n>', 'accepted contributions needed for a release (default 1)', positiveInt('--quorum'))
    .option('--max-contributions <n>', 'most contributions; the round closes early once this many contributions passed their checks, and accepts no more', positiveInt('--max-contributions'))
    .option('--until-deadline', 'keep the round open until the deadline (or --max-contributions) even once every volunteer that answered has contributed or declined')
    .addOption(new Option('--aggregator <kind>', 'aggregator (default fedavg)').choices([...AGGREGATOR_KINDS]))
    .option('--aggregator-param <name=value>', 'aggregator parameter, e.g. beta=0.1 (trimmed-mean), f=1 or m=2 (krum: byzantine, select), clipNorm=5 (repeatable)', keyValue)
    .addOption(new Option('--server <kind>', 'server optimiser (default sgd, i.e. plain FedAvg)').choices([...SERVER_OPTIMIZER_KINDS]))
    .option('--server-lr <rate>', 'server learning rate', positiveNumber('--server-lr'))
    .option('--server-momentum <m>', 'server momentum (server optimiser momentum)', Number)
    .addOption(new Option('--codec <name>', 'delta codec volunteers use (default fp32)').choices([...CODEC_NAMES]))
    .option('--topk-fraction <f>', 'share of coordinates topk-int8 keeps', positiveNumber('--topk-fraction'))
    .option('--norm-bound <n>', 'largest accepted delta L2 norm (default the community\'s maxDeltaNorm)', positiveNumber('--norm-bound'))
    .option('--wait', 'wait until the round closes, then print it')
    .action(async (flags: StartFlags) => {
      checkApplicable(flags)
      const rounds = roundsClient(await ControlClient.fromDataDir(flags.dataDir))
      let r = await rounds.start(paramsOf(flags))
      const warning = noVolunteerWarning(r, flags.dataDir)
      if (warning !== undefined) process.stderr.write(warning)
      const belowQuorum = quorumWarning(r, flags.dataDir)
      if (belowQuorum !== undefined) process.stderr.write(belowQuorum)
      if (flags.wait !== true) {
        show(flags.json, r, (v) => `opened round ${v.round} (${v.roundOpen}), deadline ${time(v.deadline)}\nfollow it with \`${commandHint(flags.dataDir, `round status ${v.round}`)}\`\n`)
        return
      }
      if (flags.json !== true) out(`opened round ${r.round} (${r.roundOpen}), deadline ${time(r.deadline)}; waiting for it to close…\n`)
      if (warning === undefined) {
        // the volunteers answer within the answer window; say so at once when none did
        const early = await rounds.waitClosed(r.round, { timeoutMs: roundsConstants.ANSWER_WINDOW_MS + 1_000 })
        const silent = noAnswerWarning(early)
        if (silent !== undefined) process.stderr.write(silent)
      }
      // followed on the daemon's event stream until the round's close
      r = await rounds.waitClosed(r.round)
      show(flags.json, r, renderRound)
      if (r.outcome !== 'released') {
        const code = r.code ?? 'ERR_ROUNDS_NO_QUORUM'
        throw new RoundOutcomeError(code, outcomeMessage(r, flags.dataDir))
      }
    })

  common(round.command('status'))
    .alias('show')
    .description('one round in full: parameters, contributions with their verdicts, release, timing (the ledger\'s part from its store when no daemon runs; --wait needs the daemon)')
    .argument('[round]', 'round number or "latest"', 'latest')
    .option('--wait', 'wait until the round closes first')
    .option('--follow', 'print each event of the round as it happens (--json: one JSON line each) until it closes, then the round')
    .action(async (which: string, flags: CommonFlags & { wait?: boolean, follow?: boolean }) => {
      // waiting and following need the daemon; otherwise, with no daemon running, the ledger store answers
      const client = flags.wait === true || flags.follow === true ? await ControlClient.fromDataDir(flags.dataDir) : await runningDaemon(flags.dataDir)
      if (client !== undefined && flags.follow === true) {
        const r = await followStatus(client, which, flags.json)
        out(flags.json === true ? JSON.stringify(r) + '\n' : renderRound(r))
        return
      }
      if (client === undefined) {
        show(flags.json, await storedRound(flags.dataDir, which), (v) => renderRound(v) + storeNote(flags.dataDir))
        return
      }
      const rounds = roundsClient(client)
      let r = await rounds.status(which)
      if (flags.wait === true && r.state !== 'closed') r = await rounds.waitClosed(r.round)
      show(flags.json, r, renderRound)
    })

  common(round.command('list'))
    .description('every round: outcome, contributions, accuracy of its release, wall time and coordination overhead (from the ledger store when no daemon runs)')
    .action(async (flags: CommonFlags) => {
      show(flags.json, await listRounds(flags.dataDir), renderRounds)
    })

  common(round.command('cancel'))
    .description('cancel an open round this daemon coordinates: its contributions are rejected and no release is made')
    .argument('[round]', 'round number or "latest"', 'latest')
    .option('--reason <text>', 'why, recorded in the round-close entry')
    .action(async (which: string, flags: CommonFlags & { reason?: string }) => {
      const r = await roundsClient(await ControlClient.fromDataDir(flags.dataDir)).cancel(which, flags.reason)
      show(flags.json, r, (v) => `round ${v.round} cancelled: ${v.reason ?? ''}\n`)
    })
}
