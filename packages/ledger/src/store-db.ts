/**
 * Where a ledger store's database comes from: a LevelDB folder opened with its failures mapped to ledger
 * errors (locked, corrupt, I/O), or an in-memory database; one open store per database in this process;
 * and the `community` option parsed. Used by {@link openLedger} (store.ts).
 */
import { join } from 'node:path'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { parseCid } from '@swarmtune/wire'
import { LedgerArgumentError, LedgerCorruptError, LedgerError, LedgerLockedError } from './errors.js'
import type { StoreLock } from './lock.js'
import type { CID, Db } from './records.js'

/** Databases given to openLedger (`db`) that an open store runs on. */
const openDbs = new WeakSet<Db>()

/** A fresh in-memory database (memory-level, UTF-8 keys, byte values) for {@link openLedger}. */
export function createMemoryDb (): Db {
  return new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Db
}

/**
 * Marks a database given to openLedger as in use by a store.
 * @throws LedgerLockedError `ERR_LEDGER_LOCKED` when a store of this process runs on it already.
 */
export function claimDb (db: Db): void {
  if (openDbs.has(db)) throw new LedgerLockedError('<memory>', { pid: process.pid, self: true })
  openDbs.add(db)
}

/** Ends {@link claimDb}: the database may back a new store. */
export function releaseDb (db: Db): void {
  openDbs.delete(db)
}

/**
 * Opens the LevelDB database in `<dir>/db` (UTF-8 keys, byte values), created when missing.
 *
 * @throws LedgerLockedError `ERR_LEDGER_LOCKED` when LevelDB's own lock is held (`lock` names the holder).
 * @throws LedgerCorruptError `ERR_LEDGER_CORRUPT` when LevelDB reports corruption.
 * @throws LedgerError `ERR_LEDGER_IO` for any other failure to open.
 */
export async function openLevelDb (dir: string, lock: StoreLock): Promise<Db> {
  const db = new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Db
  try {
    await db.open()
  } catch (err) {
    const e = err as { code?: string, cause?: { code?: string } }
    const code = e.cause?.code ?? e.code
    if (code === 'LEVEL_LOCKED') throw new LedgerLockedError(dir, lock.holder(), { cause: err })
    if (code === 'LEVEL_CORRUPTION' || /corruption/i.test(String((err as { cause?: Error }).cause?.message ?? ''))) throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', dir, 'LevelDB reported corruption while opening', {}, { cause: err })
    throw new LedgerError('ERR_LEDGER_IO', `could not open the LevelDB store in ${join(dir, 'db')}: ${String((err as { cause?: Error }).cause?.message ?? (err as Error).message)}. ` +
      'Check the folder\'s permissions and free space; if its files are damaged, move the folder aside and re-sync from peers or restore a backup.', { cause: err })
  }
  return db
}

/** @throws LedgerArgumentError `ERR_LEDGER_BAD_ARGUMENT` for a string that is not a CID. */
export function communityOf (community: CID | string): CID {
  if (typeof community !== 'string') return community
  try {
    return parseCid(community)
  } catch {
    throw new LedgerArgumentError(`community ${JSON.stringify(community.slice(0, 80))} is not a CID string; give the community id (the CID of its genesis entry, bafkrei…)`)
  }
}
