/**
 * Generated hostile input for the three ways bytes reach a daemon: the community's gossip topic, ledger sync
 * streams and blob streams. Each {@link HostileCase} says what is sent and what the daemon must do with it;
 * the same seed gives the same kinds, sizes and keys (entry timestamps and the interleaving of concurrent
 * senders aside).
 *
 * Kinds (a case's `kind`):
 * - gossip: length lies (a msgpack length header inflated), truncations, depth bombs (nested arrays or
 *   maps past the depth limit), huge nested maps (64 KiB–1 MiB of maps of maps), non-canonical encodings
 *   (a header widened to a longer form of the same value), entries authored by small-order Ed25519 keys
 *   with a small-order R and S = 0 (all eight points and the non-canonical encodings of three), bad
 *   signatures, entries of another community and the genesis of another community, a round-open signed by
 *   a non-maintainer, timestamps from the future, random bytes, equivocations (conflicting seq-0 entries
 *   of one key after its first), replays of stored entries, frames above the entry cap and above the
 *   gossip RPC cap;
 * - sync: unending and non-minimal varint prefixes, length prefixes above the frame cap, depth bombs and
 *   huge maps as frames, truncated and non-canonical hellos, frames out of turn, a hello of another
 *   community, and served entries (small-order, badly signed, of another community, equivocating, a
 *   non-maintainer round-open, replays) after a regular handshake; idle and slow sessions;
 * - blob: unending varints (followed by 0xff bytes), length prefixes above the request cap, depth bombs,
 *   non-canonical and malformed requests, bad CIDs, chunk indexes outside a blob, half requests then close,
 *   bytes on a stream before protocol negotiation; idle and slow streams (starvation: see the tests).
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Rng } from '@swarmtune/model'
import { blobCid, encodeCanonical, LIMITS, type CID, type SignedEntry, type SigningKey } from '@swarmtune/wire'
import { bodies, ChainSigner, fakeCid, flipSignatureBit } from '../../packages/ledger/test/fixtures.js'
import { GOSSIP_MAX_INBOUND_BYTES } from '@swarmtune/node'
import { inflate, maxLength, type LengthHeader } from '../../packages/wire/test/frames.js'

/**
 * What the daemon must do:
 * - `reject`: refuse it with a stable code (gossip reject or ignore event, a sync report's rejection, a
 *   logged session failure, a blob error response or a logged stream failure);
 * - `refuse`: end the stream or connection, with or without a code (bytes before protocol negotiation:
 *   libp2p's multistream-select layer has no codes);
 * - `duplicate`: nothing new stored (a replay of a stored entry: dropped by gossipsub's seen cache, or
 *   accepted as already stored, or counted as a duplicate by sync);
 * - `accept`: store it (the first entry of an equivocating key: valid until its twin arrives).
 */
export type Expectation = 'reject' | 'refuse' | 'duplicate' | 'accept'

export interface GossipCase { channel: 'gossip', kind: string, expect: Expectation, data: Uint8Array }

/** Raw bytes on a stream, then `close` (end the writing side), `idle` (keep it open) or `slow` (one byte every `slowMs`). */
export interface RawStreamCase {
  channel: 'sync' | 'blob'
  kind: string
  expect: Expectation
  chunks: Uint8Array[]
  then: 'close' | 'idle' | 'slow'
  /** Open the stream on the muxer without negotiating a protocol. */
  unnegotiated?: boolean
}

/** A regular sync handshake advertising `entries`' authors as heads, then serving those entries when asked. */
export interface SyncServeCase { channel: 'sync', kind: string, expect: Expectation, serve: SignedEntry[] }

export type HostileCase = GossipCase | RawStreamCase | SyncServeCase

/** What the generators build on: the target's community and entries it holds. */
export interface FrameContext {
  community: CID
  /** Entries the target stores (replayed byte for byte). */
  stored: SignedEntry[]
  /** The CID of a blob the target stores (for chunk requests). */
  blob: CID
}

/**
 * The eight points of small order on edwards25519 (the torsion subgroup E[8]) in their canonical
 * encodings, and non-canonical encodings (y ≥ p, or x = 0 with the sign bit set) of three of them — the
 * list libsodium refuses as public keys and as R (`ge25519_has_small_order`, crypto_sign_ed25519 open).
 */
