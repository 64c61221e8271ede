/**
 * One error class per failure kind, each a `SwarmtuneError` (`@swarmtune/wire`) whose `name` is its class's and
 * whose `code` is stable (doc/errors.md, `## ledger`). Messages say what happened, what was expected and what to
 * do; tests check `code` and `name` only.
 */

import { SwarmtuneError, withCode } from '@swarmtune/wire'
import { base58btc } from 'multiformats/bases/base58'

/** Base class: every ledger error has a stable `code`. */
export class LedgerError<C extends string = string> extends SwarmtuneError<C> {}

/** Who holds a locked store, as far as it can be told (see lock.ts). */
export interface LockHolder {
  /** The holder's pid, when known: a live process the lock file names, or the one /proc/locks shows holding LevelDB's LOCK. */
  pid?: number
  /** True when the holder is this process. */
  self?: boolean
  /**
   * What `<store>/lock` said: `live` (it names `pid`), `stale` (it names `lockFilePid`, which is not running
   * or was started after the lock was written), `missing` (there was none), `unreadable` (not lock JSON).
   * `lockFilePid` is the pid a `live` or `stale` lock file names.
   */
  lockFile?: 'live' | 'stale' | 'missing' | 'unreadable'
  lockFilePid?: number
}

function holderText (path: string, h: LockHolder): string {
  const lockFile = h.lockFile === 'stale'
    ? `its lock file ${path}/lock names process ${h.lockFilePid ?? '?'}, which is not running (a stale lock file)`
    : h.lockFile === 'missing' ? `its lock file ${path}/lock was missing` : h.lockFile === 'unreadable' ? `its lock file ${path}/lock is unreadable` : undefined
  if (h.self === true) {
    return `is already open in this process (pid ${process.pid}); close that ledger before opening it again`
  }
  if (h.pid !== undefined) {
    const other = lockFile ?? (h.lockFilePid !== undefined && h.lockFilePid !== h.pid ? `its lock file ${path}/lock names process ${h.lockFilePid}, a reused pid` : undefined)
    return `is locked by process ${h.pid}${other === undefined ? '' : ` (LevelDB's lock ${path}/db/LOCK is held by it; ${other})`}. ` +
      'Stop that process, or query it through its control API (the CLI does this when the daemon runs)'
  }
  return `is locked by another process: LevelDB's lock ${path}/db/LOCK is held, and ${lockFile ?? 'its lock file names no running process'}, so the holder is unknown. ` +
    `Find it with \`fuser -v ${path}/db/LOCK\` (or \`lsof\`) and stop it; a stale lock file is taken over by the next open, nothing needs deleting`
}

/**
 * The store is open in another process, or already in this one (`ERR_LEDGER_LOCKED`). `pid` is the holder
 * when known; the message says what the lock file held (live, stale or missing) and what to do.
 */
export class LedgerLockedError extends LedgerError {
  readonly pid: number | undefined
  readonly holder: LockHolder
  constructor (path: string, holder: LockHolder, options?: { cause?: unknown }) {
    super('ERR_LEDGER_LOCKED', `the ledger at ${path} ${holderText(path, holder)}; only one process may open a store at a time.`, options)
    this.pid = holder.pid
    this.holder = holder
  }
}

/** Where in the store a verification failure was found. */
export interface CorruptionDetail {
  /** Author of the damaged chain, 64 lowercase hex characters, when the damage is in a chain. */
  author?: string
  /** Sequence number at which the damage was found. */
  seq?: number
  /** The LevelDB key involved, when one is. */
  key?: string
  /**
   * `ERR_LEDGER_TRUNCATED`: the author's missing sequence numbers, inclusive (`to` absent when only the first
   * missing one is known).
   */
  missing?: { from: number, to?: number }
}

/**
 * The libp2p peer id (`12D3KooW…`) of a 32-byte Ed25519 public key given as 64 hex digits: base58btc of the
 * identity multihash of the protobuf `PublicKey { Type: Ed25519, Data: key }` (libp2p peer-ids spec), the
 * form the CLI and the daemon print. Returns undefined for anything else.
 */
export function peerIdOfAuthor (author: string): string | undefined {
  if (!/^[0-9a-f]{64}$/.test(author)) return undefined
  // 0x00 0x24: identity multihash of 36 bytes; 0x08 0x01: Type = Ed25519; 0x12 0x20: Data, 32 bytes
  return base58btc.baseEncode(Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...Buffer.from(author, 'hex')]))
}

/** What a truncation failure says beyond `what`: whose entries are missing, which, and how to get them back. */
function truncationText (path: string, d: CorruptionDetail): string {
  const range = d.missing === undefined ? '' : d.missing.to === undefined ? ` from seq ${d.missing.from} on` : d.missing.to === d.missing.from ? ` at seq ${d.missing.from}` : ` at seqs ${d.missing.from}–${d.missing.to}`
  const who = d.author === undefined
    ? 'Which author\'s entries are missing is not recorded (lengths.json names none).'
    : `The missing entries are author ${peerIdOfAuthor(d.author) ?? d.author}'s (key ${d.author})${range}.`
  return `${who} The store was not opened, so no shortened chain is served. To get them back: move ${path} aside and start the daemon ` +
    'on an empty ledger, which syncs every chain again from peers (that author\'s own node, or any peer that holds its chain); or import a ' +
    '`swarmtune ledger export --format jsonl` taken before the loss into the new store (`swarmtune ledger import <file>`); or restore a backup.'
}

/**
 * The stored data fails re-verification. Codes: `ERR_LEDGER_CORRUPT` (a chain, signature, head, index or
 * summary record does not check out, or LevelDB reported corruption) and `ERR_LEDGER_TRUNCATED` (a chain
 * is shorter than it was known to be: entries were lost). The store is never served in this state.
 */
