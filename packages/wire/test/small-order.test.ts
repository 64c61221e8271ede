/**
 * Small-order keys and R (protocol/signing.md, "Keys and R a verifier refuses"): node:crypto's cofactorless
 * check accepts forged signatures under a small-order author key (with R = identity and S = 0 the identity
 * key "signs" every message) and a key owner's signature with R = identity. Every one of the 14 encodings of
 * the eight small-order points, as author and as R, and every non-canonical key, is refused with its code
 * by validateEntry and by the verifier itself; a genesis naming such a maintainer is refused too.
 * @noble/curves (the library @libp2p/crypto builds on) is the independent reference for which points
 * have small order.
 */
import { createHash, createPublicKey, verify } from 'node:crypto'
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js'
import { describe, expect, it } from 'vitest'
import { encodeCanonical, signedBytesOf, validateEntry, type UnsignedEntry } from '../src/index.js'
import { checkEd25519, isCanonicalEncoding, isSmallOrderEncoding, verifyEd25519 } from '../src/verify.js'
import { keyFromSeed, sampleEntry, TS } from './fixtures.js'

const P = 2n ** 255n - 19n
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n

/** 32-byte little-endian encoding of y, with the sign bit (bit 255) set when `sign`. */
function encode (y: bigint, sign: boolean): Uint8Array {
  const out = new Uint8Array(32)
  let v = y
  for (let i = 0; i < 32; i++) { out[i] = Number(v & 0xffn); v >>= 8n }
  if (sign) out[31] |= 0x80
  return out
}
const le = (b: Uint8Array): bigint => { let v = 0n; for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]); return v }
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** The 14 encodings whose low 255 bits give the y of a small-order point (y = 0, 1, ±y₈, −1, p, p + 1). */
const SMALL_ORDER: Array<{ name: string, bytes: Uint8Array }> = [
  [0n, 'y = 0 (order 4)'], [1n, 'y = 1 (identity)'], [Y8, 'y = y8 (order 8)'], [P - Y8, 'y = p - y8 (order 8)'],
  [P - 1n, 'y = p - 1 (order 2)'], [P, 'y = p (non-canonical 0)'], [P + 1n, 'y = p + 1 (non-canonical 1)']
].flatMap(([y, name]) => [false, true].map((sign) => ({ name: `${name as string}${sign ? ', sign bit set' : ''}`, bytes: encode(y as bigint, sign) })))

const IDENTITY = encode(1n, false)
const ZERO_S = new Uint8Array(32)
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** node:crypto's own answer (cofactorless OpenSSL), with no check of ours in front. */
function nodeVerifies (key: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return verify(null, data, createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' }), sig)
  } catch {
    return false
  }
}

/** A frame of `unsigned` carrying `sig` as is (no signing). */
const frameWith = (unsigned: UnsignedEntry, sig: Uint8Array): Uint8Array => encodeCanonical({ ...unsigned, sig })

/**
 * The first timestamp from TS at which the forgery (R = identity, S = 0) of a checkpoint by `author`
 * passes node:crypto (one in 1, 2, 4 or 8 messages, by the point's order); TS if none in 64 tries (a
 * verifier that already refuses small-order keys).
 */
function forgedCheckpoint (author: Uint8Array): { unsigned: UnsignedEntry<'checkpoint'>, sig: Uint8Array, nodeAccepts: boolean } {
  const sig = concat(IDENTITY, ZERO_S)
  for (let i = 0; i < 64; i++) {
    const unsigned = { ...sampleEntry('checkpoint', author), ts: TS + i }
    if (nodeVerifies(author, signedBytesOf(unsigned), sig)) return { unsigned, sig, nodeAccepts: true }
  }
  return { unsigned: sampleEntry('checkpoint', author), sig, nodeAccepts: false }
}

