/**
 * Builds the protocol v1 test vectors (protocol/vectors/v1.json): frames as hex with the value, entry or
 * error code they must produce. Expected results are written here by hand; building fails if this
 * implementation disagrees with any of them, so the file never records a bug as the truth.
 *
 * Run: `npm run vectors -w packages/wire` (rewrites protocol/vectors/v1.json).
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import {
  blobCid, decodeCanonical, encodeCanonical, ENTRY_DOMAIN, parseCid, signedBytesOf, signEntry, validateEntry,
  WireError, type Entry, type EntryKind, type UnsignedEntry
} from '../src/index.js'
import { cidOf, sampleBodies, TS } from '../test/fixtures.js'

/** JSON form of a decoded value: bytes as `{ "$bytes": "<hex>" }`, everything else as itself. */
export type VectorValue = null | boolean | number | string | { $bytes: string } | VectorValue[] | { [key: string]: VectorValue }

export interface ValueVector {
  name: string
  type: 'value'
  hex: string
  /** The decoded value (and the value whose canonical encoding is `hex`), when the frame is valid. */
  value?: VectorValue
  /** The error code, when the frame is invalid. */
  error?: string
}

export interface EntryVector {
  name: string
  type: 'entry'
  hex: string
  /** What the validator knows: current time (ms since the Unix epoch) and, optionally, the community id. */
  context: { now: number, community?: string }
  status: 'accept' | 'ignore' | 'reject'
  error?: string
  /** For accepted entries: the entry id, the decoded entry, and the exact bytes the signature covers. */
  id?: string
  entry?: VectorValue
  signedHex?: string
}

export interface VectorFile {
  protocol: 1
  description: string
  keys: Array<{ seedHex: string, publicKeyHex: string }>
  vectors: Array<ValueVector | EntryVector>
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Converts a decoded value to its JSON form. */
export function toVectorValue (value: unknown): VectorValue {
  if (value instanceof Uint8Array) return { $bytes: hex(value) }
  if (Array.isArray(value)) return value.map(toVectorValue)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toVectorValue(v)]))
  }
  return value as VectorValue
}

/** Converts the JSON form back to a value. */
export function fromVectorValue (value: VectorValue): unknown {
  if (Array.isArray(value)) return value.map(fromVectorValue)
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
    if (keys.length === 1 && keys[0] === '$bytes') return fromHex((value as { $bytes: string }).$bytes)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromVectorValue(v)]))
  }
  return value
}

const SEEDS = [1, 2].map((n) => new Uint8Array(32).fill(n))

