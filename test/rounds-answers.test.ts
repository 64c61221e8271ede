/**
 * Round answers as a receiver checks them (`validateAnswer`): a well-formed answer of the gossip message's
 * signer is accepted; every other input is a reject with `ERR_ROUNDS_BAD_ANSWER` — one byte above the size
 * limit, non-canonical msgpack, a missing or extra field, another community, an author that is not the
 * signer, a declined answer without a code and a training answer with one; the largest well-formed answer fits
 * the size limit. Seeded random bytes are rejected too.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeAnswer, roundsConstants, validateAnswer, type RoundAnswer } from '@swarmtune/rounds'
import { blobCid } from '@swarmtune/wire'
import { pack } from 'msgpackr'
import { testSeed } from '@swarmtune/test-support'

const community = blobCid(new TextEncoder().encode('a community'))
const roundOpen = blobCid(new TextEncoder().encode('a round-open'))

describe('round answers', async () => {
  const key = await generateKeyPair('Ed25519')
  const signer = peerIdFromPrivateKey(key)
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const answer = (over: Partial<RoundAnswer> = {}): RoundAnswer => ({ v: 1, community: community.bytes, roundOpen: roundOpen.bytes, author: key.publicKey.raw, status: 'training', ts: 1_000, ...over })
  const check = (a: unknown, from = signer): ReturnType<typeof validateAnswer> => validateAnswer(a instanceof Uint8Array ? a : encodeAnswer(a as RoundAnswer), { community, signer: from })

  it('accepts a training answer and a declined one with its code', () => {
    expect(check(answer())).toMatchObject({ status: 'accept', value: { status: 'training', ts: 1_000 } })
    const declined = check(answer({ status: 'declined', code: 'ERR_MODEL_BACKEND_UNAVAILABLE', reason: 'backend node-gpu cannot be used' }))
    expect(declined).toMatchObject({ status: 'accept', value: { code: 'ERR_MODEL_BACKEND_UNAVAILABLE' } })
  })

  it('rejects every malformed or misattributed answer with a code', () => {
    const bad: Array<[string, unknown, typeof signer?]> = [
      ['another community', answer({ community: roundOpen.bytes })],
      ['an author other than the signer', answer(), other],
      ['a declined answer without a code', answer({ status: 'declined' })],
      ['a training answer with a code', answer({ code: 'ERR_ROUNDS_LATE' })],
      ['an unknown status', { ...answer(), status: 'maybe' }],
      ['an extra field', { ...answer(), extra: 1 }],
      ['a missing field', (({ ts: _, ...rest }) => rest)(answer())],
      ['a code that is not a code', answer({ status: 'declined', code: 'late!' })],
      ['a reason over 1,024 characters', answer({ status: 'declined', code: 'ERR_ROUNDS_LATE', reason: 'x'.repeat(1025) })],
      ['a short key', answer({ author: key.publicKey.raw.subarray(0, 31) })],
      ['non-canonical msgpack (keys out of order)', pack({ v: 1, ts: 1, status: 'training', roundOpen: roundOpen.bytes, community: community.bytes, author: key.publicKey.raw })],
      ['one byte above the size limit', new Uint8Array(roundsConstants.MAX_ANSWER_BYTES + 1)],
      ['not msgpack', new Uint8Array([0xc1])]
    ]
    for (const [what, input, from] of bad) expect(check(input, from), what).toMatchObject({ status: 'reject', code: 'ERR_ROUNDS_BAD_ANSWER' })
    // refused by size before decoding
    expect(check(new Uint8Array(roundsConstants.MAX_ANSWER_BYTES + 1)).reason).toBe(`answer of ${roundsConstants.MAX_ANSWER_BYTES + 1} bytes; at most ${roundsConstants.MAX_ANSWER_BYTES}`)
    // the largest well-formed answer (a 64-character code, 1,024 characters of 3 UTF-8 bytes each) fits the size limit
    const big = encodeAnswer(answer({ status: 'declined', code: `E${'R'.repeat(63)}`, reason: '€'.repeat(1024) }))
    expect(big.length).toBeLessThanOrEqual(roundsConstants.MAX_ANSWER_BYTES)
    expect(check(big).status).toBe('accept')
  })

  it('rejects random bytes without throwing', () => {
    const seed = testSeed('rounds-answers')
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => check(bytes).status === 'reject'), { seed, numRuns: 500 })
  })
})
