/**
 * Bounded reads of local files (config.json, identity.key, control.token, rounds.json, and every file the CLI
 * reads): open, stat the open handle (a regular file of at most `maxBytes` bytes), then read at most
 * `maxBytes + 1` bytes, so a device (a link to /dev/zero), a FIFO or a file growing under us can never make a
 * read hang or eat memory. The caller turns each failure into its own coded error through `fail`.
 */
import { constants as fsConstants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/** Why a bounded read was refused: cannot be opened (`errno` says why), not a regular file, or too large. */
export interface BoundedFileFailure {
  problem: 'unreadable' | 'not-a-file' | 'too-large'
  /** What happened, naming the file (`the <what> <path> …`), without advice; callers append what to do. */
  message: string
  /** The errno code when the file could not be opened (`ENOENT`, `EACCES` …). */
  errno?: string
  cause?: unknown
}

/** Turns a refused read into the caller's coded error. */
export type BoundedFileErrorFactory = (failure: BoundedFileFailure) => Error

/**
 * Opens `path` for reading and checks, on the open handle, that it is a regular file of at most `maxBytes`
 * bytes. `what` names the file in messages ("config.json", "genesis file" …). The caller closes the handle.
 * @throws the error `fail` returns.
 */
export async function openBoundedFile (path: string, maxBytes: number, what: string, fail: BoundedFileErrorFactory): Promise<{ fh: FileHandle, size: number }> {
  let fh: FileHandle
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
    fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK)
  } catch (err) {
    throw fail({ problem: 'unreadable', message: `cannot open the ${what} ${path}: ${(err as Error).message}`, errno: (err as NodeJS.ErrnoException).code, cause: err })
  }
  try {
    const s = await fh.stat()
    if (!s.isFile()) {
      throw fail({ problem: 'not-a-file', message: `the ${what} ${path} is not a regular file (a ${s.isDirectory() ? 'folder' : 'device, pipe or socket'})` })
    }
    if (s.size > maxBytes) {
      throw fail({ problem: 'too-large', message: `the ${what} ${path} is ${s.size} bytes; at most ${maxBytes} are accepted` })
    }
    return { fh, size: s.size }
  } catch (err) {
    await fh.close()
    throw err
  }
}

/**
 * Reads a whole regular file of at most `maxBytes` bytes; never reads more than `maxBytes + 1` bytes, even if
 * the file grows after the stat.
 * @throws the error `fail` returns.
 */
export async function readBoundedFile (path: string, maxBytes: number, what: string, fail: BoundedFileErrorFactory): Promise<Uint8Array> {
  const { fh } = await openBoundedFile(path, maxBytes, what, fail)
  try {
    const buf = new Uint8Array(maxBytes + 1)
    let n = 0
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n)
      if (bytesRead === 0) break
      n += bytesRead
    }
    if (n > maxBytes) throw fail({ problem: 'too-large', message: `the ${what} ${path} grew past ${maxBytes} bytes while being read; at most ${maxBytes} are accepted` })
    return buf.subarray(0, n)
  } finally {
    await fh.close()
  }
}
