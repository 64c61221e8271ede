/**
 * Signed ledger entries (protocol/entries.md, protocol/signing.md): the envelope type, signing, and the
 * network-facing validation that turns untrusted bytes into a verified {@link SignedEntry} or a verdict.
 */
import type { CID } from 'multiformats/cid'
import type { z } from 'zod'
import { blobCid, cidFromBytes } from './cid.js'
import { decodeScanned, encodeCanonical, equalBytes, plainView } from './codec.js'
import { ENTRY_DOMAIN_STRING, MAX_CLOCK_SKEW_MS, PROTOCOL_VERSION } from './constants.js'
import { WireError, isWireError, type WireErrorCode } from './errors.js'
import { isEntryKind, type EntryKind } from './kinds.js'
import { createLimits, maxEntryBytes, type Limits, type LimitsInit } from './limits.js'
import { scanFrame } from './scan.js'
import { bodySchemas, envelopeSchema, formatIssues, signatureSchema, type BodyOf } from './schemas.js'
import { checkEd25519, isCanonicalEncoding, isSmallOrderEncoding } from './verify.js'

/** Domain-separation prefix of the signed bytes: ASCII `swarmtune/1/entry` followed by one NUL byte. */
export const ENTRY_DOMAIN: Uint8Array = new TextEncoder().encode(ENTRY_DOMAIN_STRING)

/** The fields of an entry of kind `K`. */
export interface EntryOf<K extends EntryKind> {
  /** Protocol version, always 1. */
  v: 1
  /** CID bytes of the community's genesis entry; empty (0 bytes) for kind `genesis`. */
  community: Uint8Array
  /** The author's raw Ed25519 public key (32 bytes). */
  author: Uint8Array
  /** Position in the author's chain in this community, from 0. */
  seq: number
  /** Entry CID bytes of the author's previous entry; null exactly when seq is 0. */
  prev: Uint8Array | null
  /** Time of writing, in ms since the Unix epoch (author's clock). */
  ts: number
  kind: K
  body: BodyOf<K>
  /** Ed25519 signature (64 bytes) over ENTRY_DOMAIN ‖ canonical encoding of the entry without `sig`. */
  sig: Uint8Array
}

/** A ledger entry; for the default `K` a union discriminated by `kind`. */
export type Entry<K extends EntryKind = EntryKind> = K extends EntryKind ? EntryOf<K> : never
/** An entry before signing. */
export type UnsignedEntry<K extends EntryKind = EntryKind> = K extends EntryKind ? Omit<EntryOf<K>, 'sig'> : never

/** An entry with its exact frame and id. */
export interface SignedEntry<K extends EntryKind = EntryKind> {
  entry: Entry<K>
  /** The exact frame (canonical msgpack of the entry, signature included). */
  bytes: Uint8Array
  /** The entry id: blobCid(bytes). */
  id: CID
}

/** Outcome of validating a network message, gossipsub-style; never thrown. */
export interface Validation<T> {
  /** `accept`: valid; `ignore`: not valid for us now, but not the sender's fault; `reject`: invalid, penalize. */
  status: 'accept' | 'ignore' | 'reject'
  /** Stable error code when not accepted (doc/errors.md). */
  code?: WireErrorCode
  /** What was wrong, for logs. */
  reason?: string
  /** The accepted value. */
  value?: T
}

/** What entry validation may know beyond the bytes. */
export interface EntryContext {
  /** The community the entry must belong to (a genesis must have exactly this id). */
  community?: CID
  /** Tighter decode limits than the v1 defaults. */
  limits?: LimitsInit
  /** Current time in ms since the Unix epoch (default Date.now()); entries later than now + 5 min are ignored. */
  now?: number
}

/**
 * The key an entry is signed with: a libp2p Ed25519 private key (`generateKeyPair('Ed25519')` or
 * `privateKeyFromRaw` of @libp2p/crypto) satisfies it.
 */
