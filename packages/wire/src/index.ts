/**
 * @packageDocumentation
 *
 * `@swarmtune/wire` implements swarmtune protocol v1 (the spec is `protocol/` at the repository root):
 * canonical msgpack with a hardened decoder for untrusted bytes, the signed ledger entry and the schema
 * of each kind's body, Ed25519 signing with domain separation, content ids (CIDv1, raw, sha2-256), and
 * the names of gossip topics and stream protocols. It never touches the network or storage.
 *
 * @example
 * ```ts
 * import { generateKeyPair } from '@libp2p/crypto/keys'
 * import { blobCid, signEntry, validateEntry, communityTopic } from '@swarmtune/wire'
 *
 * const key = await generateKeyPair('Ed25519')
 * const genesis = await signEntry({
 *   v: 1, community: new Uint8Array(0), author: key.publicKey.raw, seq: 0, prev: null, ts: Date.now(),
 *   kind: 'genesis',
 *   body: {
 *     name: 'mnist-demo', task: { id: 'mnist-cnn' }, maintainers: [key.publicKey.raw],
 *     release: blobCid(new TextEncoder().encode('manifest')).bytes,
 *     policy: { maxDeltaNorm: 10, maxRoundMs: 600_000 }
 *   }
 * }, key)
 * const result = await validateEntry(genesis.bytes)   // { status: 'accept', value: { entry, bytes, id } }
 * const topic = communityTopic(genesis.id)             // '/swarmtune/1/community/bafkrei…'
 * ```
 */

export { PROTOCOL_VERSION, MAX_CLOCK_SKEW_MS, ED25519_PUBLIC_KEY_BYTES, RAW_CODEC, SHA2_256_BYTES, SHA2_256_CODE } from './constants.js'
export { LIMITS, createLimits, validateLimits, type Limits, type LimitsInit } from './limits.js'
export { SwarmtuneError, isSwarmtuneError, withCode, type SwarmtuneErrorOptions, AbortError, WireError, WIRE_ERROR_CODES, isWireError, type WireErrorCode } from './errors.js'
export type { AbortOptions, LongOperationOptions } from './options.js'
export { BLOB_PROTOCOL, LEDGER_SYNC_PROTOCOL, COMMUNITY_TOPIC_PREFIX, communityTopic } from './topics.js'
export { encodeCanonical, decodeCanonical, type WireValue } from './codec.js'
export { checkEd25519, isCanonicalEncoding, isSmallOrderEncoding, type Ed25519Check } from './verify.js'
export { CID, blobCid, parseCid, isCidBytes } from './cid.js'
export { ENTRY_KINDS, isEntryKind, type EntryKind } from './kinds.js'
export {
  bodySchemas, envelopeSchema, methodSchema, cidBytesSchema, publicKeySchema, signatureSchema,
  type BodyOf, type GenesisBody, type RoundOpenBody, type ContributionBody, type VerdictBody, type ReleaseBody,
  type RoundCloseBody, type CheckpointBody
} from './schemas.js'
export {
  ENTRY_DOMAIN, signEntry, validateEntry, decodeEntryUnverified, communityIdOf, signedBytesOf,
  type Entry, type EntryOf, type UnsignedEntry, type SignedEntry, type Validation, type EntryContext, type SigningKey
} from './entry.js'
