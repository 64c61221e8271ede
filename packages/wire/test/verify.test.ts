/**
 * The Ed25519 check with cached node:crypto keys: it agrees with @libp2p/crypto's verifier (which builds a
 * key object per call) on valid signatures, bit flips, the malleable twin (S + L) and wrong keys, for random
 * keys and messages; the key cache evicts the least recently used key and never answers for another key.
 * The seed is printed; replay a run with SWARMTUNE_SEED=<seed>.
 */
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { testSeed } from '@swarmtune/test-support'
import { KeyCache, verifyEd25519 } from '../src/verify.js'

const seed = testSeed('wire verify')

const L = 2n ** 252n + 27742317777372353535851937790883648493n

/** The signature with S + L in place of S (RFC 8032 §5.1.7: must not verify). */
function malleable (sig: Uint8Array): Uint8Array {
  const out = Uint8Array.from(sig)
  let S = 0n
  for (let i = 63; i >= 32; i--) S = (S << 8n) | BigInt(out[i])
  S += L
  for (let i = 32; i < 64; i++) { out[i] = Number(S & 0xffn); S >>= 8n }
  return out
}

describe('verifyEd25519', () => {
  it('answers exactly as @libp2p/crypto does, for random keys, messages and tampering', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 512 }), fc.nat(),
      async (seedA, seedB, message, bit) => {
        const a = await generateKeyPairFromSeed('Ed25519', seedA)
        const b = await generateKeyPairFromSeed('Ed25519', seedB)
        const sig = await a.sign(message)
        const flipped = Uint8Array.from(sig)
        flipped[bit % 64] ^= 1 << (bit % 8)
        const reference = publicKeyFromRaw(a.publicKey.raw)
        const cases: Array<[Uint8Array, Uint8Array, Uint8Array]> = [
          [a.publicKey.raw, message, sig],
          [a.publicKey.raw, message, flipped],
          [a.publicKey.raw, message, malleable(sig)],
          [b.publicKey.raw, message, sig]
        ]
        const ours = cases.map(([key, data, s]) => verifyEd25519(key, data, s))
        const theirs = await Promise.all(cases.map(async ([key, data, s]) => await publicKeyFromRaw(key).verify(data, s)))
        expect(ours).toEqual(theirs)
        expect(ours[0]).toBe(true)
        expect(ours.slice(1, 3)).toEqual([false, false])
        expect(ours[3]).toBe(seedA.every((x, i) => x === seedB[i]))
        expect(await reference.verify(message, sig)).toBe(true)
      }), { seed, numRuns: 60 })
  })

  it('is false, without throwing, for a key or signature of the wrong length and a key that is not a curve point', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3))
    const data = new TextEncoder().encode('entry')
    const sig = await key.sign(data)
    expect(verifyEd25519(key.publicKey.raw, data, sig)).toBe(true)
    expect(verifyEd25519(key.publicKey.raw.subarray(0, 31), data, sig)).toBe(false)
    expect(verifyEd25519(key.publicKey.raw, data, sig.subarray(0, 63))).toBe(false)
    // no point of edwards25519 has y = 2: the key does not decode
    const notAPoint = new Uint8Array(32)
    notAPoint[0] = 2
    expect(verifyEd25519(notAPoint, data, sig)).toBe(false)
  })
})

describe('KeyCache', () => {
  it('keeps at most its capacity, evicting the least recently used key, and gives each key its own object', async () => {
    const raw = await Promise.all([1, 2, 3].map(async (n) => (await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(n))).publicKey.raw))
    const cache = new KeyCache(2)
    const a = cache.get(raw[0])
    const b = cache.get(raw[1])
    expect(a).not.toBe(b)
    expect(cache.get(raw[0])).toBe(a) // a hit; b is now the oldest
    cache.get(raw[2])
    expect(cache.size).toBe(2)
    expect(cache.get(raw[0])).toBe(a) // still cached
    expect(cache.get(raw[1])).not.toBe(b) // evicted, parsed again
    expect(cache.get(raw[1])?.export({ format: 'der', type: 'spki' }).subarray(12)).toEqual(Buffer.from(raw[1]))
  })

  it('verifies with a cache of one key across alternating authors', async () => {
    const cache = new KeyCache(1)
    const keys = await Promise.all([4, 5].map(async (n) => await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(n))))
    const data = new TextEncoder().encode('alternating')
    const sigs = await Promise.all(keys.map(async (k) => await k.sign(data)))
    for (let i = 0; i < 6; i++) {
      const k = i % 2
      expect(verifyEd25519(keys[k].publicKey.raw, data, sigs[k], cache)).toBe(true)
      expect(verifyEd25519(keys[k].publicKey.raw, data, sigs[1 - k], cache)).toBe(false)
    }
  })
})
