/**
 * A content-addressed blob store on disk, verified on read.
 *
 * Layout under `<data>/blobs/`:
 * ```
 *   <xy>/<cid>        one file per blob; <xy> = the two characters before the last of the CID string
 *   tmp/              files being written (renamed into place when complete; emptied on open)
 *   partial/<cid>.part, <cid>.json   resumable downloads (data at its final offsets + which chunks are done)
 *   corrupt/<cid>.<ms>               blobs that failed verification, kept as evidence, never served
 * ```
 * A blob file is only ever created by a rename of a complete, hashed file, so a crash leaves either no blob
 * or a whole one. Every read is checked: a blob's chunk table (sha2-256 of each {@link BLOB_CHUNK_BYTES}
 * chunk) is computed from a full verification against the CID on first use (and again whenever the file's
 * size, mtime or inode change), and each chunk read afterwards is checked against it. A mismatch moves the
 * file to `corrupt/` and throws `BlobCorruptError`.
 */
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { writeSynced } from '@swarmtune/ledger'
import { blobCidFromDigest, bytesEqual, digestOf, sha256, sha256Of, SHA2_256_BYTES } from './cid.js'
import { BLOB_CHUNK_BYTES, CHUNK_TABLE_CACHE_ENTRIES } from './constants.js'
import { AbortedError, BlobCorruptError, BlobNotFoundError, BlobTooLargeError } from './errors.js'

/** Size and per-chunk sha2-256 digests of a blob. */
export interface ChunkTable {
  /** Blob size in bytes. */
  size: number
  /** Chunk size in bytes; the last chunk may be shorter. */
  chunkBytes: number
  /** sha2-256 of each chunk, concatenated: 32 × {@link chunkCount} bytes. */
  hashes: Uint8Array
}

export interface BlobStat {
  cid: CID
  /** Size in bytes. */
  size: number
}

export interface BlobStoreInit {
  /** The `blobs/` folder. */
  root: string
  /** Largest blob accepted, in bytes. */
  maxBlobBytes: number
}

/** Number of chunks of a blob of `size` bytes. */
export function chunkCount (size: number, chunkBytes: number): number {
  return Math.ceil(size / chunkBytes)
}

/** Byte range of chunk `index`: [start, end). */
export function chunkRange (table: Pick<ChunkTable, 'size' | 'chunkBytes'>, index: number): [number, number] {
  const start = index * table.chunkBytes
  return [start, Math.min(start + table.chunkBytes, table.size)]
}

/** The expected digest of chunk `index`. */
export function chunkHash (table: ChunkTable, index: number): Uint8Array {
  return table.hashes.subarray(index * SHA2_256_BYTES, (index + 1) * SHA2_256_BYTES)
}

/** A key naming a chunk table by its content (size, chunk size and hashes): 64 hex, equal for equal tables. */
export function chunkTableKey (t: ChunkTable): string {
  return Buffer.from(sha256Of(Buffer.concat([Buffer.from(`${t.size}:${t.chunkBytes}:`), t.hashes]))).toString('hex')
}

interface CachedTable { table: ChunkTable, size: number, mtimeMs: number, ino: number }

export class BlobStore {
  readonly root: string
  readonly maxBlobBytes: number
  private readonly tables = new Map<string, CachedTable>()
  private readonly verifying = new Map<string, Promise<ChunkTable>>()

  constructor (init: BlobStoreInit) {
    this.root = init.root
    this.maxBlobBytes = init.maxBlobBytes
  }

  /** Creates the folders and empties `tmp/`. */
  async open (): Promise<void> {
    for (const dir of ['tmp', 'partial', 'corrupt']) await mkdir(join(this.root, dir), { recursive: true })
    for (const name of await readdir(join(this.root, 'tmp'))) await rm(join(this.root, 'tmp', name), { force: true })
  }

  /** Path of the file holding blob `cid` (it may not exist). */
  pathOf (cid: CID): string {
    const s = cid.toString()
    return join(this.root, s.slice(-3, -1), s)
  }

  /** Paths of the resumable download of `cid`. */
  partialPaths (cid: CID): { data: string, state: string } {
    const base = join(this.root, 'partial', cid.toString())
    return { data: `${base}.part`, state: `${base}.json` }
  }

  /** A fresh path in `tmp/`. */
  tmpPath (): string {
    return join(this.root, 'tmp', `${Date.now()}-${randomBytes(6).toString('hex')}`)
  }

  async has (cid: CID): Promise<boolean> {
    try {
      return (await stat(this.pathOf(cid))).isFile()
    } catch {
      return false
    }
  }

  /** @throws BlobNotFoundError */
  async stat (cid: CID): Promise<BlobStat> {
    try {
      const s = await stat(this.pathOf(cid))
      return { cid, size: s.size }
    } catch {
      throw notFound(cid)
    }
  }

