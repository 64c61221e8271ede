/**
 * Where a command reads a data folder's ledger: the running daemon (through its control API; it holds the
 * store's lock), or, when no daemon runs there, the LevelDB store itself. The ledger commands, `round list | status`,
 * `release list / show / pull / export / verify` and `community show` read through here, so they work with
 * and without a daemon. Reading creates nothing: a folder whose ledger was never created reads as an empty
 * ledger, and its blob store is read without being opened for writing.
 */
import { stat } from 'node:fs/promises'
import { createMemoryDb, openLedger, type Ledger } from '@swarmtune/ledger'
import { BlobStore, ControlClient, DEFAULT_CONFIG, dataDirPaths } from '@swarmtune/node'
import { Community, releaseViews, roundOpens, roundView, roundsClient, type ReleaseView, type RoundView } from '@swarmtune/rounds'

/**
 * The control client of the daemon running on `root`, or `undefined` when none runs there.
 * @throws what `ControlClient.fromDataDir` throws other than `ERR_NODE_DAEMON_NOT_RUNNING` (an unreadable token …)
 */
export async function runningDaemon (root: string): Promise<ControlClient | undefined> {
  try {
    return await ControlClient.fromDataDir(root)
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NODE_DAEMON_NOT_RUNNING') return undefined
    throw err
  }
}

const exists = async (path: string): Promise<boolean> => await stat(path).then(() => true, () => false)

/** The `via` text of a store `openStore` opened for `root`: its folder, or that none exists yet. */
export function storeLabel (root: string, ledger: Ledger): string {
  const path = dataDirPaths(root).ledger
  return ledger.path === '<memory>' ? `no ledger at ${path} yet: empty` : `store ${ledger.path}`
}

/**
 * Opens the ledger store of the data folder `root` (`<root>/ledger`); close it when done. With `create` false
 * (reading) a folder whose store does not exist yet gives an empty in-memory ledger, so that reading creates
 * nothing on disk.
 * @throws Error `ERR_NODE_DATA_DIR_MISSING` when reading and `root` does not exist (a mistyped `-d`).
 * @throws Error `ERR_LEDGER_LOCKED` naming the holder when another process holds the store (what to do: `hint`,
 *   by default waiting for or stopping that process), and whatever `openLedger` throws otherwise.
 */
export async function openStore (root: string, hint = 'and no daemon answers on this data folder. Wait for that process to finish, or stop it, then run this again.', options: { create?: boolean } = {}): Promise<Ledger> {
  const paths = dataDirPaths(root)
  const path = paths.ledger
  if (options.create !== true && !(await exists(`${path}/db`))) {
    if (!(await exists(paths.root))) {
      throw Object.assign(new Error(`there is no data folder ${paths.root}: check -d / SWARMTUNE_HOME, or create one with \`swarmtune init -d ${paths.root}\``), { code: 'ERR_NODE_DATA_DIR_MISSING' })
    }
    return await openLedger({ db: createMemoryDb() })
  }
  try {
    return await openLedger({ path })
  } catch (err) {
    const e = err as { code?: string, pid?: number }
    if (e.code !== 'ERR_LEDGER_LOCKED') throw err
    throw Object.assign(new Error(`the ledger at ${path} is locked by ${e.pid === undefined ? 'another process' : `process ${e.pid}`}, ${hint}`), { code: 'ERR_LEDGER_LOCKED', cause: err })
  }
}

