/**
 * Where a command reads a data folder's ledger: the running daemon (through its control API; it holds the
 * store's lock), or, when no daemon runs there, the LevelDB store itself. The ledger commands and `round list` /
 * `release list` read through here, so they work with and without a daemon.
 */
import { openLedger, type Ledger } from '@swarmtune/ledger'
import { Community, ControlClient, dataDirPaths, releaseViews, roundOpens, roundView, type ReleaseView, type RoundView } from '@swarmtune/node'

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

/**
 * Opens the ledger store of the data folder `root` (`<root>/ledger`); close it when done.
 * @throws Error `ERR_LEDGER_LOCKED` naming the holder when another process holds the store (what to do: `hint`,
 *   by default waiting for or stopping that process), and whatever `openLedger` throws otherwise.
 */
export async function openStore (root: string, hint = 'and no daemon answers on this data folder. Wait for that process to finish, or stop it, then run this again.'): Promise<Ledger> {
  const path = dataDirPaths(root).ledger
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
  if (client !== undefined) return await client.request<RoundView[]>('GET', '/v1/rounds')
  return await withStore(root, async (ledger) => await Promise.all((await roundOpens(ledger)).map(async (o) => await roundView(ledger, o))))
}

/**
 * The genesis release and every release since, oldest first, as `GET /v1/rounds/releases` answers.
 * @throws Error `ERR_ROUNDS_NO_COMMUNITY` when the store holds no genesis yet (the folder joined no community).
 */
export async function listReleases (root: string): Promise<ReleaseView[]> {
  const client = await runningDaemon(root)
  if (client !== undefined) return await client.request<ReleaseView[]>('GET', '/v1/rounds/releases')
  return await withStore(root, async (ledger) => {
    const id = ledger.community
    const genesis = id === undefined ? undefined : await ledger.get(id)
    if (genesis === undefined) {
      throw Object.assign(new Error(`the ledger of ${root} holds no community yet: start its daemon with \`swarmtune daemon -d ${root} --community <genesis file>\`, or join one with \`swarmtune community join <genesis file> -d ${root}\``), { code: 'ERR_ROUNDS_NO_COMMUNITY' })
    }
    return await releaseViews(ledger, Community.fromGenesis(genesis))
  })
}
