/**
 * A data folder belongs to one community. When a daemon is started on a folder with the genesis of another
 * community (`swarmtune daemon -d <folder> --community <other.genesis>`), the ledger refuses to open bound to it
 * (`ERR_LEDGER_COMMUNITY_MISMATCH`). That code's remedy, `swarmtune doctor --repair`, is right only when the
 * folder's ledger holds entries foreign to the folder itself (peers of another community filled it); when the
 * ledger holds the folder's own community and only the `--community` file is another's, the wrong file is the
 * cause, and this module says so (`ERR_ROUNDS_COMMUNITY_MISMATCH`).
 */
import { access, rename } from 'node:fs/promises'
import { openLedger, toHex, type LedgerCommunityError } from '@swarmtune/ledger'
import { acquireLock, type DataDir } from '@swarmtune/node'
import { Community, keyHex, readGenesisFile } from './community.js'
import { readRoundsConfig, resolveIn, type RoundsConfigInit } from './config.js'
import { CommunityError } from './errors.js'
import { commandHint } from './hints.js'

/** What the message names of one community. */
interface Named { id: string, name?: string }

const named = (c: Named): string => c.name === undefined ? c.id : `${c.name} (${c.id})`

/**
 * The error for "this folder belongs to community X, you passed the genesis of Y", naming both communities and
 * both remedies.
 * @param root the data folder (absolute).
 * @param folder the community of the folder's ledger, with how many entries it holds and how many this node signed.
 * @param passed the community of the genesis file given, and the file.
 * @param ownFile the genesis file rounds.json names for the folder's own community, when it names one.
 */
export function communityMismatchError (root: string, folder: Named & { entries: number, own?: number }, passed: Named & { file?: string }, ownFile?: string, options?: { cause?: unknown }): CommunityError {
  const own = folder.own === undefined || folder.own === 0 ? '' : `, ${folder.own} of them signed by this node`
  const given = passed.file === undefined ? 'the genesis given' : `--community ${passed.file}`
  const start = ownFile === undefined
    ? `\`${commandHint(root, 'daemon', '--community <the genesis file of ' + (folder.name ?? folder.id) + '>')}\``
    : `\`${commandHint(root, 'daemon')}\` (its rounds.json names ${ownFile})`
  return new CommunityError('ERR_ROUNDS_COMMUNITY_MISMATCH',
    `the data folder ${root} belongs to community ${named(folder)}: its ledger holds ${folder.entries} entries of it${own}; ` +
    `${given} is the genesis of another community, ${named(passed)}. A data folder serves one community. ` +
    `Either start this folder with its own community's genesis: ${start}; ` +
    `or use another data folder for ${passed.name ?? passed.id}: \`swarmtune init -d <new folder>\`, then ` +
    `\`swarmtune community join ${passed.file ?? '<genesis file>'} -d <new folder> --mnist | --images … --labels …\` and \`swarmtune daemon -d <new folder>\`. ` +
    'Nothing in this folder was changed.', options)
}

/**
 * Explains a ledger that refused to open bound to the community a daemon was started with. When the genesis
 * came from `--community` (`rounds.community`) and the folder's own rounds.json names the ledger's community or
 * none, the ledger is the folder's own and the file is wrong: {@link communityMismatchError}. Otherwise the
 * ledger holds entries foreign to the folder, and the ledger's error (whose remedy is `doctor --repair`) stands.
 * @param root the data folder; its ledger is `<root>/ledger` (read unbound here, only to name its community).
 * @returns the error to throw.
 */
export async function explainLedgerMismatch (root: string, ledgerPath: string, key: Uint8Array, err: LedgerCommunityError, rounds: { community?: string, config?: RoundsConfigInit } = {}): Promise<Error> {
  if (rounds.community === undefined) return err
  let ownFile: string | undefined
  try {
    ownFile = (await readRoundsConfig(root, rounds.config)).community
    if (ownFile !== undefined && (await readGenesisFile(resolveIn(root, ownFile))).id.toString() !== err.found) return err
  } catch {
    return err
  }
  const passed = await readGenesisFile(resolveIn(root, rounds.community)).catch(() => undefined)
  const folder: Named & { entries: number, own?: number } = { id: err.found, entries: err.entries }
  try {
    const ledger = await openLedger({ path: ledgerPath })
    try {
      const genesis = await ledger.get(err.found)
      if (genesis !== undefined) folder.name = Community.fromGenesis(genesis).name
      folder.own = ledger.head(keyHex(key))?.length ?? 0
    } finally {
      await ledger.close()
    }
  } catch {
    // the names are a courtesy: the ids say the same
  }
  return communityMismatchError(root, folder, { id: passed?.id.toString() ?? err.expected, ...(passed === undefined ? {} : { name: passed.name }), file: rounds.community }, ownFile, { cause: err })
}

