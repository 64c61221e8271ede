/**
 * Numbers that shape the ledger store and its sync protocol. Units are in the names.
 */
import { LIMITS } from '@swarmtune/wire'

/**
 * Version of the on-disk key layout (doc/ledger-format.md). Bumped whenever a key or value format changes;
 * a store written under another version is refused on open with `ERR_LEDGER_SCHEMA` and a migration hint.
 */
export const LEDGER_SCHEMA_VERSION = 1

/**
 * Largest sync frame accepted or sent, in bytes (length prefix excluded): wire's frame cap
 * (`LIMITS.maxFrameBytes`, 4 MiB, the js gossipsub message limit the rest of the project keeps large payloads
 * under, DESIGN.md), which the protocol holds ledger-sync messages to. Sized to carry a batch of entries; the
 * same cap bounds each entry inside it.
 */
export const SYNC_MAX_FRAME_BYTES = LIMITS.maxFrameBytes

/**
 * Entries sent per `entries` frame while serving a want. 256 entries of ~1 KiB keep a frame well under
 * SYNC_MAX_FRAME_BYTES and let the receiver commit each frame as one LevelDB batch (bench: ledger.bench.ts).
 */
export const SYNC_BATCH_ENTRIES = 256

/** Heads per `heads` frame (each head is ~110 bytes encoded: 32-byte author, seq, 36-byte id). */
export const SYNC_HEADS_PER_FRAME = 4096

/**
 * Decode limits of one sync message, from its shape (doc/ledger-format.md, "Sync protocol"): a map of at most
 * 4 fields (8 allowed), nested at most 3 deep (`heads` → head → author; 4 allowed), arrays of at most
 * {@link SYNC_HEADS_PER_FRAME} elements (heads, wants; `entries` holds 1–256 frames as opaque bins), and about
 * 4 values per head. Checked by the pre-scan before anything is decoded, so a frame of 4 MiB of nested maps
 * is refused after a look at its first headers instead of being decoded and re-encoded whole (80,000
 * values under the codec's defaults took 50–210 ms of the event loop in the hostile-peer suite).
 */
export const SYNC_MESSAGE_LIMITS = Object.freeze({
  maxFrameBytes: SYNC_MAX_FRAME_BYTES,
  maxMapSize: 8,
  maxDepth: 4,
  maxArrayLength: SYNC_HEADS_PER_FRAME,
  maxItems: 4 * SYNC_HEADS_PER_FRAME + 64
})

/**
 * Most authors a peer may advertise in one session; more is treated as abuse and the session is rejected.
 * A community with more volunteers than this needs a protocol revision (paged heads by prefix).
 */
export const SYNC_MAX_AUTHORS = 100_000

/** Most entries one session may receive before the receiver stops it (bounds memory and disk per peer). */
export const SYNC_MAX_ENTRIES_PER_SESSION = 1_000_000

/**
 * A sync session with no frame in either direction for this long is aborted. Ten seconds covers the
 * slowest batch commit measured with the synced bench (<100 ms) a hundred times over.
 */
export const SYNC_IDLE_TIMEOUT_MS = 10_000

/** Entries verified between two `verify` progress events during open. */
export const VERIFY_PROGRESS_EVERY_ENTRIES = 10_000

/**
 * How often the sidecar of known chain lengths (lengths.json) is rewritten while the store is open, in ms.
 * It is also written on close. Between writes the sidecar is a lower bound that is at most this old.
 */
export const LENGTHS_WRITE_INTERVAL_MS = 5_000

/**
 * Most equivocation evidence records kept for one author. One record — with the stored entry it conflicts
 * with — proves that the author signed two histories, so at most one is kept per author and seq; a few
 * seqs more show whether it repeats. Bounds what one key can make a store keep at 8 records (each an entry
 * frame: ≤ 8 KiB for a contribution, ≤ 1 MiB for the largest kind, a release).
 */
export const EVIDENCE_MAX_RECORDS_PER_AUTHOR = 8

/**
 * Most bytes of evidence (entry frames) kept over all authors, in bytes. Evidence against a maintainer the
 * genesis names is kept up to the per-author cap whatever this total. 16 MiB holds a pair for about 2,000
 * equivocating volunteers' contributions (≤ 8 KiB each, wire's MAX_CONTRIBUTION_BYTES) and bounds the disk a
 * flood of fresh identities can fill; kept without a cap, 150 conflicting 8 KB contributions from one key
 * grew a store from 816 kB to 2,028 kB.
 */
export const EVIDENCE_MAX_TOTAL_BYTES = 16 * 1024 * 1024

/**
 * Bytes of the store's checkpoint secret (`<store>/verified.key`), the HMAC-SHA-256 key of `m!verified`:
 * the hash's output length, the key size RFC 2104 §3 recommends.
 */
export const VERIFIED_KEY_BYTES = 32
