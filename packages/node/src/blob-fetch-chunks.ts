/**
 * The chunk book of one blob download (blob-fetch.ts): the chunk table in use, which chunks are done and
 * which are still to fetch (lowest index first), the partial file they are written into
 * (`partial/<cid>.part`), its resume record (`partial/<cid>.json`, flushed every
 * {@link PARTIAL_STATE_FLUSH_MS}) and the whole-blob hash fed in index order toward the CID check. Resuming
 * re-hashes the recorded chunks first.
 */
import { constants as fsConstants } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import type { CID } from '@swarmtune/wire'
import { chunkCount, chunkHash, chunkRange, chunkTableKey, type ChunkTable } from './blob-store.js'
import { bytesEqual, digestOf, sha256, sha256Of } from './cid.js'
import { PARTIAL_STATE_FLUSH_MS } from './constants.js'
import { readPartialState, writePartialState } from './blob-partial.js'

/** Verified chunks held in memory while they wait for their turn in the whole-blob hash. */
const HELD_CHUNK_BYTES = 32 * 1024 * 1024

export class ChunkBook {
  table?: ChunkTable
  tableKey?: string
  /** One byte per chunk of the table: 1 = verified and written. */
  done = new Uint8Array(0)
  doneCount = 0
  bytesDone = 0
  /** Bytes found verified on disk from an earlier, interrupted fetch. */
  resumedBytes = 0
  /** Chunks still to fetch, in the order they are handed out. */
  readonly pending = new Set<number>()
  private fh?: FileHandle
  /** sha2-256 of chunks [0, hashedChunks), toward the CID check. */
  private wholeHash = sha256()
  private hashedChunks = 0
  private readonly held = new Map<number, Uint8Array[]>()
  private heldBytes = 0
  private flushTimer?: ReturnType<typeof setTimeout>
  private stateDirty = false
  /** The state write in progress, if any. */
  private flushing: Promise<void> = Promise.resolve()

  constructor (private readonly cid: CID, private readonly maxBytes: number, readonly paths: { data: string, state: string }) {}

  /** Takes up the resume record and the partial file, if usable; otherwise removes both. */
  async load (): Promise<void> {
    try {
      const partial = await readPartialState(this.paths.state, this.cid, this.maxBytes)
      if (partial === undefined) return
      const { table, done } = partial
      const n = done.length
      this.table = table
      this.tableKey = chunkTableKey(table)
      this.done = new Uint8Array(n)
      this.fh = await open(this.paths.data, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644)
      // re-check what the file holds: the state may have been written before the data reached the disk
      for (let i = 0; i < n; i++) {
        if (done[i] !== 1) {
          this.pending.add(i)
          continue
        }
        const [start, end] = chunkRange(table, i)
        const buf = Buffer.allocUnsafe(end - start)
        const { bytesRead } = await this.fh.read(buf, 0, buf.length, start)
        if (bytesRead === buf.length && bytesEqual(sha256Of(buf), chunkHash(table, i))) {
          this.done[i] = 1
          this.doneCount++
          this.bytesDone += buf.length
          // only an unbroken prefix can go into the whole hash now; the rest is read back at the end
          if (this.hashedChunks === i) this.feedWholeHash(i, [buf])
        } else {
          this.pending.add(i)
        }
      }
      this.resumedBytes = this.bytesDone
    } catch {
      // unusable partial state: start over
      await this.fh?.close().catch(() => {})
      this.fh = undefined
      this.table = undefined
      this.tableKey = undefined
      this.pending.clear()
      this.doneCount = 0
      this.bytesDone = 0
      this.resetWholeHash()
      await rm(this.paths.data, { force: true })
      await rm(this.paths.state, { force: true })
    }
  }

  /** Starts over with `table`: every chunk pending, an empty partial file, a fresh resume record. */
  async start (table: ChunkTable): Promise<void> {
    this.table = table
    this.tableKey = chunkTableKey(table)
    const n = chunkCount(table.size, table.chunkBytes)
    this.done = new Uint8Array(n)
    this.doneCount = 0
    this.bytesDone = 0
    this.resetWholeHash()
    this.pending.clear()
    for (let i = 0; i < n; i++) this.pending.add(i)
    await rm(this.paths.data, { force: true })
    this.fh = await open(this.paths.data, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644)
    this.stateDirty = true
    await this.flushState()
  }

  /** The lowest pending chunk, taken off the queue; undefined when none is pending. */
  take (): number | undefined {
    for (const i of this.pending) {
      this.pending.delete(i)
      return i
    }
    return undefined
  }