export const SMALL_ORDER_POINTS: ReadonlyArray<{ name: string, hex: string }> = [
  { name: 'identity (order 1)', hex: '01' + '00'.repeat(31) },
  { name: 'order 2 (y = −1)', hex: 'ec' + 'ff'.repeat(30) + '7f' },
  { name: 'order 4 (y = 0, x > 0)', hex: '00'.repeat(32) },
  { name: 'order 4 (y = 0, x < 0)', hex: '00'.repeat(31) + '80' },
  { name: 'order 8 (a)', hex: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a' },
  { name: 'order 8 (b)', hex: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa' },
  { name: 'order 8 (c)', hex: '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05' },
  { name: 'order 8 (d)', hex: '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85' },
  { name: 'identity, non-canonical (y = p + 1)', hex: 'ee' + 'ff'.repeat(30) + '7f' },
  { name: 'order 2, non-canonical (sign bit set)', hex: 'ec' + 'ff'.repeat(31) },
  { name: 'order 4, non-canonical (y = p)', hex: 'ed' + 'ff'.repeat(30) + '7f' }
]

/** An entry authored by the small-order point `key` with signature R = `r` (a small-order point), S = 0. */
export function smallOrderEntry (community: CID, key: Uint8Array, r: Uint8Array, seq = 0, ts = Date.now(), nonce = 0): SignedEntry {
  const body = bodies.contribution(HOSTILE_ROUND, fakeCid(`open-${seq}`), fakeCid('release-0'), fakeCid(`small-order-${Buffer.from(key).toString('hex')}-${seq}-${nonce}`), 10)
  const fields = { v: 1, community: community.bytes, author: key, seq, prev: null, ts, kind: 'contribution', body }
  const sig = new Uint8Array(64)
  sig.set(r, 0)
  const bytes = encodeCanonical({ ...fields, sig })
  return { entry: { ...fields, sig } as unknown as SignedEntry['entry'], bytes, id: blobCid(bytes) }
}

/** Unsigned LEB128 varint (the length prefix of libp2p stream protocols). */
export function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

export function lp (payload: Uint8Array): Uint8Array {
  return Buffer.concat([varint(payload.length), payload])
}

/**
 * Nested single-element arrays (`0x91`…) or single-key maps (`0x81 0xa1 'a'`…) `depth` deep around the uint32
 * `core` — distinct cores make distinct frames, so gossipsub's duplicate filter never hides one.
 */
export function depthBomb (depth: number, maps: boolean, core = 0): Uint8Array {
  const open = maps ? Uint8Array.of(0x81, 0xa1, 0x61) : Uint8Array.of(0x91)
  const out = new Uint8Array(depth * open.length + 5)
  for (let i = 0; i < depth; i++) out.set(open, i * open.length)
  out[depth * open.length] = 0xce
  new DataView(out.buffer).setUint32(depth * open.length + 1, core >>> 0)
  return out
}

/**
 * A map of `width` keys (`k0000`, `k0001`, …) each holding such a map, `depth` levels, with positive fixints
 * from `rng` at the leaves (map16 headers), so that no two generated maps are alike.
 */
export function nestedMap (width: number, depth: number, rng: Rng): Uint8Array {
  const parts: Uint8Array[] = []
  // keys of one length (`k0000`…) sort the same bytewise and length-first: the map is canonical as far as keys go
  const keys = Array.from({ length: width }, (_, i) => encodeCanonical(`k${String(i).padStart(4, '0')}`))
  const walk = (d: number): void => {
    parts.push(Uint8Array.of(0xde, width >> 8, width & 0xff))
    for (const key of keys) {
      parts.push(key)
      if (d > 1) walk(d - 1)
      else parts.push(Uint8Array.of(rng.int(128)))
    }
  }
  walk(depth)
  return Buffer.concat(parts)
}

/**
 * Every str, bin, array and map header of a well-formed msgpack frame, in order (msgpack spec, "Formats").
 * Unlike the wire tests' walker this one knows 64-bit integers (entry timestamps) and steps over string and
 * bin payloads after their headers.
 */
export function lengthHeaders (frame: Uint8Array): LengthHeader[] {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const out: LengthHeader[] = []
  let pos = 0
  const header = (width: 0 | 1 | 2 | 4, value: number, fixMax = 0): number => {
    out.push({ offset: pos, width, value, fixMax })
    pos += 1 + width
    return value
  }
  const skip = (n: number): void => { pos += n }
  const read = (): void => {
    const b = frame[pos]
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return skip(1)
    if (b <= 0x8f) { const n = header(0, b & 0x0f, 15); for (let i = 0; i < 2 * n; i++) read(); return }
    if (b <= 0x9f) { const n = header(0, b & 0x0f, 15); for (let i = 0; i < n; i++) read(); return }
    if (b <= 0xbf) return skip(header(0, b & 0x1f, 31))
    switch (b) {
      case 0xc4: case 0xd9: return skip(header(1, frame[pos + 1]))
      case 0xc5: case 0xda: return skip(header(2, view.getUint16(pos + 1)))
      case 0xc6: case 0xdb: return skip(header(4, view.getUint32(pos + 1)))
      case 0xdc: { const n = header(2, view.getUint16(pos + 1)); for (let i = 0; i < n; i++) read(); return }
      case 0xdd: { const n = header(4, view.getUint32(pos + 1)); for (let i = 0; i < n; i++) read(); return }
      case 0xde: { const n = header(2, view.getUint16(pos + 1)); for (let i = 0; i < 2 * n; i++) read(); return }
      case 0xdf: { const n = header(4, view.getUint32(pos + 1)); for (let i = 0; i < 2 * n; i++) read(); return }
      case 0xcc: case 0xd0: return skip(2)
      case 0xcd: case 0xd1: return skip(3)
      case 0xca: case 0xce: case 0xd2: return skip(5)
      case 0xcb: case 0xcf: case 0xd3: return skip(9)
      default: throw new Error(`lengthHeaders: type byte 0x${b.toString(16)} at ${pos} is not one a canonical frame holds`)
    }
  }
  read()
  return out
}

/** A copy of a canonical frame with one fix-width header widened to the next form (same value, non-minimal). */
export function widenHeader (frame: Uint8Array, rng: Rng): Uint8Array | undefined {
  const fixed = lengthHeaders(frame).filter((h) => h.width === 0)
  if (fixed.length === 0) return undefined
  const h = fixed[rng.int(fixed.length)]
  const b = frame[h.offset]
  let wide: Uint8Array
  if (b >= 0xa0 && b <= 0xbf) wide = Uint8Array.of(0xd9, h.value) // fixstr → str8
  else if (b >= 0x90 && b <= 0x9f) wide = Uint8Array.of(0xdc, 0, h.value) // fixarray → array16
  else wide = Uint8Array.of(0xde, 0, h.value) // fixmap → map16
  return Buffer.concat([frame.subarray(0, h.offset), wide, frame.subarray(h.offset + 1)])
}

function randomBytes (rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.int(256)
  return out
}

/** The round that valid hostile contributions name: far beyond any round a test opens. */
export const HOSTILE_ROUND = 1_000_000

/** Builds the cases; keys are fresh for every entry kind that needs a valid signer. */
export class HostileFrames {
  private readonly signer: ChainSigner
  private foreign?: { signer: ChainSigner, key: SigningKey, genesis: SignedEntry }
  private counter = 0

  constructor (private readonly ctx: FrameContext, private readonly rng: Rng) {
    this.signer = new ChainSigner(ctx.community)
    // timestamps below 2^32 ms keep every integer of an entry in the forms lengthHeaders() walks
    this.signer.ts = 1_000_000
  }

  /** A new Ed25519 key from the seeded stream, so that a replayed seed signs with the same keys. */
  private async freshKey (): Promise<SigningKey> {
    return await generateKeyPairFromSeed('Ed25519', randomBytes(this.rng, 32))
  }

  /**
   * A valid contribution of the community by a fresh key, to round {@link HOSTILE_ROUND} (no round the
   * target opens: the entry is valid and may be stored, but takes no place in an open round).
   */
  async validEntry (key?: SigningKey): Promise<SignedEntry> {
    const k = key ?? await this.freshKey()
    const n = this.counter++
    return await this.signer.sign(k, 'contribution', bodies.contribution(HOSTILE_ROUND, fakeCid(`open-${n}`), fakeCid('release-0'), fakeCid(`hostile-blob-${n}`), 1 + this.rng.int(1000)))
  }

  private async foreignCommunity (): Promise<{ signer: ChainSigner, key: SigningKey, genesis: SignedEntry }> {
    if (this.foreign === undefined) {
      const key = await this.freshKey()
      const signer = new ChainSigner()
      signer.ts = 1_000_000
      const genesis = await signer.sign(key, 'genesis', { ...bodies.genesis([key.publicKey.raw]), name: 'another-community' })
      this.foreign = { signer, key, genesis }
    }
    return this.foreign
  }

  /** One gossip case of kind `kind` (see the module doc), or several for `equivocation` (the base first). */
  async gossip (kind: GossipKind): Promise<GossipCase[]> {
    const one = (data: Uint8Array, expect: Expectation = 'reject'): GossipCase[] => [{ channel: 'gossip', kind, expect, data }]
    const rng = this.rng
    switch (kind) {
      case 'length-lie': {
        const frame = (await this.validEntry()).bytes
        const headers = lengthHeaders(frame).filter((h) => maxLength(h) > h.value)
        const h = headers[rng.int(headers.length)]
        return one(inflate(frame, h, 1 + rng.int(maxLength(h) - h.value)))
      }
      case 'truncated': {
        const frame = (await this.validEntry()).bytes
        // past the first 12 bytes (map header, `author`, the start of the key), so that no two cuts are alike
        return one(frame.subarray(0, 12 + rng.int(frame.length - 12)))
      }
      case 'depth-bomb':
        return one(depthBomb(LIMITS.maxDepth + 1 + rng.int(rng.int(2) === 0 ? 64 : 200_000), rng.int(2) === 0, rng.int(2 ** 32)))
      case 'nested-map': {
        // 64 KiB – 1 MiB of maps of maps: two levels of 100–400 keys, or three of 30–60
        const deep = rng.int(2) === 0
        return one(deep ? nestedMap(30 + rng.int(31), 3, rng) : nestedMap(100 + rng.int(301), 2, rng))
      }
      case 'non-canonical': {
        const wide = widenHeader((await this.validEntry()).bytes, rng)
        return one(wide ?? Uint8Array.of(0xcc, 0x01))
      }
      case 'small-order': {
        const key = SMALL_ORDER_POINTS[rng.int(SMALL_ORDER_POINTS.length)]
        const r = SMALL_ORDER_POINTS[rng.int(SMALL_ORDER_POINTS.length)]
        return one(smallOrderEntry(this.ctx.community, Buffer.from(key.hex, 'hex'), Buffer.from(r.hex, 'hex'), 0, Date.now() - 1000, this.counter++).bytes)
      }
      case 'bad-signature':
        return one(flipSignatureBit(await this.validEntry()))
      case 'foreign-community': {
        const f = await this.foreignCommunity()
        const entry = await f.signer.sign(await this.freshKey(), 'contribution', bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`foreign-${this.counter++}`), 10))
        return one(entry.bytes)
      }
      case 'foreign-genesis': {
        const key = await this.freshKey()
        const genesis = await new ChainSigner().sign(key, 'genesis', { ...bodies.genesis([key.publicKey.raw]), name: `another-community-${this.counter++}` }, { ts: Date.now() - 1000 })
        return one(genesis.bytes)
      }
      case 'not-maintainer': {
        const body = { ...bodies.roundOpen(1000 + this.counter++, fakeCid('release-0')), deadline: Date.now() + 60_000 }
        return one((await this.signer.sign(await this.freshKey(), 'round-open', body)).bytes)
      }
      case 'future':
        return one((await this.signer.sign(await this.freshKey(), 'contribution', bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`future-${this.counter++}`), 10), { ts: Date.now() + 3_600_000 })).bytes)
      case 'random':
        return one(randomBytes(rng, 1 + rng.int(65_536)))
      case 'equivocation': {
        const key = await this.freshKey()
        const base = await this.validEntry(key)
        const twins: GossipCase[] = []
        for (let i = 0; i < 2; i++) {
          const twin = await this.signer.sign(key, 'contribution', bodies.contribution(HOSTILE_ROUND, fakeCid('open'), fakeCid('release-0'), fakeCid(`twin-${this.counter++}`), 10), { seq: 0, prev: null })
          twins.push({ channel: 'gossip', kind, expect: 'reject', data: twin.bytes })
        }
        return [{ channel: 'gossip', kind: 'equivocation-base', expect: 'accept', data: base.bytes }, ...twins]
      }
      case 'replay':
        return one(this.ctx.stored[rng.int(this.ctx.stored.length)].bytes, 'duplicate')
      case 'oversized-entry':
        return one(randomBytes(rng, LIMITS.maxFrameBytes + 1 + rng.int(GOSSIP_MAX_INBOUND_BYTES - LIMITS.maxFrameBytes - 1024)))
      case 'oversized-rpc':
        return one(randomBytes(rng, GOSSIP_MAX_INBOUND_BYTES + 1 + rng.int(1024 * 1024)))
    }
  }

  /** One stream case of the ledger sync protocol. */
  async sync (kind: SyncKind): Promise<HostileCase> {
    const rng = this.rng
    const raw = (chunks: Uint8Array[], then: RawStreamCase['then'] = 'close'): RawStreamCase => ({ channel: 'sync', kind, expect: 'reject', chunks, then })
    const hello = encodeCanonical({ t: 'hello', v: 1, community: this.ctx.community.bytes })
    const serve = (entries: SignedEntry[], expect: Expectation = 'reject'): SyncServeCase => ({ channel: 'sync', kind, expect, serve: entries })
    switch (kind) {
      case 'sync-unending-varint':
        return raw([Uint8Array.from([...Array(9).fill(0xff), 0x01]), new Uint8Array(16_384 + rng.int(256 * 1024)).fill(0xff)])
      case 'sync-non-minimal-varint':
        return raw([Uint8Array.of(0x80 | rng.int(128), 0x80, 0x00), hello])
      case 'sync-length-lie':
        return raw([varint(4 * 1024 * 1024 + 1 + rng.int(2 ** 30)), randomBytes(rng, 1 + rng.int(4096))])
      case 'sync-depth-bomb':
        return raw([lp(depthBomb(LIMITS.maxDepth + 1 + rng.int(100_000), rng.int(2) === 0, rng.int(2 ** 32)))])
      case 'sync-nested-map':
        return raw([lp(nestedMap(100 + rng.int(301), 2, rng))])
      case 'sync-truncated-hello':
        return raw([lp(hello).subarray(0, 1 + rng.int(hello.length))])
      case 'sync-non-canonical-hello':
        return raw([lp(widenHeader(hello, rng) ?? hello)])
      case 'sync-out-of-turn':
        return raw([lp(encodeCanonical({ t: 'entries', author: new Uint8Array(32), from: 0, entries: [new Uint8Array(8)] }))])
      case 'sync-foreign-hello':
        return raw([lp(encodeCanonical({ t: 'hello', v: 1, community: (await this.foreignCommunity()).genesis.id.bytes }))])
      case 'sync-small-order': {
        const key = SMALL_ORDER_POINTS[rng.int(SMALL_ORDER_POINTS.length)]
        const r = SMALL_ORDER_POINTS[rng.int(SMALL_ORDER_POINTS.length)]
        return serve([smallOrderEntry(this.ctx.community, Buffer.from(key.hex, 'hex'), Buffer.from(r.hex, 'hex'), 0, Date.now() - 1000, this.counter++)])
      }
      case 'sync-bad-signature': {
        const e = await this.validEntry()
        const bytes = flipSignatureBit(e)
        return serve([{ ...e, bytes, id: blobCid(bytes) }])
      }
      case 'sync-foreign-entries': {
        const f = await this.foreignCommunity()
        return serve([await f.signer.sign(await this.freshKey(), 'contribution', bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid(`foreign-sync-${this.counter++}`), 10))])
      }
      case 'sync-not-maintainer':
        return serve([await this.signer.sign(await this.freshKey(), 'round-open', { ...bodies.roundOpen(2000 + this.counter++, fakeCid('release-0')), deadline: Date.now() + 60_000 })])
      case 'sync-replay':
        return serve([this.ctx.stored[rng.int(this.ctx.stored.length)]], 'duplicate')
      case 'sync-idle':
        return raw([], 'idle')
      case 'sync-slow':
        return raw([lp(hello)], 'slow')
    }
  }

  /** One stream case of the blob protocol. */
  blob (kind: BlobKind): RawStreamCase {
    const rng = this.rng
    const raw = (chunks: Uint8Array[], then: RawStreamCase['then'] = 'close', expect: Expectation = 'reject'): RawStreamCase => ({ channel: 'blob', kind, expect, chunks, then })
    const request = (value: unknown): Uint8Array => lp(encodeCanonical(value))
    switch (kind) {
      case 'blob-unending-varint':
        return raw([Uint8Array.from([...Array(9).fill(0xff), 0x01]), new Uint8Array(16_384 + rng.int(256 * 1024)).fill(0xff)])
      case 'blob-length-lie':
        return raw([varint(1025 + rng.int(2 ** 28)), randomBytes(rng, 1 + rng.int(1024))])
      case 'blob-depth-bomb':
        return raw([lp(depthBomb(LIMITS.maxDepth + 1 + rng.int(900), false, rng.int(2 ** 32)))])
      case 'blob-non-canonical':
        return raw([lp(widenHeader(encodeCanonical({ op: 'table', cid: this.ctx.blob.bytes }), rng) ?? Uint8Array.of(0xc0))])
      case 'blob-bad-request':
        return raw([request(rng.int(2) === 0 ? { op: 'delete', cid: this.ctx.blob.bytes } : { op: 'chunk', cid: this.ctx.blob.bytes, index: -1 - rng.int(10) })])
      case 'blob-bad-cid':
        return raw([request({ op: 'table', cid: randomBytes(rng, 1 + rng.int(64)) })])
      case 'blob-chunk-range':
        return raw([request({ op: 'chunk', cid: this.ctx.blob.bytes, index: 1000 + rng.int(2 ** 31) })])
      case 'blob-truncated':
        return raw([Uint8Array.of(0x1e, 0x82)])
      case 'blob-unnegotiated':
        return { ...raw([Uint8Array.from([...Array(9).fill(0xff), 0x01]), new Uint8Array(16_384 + rng.int(128 * 1024)).fill(0xff)], 'close', 'refuse'), unnegotiated: true }
      case 'blob-idle':
        return raw([Uint8Array.of(0x1e, 0x82)], 'idle')
      case 'blob-slow':
        return raw([request({ op: 'table', cid: this.ctx.blob.bytes })], 'slow')
    }
  }
}

