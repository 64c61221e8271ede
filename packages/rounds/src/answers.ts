/**
 * Round answers: how a volunteer tells the coordinator, right after a round-open reaches it, that it is
 * training for the round — or that it will not contribute and why (no time left, no usable backend, a failed
 * base fetch or training). The coordinator closes a round early once every volunteer that answered it has
 * contributed or declined (doc/rounds.md, "Who a round waits for").
 *
 * An answer is not a ledger entry (protocol v1 has no kind for it, and presence is not worth keeping): it is
 * one canonical msgpack map gossiped on the community's answer topic, `/swarmtune/1/round-answers/<community
 * id>` (protocol/network.md). Gossipsub signs every message with its publisher's key (StrictSign, domain
 * `libp2p-pubsub:`), and the map's `author` must be that key, so an answer speaks only for its signer:
 *
 * ```
 * { v: 1, community: cid, roundOpen: cid, author: key (32 B), status: 'training' | 'declined',
 *   code?: string 1–64 (declined), reason?: string ≤ 1,024 (declined), ts: uint (ms, author's clock) }
 * ```
 */
import type { GossipsubMessage, Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { decodeCanonical, encodeCanonical, isCidBytes, PROTOCOL_VERSION, type CID } from '@swarmtune/wire'
import { base32 } from 'multiformats/bases/base32'
import { z } from 'zod'
import type { RoundsComponents } from './components.js'
import type { ScoredGossipSub } from '@swarmtune/node'
import { communityTopicScoreParams } from '@swarmtune/node'
import { MAX_ANSWER_BYTES } from './constants.js'

/** Prefix of every round-answer topic. */
export const ANSWER_TOPIC_PREFIX = `/swarmtune/${PROTOCOL_VERSION}/round-answers/`

/** The answer topic of a community: `/swarmtune/1/round-answers/<community id, base32>`. */
export function answerTopic (community: CID): string {
  return ANSWER_TOPIC_PREFIX + community.toString(base32)
}

/** A volunteer's answer to a round-open. */
export interface RoundAnswer {
  v: 1
  community: Uint8Array
  roundOpen: Uint8Array
  /** Raw Ed25519 public key of the volunteer: the gossip message's signer. */
  author: Uint8Array
  /** `training`: a contribution will follow; `declined`: none will (with `code` and `reason`). */
  status: 'training' | 'declined'
  code?: string
  reason?: string
  /** ms since the Unix epoch, by the volunteer's clock; of two answers of one volunteer the later counts. */
  ts: number
}

const cid = z.custom<Uint8Array>(isCidBytes, { message: 'expected CID bytes' })
const answerSchema = z.strictObject({
  v: z.literal(1),
  community: cid,
  roundOpen: cid,
  author: z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length === 32, { message: 'expected a raw Ed25519 key (32 bytes)' }),
  status: z.enum(['training', 'declined']),
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/).optional(),
  reason: z.string().max(1024).optional(),
  ts: z.int().nonnegative()
})

/** Validation outcome of a received answer (the tri-state of CONTRIBUTING.md). */
export interface AnswerValidation {
  status: 'accept' | 'reject'
  code?: 'ERR_ROUNDS_BAD_ANSWER'
  reason?: string
  value?: RoundAnswer
}

/**
 * Checks a gossiped answer: size (≤ `MAX_ANSWER_BYTES`), the hardened canonical decode of the wire package,
 * the shape above, the community, and that `author` is the key that signed the gossip message.
 * Never throws: every failure is a reject with `ERR_ROUNDS_BAD_ANSWER` and a reason.
 */
