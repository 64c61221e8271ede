/**
 * @packageDocumentation
 *
 * `@swarmtune/ledger` stores a community's signed ledger entries (from `@swarmtune/wire`) in per-author
 * hash chains on LevelDB (or in memory), re-verifies every chain and signature on open, replicates with
 * peers over any byte stream, and answers the questions researchers ask of the record. The on-disk
 * layout and export formats are in doc/ledger-format.md; error codes in doc/errors.md (`## ledger`).
 *
 * @example
 * ```ts
 * import { generateKeyPair } from '@libp2p/crypto/keys'
 * import { blobCid } from '@swarmtune/wire'
 * import { openLedger } from '@swarmtune/ledger'
 *
 * const key = await generateKeyPair('Ed25519')
 * const ledger = await openLedger({ path: '/tmp/swarmtune-example/ledger' })  // verifies on open
 * const genesis = await ledger.sign({
 *   kind: 'genesis',
 *   body: {
 *     name: 'mnist-demo', task: { id: 'mnist-cnn' }, maintainers: [key.publicKey.raw],
 *     release: blobCid(new TextEncoder().encode('manifest')).bytes,
 *     policy: { maxDeltaNorm: 10, maxRoundMs: 600_000 }
 *   }
 * }, key)
 * for await (const e of ledger.entries({ kind: 'genesis' })) console.log(e.id.toString())
 * await ledger.close()
 * ```
 */

export {
  LEDGER_SCHEMA_VERSION, SYNC_MAX_FRAME_BYTES, SYNC_BATCH_ENTRIES, SYNC_HEADS_PER_FRAME, SYNC_MAX_AUTHORS,
  SYNC_MAX_ENTRIES_PER_SESSION, SYNC_IDLE_TIMEOUT_MS, SYNC_MESSAGE_LIMITS, VERIFY_PROGRESS_EVERY_ENTRIES, LENGTHS_WRITE_INTERVAL_MS,
  EVIDENCE_MAX_RECORDS_PER_AUTHOR, EVIDENCE_MAX_TOTAL_BYTES
} from './constants.js'
export {
  LedgerError, LedgerLockedError, LedgerCorruptError, LedgerSchemaError, LedgerClosedError, LedgerEntryError, LedgerCommunityError,
  LedgerNotFoundError, LedgerArgumentError, LedgerFilterError, LedgerSyncError, peerIdOfAuthor, type CorruptionDetail, type LockHolder
} from './errors.js'
export {
  Ledger, openLedger, createMemoryDb,
  type LedgerInit, type HeadInfo, type AppendResult, type IngestResult, type EntryFilter, type Equivocation, type EntryDraft, type EvidenceDrop
} from './store.js'
export type { EvidenceDropReason, EvidenceLimits } from './evidence.js'
export type { VerifyReport, VerifyProgress, VerifyProgressEvents } from './verify.js'
export { syncLedger, decodeMessage as decodeSyncMessage, SYNC_VERSION, type SyncOptions, type SyncProgressEvents, type SyncReport, type SyncRejection } from './sync.js'
export { encodeFrame, decodeFrames, type ByteStream } from './framing.js'
export { readLockInfo, type LockInfo } from './lock.js'
export {
  listContributions, contributionsByPeer, contributionsByRound, listReleases, releaseShares, releaseLineage, ledgerStats, releaseMetrics, RELEASE_METRICS,
  type ContributionRow, type ContributionFilter, type PeerSummary, type RoundSummary, type ShareRow, type LineageRow, type LedgerStats, type ReleaseRow, type ReleaseMetric
} from './queries.js'
export {
  entryToJson, entryCsvRow, exportEntries, importEntries, toCsv, toJsonl, csvLine, csvField, ENTRY_CSV_COLUMNS,
  type EntryJson, type ImportReport, type ImportRejection
} from './export.js'
export { queryView, checkViewParams, authorParam, LEDGER_VIEWS, VIEW_CSV_COLUMNS, VIEW_FILTERS, type LedgerView, type ViewParams, type ViewFilter } from './views.js'
export { toHex } from './records.js'
export { writeSynced } from './files.js'
export { MAINTAINER_KINDS } from './authority.js'
