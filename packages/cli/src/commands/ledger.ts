import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander'
import {
  ENTRY_CSV_COLUMNS, LEDGER_VIEWS, VIEW_CSV_COLUMNS, checkViewParams, csvLine, entryCsvRow, entryToJson, importEntries, ledgerStats,
  queryView, type EntryJson, type LedgerStats, type LedgerView, type VerifyReport, type ViewParams
} from '@swarmtune/ledger'
import { defaultDataDir } from '@swarmtune/node'
import { ENTRY_KINDS, parseCid } from '@swarmtune/wire'
import { MAX_IMPORT_FILE_BYTES, MAX_IMPORT_LINE_BYTES } from '../constants.js'
import { CliError } from '../errors.js'
import { checkInputFile, checkOutputPath, readInputLines } from '../files.js'
import { authorKeyOption, peerIdText } from '../identity.js'
import { openStore, runningDaemon, storeLabel } from '../store.js'
import { count, intOption, significant } from '../options.js'

interface CommonFlags {
  dataDir: string
  data?: string
  json?: boolean
}

type FilterFlags = CommonFlags & ViewParams

/** Where the ledger is read from: the running daemon's control API, or the store opened here. */
interface Source {
  view: (view: LedgerView, params: ViewParams) => Promise<Array<Record<string, unknown>>>
  show: (id: string) => Promise<EntryJson | undefined>
  stats: () => Promise<LedgerStats>
  verify: () => Promise<VerifyReport>
  close: () => Promise<void>
  via: string
}

