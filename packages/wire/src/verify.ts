/**
 * Ed25519 signature checks (protocol/signing.md, "Verifying") with node:crypto, whose OpenSSL verifier
 * implements RFC 8032 §5.1.7 including the S < L check (no malleable twin verifies). That check is
 * cofactorless and takes any curve point as a key or as R, so a small-order key with R = identity and
 * S = 0 "signs" every message (or a fixed fraction of them): before verifying, keys of small order or in
 * a non-canonical encoding and signatures whose R has small order are refused, as libsodium's
 * `crypto_sign_verify_detached` does. The parsed key of each author is kept in a small least-recently-used
 * cache, so a run of entries by one author parses its key once instead of once per entry.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, VERIFY_KEY_CACHE_ENTRIES } from './constants.js'

/**
 * The 32-byte encodings, sign bit (bit 255) cleared, whose y coordinate is that of one of the eight points
 * of order dividing 8 on edwards25519: libsodium's `ge25519_has_small_order` list (ed25519_ref10.c). With
 * the sign bit either way they are the 14 encodings of the small-order points: y = 0 (order 4, x = ±√−1),
 * y = 1 (the identity), y = ±y₈ (the four points of order 8), y = p − 1 (order 2), and the non-canonical
 * y = p (≡ 0) and y = p + 1 (≡ 1); p = 2^255 − 19. The two forms with x = 0 and the sign bit set are not
 * valid encodings (RFC 8032 §5.1.3 step 4), yet OpenSSL decodes them as the identity and the order-2 point.
 */
const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0, order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1, the identity (order 1)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // y = y₈, order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // y = p − y₈, order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p − 1, order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (non-canonical 0), order 4
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f' // y = p + 1 (non-canonical 1), order 1
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')))

/**
 * True when the 32 bytes `point` encode a point of small order (order 1, 2, 4 or 8), whatever its sign
 * bit: the encodings listed in {@link SMALL_ORDER_ENCODINGS}. Such a key or R makes a forged signature
 * verify under a cofactorless check. False for input of another length.
 */
export function isSmallOrderEncoding (point: Uint8Array): boolean {
  if (point.length !== 32) return false
  return SMALL_ORDER_ENCODINGS.some((e) => {
    for (let i = 0; i < 31; i++) if (point[i] !== e[i]) return false
    return (point[31] & 0x7f) === e[31]
  })
}

/**
 * True when the 32 bytes `point` hold y < p = 2^255 − 19 in their low 255 bits (RFC 8032 §5.1.3 step 1),
 * libsodium's `ge25519_is_canonical`: the only y ≥ p are p … 2^255 − 1, bytes ed…ff ff…ff 7f (sign bit
 * aside). False for input of another length.
 */
export function isCanonicalEncoding (point: Uint8Array): boolean {
  if (point.length !== 32) return false
  if ((point[31] & 0x7f) !== 0x7f) return true
  for (let i = 30; i > 0; i--) if (point[i] !== 0xff) return true
  return point[0] < 0xed
}

/** What {@link checkEd25519} found. */
export type Ed25519Check =
  /** the signature verifies */
  | 'valid'
  /** the key or the signature has the wrong length */
  | 'bad-length'
  /** the public key has small order or is not canonically encoded */
  | 'weak-key'
  /** the signature's R has small order */
  | 'small-order-r'
  /** the key is not a curve point, S is not reduced, or the equation does not hold */
  | 'invalid'

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** A bounded map from raw public key to parsed key, least recently used evicted first. */
export class KeyCache {
  readonly #keys = new Map<string, KeyObject>()

  constructor (readonly capacity: number = VERIFY_KEY_CACHE_ENTRIES) {}

  get size (): number {
    return this.#keys.size
  }

  /** The parsed key of a raw 32-byte Ed25519 public key, or undefined when it does not parse. */
  get (raw: Uint8Array): KeyObject | undefined {
    const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1')
    let key = this.#keys.get(id)
    if (key !== undefined) {
      // a hit moves the key to the young end
      this.#keys.delete(id)
      this.#keys.set(id, key)
      return key
    }
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    } catch {
      return undefined
    }
    this.#keys.set(id, key)
    if (this.#keys.size > this.capacity) this.#keys.delete(this.#keys.keys().next().value as string)
    return key
  }
}

const shared = new KeyCache()

/**
 * Checks an Ed25519 signature (RFC 8032 §5.1.7, PureEdDSA) with libsodium's extra rules, cheapest first:
 * lengths (32-byte key, 64-byte signature), the key canonical (y < p) and not of small order, R (the
 * signature's first 32 bytes) not of small order, then the verification equation with S < L. Never throws.
 * @param publicKey raw Ed25519 public key (32 bytes).
 * @param data the signed bytes.
 * @param sig the signature R ‖ S (64 bytes).
 * @returns `valid`, or which rule failed.
 */
export function checkEd25519 (publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array, cache: KeyCache = shared): Ed25519Check {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || sig.length !== ED25519_SIGNATURE_BYTES) return 'bad-length'
  if (!isCanonicalEncoding(publicKey) || isSmallOrderEncoding(publicKey)) return 'weak-key'
  if (isSmallOrderEncoding(sig.subarray(0, 32))) return 'small-order-r'
  const key = cache.get(publicKey)
  if (key === undefined) return 'invalid'
  try {
    return verify(null, data, key, sig) ? 'valid' : 'invalid'
  } catch {
    return 'invalid'
  }
}

/**
 * True when `sig` is a valid Ed25519 signature of `data` by the raw public key `publicKey`:
 * {@link checkEd25519} gives `valid`. False for a key or signature of the wrong length, a key of small
 * order or non-canonical, an R of small order, a key that is not a curve point, a non-canonical S, or any
 * other failure; never throws.
 */
export function verifyEd25519 (publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array, cache: KeyCache = shared): boolean {
  return checkEd25519(publicKey, data, sig, cache) === 'valid'
}