export function validateAnswer (data: Uint8Array, expected: { community: CID, signer: PeerId | undefined }): AnswerValidation {
  const reject = (reason: string): AnswerValidation => ({ status: 'reject', code: 'ERR_ROUNDS_BAD_ANSWER', reason })
  if (data.length > MAX_ANSWER_BYTES) return reject(`answer of ${data.length} bytes; at most ${MAX_ANSWER_BYTES}`)
  let value: unknown
  try {
    value = decodeCanonical(data)
  } catch (err) {
    return reject(`not a canonical msgpack map: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.slice(0, 512))
  }
  const r = answerSchema.safeParse(value)
  if (!r.success) return reject(`malformed answer: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(answer)'}: ${i.message}`).join('; ')}`)
  const a = r.data as RoundAnswer
  if (!Buffer.from(a.community).equals(Buffer.from(expected.community.bytes))) return reject('the answer names another community than its topic')
  const signer = expected.signer?.publicKey?.raw
  if (signer === undefined || !Buffer.from(a.author).equals(Buffer.from(signer))) return reject('the answer\'s author is not the key that signed the gossip message')
  if ((a.status === 'declined') !== (a.code !== undefined)) return reject('a declined answer carries a code, a training answer none')
  return { status: 'accept', value: a }
}

/** Encodes an answer (canonical msgpack). */
export function encodeAnswer (a: RoundAnswer): Uint8Array {
  return encodeCanonical(a)
}

/**
 * The answer topic of one community on this daemon's gossipsub: subscribed (so answers travel through every
 * member, not only between neighbours of the coordinator), validated, scored like the community topic (an
 * invalid answer counts against its forwarder, P4), and delivered to `onAnswer`.
 */
export class AnswerTopic {
  readonly topic: string
  private readonly pubsub: ScoredGossipSub
  private lastTs = 0
  private readonly onMessage = (evt: CustomEvent<GossipsubMessage>): void => {
    const { msg } = evt.detail
    if (msg.topic !== this.topic || msg.type !== 'signed') return
    const v = validateAnswer(msg.data, { community: this.community, signer: msg.from })
    if (v.value !== undefined) this.onAnswer(v.value, msg.from)
  }

  constructor (private readonly components: RoundsComponents, private readonly community: CID, private readonly onAnswer: (a: RoundAnswer, from: PeerId) => void) {
    this.topic = answerTopic(community)
    this.pubsub = components.libp2p.services.pubsub as ScoredGossipSub
  }

  start (): void {
    this.pubsub.score.params.topics[this.topic] = communityTopicScoreParams()
    this.pubsub.topicValidators.set(this.topic, (from: PeerId, msg: Message) => {
      const v = validateAnswer(msg.data, { community: this.community, signer: msg.type === 'signed' ? msg.from : undefined })
      if (v.status === 'accept') return TopicValidatorResult.Accept
      this.components.events.emit('gossip:rejected', { community: this.community.toString(), topic: this.topic, from: from.toString(), author: msg.type === 'signed' ? msg.from.toString() : undefined, code: v.code, reason: v.reason })
      return TopicValidatorResult.Reject
    })
    this.pubsub.addEventListener('gossipsub:message', this.onMessage)
    this.pubsub.subscribe(this.topic)
  }

  stop (): void {
    this.pubsub.removeEventListener('gossipsub:message', this.onMessage)
    this.pubsub.topicValidators.delete(this.topic)
    this.pubsub.unsubscribe(this.topic)
  }

  /**
   * Publishes this node's answer, and hands it to this node's own `onAnswer` (its coordinator, when it has one).
   * A lost answer is not an error: the coordinator then waits for the deadline.
   * @returns how many peers it was sent to.
   */
  async publish (roundOpen: CID, answer: { status: 'training' } | { status: 'declined', code: string, reason: string }): Promise<number> {
    // of two answers of one volunteer the later counts: never two with the same time
    this.lastTs = Math.max(Date.now(), this.lastTs + 1)
    const a: RoundAnswer = {
      v: 1,
      community: this.community.bytes,
      roundOpen: roundOpen.bytes,
      author: this.components.privateKey.publicKey.raw,
      ...answer,
      ...(answer.status === 'declined' ? { code: /^[A-Z][A-Z0-9_]{0,63}$/.test(answer.code) ? answer.code : 'ERR_ROUNDS_TRAINING_FAILED', reason: answer.reason.slice(0, 1024) } : {}),
      ts: this.lastTs
    }
    // gossipsub does not deliver a node's own messages to it: a maintainer that also trains answers itself here
    this.onAnswer(a, this.components.peerId)
    const r = await this.pubsub.publish(this.topic, encodeAnswer(a))
    return r.recipients.length
  }
}
