/**
 * Maintainer rights (protocol/entries.md, chain rules): `round-open`, `verdict`, `release` and `round-close`
 * entries count only when signed by a maintainer the community's genesis names. Every peer checks this twice:
 * the community's gossip topic rejects such an entry from a non-maintainer before the ledger stores it (so the
 * forwarding peer's gossipsub score drops, like for any invalid message), and the rounds roles ignore any that
 * reached the ledger by another path (sync).
 */
import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { communityTopic, decodeEntryUnverified, type Entry } from '@swarmtune/wire'
import type { EventBus } from '../events.js'
import { keyHex, type Community } from './community.js'

/** Kinds only a maintainer may author. */
export const MAINTAINER_KINDS: ReadonlySet<string> = new Set(['round-open', 'verdict', 'release', 'round-close'])

/** Why an entry is not authorised, or undefined when it is. */
export function authorityFault (entry: Entry, community: Community): { code: 'ERR_ROUNDS_NOT_MAINTAINER', reason: string } | undefined {
  if (!MAINTAINER_KINDS.has(entry.kind) || community.isMaintainer(entry.author)) return undefined
  return {
    code: 'ERR_ROUNDS_NOT_MAINTAINER',
    reason: `a ${entry.kind} entry signed by ${keyHex(entry.author)}, who is not a maintainer of community ${community.id.toString()}; only the genesis's maintainers may open rounds, judge contributions and sign releases`
  }
}

/**
 * Puts the maintainer-rights check in front of the community topic's validator on the gossipsub instance:
 * an unauthorised entry is rejected (`gossip:rejected` event, code `ERR_ROUNDS_NOT_MAINTAINER`) before any
 * other validator — the ledger's — sees it; everything else goes on to the validator already installed. The
 * topic must be joined first.
 * @returns a function that removes the check again.
 */
export function guardMaintainerRights (pubsub: GossipSub, community: Community, events: EventBus): () => void {
  const topic = communityTopic(community.id)
  const inner = pubsub.topicValidators.get(topic)
  if (inner === undefined) return () => {}
  const guard: typeof inner = async (from, msg) => {
    let entry: Entry | undefined
    try {
      entry = decodeEntryUnverified(msg.data).entry
    } catch {
      // malformed: the inner validator rejects it with its precise code
    }
    const fault = entry === undefined ? undefined : authorityFault(entry, community)
    if (fault === undefined) return await inner(from, msg)
    events.emit('gossip:rejected', { community: community.id.toString(), from: from.toString(), code: fault.code, reason: fault.reason })
    return TopicValidatorResult.Reject
  }
  pubsub.topicValidators.set(topic, guard)
  return () => {
    if (pubsub.topicValidators.get(topic) === guard) pubsub.topicValidators.set(topic, inner)
  }
}