/** The codec vectors: [name, hex, expected value | { error }]. */
function codecCases (): Array<[string, string, unknown]> {
  const nested = (depth: number, inner: string): string => '91'.repeat(depth) + inner
  return [
    ['nil', 'c0', null],
    ['false', 'c2', false],
    ['true', 'c3', true],
    ['positive fixint 127', '7f', 127],
    ['uint8 128', 'cc80', 128],
    ['uint16 256', 'cd0100', 256],
    ['uint32 65536', 'ce00010000', 65_536],
    ['uint32 2^32 − 1', 'ceffffffff', 2 ** 32 - 1],
    ['negative fixint −32', 'e0', -32],
    ['int8 −33', 'd0df', -33],
    ['int16 −129', 'd1ff7f', -129],
    ['int32 −2^31', 'd280000000', -(2 ** 31)],
    ['float64 0.5', 'cb3fe0000000000000', 0.5],
    ['float64 2^32 (integers from 2^32 up are float64)', 'cb41f0000000000000', 2 ** 32],
    ['float64 −2^31 − 1', 'cbc1e0000000200000', -(2 ** 31) - 1],
    ['float64 a timestamp (ms)', 'cb4279b76daa800000', TS],
    ['empty string', 'a0', ''],
    ['fixstr', 'a568656c6c6f', 'hello'],
    ['str8 of 32 bytes', 'd920' + '61'.repeat(32), 'a'.repeat(32)],
    ['non-ASCII UTF-8', 'a8c3a97465f09f9880', 'éte😀'],
    ['empty bin', 'c400', new Uint8Array(0)],
    ['bin8', 'c403010203', new Uint8Array([1, 2, 3])],
    ['empty array', '90', []],
    ['nested arrays', '9201920203', [1, [2, 3]]],
    ['map with keys in byte order', '83a16101a2616102a16203', { a: 1, aa: 2, b: 3 }],
    ['map keys sort by bytes, not numerically', '82a23130c0a139c0', { 10: null, 9: null }],
    ['nesting at the depth limit (16)', nested(16, '00'), JSON.parse('[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]')],

    ['empty frame', '', { error: 'ERR_WIRE_TRUNCATED' }],
    ['never-used type byte 0xc1', 'c1', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['fixext 1 (extensions are forbidden)', 'd40100', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['ext8 (extensions are forbidden)', 'c7017200', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['timestamp extension −1', 'd6ff00000000', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['float32', 'ca3f800000', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['uint64', 'cf0000000100000000', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['int64', 'd3ffffffff00000000', { error: 'ERR_WIRE_FORBIDDEN_TYPE' }],
    ['uint8 holding 5 (fixint is shorter)', 'cc05', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['int8 holding 0', 'd000', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['int16 holding −100 (int8 is shorter)', 'd1ff9c', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['uint32 holding 255', 'ce000000ff', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['float64 holding 1 (an integer)', 'cb3ff0000000000000', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['float64 −0', 'cb8000000000000000', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['float64 NaN', 'cb7ff8000000000000', { error: 'ERR_WIRE_NON_FINITE' }],
    ['float64 +Infinity', 'cb7ff0000000000000', { error: 'ERR_WIRE_NON_FINITE' }],
    ['str8 for a 3-byte string', 'd903616263', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['bin16 for 1 byte', 'c5000101', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['array16 for 1 element', 'dc000101', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['map16 for 1 pair', 'de0001a16101', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['map keys out of order', '82a16201a16102', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['duplicate map key', '82a16101a16102', { error: 'ERR_WIRE_DUPLICATE_KEY' }],
    ['__proto__ key', '81a95f5f70726f746f5f5f80', { error: 'ERR_WIRE_BAD_KEY' }],
    ['integer map key', '810101', { error: 'ERR_WIRE_BAD_KEY' }],
    ['bin map key', '81c4016101', { error: 'ERR_WIRE_BAD_KEY' }],
    ['overlong UTF-8 (C0 80)', 'a2c080', { error: 'ERR_WIRE_BAD_UTF8' }],
    ['UTF-8-encoded lone surrogate (ED A0 80)', 'a3eda080', { error: 'ERR_WIRE_BAD_UTF8' }],
    ['truncated uint16', 'cd01', { error: 'ERR_WIRE_TRUNCATED' }],
    ['truncated string', 'a3616263'.slice(0, 6), { error: 'ERR_WIRE_TRUNCATED' }],
    ['array32 header claiming 2^32 − 1 elements', 'ddffffffff00', { error: 'ERR_WIRE_TRUNCATED' }],
    ['map32 header claiming 2^32 − 1 pairs', 'dfffffffff', { error: 'ERR_WIRE_TRUNCATED' }],
    ['bin32 header claiming 2^32 − 1 bytes', 'c6ffffffff00', { error: 'ERR_WIRE_TRUNCATED' }],
    ['str32 header claiming 2^32 − 1 bytes', 'dbffffffff61', { error: 'ERR_WIRE_TRUNCATED' }],
    ['bytes after the value', 'c0c0', { error: 'ERR_WIRE_TRAILING_BYTES' }],
    ['nesting one deeper than the limit (17)', nested(17, '00'), { error: 'ERR_WIRE_TOO_DEEP' }],
    ['empty array one deeper than the limit', nested(16, '90'), { error: 'ERR_WIRE_TOO_DEEP' }],
    ['str32 for a 1-byte string', 'db0000000161', { error: 'ERR_WIRE_NOT_CANONICAL' }],
    ['map16 of maxMapSize + 1 pairs (rejected at its header)', 'de0401' + 'a0c0'.repeat(0x401), { error: 'ERR_WIRE_MAP_TOO_LARGE' }]
  ]
}

/** The order of the edwards25519 base point (RFC 8032 §5.1). */
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n

function littleEndian (b: Uint8Array): bigint {
  let v = 0n
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i])
  return v
}

function toLittleEndian (v: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) { out[i] = Number(v & 0xffn); v >>= 8n }
  return out
}

/** The Ed25519 challenge k = SHA-512(R ‖ A ‖ M) mod L (RFC 8032 §5.1.7 step 2). */
function ed25519Challenge (R: Uint8Array, A: Uint8Array, message: Uint8Array): bigint {
  return littleEndian(createHash('sha512').update(R).update(A).update(message).digest()) % ED25519_L
}

function concatBytes (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** Builds every vector, checking each against this implementation. */
export async function buildVectors (): Promise<VectorFile> {
  const vectors: Array<ValueVector | EntryVector> = []
  for (const [name, h, expected] of codecCases()) {
    const isError = expected !== null && typeof expected === 'object' && 'error' in (expected as object) && !Array.isArray(expected)
    let actual: { value: unknown } | { error: string }
    try {
      actual = { value: decodeCanonical(fromHex(h)) }
    } catch (err) {
      if (!(err instanceof WireError)) throw err
      actual = { error: err.code }
    }
    if (isError) {
      const code = (expected as { error: string }).error
      if (!('error' in actual) || actual.error !== code) throw new Error(`vector "${name}": expected ${code}, got ${JSON.stringify(actual)}`)
      vectors.push({ name, type: 'value', hex: h, error: code })
    } else {
      if (!('value' in actual) || !isDeepStrictEqual(actual.value, expected) || hex(encodeCanonical(expected)) !== h) {
        throw new Error(`vector "${name}": expected ${JSON.stringify(toVectorValue(expected))}, got ${JSON.stringify(actual)}`)
      }
      vectors.push({ name, type: 'value', hex: h, value: toVectorValue(expected) })
    }
  }

  const keys = await Promise.all(SEEDS.map(async (s) => await generateKeyPairFromSeed('Ed25519', s)))
  const [key, other] = keys
  const author = key.publicKey.raw
  const genesis = await signEntry({ v: 1, community: new Uint8Array(0), author, seq: 0, prev: null, ts: TS, kind: 'genesis', body: sampleBodies(author).genesis }, key)
  const community = genesis.id
  const unsigned = <K extends EntryKind>(kind: K, seq: number): UnsignedEntry<K> => ({
    v: 1, community: community.bytes, author, seq, prev: cidOf(`entry ${seq - 1}`), ts: TS + seq, kind, body: sampleBodies(author)[kind]
  }) as unknown as UnsignedEntry<K>
  const context = { now: TS + 60_000, community: community.toString() }

  const push = async (name: string, bytes: Uint8Array, expected: { status: EntryVector['status'], error?: string }, ctx: EntryVector['context'] = context): Promise<void> => {
    const result = await validateEntry(bytes, { now: ctx.now, community: ctx.community === undefined ? undefined : parseCid(ctx.community) })
    if (result.status !== expected.status || result.code !== expected.error) {
      throw new Error(`vector "${name}": expected ${expected.status} ${expected.error ?? ''}, got ${result.status} ${result.code ?? ''} (${result.reason ?? ''})`)
    }
    const vector: EntryVector = { name, type: 'entry', hex: hex(bytes), context: ctx, status: expected.status }
    if (expected.error !== undefined) vector.error = expected.error
    if (result.value !== undefined) {
      vector.id = result.value.id.toString()
      vector.entry = toVectorValue(result.value.entry)
      vector.signedHex = hex(signedBytesOf(result.value.entry))
    }
    vectors.push(vector)
  }

  await push('genesis entry', genesis.bytes, { status: 'accept' })
  const kinds: EntryKind[] = ['round-open', 'contribution', 'verdict', 'release', 'round-close', 'checkpoint']
  const signedByKind = new Map<EntryKind, Uint8Array>()
  for (const [i, kind] of kinds.entries()) {
    const s = await signEntry(unsigned(kind, i + 1), key)
    signedByKind.set(kind, s.bytes)
    await push(`${kind} entry`, s.bytes, { status: 'accept' })
  }

  const verdict = decodeCanonical(signedByKind.get('verdict')!) as Record<string, unknown>
  const reframe = (change: (f: Record<string, unknown>) => void): Uint8Array => {
    const f = structuredClone(verdict)
    change(f)
    return encodeCanonical(f)
  }
  const flipped = reframe((f) => { (f.sig as Uint8Array)[0] ^= 1 })
  await push('verdict with one signature bit flipped', flipped, { status: 'reject', error: 'ERR_WIRE_BAD_SIGNATURE' })
  await push('verdict with a changed field under the old signature', reframe((f) => { (f.body as Record<string, unknown>).accepted = true }), { status: 'reject', error: 'ERR_WIRE_BAD_SIGNATURE' })
  const otherSig = await other.sign(signedBytesOf(verdict as unknown as Entry))
  await push('verdict signed by another key', reframe((f) => { f.sig = new Uint8Array(otherSig) }), { status: 'reject', error: 'ERR_WIRE_BAD_SIGNATURE' })
  const elsewhere = { now: context.now, community: blobCid(utf8('another community')).toString() }
  await push('verdict replayed under another community', reframe((f) => { f.community = cidOf('another community') }), { status: 'reject', error: 'ERR_WIRE_BAD_SIGNATURE' }, elsewhere)
  await push('verdict offered to a peer of another community', signedByKind.get('verdict')!, { status: 'reject', error: 'ERR_WIRE_WRONG_COMMUNITY' }, elsewhere)
  await push('verdict replayed as a checkpoint', reframe((f) => { f.kind = 'checkpoint'; f.body = sampleBodies(author).checkpoint }), { status: 'reject', error: 'ERR_WIRE_BAD_SIGNATURE' })
  await push('verdict without a signature', reframe((f) => { delete f.sig }), { status: 'reject', error: 'ERR_WIRE_MISSING_SIGNATURE' })
  await push('verdict of protocol version 2', reframe((f) => { f.v = 2 }), { status: 'ignore', error: 'ERR_WIRE_UNSUPPORTED_VERSION' })
  await push('verdict stamped more than 5 minutes ahead', signedByKind.get('verdict')!, { status: 'ignore', error: 'ERR_WIRE_FROM_FUTURE' }, { now: TS - 300_001, community: context.community })
  await push('entry of an unknown kind', reframe((f) => { f.kind = 'vote' }), { status: 'reject', error: 'ERR_WIRE_UNKNOWN_KIND' })
  await push('entry with seq 0 and a prev', reframe((f) => { f.seq = 0 }), { status: 'reject', error: 'ERR_WIRE_BAD_ENTRY' })
  // body rules are checked after the signature: these are signed again by their author
  const resigned = async (fields: Record<string, unknown>): Promise<Uint8Array> => {
    const { sig: _old, ...rest } = fields
    return encodeCanonical({ ...rest, sig: await key.sign(signedBytesOf(rest as unknown as Entry)) })
  }
  await push('verdict with an unknown body field', await resigned(decodeCanonical(reframe((f) => { (f.body as Record<string, unknown>).note = 'x' })) as Record<string, unknown>), { status: 'reject', error: 'ERR_WIRE_BAD_BODY' })
  const release = decodeCanonical(signedByKind.get('release')!) as { body: { contributions: Uint8Array[] } }
  release.body.contributions.reverse()
  await push('release listing contributions out of canonical order', await resigned(release as unknown as Record<string, unknown>), { status: 'reject', error: 'ERR_WIRE_BAD_BODY' })
  await push('release with its contributions reordered under the old signature', encodeCanonical(release), { status: 'reject', error: 'ERR_WIRE_BAD_SIGNATURE' })
  const whole = signedByKind.get('verdict')!
  await push('verdict frame cut short by one byte', whole.subarray(0, whole.length - 1), { status: 'reject', error: 'ERR_WIRE_TRUNCATED' })

  // Forgeries under a cofactorless check (protocol/signing.md, "Keys and R a verifier refuses").
  const identity = fromHex('01' + '00'.repeat(31))
  const order8 = fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')
  const rIdentityS0 = concatBytes(identity, new Uint8Array(32))
  const byAuthor = (a: Uint8Array, ts = TS + 6): UnsignedEntry<'checkpoint'> =>
    ({ v: 1, community: community.bytes, author: a, seq: 0, prev: null, ts, kind: 'checkpoint', body: sampleBodies(a).checkpoint })
  await push('entry by the identity point, R = identity, S = 0', encodeCanonical({ ...byAuthor(identity), sig: rIdentityS0 }), { status: 'reject', error: 'ERR_WIRE_WEAK_KEY' })
  // [S]B = R + [k]A holds with R = identity, S = 0 for a point A of order 8 exactly when 8 divides k
  let ts = TS + 6
  while (ed25519Challenge(identity, order8, signedBytesOf(byAuthor(order8, ts))) % 8n !== 0n) ts++
  await push('entry by a key of order 8, R = identity, S = 0', encodeCanonical({ ...byAuthor(order8, ts), sig: rIdentityS0 }), { status: 'reject', error: 'ERR_WIRE_WEAK_KEY' })
  // the key owner's signature with R = identity: S = k·a mod L (RFC 8032 §5.1.5 secret scalar a)
  const ownSigned = byAuthor(author)
  const k = ed25519Challenge(identity, author, signedBytesOf(ownSigned))
  const h = createHash('sha512').update(SEEDS[0]).digest()
  h[0] &= 248; h[31] &= 127; h[31] |= 64
  const S = (k * littleEndian(h.subarray(0, 32))) % ED25519_L
  await push('entry signed by its author with R = identity', encodeCanonical({ ...ownSigned, sig: concatBytes(identity, toLittleEndian(S)) }), { status: 'reject', error: 'ERR_WIRE_SMALL_ORDER_R' })
  const weakGenesis = { ...genesis.entry, body: { ...genesis.entry.body, maintainers: [author, identity] } }
  const { sig: _genesisSig, ...weakUnsigned } = weakGenesis
  await push('genesis naming the identity point as a maintainer', encodeCanonical({ ...weakUnsigned, sig: await key.sign(signedBytesOf(weakUnsigned as UnsignedEntry)) }), { status: 'reject', error: 'ERR_WIRE_WEAK_KEY' }, { now: context.now })

  return {
    protocol: 1,
    description: 'swarmtune protocol v1 test vectors (protocol/vectors/README.md explains the format). ' +
      `Entries are signed by the keys below with the domain prefix ${JSON.stringify(new TextDecoder().decode(ENTRY_DOMAIN))}.`,
    keys: keys.map((k, i) => ({ seedHex: hex(SEEDS[i]), publicKeyHex: hex(k.publicKey.raw) })),
    vectors
  }
}

/** Where the vectors live in the repository. */
export const VECTORS_PATH = fileURLToPath(new URL('../../../protocol/vectors/v1.json', import.meta.url))

/** Serializes vectors the way they are committed (2-space JSON, final newline). */
export function serializeVectors (file: VectorFile): string {
  return JSON.stringify(file, null, 2) + '\n'
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = await buildVectors()
  writeFileSync(VECTORS_PATH, serializeVectors(file))
  console.log(`wrote ${file.vectors.length} vectors to ${VECTORS_PATH}`)
}
