/**
 * Ed25519 signature checks (protocol/signing.md, "Verifying") with node:crypto, whose OpenSSL verifier
 * implements RFC 8032 §5.1.7 including the S < L check (no malleable twin verifies). The parsed key of each
 * author is kept in a small least-recently-used cache, so a run of entries by one author parses its key
 * once instead of once per entry.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, VERIFY_KEY_CACHE_ENTRIES } from './constants.js'

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
 * True when `sig` is a valid Ed25519 signature of `data` by the raw public key `publicKey` (RFC 8032,
 * PureEdDSA). False for a key or signature of the wrong length, a key that is not a curve point, a
 * non-canonical S, or any other failure; never throws.
 */
export function verifyEd25519 (publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array, cache: KeyCache = shared): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || sig.length !== ED25519_SIGNATURE_BYTES) return false
  const key = cache.get(publicKey)
  if (key === undefined) return false
  try {
    return verify(null, data, key, sig)
  } catch {
    return false
  }
}