export interface SigningKey {
  readonly type: string
  readonly publicKey: { readonly raw: Uint8Array }
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** Codes that mean "not for us now" rather than "the sender misbehaved". */
const IGNORE_CODES: ReadonlySet<WireErrorCode> = new Set(['ERR_WIRE_UNSUPPORTED_VERSION', 'ERR_WIRE_FROM_FUTURE', 'ERR_WIRE_INTERNAL', 'ERR_WIRE_BAD_LIMITS'])

/**
 * Signs an entry: sig = Ed25519(key, ENTRY_DOMAIN ‖ encodeCanonical(unsigned)), frame =
 * encodeCanonical({ ...unsigned, sig }). The result is checked exactly as a receiver would check it
 * (limits, schema, envelope rules), so a frame this returns is never rejected by a v1 peer for its shape.
 * @param unsigned the entry without `sig`; `author` must be the key's public key.
 * @param key an Ed25519 private key.
 * @throws WireError `ERR_WIRE_WRONG_KEY` (not Ed25519, or not the author's key), any encoding code of
 *   encodeCanonical, `ERR_WIRE_BAD_ENTRY` / `ERR_WIRE_BAD_BODY` / `ERR_WIRE_ENTRY_TOO_LARGE` and the
 *   decode codes when the entry would not pass validation.
 */
export async function signEntry<K extends EntryKind> (unsigned: UnsignedEntry<K>, key: SigningKey): Promise<SignedEntry<K>> {
  if (key.type !== 'Ed25519') {
    throw new WireError('ERR_WIRE_WRONG_KEY', `entries are signed with Ed25519 keys, got a ${key.type} key; use the node's Ed25519 identity key.`)
  }
  if (!(unsigned.author instanceof Uint8Array) || !equalBytes(key.publicKey.raw, unsigned.author)) {
    throw new WireError('ERR_WIRE_WRONG_KEY', 'the entry author is not the public key of the signing key; set author to key.publicKey.raw.')
  }
  const { sig: _ignored, ...fields } = unsigned as UnsignedEntry & { sig?: unknown }
  const toSign = concat(ENTRY_DOMAIN, encodeCanonical(fields))
  const sig = await key.sign(toSign)
  const bytes = encodeCanonical({ ...fields, sig: new Uint8Array(sig) })
  const { entry } = parseEntry(bytes, createLimits())
  return { entry: entry as Entry<K>, bytes, id: blobCid(bytes) }
}

/**
 * Validates an entry received from the network, cheapest check first (protocol/entries.md, "Validation"):
 * size caps; the pre-scan of the whole frame (canonical headers, limits, at most `maxEntryItems` values);
 * the envelope, read with the body left undecoded (version, signature field, kind, envelope schema, the
 * kind's size limit); community; clock; author key and R; the signature, over the signed bytes cut from
 * the frame itself; only then the body is decoded and checked against its kind's schema. So a frame that
 * is not signed by its author costs one linear pass and one SHA-512 over its bytes, whatever its shape.
 * Never throws. Stateless: chain rules (seq, prev, maintainer rights) are the ledger's to check.
 * @returns `accept` with the SignedEntry; `ignore` for a newer protocol version, a timestamp more than
 *   5 minutes ahead of `ctx.now`, invalid `ctx.limits` or an internal error (none of them the sender's
 *   fault); `reject` with a stable code for everything else.
 */
export async function validateEntry (bytes: Uint8Array, ctx: EntryContext = {}): Promise<Validation<SignedEntry>> {
  try {
    const limits = createLimits(ctx.limits)
    const framed = frameEntry(bytes, limits)
    const envelope = checkEnvelope(framed.head, bytes.length, limits)
    // the id (a SHA-256 of the frame) is computed before the signature check only for a genesis, whose id
    // is its community; any other frame pays for it once accepted
    let id = envelope.kind === 'genesis' ? blobCid(bytes) : undefined
    if (ctx.community !== undefined) {
      const community = id !== undefined ? id.bytes : envelope.community
      if (!equalBytes(community, ctx.community.bytes)) {
        return reject('ERR_WIRE_WRONG_COMMUNITY', `entry belongs to community ${cidFromBytes(community).toString()}, expected ${ctx.community.toString()}`)
      }
    }
    const now = ctx.now ?? Date.now()
    if (envelope.ts > now + MAX_CLOCK_SKEW_MS) {
      return { status: 'ignore', code: 'ERR_WIRE_FROM_FUTURE', reason: `entry timestamp ${envelope.ts} is ${envelope.ts - now} ms ahead of local time ${now} (allowed: ${MAX_CLOCK_SKEW_MS} ms); check the clocks` }
    }
    const check = checkEd25519(envelope.author, signedBytesOfFrame(framed), envelope.sig)
    if (check === 'weak-key') {
      return reject('ERR_WIRE_WEAK_KEY', `the author key ${Buffer.from(envelope.author).toString('hex')} is a point of small order or a non-canonical encoding, under which signatures can be forged; expected a key made by Ed25519 key generation (protocol/signing.md)`)
    }
    if (check === 'small-order-r') {
      return reject('ERR_WIRE_SMALL_ORDER_R', 'the signature\'s R (its first 32 bytes) is a point of small order, which an honest signer never produces; expected R = [r]B of RFC 8032 §5.1.6 (protocol/signing.md)')
    }
    if (check !== 'valid') {
      return reject('ERR_WIRE_BAD_SIGNATURE', 'the signature does not verify under the author key over the domain-separated entry bytes')
    }
    const entry = withBody(envelope, framed, limits)
    id ??= blobCid(bytes)
    // a copy, so that a network buffer reused by the caller cannot change an accepted entry
    return { status: 'accept', value: { entry, bytes: new Uint8Array(bytes), id } }
  } catch (err) {
    if (isWireError(err)) {
      return { status: IGNORE_CODES.has(err.code) ? 'ignore' : 'reject', code: err.code, reason: err.message }
    }
    return { status: 'ignore', code: 'ERR_WIRE_INTERNAL', reason: `unexpected failure while validating an entry: ${String(err)}` }
  }
}

/**
 * Decodes an entry from a trusted store (bytes verified when they were stored): all checks of
 * validateEntry except community, clock and signature.
 * @throws WireError with the codes validateEntry would return.
 */
export function decodeEntryUnverified (bytes: Uint8Array): SignedEntry {
  const { entry, id } = parseEntry(bytes, createLimits())
  return { entry, bytes, id }
}

/** The id of the community a genesis entry creates: the genesis entry's id. */
export function communityIdOf (genesis: SignedEntry): CID {
  if (genesis.entry.kind !== 'genesis') {
    throw new WireError('ERR_WIRE_BAD_ENTRY', `communityIdOf needs a genesis entry, got a ${genesis.entry.kind}; pass the community's genesis.`)
  }
  return genesis.id
}

/**
 * The bytes an entry's signature covers: ENTRY_DOMAIN ‖ canonical msgpack of the entry without `sig`.
 * @throws WireError the codes of encodeCanonical.
 */
export function signedBytesOf (entry: Entry | UnsignedEntry): Uint8Array {
  const { sig: _ignored, ...fields } = entry as Entry
  return concat(ENTRY_DOMAIN, encodeCanonical(fields))
}

/** Every stateless check but community, clock and signature; throws WireError. */
function parseEntry (bytes: Uint8Array, limits: Limits): { entry: Entry, id: CID } {
  const framed = frameEntry(bytes, limits)
  const envelope = checkEnvelope(framed.head, bytes.length, limits)
  return { entry: withBody(envelope, framed, limits), id: blobCid(bytes) }
}

/** UTF-8 bytes of the keys `body` and `sig` with their fixstr headers, as a canonical frame holds them. */
const BODY_KEY = Uint8Array.of(0xa4, 0x62, 0x6f, 0x64, 0x79)
const SIG_KEY = Uint8Array.of(0xa3, 0x73, 0x69, 0x67)

/** An entry frame after the pre-scan: the envelope decoded, where the body and the `sig` pair lie. */
interface FramedEntry {
  /** A plain view of the frame. */
  input: Uint8Array
  /** The top-level map decoded with the body replaced by `{}` (a map) or `null` (anything else). */
  head: Record<string, unknown>
  /** Byte range [start, end) of the body value, when there is a `body` key. */
  body?: readonly [number, number]
  /** Byte range [start, end) of the `sig` key and its value, when there is one. */
  sig?: readonly [number, number]
}

/**
 * Size caps, then the pre-scan of the whole frame under the entry item limit, then the decode of its
 * top-level map with the body value replaced by an empty map: what the envelope checks need, at a cost
 * that does not grow with the body.
 * @throws WireError `ERR_WIRE_NOT_BYTES`, `ERR_WIRE_FRAME_TOO_LARGE`, `ERR_WIRE_ENTRY_TOO_LARGE`, the
 *   pre-scan codes, `ERR_WIRE_BAD_ENTRY` (not a map), `ERR_WIRE_NOT_CANONICAL`.
 */
function frameEntry (bytes: Uint8Array, limits: Limits): FramedEntry {
  if (!(bytes instanceof Uint8Array)) {
    throw new WireError('ERR_WIRE_NOT_BYTES', 'expected the entry frame as a Uint8Array; pass the raw received bytes.')
  }
  if (bytes.length > limits.maxFrameBytes) {
    throw new WireError('ERR_WIRE_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds the limit of ${limits.maxFrameBytes} bytes; rejected unread.`)
  }
  const maxBytes = maxEntryBytes(limits)
  if (bytes.length > maxBytes) {
    throw new WireError('ERR_WIRE_ENTRY_TOO_LARGE', `entry frame of ${bytes.length} bytes exceeds the largest entry of any kind (${maxBytes} bytes); rejected unread.`)
  }
  const input = plainView(bytes)
  const children: number[] = []
  scanFrame(input, limits, Math.min(limits.maxItems, limits.maxEntryItems), children)
  if (!isMapHeader(input[0])) {
    throw new WireError('ERR_WIRE_BAD_ENTRY', 'an entry frame must hold a map; this one holds another type.')
  }
  let body: readonly [number, number] | undefined
  let sig: readonly [number, number] | undefined
  for (let i = 0; i + 2 < children.length; i += 2) {
    if (holds(input, children[i], children[i + 1], BODY_KEY)) body = [children[i + 1], children[i + 2]]
    else if (holds(input, children[i], children[i + 1], SIG_KEY)) sig = [children[i], children[i + 2]]
  }
  const head = body === undefined
    ? input
    : concat3(input.subarray(0, body[0]), Uint8Array.of(isMapHeader(input[body[0]]) ? 0x80 : 0xc0), input.subarray(body[1]))
  return { input, head: decodeScanned(head, limits) as Record<string, unknown>, body, sig }
}

/** Envelope checks on the top-level fields (body unread), in the order of protocol/entries.md; throws WireError. */
function checkEnvelope (raw: Record<string, unknown>, frameBytes: number, limits: Limits): EnvelopeOf {
  if (typeof raw.v === 'number' && Number.isSafeInteger(raw.v) && raw.v > PROTOCOL_VERSION) {
    throw new WireError('ERR_WIRE_UNSUPPORTED_VERSION', `entry of protocol version ${raw.v}; this peer speaks version ${PROTOCOL_VERSION}. Upgrade swarmtune to read it.`)
  }
  if (!('sig' in raw)) {
    throw new WireError('ERR_WIRE_MISSING_SIGNATURE', 'the entry has no sig field; every entry must be signed by its author.')
  }
  if (!signatureSchema.safeParse(raw.sig).success) {
    throw new WireError('ERR_WIRE_BAD_SIGNATURE', 'the sig field is not 64 bytes; expected an Ed25519 signature.')
  }
  if (!isEntryKind(raw.kind)) {
    throw new WireError('ERR_WIRE_UNKNOWN_KIND', `unknown entry kind ${JSON.stringify(typeof raw.kind === 'string' ? raw.kind.slice(0, 64) : raw.kind)}; protocol v1 kinds are genesis, round-open, contribution, verdict, release, round-close, checkpoint.`)
  }
  const envelope = envelopeSchema.safeParse(raw)
  if (!envelope.success) {
    throw new WireError('ERR_WIRE_BAD_ENTRY', `malformed entry envelope: ${formatIssues(envelope.error)}.`)
  }
  const kind = envelope.data.kind
  if (frameBytes > limits.perKind[kind]) {
    throw new WireError('ERR_WIRE_ENTRY_TOO_LARGE', `${kind} entry of ${frameBytes} bytes exceeds the ${kind} limit of ${limits.perKind[kind]} bytes.`)
  }
  return envelope.data
}

/** The envelope fields as the envelope schema gives them. */
type EnvelopeOf = z.output<typeof envelopeSchema>

/** Decodes the body of a checked envelope and checks it against its kind's schema; throws WireError. */
function withBody (envelope: EnvelopeOf, framed: FramedEntry, limits: Limits): Entry {
  const kind = envelope.kind
  // the envelope check requires a map body, so the frame has one
  const [start, end] = framed.body as readonly [number, number]
  const body = bodySchemas[kind].safeParse(decodeScanned(framed.input.subarray(start, end), limits))
  if (!body.success) {
    throw new WireError('ERR_WIRE_BAD_BODY', `malformed ${kind} body: ${formatIssues(body.error, 'body')}.`)
  }
  const entry = { ...envelope, body: body.data } as Entry
  if (entry.kind === 'genesis') {
    if (!entry.body.maintainers.some((m) => equalBytes(m, entry.author))) {
      throw new WireError('ERR_WIRE_BAD_BODY', 'the genesis author is not among its maintainers; the community creator must be a maintainer.')
    }
    const weak = entry.body.maintainers.findIndex((m) => !isCanonicalEncoding(m) || isSmallOrderEncoding(m))
    if (weak >= 0) {
      throw new WireError('ERR_WIRE_WEAK_KEY', `genesis maintainer ${weak} is a point of small order or a non-canonical encoding, under which anyone could sign as a maintainer; list only keys made by Ed25519 key generation (protocol/signing.md).`)
    }
  }
  return entry
}

/**
 * The bytes the signature of a checked entry frame covers, cut from the frame: ENTRY_DOMAIN, then the
 * frame with its map header 0x89 (9 pairs) made 0x88 and the `sig` pair left out — the canonical encoding
 * of the entry without `sig` (protocol/signing.md), built without re-encoding anything.
 */
function signedBytesOfFrame (framed: FramedEntry): Uint8Array {
  const { input, sig } = framed
  // the envelope check admits exactly the 9 envelope keys, so the frame is a fixmap of 9 with a sig pair
  if (input[0] !== 0x89 || sig === undefined) throw new WireError('ERR_WIRE_INTERNAL', 'a checked entry frame is not a map of 9 pairs with a sig; please report this frame.')
  const out = new Uint8Array(ENTRY_DOMAIN.length + input.length - (sig[1] - sig[0]))
  out.set(ENTRY_DOMAIN, 0)
  out[ENTRY_DOMAIN.length] = 0x88
  out.set(input.subarray(1, sig[0]), ENTRY_DOMAIN.length + 1)
  out.set(input.subarray(sig[1]), ENTRY_DOMAIN.length + sig[0])
  return out
}

/** True for a msgpack map header byte: fixmap, map16, map32. */
function isMapHeader (b: number): boolean {
  return (b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf
}

/** True when input[start, end) holds exactly the bytes of `want`. */
function holds (input: Uint8Array, start: number, end: number, want: Uint8Array): boolean {
  if (end - start !== want.length) return false
  for (let i = 0; i < want.length; i++) if (input[start + i] !== want[i]) return false
  return true
}

function concat3 (a: Uint8Array, b: Uint8Array, c: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length + c.length)
  out.set(a, 0)
  out.set(b, a.length)
  out.set(c, a.length + b.length)
  return out
}

function reject (code: WireErrorCode, reason: string): Validation<SignedEntry> {
  return { status: 'reject', code, reason }
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