export const GOSSIP_KINDS = [
  'length-lie', 'truncated', 'depth-bomb', 'nested-map', 'non-canonical', 'small-order', 'bad-signature', 'foreign-community',
  'foreign-genesis', 'not-maintainer', 'future', 'random', 'equivocation', 'replay', 'oversized-entry', 'oversized-rpc'
] as const
export type GossipKind = typeof GOSSIP_KINDS[number]

export const SYNC_KINDS = [
  'sync-unending-varint', 'sync-non-minimal-varint', 'sync-length-lie', 'sync-depth-bomb', 'sync-nested-map', 'sync-truncated-hello',
  'sync-non-canonical-hello', 'sync-out-of-turn', 'sync-foreign-hello', 'sync-small-order', 'sync-bad-signature', 'sync-foreign-entries',
  'sync-not-maintainer', 'sync-replay', 'sync-idle', 'sync-slow'
] as const
export type SyncKind = typeof SYNC_KINDS[number]

export const BLOB_KINDS = [
  'blob-unending-varint', 'blob-length-lie', 'blob-depth-bomb', 'blob-non-canonical', 'blob-bad-request', 'blob-bad-cid', 'blob-chunk-range',
  'blob-truncated', 'blob-unnegotiated', 'blob-idle', 'blob-slow'
] as const
export type BlobKind = typeof BLOB_KINDS[number]
