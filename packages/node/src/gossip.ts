/**
 * Community gossip: one gossipsub topic per community (`communityTopic(community)` of `@swarmtune/wire`),
 * each with a validator that returns accept / ignore / reject. The default validator is the wire package's
 * `validateEntry` (size cap, hardened decode, schema, signature, community match); a service may install a
 * stricter one (the ledger checks chain context). `reject` counts against the peer that forwarded the message
 * (gossipsub P4), so a peer sending invalid entries soon loses its place in the mesh.
 *
 * Before a validator runs, the message is charged to the forwarding peer and its address ({@link PeerGuard}
 * rate limits). Every message refused — by a validator, by a rate limit, by gossipsub's own envelope checks
 * (StrictSign) — is emitted (`gossip:rejected` / `gossip:ignored`) and logged, rate-limited per peer and code;
 * a peer whose RPC frame breaks the framing (longer than {@link GOSSIP_MAX_INBOUND_BYTES}) is disconnected
 * with a logged code instead of being dropped from gossipsub while its connection stays up.
 *
 * Each decision's event carries `handlingMs`: from the moment gossipsub's read loop took the RPC frame that
 * held the message (before its protobuf decoding, gossipsub's StrictSign check and message id) to the
 * decision, on this process's monotonic clock ({@link elapsedMs}).
 */
import { TopicValidatorResult, type GossipSub, type GossipsubMessage, type Message } from '@libp2p/gossipsub'
import type { PeerScoreParams } from '@libp2p/gossipsub/score'
import type { PeerId } from '@libp2p/interface'
import { communityTopic, LIMITS, parseCid, validateEntry, type CID } from '@swarmtune/wire'
import type { Logger } from 'pino'
import { GossipError } from './errors.js'
import type { EventBus } from './events.js'
import { GOSSIP_MAX_INBOUND_BYTES } from './constants.js'
import { elapsedMs } from './handling-time.js'
import type { PeerGuard } from './peer-guard.js'
import { communityTopicScoreParams } from './peer-score.js'

/**
 * A validator's answer (the shape of `Validation` of `@swarmtune/wire`): `accept` delivers and forwards,
 * `ignore` drops silently, `reject` drops and counts against the forwarding peer.
 */
export interface GossipVerdict {
  status: 'accept' | 'ignore' | 'reject'
  /** Stable error code when not accepted (doc/errors.md). */
  code?: string
  reason?: string
  /** Handed to message handlers as `GossipMessage.value`. */
  value?: unknown
}

/** Decides what happens to a message. Must not throw and should answer within ~100 ms (gossipsub's advice). */
export type GossipValidator = (data: Uint8Array, context: { community: CID, from: PeerId }) => GossipVerdict | Promise<GossipVerdict>

/** A validated message. */
export interface GossipMessage {
  community: CID
  topic: string
  /** The peer that published the message (its signature is checked by gossipsub, StrictSign). */
  author: PeerId
  /** The neighbour it came through. */
  from: PeerId
  /** Gossipsub message id. */
  msgId: string
  data: Uint8Array
  /** What the validator returned as `value` (for the default validator: the `SignedEntry`). */
  value: unknown
}

export type GossipHandler = (message: GossipMessage) => void | Promise<void>

/** The parts of the gossipsub service used here, including the score accessors of the implementation. */
export interface ScoredGossipSub extends GossipSub {
  getScore(peerId: string): number
  readonly score: { readonly params: PeerScoreParams }
}

export interface GossipComponents {
  pubsub: GossipSub
  /** Rate limits, disconnection and the rate-limited rejection log (the host's `guard` service). */
  guard: PeerGuard
  peerId: PeerId
  events: EventBus
  log: Logger
}

/**
 * The members of gossipsub 17's implementation (private in its types) that the daemon hooks: the end of a
 * peer's inbound stream (where frame-length errors of `it-length-prefixed` land), the read loop and RPC
 * decoder of a peer's frames (an undecodable RPC is dropped there without naming the peer), and the
 * pre-validation of a received message (where StrictSign failures are decided before any topic validator).
 */
interface GossipSubInternals {
  handlePeerReadStreamError(err: unknown, peerId: PeerId): void
  pipePeerReadStream(peerId: PeerId, source: AsyncIterable<{ subarray(): Uint8Array }>): Promise<void>
  decodeRpc(bytes: Uint8Array): unknown
  validateReceivedMessage(from: PeerId, rpcMsg: RpcMessage): Promise<{ code: string, reason?: string, error?: string, msgIdStr?: string }>
}

/** A message of a decoded gossipsub RPC, as far as read here. */
interface RpcMessage { topic: string, data?: Uint8Array }

/**
 * Codes of the errors `it-length-prefixed` throws on a gossipsub stream whose framing is broken: a length
 * above `maxInboundDataLength`, a length prefix longer than 8 bytes, a negative length.
 */