  /**
   * Stores `bytes` and returns their CID. Storing bytes already present is a no-op.
   *
   * @throws BlobTooLargeError when `bytes.length` exceeds `maxBlobBytes`
   */
  async put (bytes: Uint8Array): Promise<CID> {
    this.checkSize(bytes.length)
    const cid = blobCidFromDigest(sha256Of(bytes))
    if (await this.has(cid)) return cid
    const tmp = this.tmpPath()
    await writeSynced(tmp, bytes, { flag: 'wx', mode: 0o644 })
    await this.moveIn(tmp, cid)
    return cid
  }

  /**
   * Stores bytes from a stream, hashing them on the way; nothing is kept unless the stream completes.
   *
   * @param options.expected - the CID the bytes must hash to
   * @param options.maxBytes - cap in bytes (default and ceiling: `maxBlobBytes`)
   * @throws BlobTooLargeError as soon as the stream passes the cap
   * @throws BlobCorruptError when `expected` is given and the bytes hash to another CID
   * @throws AbortedError when `options.signal` aborts
   */
  async putStream (source: AsyncIterable<Uint8Array>, options: { expected?: CID, maxBytes?: number, signal?: AbortSignal } = {}): Promise<BlobStat> {
    const max = Math.min(options.maxBytes ?? this.maxBlobBytes, this.maxBlobBytes)
    const tmp = this.tmpPath()
    const fh = await open(tmp, 'wx', 0o644)
    const hash = sha256()
    let size = 0
    try {
      for await (const piece of source) {
        if (options.signal?.aborted === true) throw new AbortedError('storing the blob was aborted; nothing was kept', { cause: options.signal.reason })
        size += piece.length
        if (size > max) throw new BlobTooLargeError(`the blob is larger than ${max} bytes (the store's limit); raise blobs.maxBlobBytes in config.json to store it`)
        hash.update(piece)
        await fh.write(piece)
      }
      await fh.sync()
    } catch (err) {
      await fh.close()
      await unlink(tmp).catch(() => {})
      throw err
    }
    await fh.close()
    const cid = blobCidFromDigest(hash.digest())
    if (options.expected != null && options.expected.toString() !== cid.toString()) {
      await unlink(tmp).catch(() => {})
      throw new BlobCorruptError(`the bytes hash to ${cid.toString()}, not to the expected ${options.expected.toString()}; nothing was stored`)
    }
    if (await this.has(cid)) await unlink(tmp)
    else await this.moveIn(tmp, cid)
    return { cid, size }
  }

  /**
   * Moves a complete file (already hashed by the caller) into the store as blob `cid`.
   * Used by the blob exchange once a download verified against the CID.
   */
  async moveIn (file: string, cid: CID): Promise<void> {
    const dest = this.pathOf(cid)
    await mkdir(join(dest, '..'), { recursive: true })
    await rename(file, dest)
    this.tables.delete(cid.toString())
  }

  /**
   * Returns the whole blob, verified against its CID.
   *
   * @throws BlobNotFoundError, BlobCorruptError (the file is moved to `corrupt/`)
   */
  async get (cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const table = await this.chunkTable(cid, options)
    const out = new Uint8Array(table.size)
    let offset = 0
    for await (const chunk of this.read(cid, options)) {
      out.set(chunk, offset)
      offset += chunk.length
    }
    return out
  }

  /**
   * Streams the blob chunk by chunk, each chunk checked against the verified chunk table.
   *
   * @throws BlobNotFoundError, BlobCorruptError, AbortedError
   */
  async * read (cid: CID, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const table = await this.chunkTable(cid, options)
    const n = chunkCount(table.size, table.chunkBytes)
    const fh = await this.openBlob(cid)
    try {
      for (let i = 0; i < n; i++) {
        if (options.signal?.aborted === true) throw new AbortedError('reading the blob was aborted', { cause: options.signal.reason })
        yield await this.readChunkFrom(fh, cid, table, i)
      }
    } finally {
      await fh.close()
    }
  }

  /**
   * Reads chunk `index` of a blob, checked against its verified chunk table.
   *
   * @throws BlobNotFoundError, BlobCorruptError, RangeError for an index outside the blob
   */
  async readChunk (cid: CID, index: number): Promise<Uint8Array> {
    const table = await this.chunkTable(cid)
    if (!Number.isInteger(index) || index < 0 || index >= chunkCount(table.size, table.chunkBytes)) {
      throw new RangeError(`chunk ${index} is outside blob ${cid.toString()} (${chunkCount(table.size, table.chunkBytes)} chunks)`)
    }
    const fh = await this.openBlob(cid)
    try {
      return await this.readChunkFrom(fh, cid, table, index)
    } finally {
      await fh.close()
    }
  }

  /**
   * The chunk table of a stored blob. The first call after start (or after the file changed) reads the
   * whole blob and checks it against the CID; later calls are served from memory.
   *
   * @throws BlobNotFoundError, BlobCorruptError (the file is moved to `corrupt/`)
   */
  async chunkTable (cid: CID, options: { signal?: AbortSignal } = {}): Promise<ChunkTable> {
    const key = cid.toString()
    let s
    try {
      s = await stat(this.pathOf(cid))
    } catch {
      throw notFound(cid)
    }
    const cached = this.tables.get(key)
    if (cached != null && cached.size === s.size && cached.mtimeMs === s.mtimeMs && cached.ino === s.ino) {
      // refresh LRU position
      this.tables.delete(key)
      this.tables.set(key, cached)
      return cached.table
    }
    let pending = this.verifying.get(key)
    if (pending == null) {
      pending = this.verify(cid, { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino }, options.signal)
        .finally(() => this.verifying.delete(key))
      this.verifying.set(key, pending)
    }
    return await pending
  }