/** Runs `fn` on the store of `root` (see {@link openStore}) and closes it, also when `fn` throws. */
export async function withStore<T> (root: string, fn: (ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = await openStore(root)
  try {
    return await fn(ledger)
  } finally {
    await ledger.close()
  }
}

/** Every round the ledger records, oldest first, as `GET /v1/rounds` answers (a daemon's answer, or the store's). */
export async function listRounds (root: string): Promise<RoundView[]> {
  const client = await runningDaemon(root)
  if (client !== undefined) return await roundsClient(client).list()
  return await withStore(root, async (ledger) => await Promise.all((await roundOpens(ledger)).map(async (o) => await roundView(ledger, o))))
}

/**
 * Round `which` (a round number or `latest`) as the store of `root` records it, read with no daemon running:
 * the ledger's part of `GET /v1/rounds/:round` (round-open parameters, contributions, verdicts, release, close).
 * @throws Error `ERR_ROUNDS_BAD_PARAMS` when `which` is neither a round number nor `latest`.
 * @throws Error `ERR_ROUNDS_NOT_FOUND` when the ledger holds no such round (or no round at all, for `latest`).
 */
export async function storedRound (root: string, which: string): Promise<RoundView> {
  if (which !== 'latest' && !/^\d{1,15}$/.test(which)) {
    throw Object.assign(new Error(`'${which}' is not a round number; use a number or "latest" (\`swarmtune round list -d ${root}\` lists them)`), { code: 'ERR_ROUNDS_BAD_PARAMS' })
  }
  return await withStore(root, async (ledger) => {
    const opens = await roundOpens(ledger, which === 'latest' ? undefined : Number(which))
    const open = opens.at(-1)
    if (open === undefined) {
      throw Object.assign(new Error(which === 'latest'
        ? `the ledger of ${root} holds no round yet; a maintainer opens one with \`swarmtune round start -d <its folder>\``
        : `round ${which} is not in the ledger of ${root}; \`swarmtune round list -d ${root}\` lists the rounds it holds`), { code: 'ERR_ROUNDS_NOT_FOUND' })
    }
    return await roundView(ledger, open)
  })
}

/**
 * The community whose genesis the store of `root` holds.
 * @throws Error `ERR_ROUNDS_NO_COMMUNITY` when the store holds no genesis yet (the folder joined no community).
 */
export async function storedCommunity (root: string, ledger: Ledger): Promise<Community> {
  const id = ledger.community
  const genesis = id === undefined ? undefined : await ledger.get(id)
  if (genesis === undefined) {
    throw Object.assign(new Error(`the ledger of ${root} holds no community yet: start its daemon with \`swarmtune daemon -d ${root} --community <genesis file>\`, or join one with \`swarmtune community join <genesis file> -d ${root}\``), { code: 'ERR_ROUNDS_NO_COMMUNITY' })
  }
  return Community.fromGenesis(genesis)
}

/**
 * The genesis release and every release since, oldest first, as `GET /v1/rounds/releases` answers.
 * @throws Error `ERR_ROUNDS_NO_COMMUNITY` when the store holds no genesis yet (the folder joined no community).
 */
export async function listReleases (root: string): Promise<ReleaseView[]> {
  const client = await runningDaemon(root)
  if (client !== undefined) return await roundsClient(client).releases()
  return await withStore(root, async (ledger) => await releaseViews(ledger, await storedCommunity(root, ledger)))
}

/**
 * The release `ref` names among `releases` (oldest first, as {@link listReleases} gives them): a round number,
 * `latest`, a manifest CID or a release entry id — what the daemon's `GET /v1/rounds/releases/:ref` takes.
 * @throws Error `ERR_ROUNDS_RELEASE_NOT_FOUND` naming the rounds that made a release.
 */
export function findReleaseView (releases: ReleaseView[], ref: string, root: string): ReleaseView {
  const found = /^\d{1,15}$/.test(ref)
    ? releases.find((r) => r.round === Number(ref))
    : ref === 'latest' ? releases[releases.length - 1] : releases.find((r) => r.manifest === ref || r.entry === ref)
  if (found !== undefined) return found
  throw Object.assign(new Error(`no release ${ref} in the ledger of ${root}; the rounds with a release are ${releases.map((r) => r.round).join(', ')} (\`swarmtune release list -d ${root}\`)`), { code: 'ERR_ROUNDS_RELEASE_NOT_FOUND' })
}

/**
 * The blob store of `root` for reading only: never opened (`open` creates its folders), so that a command
 * reading it creates nothing. `has` is false for every blob when the folder has no blob store.
 */
export function readBlobStore (root: string): BlobStore {
  return new BlobStore({ root: dataDirPaths(root).blobs, maxBlobBytes: DEFAULT_CONFIG.blobs.maxBlobBytes })
}