const timeArg = (value: string): number => {
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${value} is neither ms since the Unix epoch nor an ISO 8601 time`)
  return n
}

function params (flags: FilterFlags): ViewParams {
  return { kind: flags.kind, author: flags.author, round: flags.round, release: flags.release, since: flags.since, until: flags.until, limit: flags.limit, reverse: flags.reverse }
}

/**
 * The daemon when one runs on the data folder (it holds the store's lock); otherwise the store itself.
 * @throws LedgerLockedError `ERR_LEDGER_LOCKED` when another process holds the store and no daemon answers.
 */
async function openSource (flags: CommonFlags): Promise<Source> {
  const root = flags.data ?? flags.dataDir
  const client = await runningDaemon(root)
  if (client !== undefined) {
    const c = client.ledger
    return {
      via: `daemon at ${client.url}`,
      view: async (view, p) => await c.view(view, p),
      show: async (id) => {
        try {
          return await c.entry(id)
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_LEDGER_NOT_FOUND') return undefined
          throw err
        }
      },
      stats: async () => await c.stats(),
      verify: async () => await c.verify(),
      close: async () => {}
    }
  }
  const ledger = await openStore(root)
  return {
    via: storeLabel(root, ledger),
    view: async (view, p) => await queryView(ledger, view, p),
    show: async (id) => {
      const e = await ledger.get(id).catch(() => undefined)
      return e === undefined ? undefined : entryToJson(e)
    },
    stats: async () => await ledgerStats(ledger),
    verify: async () => await ledger.verify(),
    close: async () => { await ledger.close() }
  }
}

async function withSource<T> (flags: CommonFlags, fn: (source: Source) => Promise<T>): Promise<T> {
  const source = await openSource(flags)
  try {
    return await fn(source)
  } finally {
    await source.close()
  }
}

/** Fewest characters of an entry id `ledger show` takes as a prefix: `bafkrei` (7, the same for every entry id) and 5 more. */
export const MIN_ID_PREFIX_CHARS = 12
/** The start of a base32 CID string (lowercase `b` then base32 digits), at least {@link MIN_ID_PREFIX_CHARS} long. */
const ENTRY_ID_PREFIX = new RegExp(`^b[a-z2-7]{${MIN_ID_PREFIX_CHARS - 1},}$`)

const isCid = (s: string): boolean => {
  try {
    parseCid(s)
    return true
  } catch {
    return false
  }
}

/**
 * The one entry id of `ids` that starts with `prefix` (as shortened ids are printed, e.g. by `round status`), or
 * `undefined` when none does.
 * @throws CliError `ERR_CLI_AMBIGUOUS_ID` when several do, naming up to 5 of them; `list` is the command that lists ids.
 */
export function entryIdOfPrefix (ids: string[], prefix: string, list: string): string | undefined {
  const matches = ids.filter((i) => i.startsWith(prefix))
  if (matches.length <= 1) return matches[0]
  throw new CliError('ERR_CLI_AMBIGUOUS_ID', `${prefix}… is the start of ${matches.length} entry ids (${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', …' : ''}); give more characters or the full id, as ${list} prints it`)
}

const out = (text: string): void => { process.stdout.write(text) }
const short = (s: unknown, n = 12): string => typeof s === 'string' && s.length > n + 1 ? `${s.slice(0, n)}…` : String(s ?? '')

/** What one entry is about, in a few words (a contribution's norm to 4 significant digits). */
export function summary (e: EntryJson): string {
  const b = e.body
  switch (e.kind) {
    case 'genesis': return `community "${String(b.name)}", ${(b.maintainers as unknown[]).length} maintainer(s)`
    case 'round-open': return `base ${short(b.base)}, quorum ${String(b.quorum)}, aggregator ${String((b.aggregator as { name: string }).name)}`
    case 'contribution': return `${String(b.samples)} samples, norm ${typeof b.norm === 'number' ? significant(b.norm) : String(b.norm)}, blob ${short(b.blob)}`
    case 'verdict': return `${b.accepted === true ? 'accepted' : 'rejected'} ${short(b.contribution)} (${String(b.code)})`
    case 'release': return `release ${short(b.manifest)} from ${(b.contributions as unknown[]).length} contribution(s)`
    case 'round-close': return `${String(b.outcome)}: ${String(b.reason)}`
    case 'checkpoint': return `length ${String(b.length)}, head ${short(b.head)}`
  }
}

function table (columns: string[], rows: unknown[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (cells: unknown[]): string => cells.map((cell, i) => String(cell ?? '').padEnd(widths[i])).join('  ').trimEnd() + '\n'
  return line(columns) + rows.map(line).join('')
}

function addFilters (cmd: Command): Command {
  return cmd
    .addOption(new Option('--kind <kind>', 'only entries of this kind').choices([...ENTRY_KINDS]))
    .option('--author <peer id | hex key>', 'only entries by this author: a peer id (12D3KooW…) or its Ed25519 public key as 64 hex digits', authorKeyOption('--author'))
    .option('--round <n>', 'only entries of this round', intOption('--round', 0))
    .option('--release <cid>', 'only entries that name this release manifest')
    .option('--since <time>', 'entries at or after this time (ms since epoch or ISO 8601)', timeArg)
    .option('--until <time>', 'entries at or before this time (ms since epoch or ISO 8601)', timeArg)
    .option('--limit <n>', 'at most this many rows', intOption('--limit', 0))
    .option('--reverse', 'newest first')
}

function common (cmd: Command, json = 'print JSON instead of text'): Command {
  return cmd
    .option('-d, --data-dir <path>', 'data folder (env SWARMTUNE_HOME); the ledger is <data>/ledger', defaultDataDir())
    .addOption(new Option('--data <path>', 'same as --data-dir').hideHelp())
    .option('--json', json)
}

/** Adds `swarmtune ledger` to the program. */
export function register (program: Command): void {
  const ledger = program
    .command('ledger')
    .description('inspect and verify the contribution ledger (through the running daemon, or the store itself when none runs)')

  addFilters(common(ledger.command('list')))
    .description('list entries in time order')
    .action(async (flags: FilterFlags) => {
      await withSource(flags, async (source) => {
        const rows = await source.view('entries', params(flags)) as unknown as EntryJson[]
        if (flags.json === true) return out(JSON.stringify(rows, null, 2) + '\n')
        // full ids and peer ids: each cell can be pasted into `ledger show` or `--author`
        out(table(['time', 'kind', 'author', 'seq', 'id', 'what'], rows.map((e) => [e.time, e.kind, peerIdText(e.author), e.seq, e.id, summary(e)])))
        out(`${count(rows.length, 'entry', 'entries')} (${source.via})\n`)
      })
    })

  common(ledger.command('show'))
    .description('show one entry in full, by its id (CID) or a unique start of it')
    .argument('<id>', 'entry id (CID string), or its first characters (at least 12, a trailing … allowed) when they name one entry')
    .action(async (id: string, flags: CommonFlags) => {
      const list = `\`swarmtune ledger list -d ${flags.data ?? flags.dataDir}\``
      const full = isCid(id)
      const prefix = id.replace(/…$/, '')
      if (!full && !ENTRY_ID_PREFIX.test(prefix)) {
        throw new CliError('ERR_CLI_BAD_CID', `${id} is not an entry id: expected a CID string (bafkrei…, 59 characters) or its first ${MIN_ID_PREFIX_CHARS} or more characters, as ${list} prints them`)
      }
      await withSource(flags, async (source) => {
        const target = full ? id : entryIdOfPrefix((await source.view('entries', {})).map((r) => String(r.id)), prefix, list)
        const e = target === undefined ? undefined : await source.show(target)
        if (e === undefined) throw Object.assign(new Error(`no ledger entry ${id} (${source.via}); list entries with ${list} to find an id`), { code: 'ERR_LEDGER_NOT_FOUND' })
        out(flags.json === true ? JSON.stringify(e, null, 2) + '\n' : `${e.kind} ${e.id}\n  author ${peerIdText(e.author)} (key ${e.author})  seq ${e.seq}  prev ${e.prev ?? '-'}\n  time   ${e.time}\n  ${summary(e)}\n  body   ${JSON.stringify(e.body, null, 2).replace(/\n/g, '\n  ')}\n`)
      })
    })

  common(ledger.command('verify'))
    .description('re-verify every chain, signature, head and index of the ledger (all of it: the checkpoint a reopen uses is not trusted here)')
    .action(async (flags: CommonFlags) => {
      await withSource(flags, async (source) => {
        const report = await source.verify()
        out(flags.json === true
          ? JSON.stringify(report, null, 2) + '\n'
          : `ok: ${count(report.entries, 'entry', 'entries')} in ${count(report.authors, 'author chain')} verified in ${Math.round(report.durationMs)} ms (${count(report.signaturesChecked, 'signature')} checked); ${count(report.evidence, 'equivocation record')} (${source.via})\n`)
      })
    })

  addFilters(common(ledger.command('export'), 'JSON output: JSON Lines, the same as --format jsonl (refused with --format csv)'))
    .description(`export a view as JSON Lines or CSV (views: ${LEDGER_VIEWS.join(', ')}; columns and the filters each view takes in doc/ledger-format.md)`)
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'csv']).default('jsonl'))
    .addOption(new Option('--view <view>', 'what to export').choices([...LEDGER_VIEWS]).default('entries'))
    .option('-o, --out <file>', 'write to this file instead of stdout (an existing file only with --force)')
    .option('--force', 'overwrite the --out file when it exists')
    .action(async (flags: FilterFlags & { format: 'jsonl' | 'csv', view: LedgerView, out?: string, force?: boolean }) => {
      // every check before the store is read or the output touched
      if (flags.json === true && flags.format === 'csv') {
        // printed as ERR_CLI_CONFLICTING_OPTIONS, as commander's own conflicts are
        throw new CommanderError(1, 'commander.conflictingOption', 'error: option \'--json\' (JSON Lines, the same as --format jsonl) cannot be used with option \'--format csv\'; pass one of them')
      }
      checkViewParams(flags.view, params(flags))
      if (flags.out !== undefined) await checkOutputPath(flags.out, { kind: 'file', force: flags.force, flag: '--out' })
      await withSource(flags, async (source) => {
        const rows = await source.view(flags.view, params(flags))
        const sink = flags.out === undefined ? process.stdout : createWriteStream(flags.out)
        // a closed stdout (`| head`) never drains: stop waiting when the sink errors or closes
        const write = async (text: string): Promise<void> => {
          if (!sink.write(text)) await Promise.race([once(sink, 'drain'), once(sink, 'close')]).catch(() => {})
        }
        if (flags.format === 'csv') {
          const columns = flags.view === 'entries' ? ENTRY_CSV_COLUMNS : VIEW_CSV_COLUMNS[flags.view]
          await write(csvLine(columns, Object.fromEntries(columns.map((c) => [c, c]))))
          for (const row of rows) await write(csvLine(columns, flags.view === 'entries' ? entryCsvRow(row as unknown as EntryJson) : row))
        } else {
          for (const row of rows) await write(JSON.stringify(row) + '\n')
        }
        if (sink !== process.stdout) {
          sink.end()
          await once(sink, 'finish')
          process.stderr.write(`${rows.length} rows written to ${flags.out}\n`)
        }
      })
    })

  common(ledger.command('import'))
    .description('import a JSON Lines export into the store (each entry re-verified); also how a store moves to a new schema version')
    .argument('<file>', 'a file written by `swarmtune ledger export --format jsonl`')
    .action(async (file: string, flags: CommonFlags) => {
      const what = 'import file'
      // a missing file, a device or a pipe is refused before the store is opened
      await checkInputFile(file, MAX_IMPORT_FILE_BYTES, what)
      const store = await openStore(flags.data ?? flags.dataDir, 'stop the daemon before importing.', { create: true })
      try {
        const report = await importEntries(store, readInputLines(file, { maxLineBytes: MAX_IMPORT_LINE_BYTES, maxFileBytes: MAX_IMPORT_FILE_BYTES, what }))
        const first = report.rejected[0]
        out(flags.json === true
          ? JSON.stringify(report, null, 2) + '\n'
          : `${count(report.appended, 'entry', 'entries')} imported, ${report.duplicates} already stored, ${report.rejectedCount} refused\n` +
            (first === undefined ? '' : `first refused: line ${first.line}${first.id === undefined ? '' : `, entry ${first.id}`}${first.field === undefined ? '' : `, field ${first.field}`}: ${first.code}${first.reason === undefined ? '' : ` (${first.reason})`}\n`))
        if (report.rejectedCount > 0) process.exitCode = 1
      } finally {
        await store.close()
      }
    })

  common(ledger.command('stats'))
    .description('totals, contributions per round and per peer')
    .action(async (flags: CommonFlags) => {
      await withSource(flags, async (source) => {
        const stats = await source.stats()
        const rounds = await source.view('rounds', {})
        const peers = await source.view('peers', {})
        if (flags.json === true) return out(JSON.stringify({ ...stats, perRound: rounds, perPeer: peers }, null, 2) + '\n')
        const c = stats.contributions
        out(`community   ${stats.community ?? '(none yet)'}\nentries     ${stats.entries === 0 ? 'none yet' : `${stats.entries} by ${count(stats.authors, 'author')} (${Object.entries(stats.byKind).map(([k, n]) => `${n} ${k}`).join(', ')})`}\n` +
          `rounds      ${stats.rounds}, releases ${stats.releases}\ncontributions ${c.total}: ${c.accepted} accepted, ${c.rejected} rejected, ${c.pending} pending\n` +
          `equivocations ${stats.equivocations}${stats.evidenceDropped > 0 ? ` (${stats.evidenceDropped} more conflicting entries dropped over the evidence caps)` : ''}\n\n`)
        out(table(['round', 'contributions', 'contributors', 'accepted', 'rejected', 'pending', 'release'], rounds.map((r) => [r.round, r.contributions, r.contributors, r.accepted, r.rejected, r.pending, r.release ?? '-'])) + '\n')
        out(table(['peer', 'contributions', 'accepted', 'rejected', 'pending', 'samples (accepted)', 'samples (all)', 'rounds'], peers.map((p) => [peerIdText(p.author), p.contributions, p.accepted, p.rejected, p.pending, p.samples, p.samplesAll, (p.rounds as number[]).join(',')])))
        out(`(${source.via})\n`)
      })
    })
}