  /** Writes a verified chunk's buffers (`length` bytes in all) at byte offset `start` of the partial file. */
  async write (data: Uint8Array[], start: number, length: number): Promise<void> {
    const { bytesWritten } = await (this.fh as FileHandle).writev(data, start)
    if (bytesWritten !== length) {
      const rest = Buffer.concat(data).subarray(bytesWritten)
      await (this.fh as FileHandle).write(rest, 0, rest.length, start + bytesWritten)
    }
  }

  /** Records chunk `i` (`bytes` long, its buffers `data`) as done; false when it was done already. */
  markDone (i: number, bytes: number, data: Uint8Array[]): boolean {
    if (this.done[i] === 1) return false
    this.done[i] = 1
    this.feedWholeHash(i, data)
    this.doneCount++
    this.bytesDone += bytes
    this.scheduleFlush()
    return true
  }

  /**
   * Feeds verified chunks into the whole-blob hash in index order, so the CID check at the end needs no
   * second pass over the file. A chunk that completes ahead of its turn is held in memory (up to
   * {@link HELD_CHUNK_BYTES}) or, past that, read back from the file when its turn comes.
   */
  private feedWholeHash (i: number, data: Uint8Array[] | null): void {
    if (i === this.hashedChunks && data != null) {
      for (const b of data) this.wholeHash.update(b)
      this.hashedChunks++
    } else if (data != null && this.heldBytes < HELD_CHUNK_BYTES) {
      this.held.set(i, data)
      this.heldBytes += data.reduce((n, b) => n + b.length, 0)
    }
    while (this.hashedChunks < this.done.length && this.done[this.hashedChunks] === 1) {
      const next = this.held.get(this.hashedChunks)
      if (next == null) break // read from the file in matchesCid
      this.held.delete(this.hashedChunks)
      for (const b of next) {
        this.wholeHash.update(b)
        this.heldBytes -= b.length
      }
      this.hashedChunks++
    }
  }

  private resetWholeHash (): void {
    this.wholeHash = sha256()
    this.hashedChunks = 0
    this.held.clear()
    this.heldBytes = 0
  }

  /**
   * With every chunk done: true when the whole blob hashes to the CID. Chunks not yet in the hash (held back
   * when memory was short) are read from the file. On false the hash starts over.
   */
  async matchesCid (): Promise<boolean> {
    const table = this.table as ChunkTable
    const fh = this.fh as FileHandle
    while (this.hashedChunks < this.done.length) {
      const [start, end] = chunkRange(table, this.hashedChunks)
      const buf = Buffer.allocUnsafe(end - start)
      const { bytesRead } = await fh.read(buf, 0, buf.length, start)
      this.wholeHash.update(buf.subarray(0, bytesRead))
      this.hashedChunks++
    }
    if (bytesEqual(this.wholeHash.digest(), digestOf(this.cid))) return true
    this.resetWholeHash()
    return false
  }

  /** Drops the table (its chunks with it): no table, the partial file and the resume record removed. */
  async discard (): Promise<void> {
    this.table = undefined
    this.tableKey = undefined
    this.cancelFlush()
    await this.flushing
    await this.fh?.close()
    this.fh = undefined
    await rm(this.paths.data, { force: true })
    await rm(this.paths.state, { force: true })
  }

  /** The blob is complete: no more resume-record writes (a pending one would re-create the file), the partial file closed. */
  async complete (): Promise<void> {
    this.cancelFlush()
    this.stateDirty = false
    await this.flushing
    await this.fh?.close()
    this.fh = undefined
  }

  /** The fetch ends: the resume record written as it stands, so a later fetch resumes from it, and the file closed. */
  async close (): Promise<void> {
    if (this.flushTimer != null) clearTimeout(this.flushTimer)
    await this.flushing
    if (this.fh != null) {
      await this.flushState().catch(() => {})
      await this.fh.close().catch(() => {})
    }
  }

  private cancelFlush (): void {
    if (this.flushTimer != null) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }

  private scheduleFlush (): void {
    this.stateDirty = true
    if (this.flushTimer != null) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.flushing = this.flushState().catch(() => {})
    }, PARTIAL_STATE_FLUSH_MS)
  }

  private async flushState (): Promise<void> {
    if (!this.stateDirty || this.table == null) return
    this.stateDirty = false
    await writePartialState(this.paths.state, this.cid, this.table, this.done)
  }
}
