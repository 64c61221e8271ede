/**
 * The store's verification checkpoint `m!verified` (doc/ledger-format.md, "Reopen"): what this store has
 * verified, authenticated with a secret of its own folder (`<store>/verified.key`), so that a reopen
 * verifies signatures only of entries stored after it and checks the rest by hashing their bytes.
 *
 * Per author chain it holds the length verified, the id of the last entry and a chain digest: SHA-256 over
 * the SHA-256 digests of the chain's entry frames, seq 0 first (32 bytes each, concatenated). A chain only
 * grows at its end, so the digest is kept incrementally while the store appends (a `Hash` per author,
 * copied when a checkpoint is written).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual, type Hash } from 'node:crypto'
import { readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { parseCid } from '@swarmtune/wire'
import { VERIFIED_KEY_BYTES } from './constants.js'
import { writeSynced } from './files.js'
import { isAuthorHex } from './keys.js'
import { RecordSetDigest, fromHex, toHex, type Head } from './records.js'

/** Domain separation of the checkpoint's HMAC: ASCII `swarmtune/1/ledger-verified` and one NUL byte. */
const MAC_DOMAIN = 'swarmtune/1/ledger-verified\0'
const MAC_BYTES = 32
const CHECKPOINT_VERSION = 1
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** One verified author chain: its length, head entry id (CID string) and chain digest (32 bytes). */
export interface VerifiedChain {
  length: number
  head: string
  digest: Uint8Array
}

/** What a checkpoint says was verified. */
export interface Checkpoint {
  /** Community CID string, undefined for a store without one. */
  community: string | undefined
  /** Entries verified (the sum of the chain lengths). */
  entries: number
  chains: Map<string, VerifiedChain>
  /** The RecordSetDigest of the index records the verified entries derive (count, two sums). */
  indexes: [number, number, number]
  /** CID strings of the evidence records verified. */
  evidence: Set<string>
}

/** A checkpoint read from the store: `trusted`, or why it is not. */
export type CheckpointRead = { status: 'trusted', checkpoint: Checkpoint } | { status: 'absent' } | { status: 'untrusted', reason: string }

/**
 * The running digests of a store's chains and of the index records its entries derive, kept from the
 * verification on open through every append, so that a checkpoint can be written at any time.
 */
export class ChainDigests {
  readonly #chains = new Map<string, Hash>()
  readonly indexes: RecordSetDigest

  constructor (indexes = new RecordSetDigest()) {
    this.indexes = indexes
  }

  /** Adds the next entry of `author`'s chain: `digest` is the SHA-256 of its frame (its id's digest). */
  add (author: string, digest: Uint8Array): void {
    let hash = this.#chains.get(author)
    if (hash === undefined) this.#chains.set(author, hash = createHash('sha256'))
    hash.update(digest)
  }

  /** The chain digest of `author` so far (32 bytes), or undefined for an author without entries. */
  digest (author: string): Uint8Array | undefined {
    const hash = this.#chains.get(author)
    return hash === undefined ? undefined : new Uint8Array(hash.copy().digest())
  }

  /** The checkpoint of everything added so far, for the given heads, community and evidence ids. */
  checkpoint (heads: ReadonlyMap<string, Head>, community: string | undefined, evidence: Iterable<string>): Checkpoint {
    const chains = new Map<string, VerifiedChain>()
    let entries = 0
    for (const [author, head] of heads) {
      const digest = this.digest(author)
      if (digest === undefined) continue
      chains.set(author, { length: head.seq + 1, head: head.id, digest })
      entries += head.seq + 1
    }
    return { community, entries, chains, indexes: this.indexes.state(), evidence: new Set(evidence) }
  }
}

function mac (secret: Uint8Array, payload: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(MAC_DOMAIN).update(payload).digest()
}

/**
 * The value of `m!verified`: HMAC-SHA-256 (32 bytes, keyed with the store's secret, over the domain string
 * and the JSON) followed by the UTF-8 JSON `{"version":1,"community":…,"entries":n,"chains":[[author, length,
 * head, digest hex],…],"indexes":[count,a,b],"evidence":[…]}`, chains in ascending author order.
 */
