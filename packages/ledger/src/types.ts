/** The shapes the ledger store (store.ts) takes and answers: open options, heads, append and ingest results, evidence. */
import type { Entry, EntryKind, SignedEntry } from '@swarmtune/wire'
import type { EvidenceDropReason, EvidenceLimits } from './evidence.js'
import type { CID, Db } from './records.js'
import type { VerifyProgressEvents } from './verify.js'
/** Options of {@link openLedger}. */
export interface LedgerInit {
  /**
   * Folder of a disk store: LevelDB in `<path>/db`, the lock file `<path>/lock`, known chain lengths in
   * `<path>/lengths.json`. Created when missing.
   */
  path?: string
  /** A database to run on instead of a folder: one made by {@link createMemoryDb} (in memory). */
  db?: Db
  /**
   * The community this store belongs to (its genesis entry's CID, or the CID string). An empty store is
   * bound to it at once (`m!community` is written), so it refuses every entry of another community from the
   * first one on — at ingest (`ERR_WIRE_WRONG_COMMUNITY`) and at sync (`ERR_LEDGER_SYNC_COMMUNITY`) — and
   * opening a store that holds another community's entries fails with `ERR_LEDGER_COMMUNITY_MISMATCH`.
   * Without it an empty store takes the community of the first entry it stores.
   */
  community?: CID | string
  /** fsync every write batch (default true). False is faster and survives a process crash, not a power loss. */
  sync?: boolean
  /**
   * What open verifies (default `checkpoint`): with `checkpoint`, a disk store that holds a trusted
   * verification checkpoint (`m!verified`, doc/ledger-format.md "Reopen") checks the entries it covers by
   * their SHA-256 only and verifies signatures and chain rules of the entries stored after it; `full`
   * verifies every entry (as `Ledger.verify()` does). Memory stores always verify in full.
   */
  verifyOnOpen?: 'checkpoint' | 'full'
  /** Aborts the verification on open. */
  signal?: AbortSignal
  /** Progress of the verification on open (`ledger:verify` events). */
  onProgress?: (evt: VerifyProgressEvents) => void
  /**
   * Caps on equivocation evidence kept (evidence.ts): `maxRecordsPerAuthor` (default
   * EVIDENCE_MAX_RECORDS_PER_AUTHOR = 8 records) and `maxTotalBytes` (default EVIDENCE_MAX_TOTAL_BYTES = 16 MiB).
   */
  evidence?: Partial<EvidenceLimits>
}

/** The last entry of one author chain. `length` = seq + 1. */
export interface HeadInfo {
  /** 32-byte Ed25519 public key, 64 lowercase hex. */
  author: string
  seq: number
  length: number
  /** CID string of the head entry. */
  id: string
}

/** What `append` did with an entry that was not refused. */
export interface AppendResult {
  entry: SignedEntry
  /** True when the entry was already stored (appending is idempotent by content id). */
  duplicate: boolean
}

/**
 * Outcome of `ingest` for one entry from the network: never throws. `accept`: stored now; `ignore`:
 * already stored (`ERR_LEDGER_DUPLICATE`), or not storable yet because earlier entries of its chain are
 * missing (`ERR_LEDGER_GAP`: sync fills the gap) or because it is a maintainer-only kind and the genesis
 * that names the maintainers is not stored yet (`ERR_LEDGER_NO_GENESIS`), or not valid yet (wire's
 * clock-skew ignore); `reject`: invalid, of another community, a maintainer-only kind signed by someone the
 * genesis does not name (`ERR_LEDGER_NOT_MAINTAINER`), a bad checkpoint, or conflicting with the stored
 * chain (`ERR_LEDGER_EQUIVOCATION` / `ERR_LEDGER_FORK`, kept as evidence).
 */
export interface IngestResult {
  status: 'accept' | 'ignore' | 'reject'
  code?: string
  reason?: string
  /** CID string of the entry, when it decoded. */
  id?: string
  /** Author (hex) and seq, when it decoded; a gap's fill starts at the author's current length. */
  author?: string
  seq?: number
  /** True when this entry was stored now as equivocation evidence. */
  evidence?: boolean
  /** Why a conflicting entry was not kept as evidence (it was counted in `Ledger.evidenceDropped`). */
  evidenceDropped?: EvidenceDropReason
}

/** Detail of an `evidence-dropped` event: a conflicting entry that was refused and not kept. */
export interface EvidenceDrop {
  entry: SignedEntry
  reason: EvidenceDropReason
}

/** Two validly signed entries by one author that cannot both be in its chain. */
export interface Equivocation {
  author: string
  seq: number
  /**
   * `same-seq`: another entry is stored at this seq; `fork`: the conflicting entry's prev is not the stored
   * entry at seq - 1 (so the author signed another entry there).
   */
  type: 'same-seq' | 'fork'
  /** The stored entry it conflicts with (at `seq`, or at `seq - 1` for a fork). */
  stored: SignedEntry
  conflicting: SignedEntry
}

/** Draft of an entry to sign with {@link Ledger.sign}: seq, prev, author and community are filled in. */
export interface EntryDraft<K extends EntryKind = EntryKind> {
  kind: K
  /** The body (protocol/entries.md); may be left out for a checkpoint, whose body is then filled in. */
  body?: Entry<K>['body']
  /** ms since Unix epoch; default now. */
  ts?: number
}
