/**
 * The resume record of a blob download, `partial/<cid>.json` beside `partial/<cid>.part`: the chunk table the
 * download started with and which chunks are done (one byte per chunk, 1 = verified and written).
 */
import { readFile } from 'node:fs/promises'
import type { CID } from '@swarmtune/wire'
import { z } from 'zod'
import { chunkCount, type ChunkTable } from './blob-store.js'
import { SHA2_256_BYTES } from './cid.js'
import { writeFileAtomic } from './data-dir.js'

const partialStateSchema = z.strictObject({
  v: z.literal(1),
  cid: z.string(),
  size: z.number().int().min(0),
  chunkBytes: z.number().int().positive(),
  hashes: z.string(),
  done: z.string()
})

/**
 * The resume record at `path` for `cid`, or undefined when there is none.
 * @throws Error for a record that does not parse, names another blob, is larger than `maxBytes` or whose table
 *   and done list disagree with its size: the caller starts the download over
 */
export async function readPartialState (path: string, cid: CID, maxBytes: number): Promise<{ table: ChunkTable, done: Uint8Array } | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return undefined
  }
  const s = partialStateSchema.parse(JSON.parse(text))
  const hashes = new Uint8Array(Buffer.from(s.hashes, 'base64'))
  const done = new Uint8Array(Buffer.from(s.done, 'base64'))
  const n = chunkCount(s.size, s.chunkBytes)
  if (s.cid !== cid.toString() || s.size > maxBytes || hashes.length !== n * SHA2_256_BYTES || done.length !== n) {
    throw new Error('inconsistent partial state')
  }
  return { table: { size: s.size, chunkBytes: s.chunkBytes, hashes }, done }
}

/** Writes the resume record of `cid` (atomically: tmp file, rename). */
export async function writePartialState (path: string, cid: CID, table: ChunkTable, done: Uint8Array): Promise<void> {
  await writeFileAtomic(path, JSON.stringify({
    v: 1,
    cid: cid.toString(),
    size: table.size,
    chunkBytes: table.chunkBytes,
    hashes: Buffer.from(table.hashes).toString('base64'),
    done: Buffer.from(done).toString('base64')
  }))
}
