/**
 * Signature tampering: every change to a signed entry, and every reuse of a signature outside the entry
 * it was made for, is rejected.
 */
import { describe, expect, it } from 'vitest'
import {
  blobCid, decodeCanonical, encodeCanonical, ENTRY_DOMAIN, signedBytesOf, signEntry, validateEntry,
  type Entry, type SignedEntry
} from '../src/index.js'
import { cidOf, keyFromSeed, sampleEntry, TS } from './fixtures.js'

/** Re-encodes `signed` with `change` applied to its decoded fields (signature kept unless changed). */
function reframe (signed: SignedEntry, change: (fields: Record<string, unknown>) => void): Uint8Array {
  const fields = decodeCanonical(signed.bytes) as Record<string, unknown>
  change(fields)
  return encodeCanonical(fields)
}

async function signed (kind: Entry['kind'] = 'verdict', seed = 1): Promise<SignedEntry> {
  const key = await keyFromSeed(seed)
  return await signEntry(sampleEntry(kind, key.publicKey.raw), key)
}

const ctx = { now: TS }

describe('signature tampering', () => {
  it('accepts the untouched entry (control)', async () => {
    expect((await validateEntry((await signed()).bytes, ctx)).status).toBe('accept')
  })

  it('rejects every single-bit flip of the signature', async () => {
    const s = await signed()
    for (let bit = 0; bit < 512; bit++) {
      const bytes = reframe(s, (f) => {
        const sig = new Uint8Array(f.sig as Uint8Array)
        sig[bit >> 3] ^= 1 << (bit & 7)
        f.sig = sig
      })
      expect(await validateEntry(bytes, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
    }
  })

  it('rejects a changed field under the old signature', async () => {
    const s = await signed()
    const cases: Array<(f: Record<string, unknown>) => void> = [
      (f) => { f.ts = TS - 1 },
      (f) => { f.seq = 4 },
      (f) => { (f.body as Record<string, unknown>).accepted = true },
      (f) => { (f.body as Record<string, unknown>).reason = 'fine' },
      (f) => { (f.body as Record<string, unknown>).contribution = cidOf('another contribution') }
    ]
    for (const change of cases) {
      expect(await validateEntry(reframe(s, change), ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
    }
  })

  it('rejects a signature by another key (author unchanged)', async () => {
    const s = await signed()
    const other = await keyFromSeed(2)
    const sig = await other.sign(signedBytesOf(s.entry))
    const forged = reframe(s, (f) => { f.sig = sig })
    expect(await validateEntry(forged, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })

  it('rejects the entry under another author key', async () => {
    const s = await signed()
    const other = await keyFromSeed(2)
    const moved = reframe(s, (f) => { f.author = other.publicKey.raw })
    expect(await validateEntry(moved, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })

  it('rejects a replay under another community', async () => {
    const s = await signed()
    const elsewhere = cidOf('another community')
    const replayed = reframe(s, (f) => { f.community = elsewhere })
    expect(await validateEntry(replayed, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
    // and the untouched entry, offered to a peer of another community
    expect(await validateEntry(s.bytes, { ...ctx, community: blobCid(new TextEncoder().encode('x')) }))
      .toMatchObject({ status: 'reject', code: 'ERR_WIRE_WRONG_COMMUNITY' })
  })

  it('rejects a replay of the signature under another kind', async () => {
    const verdict = await signed('verdict')
    const closeBody = sampleEntry('round-close', verdict.entry.author).body
    const replayed = reframe(verdict, (f) => { f.kind = 'round-close'; f.body = closeBody })
    expect(await validateEntry(replayed, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })

  it('rejects a signature made without the domain prefix', async () => {
    const key = await keyFromSeed(1)
    const s = await signed()
    const bare = signedBytesOf(s.entry).subarray(ENTRY_DOMAIN.length)
    const sig = await key.sign(bare)
    const noDomain = reframe(s, (f) => { f.sig = sig })
    expect(await validateEntry(noDomain, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })

  it('rejects a missing signature and a signature of the wrong length', async () => {
    const s = await signed()
    expect(await validateEntry(reframe(s, (f) => { delete f.sig }), ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_MISSING_SIGNATURE' })
    expect(await validateEntry(reframe(s, (f) => { f.sig = (f.sig as Uint8Array).subarray(0, 63) }), ctx))
      .toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
    expect(await validateEntry(reframe(s, (f) => { f.sig = null }), ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })

  it('rejects the malleable twin of a signature (S + L), so an entry has one id', async () => {
    // RFC 8032 §5.1.7: a verifier must reject S ≥ L; otherwise (R, S + L) would verify too.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    const s = await signed()
    const twin = reframe(s, (f) => {
      const sig = new Uint8Array(f.sig as Uint8Array)
      let S = 0n
      for (let i = 63; i >= 32; i--) S = (S << 8n) | BigInt(sig[i])
      S += L
      for (let i = 32; i < 64; i++) { sig[i] = Number(S & 0xffn); S >>= 8n }
      f.sig = sig
    })
    expect(await validateEntry(twin, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })
})

describe('envelope and body rules', () => {
  const cases: Array<[string, Entry['kind'], (f: Record<string, unknown>) => void, string]> = [
    ['version 2 (ignored, not rejected)', 'verdict', (f) => { f.v = 2 }, 'ERR_WIRE_UNSUPPORTED_VERSION'],
    ['version 0', 'verdict', (f) => { f.v = 0 }, 'ERR_WIRE_BAD_ENTRY'],
    ['an unknown kind', 'verdict', (f) => { f.kind = 'vote' }, 'ERR_WIRE_UNKNOWN_KIND'],
    ['an unknown envelope field', 'verdict', (f) => { f.extra = 1 }, 'ERR_WIRE_BAD_ENTRY'],
    ['seq 0 with a prev', 'verdict', (f) => { f.seq = 0 }, 'ERR_WIRE_BAD_ENTRY'],
    ['seq > 0 without a prev', 'verdict', (f) => { f.prev = null }, 'ERR_WIRE_BAD_ENTRY'],
    ['a community that is not a CID', 'verdict', (f) => { f.community = new Uint8Array(36) }, 'ERR_WIRE_BAD_ENTRY'],
    ['a genesis with a community', 'genesis', (f) => { f.community = cidOf('c') }, 'ERR_WIRE_BAD_ENTRY'],
    ['an author key of 31 bytes', 'verdict', (f) => { f.author = new Uint8Array(31) }, 'ERR_WIRE_BAD_ENTRY'],
    ['a negative timestamp', 'verdict', (f) => { f.ts = -1 }, 'ERR_WIRE_BAD_ENTRY'],
    ['a fractional seq', 'verdict', (f) => { f.seq = 1.5 }, 'ERR_WIRE_BAD_ENTRY'],
    ['an unknown body field', 'verdict', (f) => { (f.body as Record<string, unknown>).extra = 1 }, 'ERR_WIRE_BAD_BODY'],
    ['a missing body field', 'checkpoint', (f) => { delete (f.body as Record<string, unknown>).head }, 'ERR_WIRE_BAD_BODY'],
    ['a genesis author who is not a maintainer', 'genesis', (f) => { (f.body as Record<string, unknown>).maintainers = [new Uint8Array(32).fill(7)] }, 'ERR_WIRE_BAD_BODY'],
    ['release ids out of canonical order', 'release', (f) => { (f.body as { contributions: Uint8Array[] }).contributions.reverse() }, 'ERR_WIRE_BAD_BODY'],
    ['release weights and ids of different lengths', 'release', (f) => { (f.body as { weights: number[] }).weights.push(1) }, 'ERR_WIRE_BAD_BODY'],
    ['round-close released without a release', 'round-close', (f) => { delete (f.body as Record<string, unknown>).release }, 'ERR_WIRE_BAD_BODY'],
    ['round-open with quorum above maxContributions', 'round-open', (f) => { (f.body as Record<string, unknown>).quorum = 101 }, 'ERR_WIRE_BAD_BODY'],
    ['a task hyper-parameter that is bytes', 'genesis', (f) => { ((f.body as Record<string, Record<string, unknown>>).task).seed = new Uint8Array(2) }, 'ERR_WIRE_BAD_BODY']
  ]
  it.each(cases)('%s (changed and signed again by its author)', async (_name, kind, change, code) => {
    const s = await signed(kind)
    const key = await keyFromSeed(1)
    const fields = decodeCanonical(reframe(s, change)) as Record<string, unknown>
    const sig = await key.sign(signedBytesOf(fields as unknown as Entry))
    const result = await validateEntry(encodeCanonical({ ...fields, sig }), ctx)
    expect(result.status).toBe(code === 'ERR_WIRE_UNSUPPORTED_VERSION' ? 'ignore' : 'reject')
    expect(result.code).toBe(code)
  })

  it('checks the signature before the body: a body changed under the old signature is a bad signature', async () => {
    const s = await signed('release')
    const changed = reframe(s, (f) => { (f.body as { contributions: Uint8Array[] }).contributions.reverse() })
    expect(await validateEntry(changed, ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_SIGNATURE' })
  })

  it('rejects a frame that holds something other than a map', async () => {
    expect(await validateEntry(encodeCanonical([1]), ctx)).toMatchObject({ status: 'reject', code: 'ERR_WIRE_BAD_ENTRY' })
  })

  it('ignores (does not reject) an entry stamped more than 5 minutes ahead', async () => {
    const s = await signed()
    expect(await validateEntry(s.bytes, { now: TS - 300_000 })).toMatchObject({ status: 'accept' })
    expect(await validateEntry(s.bytes, { now: TS - 300_001 })).toMatchObject({ status: 'ignore', code: 'ERR_WIRE_FROM_FUTURE' })
  })

  it('checks a genesis against the expected community id', async () => {
    const g = await signed('genesis')
    expect((await validateEntry(g.bytes, { ...ctx, community: g.id })).status).toBe('accept')
    expect((await validateEntry(g.bytes, { ...ctx, community: blobCid(new Uint8Array(1)) })).code).toBe('ERR_WIRE_WRONG_COMMUNITY')
  })

  it('never throws, whatever it is given', async () => {
    for (const junk of [undefined, null, 'text', 42, {}, new Uint8Array(0), new Uint8Array([0xc1])]) {
      const result = await validateEntry(junk as unknown as Uint8Array, ctx)
      expect(result.status).toBe('reject')
      expect(result.code).toMatch(/^ERR_WIRE_/)
    }
  })
})
