/**
 * Names on the network (protocol/network.md): the gossip topic of a community and the stream protocol ids.
 * The major protocol version is part of every name, so peers of different major versions never exchange
 * messages they cannot validate.
 */
import { base32 } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import { PROTOCOL_VERSION } from './constants.js'

/** Stream protocol of blob exchange: fetch a blob (shard, manifest, delta) by CID. */
export const BLOB_PROTOCOL = '/swarmtune/blob/1.0.0'
/** Stream protocol of ledger sync: fetch the entries of author chains a peer lacks. */
export const LEDGER_SYNC_PROTOCOL = '/swarmtune/ledger-sync/1.0.0'

/** Prefix of every community gossip topic. */
export const COMMUNITY_TOPIC_PREFIX = `/swarmtune/${PROTOCOL_VERSION}/community/`

/**
 * The gossip topic on which a community's entries travel: `/swarmtune/1/community/<community id, base32>`.
 * @param community the community id (the CID of its genesis entry).
 */
export function communityTopic (community: CID): string {
  return COMMUNITY_TOPIC_PREFIX + community.toString(base32)
}