const FRAMING_ERRORS: Readonly<Record<string, string>> = {
  InvalidDataLengthError: 'ERR_NODE_GOSSIP_FRAME_TOO_LARGE',
  InvalidDataLengthLengthError: 'ERR_NODE_GOSSIP_FRAME_TOO_LARGE',
  InvalidMessageLengthError: 'ERR_NODE_GOSSIP_FRAME_MALFORMED'
}

/** The default validator: `validateEntry` of `@swarmtune/wire` bound to the community. */
export const entryValidator: GossipValidator = async (data, { community }) => await validateEntry(data, { community })

interface Topic { community: CID, validator: GossipValidator }

export class Gossip {
  private readonly topics = new Map<string, Topic>()
  private readonly handlers = new Set<{ topic: string | null, handler: GossipHandler }>()
  private readonly values = new WeakMap<Message, unknown>()
  /**
   * When the RPC frame holding a message was taken by gossipsub's read loop (`performance.now()`), by the
   * message's data (gossipsub hands the validator and the delivery the same `Uint8Array`) or, for a message
   * without data, by the decoded message.
   */
  private readonly arrivals = new WeakMap<object, number>()
  private readonly onMessage = (evt: CustomEvent<GossipsubMessage>): void => { this.deliver(evt.detail) }
  private readonly pubsub: ScoredGossipSub

  constructor (private readonly components: GossipComponents) {
    this.pubsub = components.pubsub as ScoredGossipSub
    const internals = components.pubsub as unknown as GossipSubInternals
    if (typeof this.pubsub.getScore !== 'function' || this.pubsub.score?.params?.topics == null ||
      typeof internals.handlePeerReadStreamError !== 'function' || typeof internals.validateReceivedMessage !== 'function' ||
      typeof internals.pipePeerReadStream !== 'function' || typeof internals.decodeRpc !== 'function') {
      throw new GossipError('ERR_NODE_GOSSIP_UNSUPPORTED', 'the pubsub service does not expose peer scores and stream errors; use @libp2p/gossipsub 17 (the version this daemon was built with)')
    }
    const onReadError = internals.handlePeerReadStreamError.bind(components.pubsub)
    internals.handlePeerReadStreamError = (err, peerId) => {
      this.framingError(err, peerId)
      onReadError(err, peerId)
    }
    // gossipsub's read loop takes a frame's bytes (`subarray()`) and decodes them in the same synchronous step,
    // so the peer recorded when the bytes are taken is the peer of the frame being decoded
    let framePeer: PeerId | undefined
    const readLoop = internals.pipePeerReadStream.bind(components.pubsub)
    internals.pipePeerReadStream = async (peerId, source) => {
      await readLoop(peerId, (async function * () {
        for await (const frame of source) yield { subarray: () => { framePeer = peerId; return frame.subarray() } }
      })())
    }
    const decodeRpc = internals.decodeRpc.bind(components.pubsub)
    internals.decodeRpc = (bytes) => {
      const peer = framePeer
      framePeer = undefined
      const taken = performance.now()
      let rpc: { messages?: RpcMessage[] }
      try {
        rpc = decodeRpc(bytes) as { messages?: RpcMessage[] }
      } catch (err) {
        if (peer != null) this.undecodable(peer, bytes.length, err, taken)
        throw err
      }
      for (const m of rpc.messages ?? []) this.arrivals.set(m.data ?? m, taken)
      return rpc
    }
    const prevalidate = internals.validateReceivedMessage.bind(components.pubsub)
    internals.validateReceivedMessage = async (from, rpcMsg) => {
      const taken = this.arrivals.get(rpcMsg.data ?? rpcMsg) ?? performance.now()
      // size before anything else: gossipsub would hash the message twice (its StrictSign signature, our
      // message id) before the topic validator sees it. Invalid without a message id is how gossipsub marks
      // its own envelope failures: the forwarding peer is penalised as for any rejected message (P4).
      const bytes = rpcMsg.data?.length ?? 0
      if (bytes > LIMITS.maxFrameBytes && this.topics.has(rpcMsg.topic)) {
        this.refused('reject', rpcMsg.topic, from, undefined, { code: 'ERR_WIRE_FRAME_TOO_LARGE', reason: `message of ${bytes} bytes; an entry frame holds at most ${LIMITS.maxFrameBytes} bytes` }, taken)
        return { code: 'invalid', reason: 'error', error: 'the message data is larger than an entry frame may be' }
      }
      const result = await prevalidate(from, rpcMsg)
      // an invalid message without a message id failed gossipsub's own checks, before any topic validator
      if (result.code === 'invalid' && result.msgIdStr == null && this.topics.has(rpcMsg.topic)) {
        this.refused('reject', rpcMsg.topic, from, undefined, { code: 'ERR_NODE_GOSSIP_BAD_ENVELOPE', reason: `gossipsub refused the message envelope: ${result.error ?? 'invalid'} (StrictSign: a signed message with from, seqno, signature and key)` }, taken)
      }
      return result
    }
  }