describe('small-order Ed25519 points', () => {
  it('the list is exactly the small-order points: each of the 14 encodings decodes to a point of order ≤ 8, and each of the 8 points is listed', () => {
    expect(new Set(SMALL_ORDER.map((s) => hex(s.bytes))).size).toBe(14)
    for (const s of SMALL_ORDER) {
      expect(ed25519.Point.fromBytes(s.bytes, true).isSmallOrder(), s.name).toBe(true)
      expect(isSmallOrderEncoding(s.bytes), s.name).toBe(true)
    }
    expect(ED25519_TORSION_SUBGROUP).toHaveLength(8)
    for (const h of ED25519_TORSION_SUBGROUP) expect(isSmallOrderEncoding(Buffer.from(h, 'hex')), h).toBe(true)
  })

  it('no honest key and no honest R is of small order or non-canonical', async () => {
    for (let n = 1; n <= 32; n++) {
      const key = await keyFromSeed(n)
      const sig = await key.sign(new TextEncoder().encode(`message ${n}`))
      expect(isSmallOrderEncoding(key.publicKey.raw)).toBe(false)
      expect(isCanonicalEncoding(key.publicKey.raw)).toBe(true)
      expect(isSmallOrderEncoding(sig.subarray(0, 32))).toBe(false)
    }
  })

  it('y ≥ p is non-canonical, y = p − 1 and below is canonical, the sign bit aside', () => {
    for (const sign of [false, true]) {
      expect(isCanonicalEncoding(encode(P - 1n, sign))).toBe(true)
      for (const y of [P, P + 1n, P + 2n, P + 18n]) expect(isCanonicalEncoding(encode(y, sign)), `${y - P}`).toBe(false)
    }
  })

  it('rejects an entry authored by the identity point with R = identity, S = 0 (it passes node:crypto for every message)', async () => {
    const { unsigned, sig } = forgedCheckpoint(IDENTITY)
    const result = await validateEntry(frameWith(unsigned, sig), { now: TS + 60_000 })
    expect(result).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WEAK_KEY' })
    expect(verifyEd25519(IDENTITY, signedBytesOf(unsigned), sig)).toBe(false)
  })

  it.each(SMALL_ORDER.map((s) => [s.name, s.bytes] as const))('rejects the forged entry of the small-order author %s with ERR_WIRE_WEAK_KEY', async (name, author) => {
    const { unsigned, sig, nodeAccepts } = forgedCheckpoint(author)
    console.log(`author ${name}: node:crypto alone ${nodeAccepts ? 'accepts' : 'refuses'} the forgery`)
    expect(await validateEntry(frameWith(unsigned, sig), { now: TS + 60_000 })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WEAK_KEY' })
    expect(checkEd25519(author, signedBytesOf(unsigned), sig)).toBe('weak-key')
  })

  it('rejects an author key that is not canonical (y ≥ p) even when it is not of small order', async () => {
    for (const y of [P + 2n, P + 3n, P + 18n]) {
      const author = encode(y, false)
      expect(isSmallOrderEncoding(author)).toBe(false)
      expect(await validateEntry(frameWith(sampleEntry('checkpoint', author), concat(IDENTITY, ZERO_S)), { now: TS })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WEAK_KEY' })
    }
  })

  it('rejects a signature with R = identity made by the key owner (S = k·a, which passes node:crypto), and every small-order R, with ERR_WIRE_SMALL_ORDER_R', async () => {
    const seed = new Uint8Array(32).fill(7)
    const key = await keyFromSeed(7)
    const A = key.publicKey.raw
    const unsigned = sampleEntry('checkpoint', A)
    const data = signedBytesOf(unsigned)
    // RFC 8032 §5.1.5: the secret scalar a is the clamped low half of SHA-512(seed); k = SHA-512(R ‖ A ‖ M) mod L
    const h = createHash('sha512').update(seed).digest()
    h[0] &= 248; h[31] &= 127; h[31] |= 64
    const a = le(h.subarray(0, 32))
    const k = le(createHash('sha512').update(IDENTITY).update(A).update(data).digest()) % L
    const sig = concat(IDENTITY, encode((k * a) % L, false))
    expect(nodeVerifies(A, data, sig)).toBe(true) // [S]B = [k·a]B = [k]A = identity + [k]A
    expect(await validateEntry(frameWith(unsigned, sig), { now: TS })).toMatchObject({ status: 'reject', code: 'ERR_WIRE_SMALL_ORDER_R' })
    for (const s of SMALL_ORDER) {
      const forged = concat(s.bytes, sig.subarray(32))
      expect(await validateEntry(frameWith(unsigned, forged), { now: TS }), s.name).toMatchObject({ status: 'reject', code: 'ERR_WIRE_SMALL_ORDER_R' })
      expect(verifyEd25519(A, data, forged)).toBe(false)
    }
    // the honest signature of the same entry is still accepted
    expect((await validateEntry(frameWith(unsigned, await key.sign(data)), { now: TS })).status).toBe('accept')
  })

  it('rejects a genesis that names a small-order maintainer, though its author signed it honestly', async () => {
    const key = await keyFromSeed(1)
    for (const s of SMALL_ORDER) {
      const unsigned = sampleEntry('genesis', key.publicKey.raw)
      unsigned.body.maintainers = [key.publicKey.raw, s.bytes]
      const sig = await key.sign(signedBytesOf(unsigned))
      expect(await validateEntry(frameWith(unsigned, sig), { now: TS }), s.name).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WEAK_KEY' })
    }
  })
})
