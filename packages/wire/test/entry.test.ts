import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import {
  blobCid, communityIdOf, communityTopic, decodeEntryUnverified, ENTRY_KINDS, parseCid, signEntry, validateEntry,
  WireError
} from '../src/index.js'
import { keyFromSeed, sampleEntry, TS } from './fixtures.js'

describe('signEntry / validateEntry', () => {
  it.each(ENTRY_KINDS)('accepts a signed %s entry and returns it unchanged', async (kind) => {
    const key = await keyFromSeed(1)
    const unsigned = sampleEntry(kind, key.publicKey.raw)
    const signed = await signEntry(unsigned, key)
    expect(signed.id.equals(blobCid(signed.bytes))).toBe(true)
    const result = await validateEntry(signed.bytes, { now: TS })
    expect(result.status).toBe('accept')
    expect(result.value?.entry).toEqual({ ...unsigned, sig: signed.entry.sig })
    expect(decodeEntryUnverified(signed.bytes).entry).toEqual(result.value?.entry)
  })

  it('rejects an entry whose author is not the signing key', async () => {
    const key = await keyFromSeed(1)
    const other = await keyFromSeed(2)
    await expect(signEntry(sampleEntry('checkpoint', other.publicKey.raw), key)).rejects.toMatchObject({ code: 'ERR_WIRE_WRONG_KEY' })
  })

  it('refuses to sign an entry a receiver would reject', async () => {
    const key = await keyFromSeed(1)
    const bad = { ...sampleEntry('checkpoint', key.publicKey.raw), body: { length: 0, head: new Uint8Array(36) } }
    await expect(signEntry(bad, key)).rejects.toBeInstanceOf(WireError)
  })

  it('works with a freshly generated libp2p key', async () => {
    const key = await generateKeyPair('Ed25519')
    const signed = await signEntry(sampleEntry('genesis', key.publicKey.raw), key)
    expect((await validateEntry(signed.bytes)).status).toBe('accept')
    expect(communityIdOf(signed).equals(signed.id)).toBe(true)
  })
})

describe('names', () => {
  it('builds the community topic from the base32 id', async () => {
    const id = blobCid(new Uint8Array([1, 2, 3]))
    expect(communityTopic(id)).toBe(`/swarmtune/1/community/${id.toString()}`)
    expect(communityTopic(id)).toMatch(/^\/swarmtune\/1\/community\/bafkrei[a-z2-7]+$/)
    expect(parseCid(id.toString()).equals(id)).toBe(true)
    expect(parseCid(id.bytes).equals(id)).toBe(true)
    expect(() => parseCid('bafy-not-a-cid')).toThrow(expect.objectContaining({ code: 'ERR_WIRE_BAD_CID' }))
  })
})

describe('accepted entries', () => {
  it('do not share memory with the received buffer', async () => {
    const key = await keyFromSeed(1)
    const signed = await signEntry(sampleEntry('checkpoint', key.publicKey.raw), key)
    const received = Buffer.from(signed.bytes)
    const result = await validateEntry(received, { now: TS })
    received.fill(0)
    expect(result.value!.bytes).toEqual(signed.bytes)
    expect(Object.getPrototypeOf(result.value!.bytes)).toBe(Uint8Array.prototype)
    expect(result.value!.id.equals(signed.id)).toBe(true)
  })
})
