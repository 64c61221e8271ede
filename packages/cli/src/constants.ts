/** Limits of the `swarmtune` command's own file input. */
import { SYNC_MAX_FRAME_BYTES } from '@swarmtune/ledger'

/**
 * Longest line of a `ledger import` file, in bytes: one exported entry is a JSON object holding the entry's
 * bytes (at most SYNC_MAX_FRAME_BYTES = 4 MiB, the wire frame limit) as base64 (4/3 of it) beside its decoded
 * body, never larger than the base64 form — so 2 × 4/3 × the frame limit, rounded up to 3 × the frame limit.
 */
export const MAX_IMPORT_LINE_BYTES = 3 * SYNC_MAX_FRAME_BYTES

/** Largest `ledger import` file, in bytes (16 GiB): far above any real ledger export; stops a runaway input. */
export const MAX_IMPORT_FILE_BYTES = 16 * 1024 ** 3