  /** Deletes a blob (no error if absent). */
  async delete (cid: CID): Promise<void> {
    this.tables.delete(cid.toString())
    await rm(this.pathOf(cid), { force: true })
  }

  /** Every stored blob. */
  async * list (): AsyncGenerator<BlobStat> {
    for (const shard of await readdir(this.root, { withFileTypes: true })) {
      if (!shard.isDirectory() || shard.name.length !== 2) continue
      for (const name of await readdir(join(this.root, shard.name))) {
        let cid: CID
        try {
          cid = CID.parse(name)
        } catch {
          continue
        }
        const s = await stat(join(this.root, shard.name, name)).catch(() => null)
        if (s?.isFile() === true) yield { cid, size: s.size }
      }
    }
  }

  /** Number of blobs and their total size in bytes. */
  async usage (): Promise<{ blobs: number, bytes: number }> {
    let blobs = 0
    let bytes = 0
    for await (const b of this.list()) {
      blobs++
      bytes += b.size
    }
    return { blobs, bytes }
  }

  private checkSize (size: number): void {
    if (size > this.maxBlobBytes) {
      throw new BlobTooLargeError(`the blob is ${size} bytes, more than the store's limit of ${this.maxBlobBytes}; raise blobs.maxBlobBytes in config.json to store it`)
    }
  }

  private async openBlob (cid: CID): Promise<FileHandle> {
    try {
      return await open(this.pathOf(cid), 'r')
    } catch {
      throw notFound(cid)
    }
  }

  private async readChunkFrom (fh: FileHandle, cid: CID, table: ChunkTable, index: number): Promise<Uint8Array> {
    const [start, end] = chunkRange(table, index)
    const buf = Buffer.allocUnsafe(end - start)
    const { bytesRead } = await fh.read(buf, 0, buf.length, start)
    if (bytesRead !== buf.length || !bytesEqual(sha256Of(buf), chunkHash(table, index))) {
      await this.quarantine(cid)
      throw new BlobCorruptError(`chunk ${index} of stored blob ${cid.toString()} changed on disk since it was verified (disk fault or tampering); the file was moved to ${join(this.root, 'corrupt')} and will be fetched again from peers when needed`)
    }
    return buf
  }

  private async verify (cid: CID, id: { size: number, mtimeMs: number, ino: number }, signal?: AbortSignal): Promise<ChunkTable> {
    const chunkBytes = BLOB_CHUNK_BYTES
    const n = chunkCount(id.size, chunkBytes)
    const hashes = new Uint8Array(n * SHA2_256_BYTES)
    const whole = sha256()
    let chunk = sha256()
    let inChunk = 0
    let index = 0
    const stream = createReadStream(this.pathOf(cid), { highWaterMark: chunkBytes, signal })
    try {
      for await (const data of stream as AsyncIterable<Buffer>) {
        whole.update(data)
        let off = 0
        while (off < data.length) {
          const take = Math.min(chunkBytes - inChunk, data.length - off)
          chunk.update(data.subarray(off, off + take))
          inChunk += take
          off += take
          if (inChunk === chunkBytes) {
            hashes.set(chunk.digest(), index++ * SHA2_256_BYTES)
            chunk = sha256()
            inChunk = 0
          }
        }
      }
    } catch (err) {
      if (signal?.aborted === true) throw new AbortedError('verifying the blob was aborted', { cause: signal.reason })
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(cid)
      throw err
    }
    if (inChunk > 0) hashes.set(chunk.digest(), index++ * SHA2_256_BYTES)
    if (!bytesEqual(whole.digest(), digestOf(cid))) {
      await this.quarantine(cid)
      throw new BlobCorruptError(`stored blob ${cid.toString()} does not hash to its CID (disk fault or tampering); the file was moved to ${join(this.root, 'corrupt')} and will be fetched again from peers when needed`)
    }
    const table: ChunkTable = { size: id.size, chunkBytes, hashes }
    this.tables.set(cid.toString(), { table, ...id })
    while (this.tables.size > CHUNK_TABLE_CACHE_ENTRIES) {
      const oldest = this.tables.keys().next().value
      if (oldest === undefined) break
      this.tables.delete(oldest)
    }
    return table
  }

  private async quarantine (cid: CID): Promise<void> {
    this.tables.delete(cid.toString())
    await rename(this.pathOf(cid), join(this.root, 'corrupt', `${cid.toString()}.${Date.now()}`)).catch(() => {})
  }
}

function notFound (cid: CID): BlobNotFoundError {
  return new BlobNotFoundError(`blob ${cid.toString()} is not in the local store; fetch it from peers first (the daemon's blob fetch) or check the CID`)
}
