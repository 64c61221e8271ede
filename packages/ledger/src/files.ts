/**
 * Durable file writes: the ledger's side files (lengths.json) and, through this package's exports, the daemon's
 * blob store and secret files write a new file's bytes and fsync them before it is renamed into place or used.
 */
import { open } from 'node:fs/promises'

/**
 * Writes `data` to the file `path` (created with `options.mode`), fsyncs it and closes it, so that a rename
 * of it afterwards does not expose a torn file after a crash. `options.flag` is `'w'` (replace a file left
 * there) or `'wx'` (fail with `EEXIST` when one exists). The file is closed whatever happens.
 * @throws the file system's error (`EEXIST`, `ENOSPC`, …)
 */
export async function writeSynced (path: string, data: string | Uint8Array, options: { flag: 'w' | 'wx', mode: number }): Promise<void> {
  const handle = await open(path, options.flag, options.mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}