export function encodeCheckpoint (cp: Checkpoint, secret: Uint8Array): Uint8Array {
  const chains = [...cp.chains].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([author, c]) => [author, c.length, c.head, toHex(c.digest)])
  const json = utf8.encode(JSON.stringify({ version: CHECKPOINT_VERSION, community: cp.community ?? null, entries: cp.entries, chains, indexes: cp.indexes, evidence: [...cp.evidence].sort() }))
  const out = new Uint8Array(MAC_BYTES + json.length)
  out.set(mac(secret, json), 0)
  out.set(json, MAC_BYTES)
  return out
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
const isUint32 = (n: unknown): n is number => isCount(n) && n <= 0xffffffff

/**
 * Reads a `m!verified` value: `untrusted` when its MAC does not check out under `secret` (edited, or
 * written by another store folder) or it is malformed; never throws.
 */
export function decodeCheckpoint (value: Uint8Array | undefined, secret: Uint8Array): CheckpointRead {
  if (value === undefined) return { status: 'absent' }
  if (value.length <= MAC_BYTES) return { status: 'untrusted', reason: `the checkpoint record is ${value.length} bytes, too short to hold its MAC` }
  const payload = value.subarray(MAC_BYTES)
  if (!timingSafeEqual(mac(secret, payload), value.subarray(0, MAC_BYTES))) {
    return { status: 'untrusted', reason: 'the checkpoint record\'s MAC does not match this store\'s verified.key (the record was edited, or copied from another store)' }
  }
  try {
    const p = JSON.parse(utf8Decoder.decode(payload)) as { version?: unknown, community?: unknown, entries?: unknown, chains?: unknown, indexes?: unknown, evidence?: unknown }
    if (p.version !== CHECKPOINT_VERSION) return { status: 'untrusted', reason: `the checkpoint record has version ${String(p.version)}, this store reads version ${CHECKPOINT_VERSION}` }
    if (!(p.community === null || typeof p.community === 'string') || !isCount(p.entries) || !Array.isArray(p.chains) || !Array.isArray(p.evidence) ||
      !Array.isArray(p.indexes) || p.indexes.length !== 3 || !isCount(p.indexes[0]) || !isUint32(p.indexes[1]) || !isUint32(p.indexes[2])) throw new Error('bad fields')
    const chains = new Map<string, VerifiedChain>()
    let entries = 0
    for (const c of p.chains as unknown[]) {
      const [author, length, head, digestHex] = c as unknown[]
      const digest = typeof digestHex === 'string' && digestHex.length === 64 ? fromHex(digestHex) : undefined
      if (typeof author !== 'string' || !isAuthorHex(author) || !isCount(length) || length === 0 || typeof head !== 'string' || digest === undefined || chains.has(author)) throw new Error('bad chain')
      if (parseCid(head).toString() !== head) throw new Error('bad head id')
      chains.set(author, { length, head, digest })
      entries += length
    }
    if (entries !== p.entries || !(p.evidence as unknown[]).every((e) => typeof e === 'string')) throw new Error('bad counts')
    return { status: 'trusted', checkpoint: { community: p.community ?? undefined, entries, chains, indexes: p.indexes as [number, number, number], evidence: new Set(p.evidence as string[]) } }
  } catch (err) {
    return { status: 'untrusted', reason: `the checkpoint record is malformed (${(err as Error).message})` }
  }
}

/**
 * The store's checkpoint secret, `<dir>/verified.key` (VERIFIED_KEY_BYTES random bytes, mode 0600), made
 * when missing or not of that size (a checkpoint keyed with the old one is then untrusted, and the next open
 * verifies everything).
 * @throws the file system's error when the file cannot be written
 */
export async function storeSecret (dir: string): Promise<Uint8Array> {
  const file = join(dir, 'verified.key')
  try {
    const bytes = await readFile(file)
    if (bytes.length === VERIFIED_KEY_BYTES) return new Uint8Array(bytes)
  } catch {
    // missing or unreadable: made anew below
  }
  const secret = new Uint8Array(randomBytes(VERIFIED_KEY_BYTES))
  const tmp = `${file}.tmp`
  await writeSynced(tmp, secret, { flag: 'w', mode: 0o600 })
  await rename(tmp, file)
  return secret
}