  start (): void {
    this.pubsub.addEventListener('gossipsub:message', this.onMessage)
  }

  stop (): void {
    this.pubsub.removeEventListener('gossipsub:message', this.onMessage)
    for (const topic of this.topics.keys()) {
      this.pubsub.topicValidators.delete(topic)
      this.pubsub.unsubscribe(topic)
    }
    this.topics.clear()
  }

  /**
   * Subscribes to a community's topic, with its score parameters and a validator (default: {@link entryValidator}).
   * Joining again only replaces the validator when one is given.
   *
   * @returns the topic string
   */
  join (community: CID | string, options: { validator?: GossipValidator } = {}): string {
    const cid = typeof community === 'string' ? parseCid(community) : community
    const topic = communityTopic(cid)
    const existing = this.topics.get(topic)
    if (existing != null) {
      if (options.validator != null) existing.validator = options.validator
      return topic
    }
    this.topics.set(topic, { community: cid, validator: options.validator ?? entryValidator })
    // gossipsub reads topic parameters from this record on every score computation
    this.pubsub.score.params.topics[topic] = communityTopicScoreParams()
    this.pubsub.topicValidators.set(topic, async (from, msg) => await this.validate(topic, from, msg))
    this.pubsub.subscribe(topic)
    this.components.log.info({ community: cid.toString(), topic }, 'joined community topic')
    return topic
  }

  /** Leaves a community's topic. */
  leave (community: CID): void {
    const topic = communityTopic(community)
    if (!this.topics.delete(topic)) return
    this.pubsub.topicValidators.delete(topic)
    this.pubsub.unsubscribe(topic)
  }

  /** Replaces the validator of a joined community. @throws GossipError `ERR_NODE_GOSSIP_NOT_JOINED` */
  setValidator (community: CID, validator: GossipValidator): void {
    this.topicOf(community).validator = validator
  }

  /** Communities joined. */
  communities (): CID[] {
    return [...this.topics.values()].map((t) => t.community)
  }

  /**
   * Calls `handler` for every accepted message of `community` (or of every community when null). Messages
   * this node publishes itself are not delivered to its own handlers.
   *
   * @returns a function that removes the handler
   */
  subscribe (community: CID | null, handler: GossipHandler): () => void {
    const record = { topic: community == null ? null : communityTopic(community), handler }
    this.handlers.add(record)
    return () => { this.handlers.delete(record) }
  }

  /**
   * Publishes `data` on a community's topic after running the topic's validator on it, so this node never
   * sends what its peers would reject.
   *
   * @returns how many peers it was sent to (0 is allowed: peers catch up through ledger sync)
   * @throws GossipError `ERR_NODE_GOSSIP_NOT_JOINED`, `ERR_NODE_GOSSIP_INVALID` (with the validator's code and reason)
   */
  async publish (community: CID, data: Uint8Array): Promise<{ recipients: number }> {
    const topic = this.topicOf(community)
    const verdict = await topic.validator(data, { community, from: this.components.peerId })
    if (verdict.status !== 'accept') {
      throw new GossipError('ERR_NODE_GOSSIP_INVALID', `refusing to publish a message peers would ${verdict.status}: ${verdict.code ?? ''} ${verdict.reason ?? ''}`.trim())
    }
    const result = await this.pubsub.publish(communityTopic(community), data)
    return { recipients: result.recipients.length }
  }

  /** Peers subscribed to a community's topic. */
  peers (community: CID): PeerId[] {
    return this.pubsub.getSubscribers(communityTopic(community))
  }

  /** A peer's gossipsub score as this node computes it. */
  score (peer: PeerId | string): number {
    return this.pubsub.getScore(peer.toString())
  }

  private topicOf (community: CID): Topic {
    const t = this.topics.get(communityTopic(community))
    if (t == null) throw new GossipError('ERR_NODE_GOSSIP_NOT_JOINED', `this daemon has not joined community ${community.toString()}; join it first (config "communities" or Gossip.join)`)
    return t
  }

