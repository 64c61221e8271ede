/**
 * A data folder belongs to one community. When a daemon is started on a folder with the genesis of another
 * community (`swarmtune daemon -d <folder> --community <other.genesis>`), the ledger refuses to open bound to it
 * (`ERR_LEDGER_COMMUNITY_MISMATCH`). That code's remedy, `swarmtune doctor --repair`, is right only when the
 * folder's ledger holds entries foreign to the folder itself (peers of another community filled it); when the
 * ledger holds the folder's own community and only the `--community` file is another's, the wrong file is the
 * cause, and this module says so (`ERR_ROUNDS_COMMUNITY_MISMATCH`).
 */
import { openLedger, type LedgerCommunityError } from '@swarmtune/ledger'
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
