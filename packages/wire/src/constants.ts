/**
 * Numbers of protocol v1 (protocol/limits.md is the written form of this file): each with its unit in
 * the name and where it comes from. Changing one of the wire-visible values is a protocol change.
 */

/** Protocol version carried in every entry (`v`), in the gossip topic and in the stream protocol ids. */
export const PROTOCOL_VERSION = 1

/**
 * Largest frame decoded at all, in bytes: 4 MiB, the default `maxDataLength` of it-length-prefixed that
 * js gossipsub uses for inbound RPC frames, so nothing larger can arrive by gossip. Ledger-sync and
 * blob-exchange messages are held to the same cap per message.
 */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024

/**
 * Deepest nesting of arrays and maps, counting the outermost container as 1. The deepest v1 entry is
 * 4 (entry → body → round-open `aggregator` → `params`); 16 leaves room for nested hyper-parameters while
 * keeping every recursive walk (decoder, schema, re-encoder) far from the stack limit.
 */
export const MAX_DEPTH = 16

/**
 * Most elements in one array: 65,536. The longest v1 arrays are a release's `contributions` and
 * `weights` (at most MAX_CONTRIBUTIONS_PER_ROUND each).
 */
export const MAX_ARRAY_LENGTH = 65_536

/** Most entries (key–value pairs) in one map. v1 maps hold at most a few dozen hyper-parameters. */
export const MAX_MAP_SIZE = 1_024

/** Longest string, in UTF-8 bytes: 64 KiB (a task description; names and reasons are far shorter). */
export const MAX_STRING_BYTES = 65_536

/**
 * Longest byte string (msgpack bin), in bytes: the frame cap minus 64 KiB kept for the message around it,
 * so one blob chunk of a stream message always fits in a frame.
 */
export const MAX_BIN_BYTES = MAX_FRAME_BYTES - 65_536

/**
 * Most msgpack values in one frame (every scalar, container and map key counts 1): 131,072. Bounds the
 * heap a frame can make the decoder allocate — an empty map costs 1 byte on the wire but ~60 bytes as a
 * JavaScript object, so 4 MiB of them would cost ~250 MB; this cap keeps any frame under ~10 MB of heap.
 * A release listing MAX_CONTRIBUTIONS_PER_ROUND contributions holds ~20,000 values.
 */
export const MAX_ITEMS = 131_072

/** Largest genesis frame, in bytes: 64 maintainer keys (~2.2 KB), the task, the policy and a description. */
export const MAX_GENESIS_BYTES = 65_536
/** Largest round-open frame, in bytes: hyper-parameters, aggregator and codec parameters. */
export const MAX_ROUND_OPEN_BYTES = 16_384
/** Largest contribution frame, in bytes: ids (~150 B), codec parameters and training metrics. */
export const MAX_CONTRIBUTION_BYTES = 8_192
/** Largest verdict frame, in bytes: envelope (~260 B) + a reason of ≤ MAX_REASON_CHARS (≤ 3 KiB UTF-8). */
export const MAX_VERDICT_BYTES = 8_192
/**
 * Largest release frame, in bytes: 1 MiB holds MAX_CONTRIBUTIONS_PER_ROUND contribution ids (38 B each)
 * and weights (9 B each), ~470 KB, plus metrics.
 */
export const MAX_RELEASE_BYTES = 1_048_576
/** Largest round-close frame, in bytes: envelope + ids + a reason of ≤ MAX_REASON_CHARS. */
export const MAX_ROUND_CLOSE_BYTES = 8_192
/** Largest checkpoint frame, in bytes: envelope (~260 B) + one id and a number. */
export const MAX_CHECKPOINT_BYTES = 1_024

/**
 * Domain-separation prefix of the bytes an entry signature covers (ASCII `swarmtune/1/entry` and a NUL),
 * so that a swarmtune entry signature can never be replayed as a signature over another kind of message
 * made with the same key (libp2p peer records, noise handshakes), nor the reverse.
 */
export const ENTRY_DOMAIN_STRING = 'swarmtune/1/entry\u0000'

/** Length of a raw Ed25519 public key, in bytes (RFC 8032 §5.1.5). */
export const ED25519_PUBLIC_KEY_BYTES = 32
/** Length of an Ed25519 signature, in bytes (RFC 8032 §5.1.6). */
export const ED25519_SIGNATURE_BYTES = 64

/** Multicodec code of raw bytes, the content type of every v1 CID (multiformats table: `raw` = 0x55). */
export const RAW_CODEC = 0x55
/** Multihash code of SHA2-256 (multiformats table: `sha2-256` = 0x12). */
export const SHA2_256_CODE = 0x12
/** Length of a SHA2-256 digest, in bytes. */
export const SHA2_256_BYTES = 32
/** Length of a v1 CID in binary form: version, codec, hash code, digest length (1 byte each) + digest. */
export const CID_BYTES = 4 + SHA2_256_BYTES
/** Longest CID string parseCid accepts, in characters (a base32 v1 CID is 59; base58btc 50). */
export const MAX_CID_STRING_CHARS = 128

/** Longest name (community, task id, optimizer, aggregator, codec), in UTF-16 code units. */
export const MAX_NAME_CHARS = 128
/** Longest error code in a verdict, in UTF-16 code units. */
export const MAX_CODE_CHARS = 64
/** Longest human-readable reason (verdict, round-close), in UTF-16 code units. */
export const MAX_REASON_CHARS = 1_024
/** Most maintainers a genesis may name. */
export const MAX_MAINTAINERS = 64
/**
 * Most contributions one round may accept and one release may list: 10,000, well above the hundreds to
 * low thousands of clients per round of production federated learning (Bonawitz et al., "Towards
 * Federated Learning at Scale", SysML 2019).
 */
export const MAX_CONTRIBUTIONS_PER_ROUND = 10_000

/**
 * Most msgpack values in one entry frame: 21,024 = 2 × MAX_CONTRIBUTIONS_PER_ROUND + 1,024. The largest v1
 * entry is a release listing MAX_CONTRIBUTIONS_PER_ROUND contributions, with as many weights: ~20,030
 * values with its envelope and metrics; 1,024 more leave room for metrics. Every other kind is bounded far
 * lower by its byte limit. This caps the work a hostile entry frame of up to 1 MiB can cause (decode,
 * canonical re-encode, schema) at ~1/6 of what MAX_ITEMS allows: decoding 131,072 values of small maps
 * took ~18 ms on the 2-core build machine (scripts/bench/wire.bench.ts).
 */
export const MAX_ENTRY_ITEMS = 2 * MAX_CONTRIBUTIONS_PER_ROUND + 1_024

/**
 * How far in the future an entry's timestamp may be before validation ignores it, in ms: 5 minutes, the
 * customary clock-skew allowance (Kerberos' default, RFC 4120 §1.2 practice).
 */
export const MAX_CLOCK_SKEW_MS = 300_000

/**
 * Author public keys whose parsed node:crypto key is kept for signature checks (least recently used goes
 * first). Parsing a key costs about as much as one verification, and entries come in runs by author (a
 * chain in a sync batch or a store being verified) or from the few thousand volunteers of a round
 * (MAX_CONTRIBUTIONS_PER_ROUND bounds a round's contributors at 10,000): 4,096 keys cover the active
 * authors of all but the largest rounds, at about 1 KiB of native memory each. Not wire-visible.
 */
export const VERIFY_KEY_CACHE_ENTRIES = 4_096