  private async validate (topic: string, from: PeerId, msg: Message): Promise<TopicValidatorResult> {
    const t = this.topics.get(topic)
    if (t == null) return TopicValidatorResult.Ignore
    const taken = this.arrivals.get(msg.data) ?? performance.now()
    let verdict: GossipVerdict
    const limited = this.components.guard.admitMessage(from)
    if (limited !== undefined) {
      verdict = { status: 'ignore', ...limited }
    } else if (msg.data.length > LIMITS.maxFrameBytes) {
      verdict = { status: 'reject', code: 'ERR_WIRE_FRAME_TOO_LARGE', reason: `message of ${msg.data.length} bytes` }
    } else {
      try {
        verdict = await t.validator(msg.data, { community: t.community, from })
      } catch (err) {
        // a validator must not throw; treat it as our own fault, not the sender's
        this.components.log.error({ err, topic }, 'gossip validator threw')
        verdict = { status: 'ignore', code: 'ERR_NODE_GOSSIP_VALIDATOR', reason: (err as Error).message }
      }
    }
    if (verdict.status === 'accept') {
      this.values.set(msg, verdict.value)
      return TopicValidatorResult.Accept
    }
    const author = msg.type === 'signed' ? msg.from.toString() : undefined
    this.refused(verdict.status, topic, from, author, { code: verdict.code, reason: verdict.reason }, taken)
    return verdict.status === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
  }

  /**
   * Emits and logs a message refused on a joined topic. Rejections and rate limits are logged at warn,
   * other ignores (duplicates, entries not yet in context) at debug; each at most once per peer and code per
   * `gossip.rejectionLogIntervalMs`. `taken`: when the message's frame was taken (`performance.now()`).
   */
  private refused (status: 'reject' | 'ignore', topic: string, from: PeerId, author: string | undefined, refusal: { code?: string, reason?: string }, taken: number): void {
    const community = this.topics.get(topic)?.community.toString()
    const fields = { community, from: from.toString(), author, code: refusal.code, reason: refusal.reason }
    this.components.events.emit(status === 'reject' ? 'gossip:rejected' : 'gossip:ignored', { ...fields, handlingMs: elapsedMs(taken) })
    const level = status === 'reject' || refusal.code === 'ERR_NODE_GOSSIP_RATE_LIMITED' ? 'warn' : 'debug'
    this.components.guard.report(level, { ...fields, peer: fields.from, code: refusal.code ?? '(no code)' }, status === 'reject' ? 'gossip message rejected' : 'gossip message ignored')
  }

  /** A frame that is not a gossipsub RPC within gossipsub's decode limits: gossipsub drops it, the peer stays. */
  private undecodable (peer: PeerId, bytes: number, err: unknown, taken: number): void {
    const reason = `a gossipsub RPC frame of ${bytes} bytes does not decode (${(err as Error)?.message ?? String(err)}); expected the RPC protobuf of the gossipsub spec within its limits on subscriptions, messages and control ids`
    this.components.events.emit('gossip:rejected', { from: peer.toString(), code: 'ERR_NODE_GOSSIP_RPC_MALFORMED', reason, handlingMs: elapsedMs(taken) })
    this.components.guard.report('warn', { peer: peer.toString(), code: 'ERR_NODE_GOSSIP_RPC_MALFORMED', reason }, 'gossip frame rejected')
  }

  /**
   * A peer's gossipsub stream ended with an error. Broken framing (a frame above the inbound cap, a bad length
   * prefix) is the peer's fault: gossipsub forgets the peer but keeps its connection, so later messages would
   * vanish unseen; instead it is reported with a code and disconnected (and refused for a while).
   */
  private framingError (err: unknown, peerId: PeerId): void {
    const name = (err as { name?: unknown })?.name
    const code = typeof name === 'string' ? FRAMING_ERRORS[name] : undefined
    if (code === undefined) {
      this.components.log.debug({ err, peer: peerId.toString() }, 'gossip stream of a peer ended with an error')
      return
    }
    const reason = `${(err as Error).message}: a gossipsub RPC frame may hold at most ${GOSSIP_MAX_INBOUND_BYTES} bytes (one entry frame of ${LIMITS.maxFrameBytes} bytes and 64 KiB of envelope); the peer is disconnected`
    this.components.events.emit('gossip:rejected', { from: peerId.toString(), code, reason })
    this.components.guard.drop(peerId, { code, reason })
  }

  private deliver ({ msg, msgId, propagationSource }: GossipsubMessage): void {
    const t = this.topics.get(msg.topic)
    if (t == null || msg.type !== 'signed') return
    const message: GossipMessage = {
      community: t.community,
      topic: msg.topic,
      author: msg.from,
      from: propagationSource,
      msgId,
      data: msg.data,
      value: this.values.get(msg)
    }
    const taken = this.arrivals.get(msg.data)
    this.components.events.emit('gossip:message', {
      community: t.community.toString(), author: msg.from.toString(), from: propagationSource.toString(), msgId, bytes: msg.data.length, handlingMs: taken === undefined ? undefined : elapsedMs(taken)
    })
    for (const { topic, handler } of this.handlers) {
      if (topic != null && topic !== msg.topic) continue
      Promise.resolve()
        .then(async () => { await handler(message) })
        .catch((err: unknown) => { this.components.log.error({ err, topic: msg.topic }, 'gossip handler failed') })
    }
  }
}