/**
 * The community a data folder belongs to: the genesis file `rounds.community` (as `--community` gives it),
 * else the one `<root>/rounds.json` names (`swarmtune community join` writes it); undefined when neither is set.
 * @throws CommunityError `ERR_ROUNDS_BAD_GENESIS` for an unreadable or invalid genesis file.
 * @throws RoundsConfigError `ERR_ROUNDS_CONFIG_INVALID` for an invalid rounds.json.
 */
export async function folderCommunity (root: string, rounds: { community?: string, config?: RoundsConfigInit } = {}): Promise<Community | undefined> {
  const file = rounds.community ?? (await readRoundsConfig(root, rounds.config)).community
  return file === undefined ? undefined : await readGenesisFile(resolveIn(root, file))
}

/** A data folder's ledger as `swarmtune doctor` reports it (read with the daemon stopped). */
export interface FolderLedgerReport {
  /** `<root>/ledger`. */
  path: string
  /** The community the folder belongs to ({@link folderCommunity}), when it names one. */
  folder?: { id: string, name: string }
  /** Community of the ledger's entries (or the one it is bound to); undefined for an empty, unbound ledger. */
  ledger?: string
  entries: number
  authors: number
  /** Entries signed by the folder's own key. */
  own: number
  evidence: number
  evidenceDropped: number
  /** True when the ledger belongs to another community than the folder: the daemon refuses to start on it. */
  foreign: boolean
}

/**
 * Opens (and so verifies) a data folder's ledger without binding it, and compares its community with the
 * folder's. The daemon must not be running (its ledger is locked).
 * @throws LedgerLockedError `ERR_LEDGER_LOCKED`, LedgerCorruptError and the errors of {@link folderCommunity}.
 */
export async function inspectFolderLedger (dataDir: DataDir, rounds: { community?: string, config?: RoundsConfigInit } = {}): Promise<FolderLedgerReport> {
  const community = await folderCommunity(dataDir.paths.root, rounds)
  const ledger = await openLedger({ path: dataDir.paths.ledger })
  try {
    const ownKey = toHex(dataDir.privateKey.publicKey.raw)
    const ledgerCommunity = ledger.community?.toString()
    return {
      path: dataDir.paths.ledger,
      ...(community === undefined ? {} : { folder: { id: community.id.toString(), name: community.name } }),
      ...(ledgerCommunity === undefined ? {} : { ledger: ledgerCommunity }),
      entries: ledger.size,
      authors: ledger.heads().length,
      own: ledger.head(ownKey)?.length ?? 0,
      evidence: ledger.evidenceCount,
      evidenceDropped: ledger.evidenceDropped,
      foreign: community !== undefined && ledgerCommunity !== undefined && ledgerCommunity !== community.id.toString()
    }
  } finally {
    await ledger.close()
  }
}

/**
 * Repairs a data folder whose ledger belongs to another community than the folder (filled by that
 * community's peers): with the folder locked against a daemon starting, moves `<root>/ledger` to
 * `<root>/ledger.foreign-<community id>` (nothing is deleted; a chain of the folder's own key is kept there),
 * so the daemon starts on an empty ledger bound to the folder's community and syncs it from peers.
 * @returns the report before the repair and where the ledger went (undefined when it was not foreign).
 * @throws DaemonLockedError `ERR_NODE_LOCKED` while a daemon runs on the folder; the errors of {@link inspectFolderLedger}.
 */
export async function moveForeignLedgerAside (dataDir: DataDir, rounds: { community?: string, config?: RoundsConfigInit } = {}): Promise<{ report: FolderLedgerReport, movedTo?: string }> {
  const lock = await acquireLock(dataDir.paths.lock, { dataDir: dataDir.paths.root })
  try {
    const report = await inspectFolderLedger(dataDir, rounds)
    if (!report.foreign) return { report }
    let movedTo = `${dataDir.paths.ledger}.foreign-${report.ledger as string}`
    for (let n = 2; await access(movedTo).then(() => true, () => false); n++) movedTo = `${dataDir.paths.ledger}.foreign-${report.ledger as string}-${n}`
    await rename(dataDir.paths.ledger, movedTo)
    return { report, movedTo }
  } finally {
    await lock.release()
  }
}