export class LedgerCorruptError extends LedgerError {
  readonly detail: CorruptionDetail
  constructor (code: 'ERR_LEDGER_CORRUPT' | 'ERR_LEDGER_TRUNCATED', path: string, what: string, detail: CorruptionDetail = {}, options?: { cause?: unknown }) {
    super(code, code === 'ERR_LEDGER_TRUNCATED'
      ? `the ledger at ${path} failed verification: ${what}. ${truncationText(path, detail)}`
      : `the ledger at ${path} failed verification: ${what}. It was not opened, so no altered or shortened chain is served. ` +
        'Move the folder aside and re-sync from peers (start the daemon on an empty ledger), or restore it from a backup.', options)
    this.detail = detail
  }
}

/** The store was written under another schema version (`ERR_LEDGER_SCHEMA`). */
export class LedgerSchemaError extends LedgerError {
  readonly found: unknown
  readonly expected: number
  constructor (path: string, found: unknown, expected: number) {
    const how = typeof found === 'number' && found > expected
      ? 'It was written by a newer swarmtune: upgrade swarmtune to open it.'
      : 'To migrate, export it with the swarmtune version that wrote it (`swarmtune ledger export --format jsonl`) ' +
        'and import the file into a new store with this version (`swarmtune ledger import <file>`); every entry is re-verified on import.'
    super('ERR_LEDGER_SCHEMA', `the ledger at ${path} has store schema ${JSON.stringify(found)}, this swarmtune reads schema ${expected}. ${how}`)
    this.found = found
    this.expected = expected
  }
}

/**
 * The store holds entries of another community than the one it was opened for (`ERR_LEDGER_COMMUNITY_MISMATCH`).
 * `found` and `expected` are community CID strings; `entries` how many entries the store holds.
 */
export class LedgerCommunityError extends LedgerError {
  readonly found: string
  readonly expected: string
  readonly entries: number
  constructor (path: string, found: string, expected: string, entries: number) {
    super('ERR_LEDGER_COMMUNITY_MISMATCH',
      `the ledger at ${path} holds ${entries} entries of community ${found}, but was opened for community ${expected}; a store belongs to one community. ` +
      'If peers of the other community filled it (an earlier swarmtune took any community\'s entries into an empty ledger), ' +
      '`swarmtune doctor --repair --data-dir <its data folder>` moves it aside, and the daemon syncs its own community\'s ledger from peers again; ' +
      'otherwise use another data folder for the other community.')
    this.found = found
    this.expected = expected
    this.entries = entries
  }
}

/** An operation on a closed ledger (`ERR_LEDGER_CLOSED`). */
export class LedgerClosedError extends LedgerError {
  constructor () {
    super('ERR_LEDGER_CLOSED', 'the ledger is closed; open it again with openLedger() before using it')
  }
}

/**
 * An entry was refused by `append`. Codes: `ERR_LEDGER_INVALID_ENTRY` (wire validation failed: size, schema,
 * canonical form or signature; the wire code is in `cause`), `ERR_LEDGER_WRONG_COMMUNITY`, `ERR_LEDGER_GAP`
 * (its seq is past the author's head + 1), `ERR_LEDGER_FORK` (its prev is not the author's head),
 * `ERR_LEDGER_EQUIVOCATION` (another entry is stored for this author and seq), `ERR_LEDGER_BAD_CHECKPOINT`,
 * `ERR_LEDGER_NOT_MAINTAINER` (a round-open, verdict, release or round-close whose author the genesis does not
 * name), `ERR_LEDGER_NO_GENESIS` (such an entry before the genesis is stored).
 */
export class LedgerEntryError extends LedgerError {}

/** No entry matches the id or position asked for (`ERR_LEDGER_NOT_FOUND`). */
export class LedgerNotFoundError extends LedgerError {
  constructor (what: string) {
    super('ERR_LEDGER_NOT_FOUND', `no ledger entry ${what}; list entries with \`swarmtune ledger list\` to find an id`)
  }
}

/** A query or option was malformed (`ERR_LEDGER_BAD_ARGUMENT`). */
export class LedgerArgumentError extends withCode(LedgerError, 'ERR_LEDGER_BAD_ARGUMENT') {}

/**
 * A view was given a filter it does not apply (`ERR_LEDGER_UNSUPPORTED_FILTER`): refused rather than
 * ignored, so an export never silently holds more rows than asked for. `supported` lists the view's filters.
 */
export class LedgerFilterError extends LedgerError {
  readonly view: string
  readonly filters: string[]
  readonly supported: string[]
  constructor (view: string, filters: string[], supported: readonly string[]) {
    super('ERR_LEDGER_UNSUPPORTED_FILTER',
      `the ${view} view does not take ${filters.map((f) => `--${f}`).join(', ')}; it takes ${supported.map((f) => `--${f}`).join(', ')}. ` +
      'Leave the others out, or export the entries view, which takes every filter.')
    this.view = view
    this.filters = filters
    this.supported = [...supported]
  }
}

/**
 * A sync session failed. Codes: `ERR_LEDGER_SYNC_PROTOCOL` (malformed or unexpected frame from the peer),
 * `ERR_LEDGER_SYNC_FRAME_TOO_LARGE`, `ERR_LEDGER_SYNC_LIMIT` (the peer exceeded a session limit),
 * `ERR_LEDGER_SYNC_TIMEOUT` (no frame for SYNC_IDLE_TIMEOUT_MS). An aborted session throws the `AbortError`
 * of `@swarmtune/wire` (`ERR_ABORTED`).
 */
export class LedgerSyncError extends LedgerError {}
