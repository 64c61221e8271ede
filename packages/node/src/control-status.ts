/**
 * The HTTP status the control API answers each error code with, for every route (core, ledger and rounds
 * routes alike). Errors carry only their `code` (doc/errors.md); which status a code is over HTTP is the
 * control API's concern, and this is its one table. A code not in it is a 500: the daemon failed
 * (`ERR_NODE_INTERNAL`, a corrupt store) or the caller cannot fix the cause.
 */

/** Status of each error code a control-API route may answer with; a code not listed is a 500. */
export const CONTROL_STATUS_OF_CODE: Readonly<Record<string, number>> = Object.freeze({
  // the request itself (authentication, routing, parsing, size)
  ERR_NODE_CONTROL_UNAUTHORIZED: 401,
  ERR_NODE_CONTROL_BAD_REQUEST: 400,
  ERR_NODE_CONTROL_NOT_FOUND: 404,
  ERR_NODE_CONTROL_TOO_LARGE: 413,
  ERR_NODE_DASHBOARD_NOT_BUILT: 503,
  ERR_WIRE_BAD_CID: 400,
  ERR_NODE_CONFIG_INVALID: 400,
  // an operation stopped through its signal, or by the daemon stopping (nginx's "client closed request")
  ERR_ABORTED: 499,
  // blobs and gossip
  ERR_NODE_BLOB_NOT_FOUND: 404,
  ERR_NODE_BLOB_TOO_LARGE: 413,
  ERR_NODE_BLOB_CORRUPT: 422,
  ERR_NODE_BLOB_NO_PROVIDERS: 404,
  ERR_NODE_GOSSIP_NOT_JOINED: 404,
  ERR_NODE_GOSSIP_INVALID: 422,
  // dials (`POST /v1/peers/connect`, `POST /v1/ledger/sync`): the peer, not this daemon, failed
  ERR_NODE_DIAL_SELF: 400,
  ERR_NODE_DIAL_FAILED: 502,
  ERR_NODE_DIAL_NOT_LIBP2P: 502,
  // the ledger's views and sync sessions
  ERR_LEDGER_BAD_ARGUMENT: 400,
  ERR_LEDGER_UNSUPPORTED_FILTER: 400,
  ERR_LEDGER_NOT_FOUND: 404,
  ERR_LEDGER_CORRUPT: 500,
  ERR_LEDGER_TRUNCATED: 500,
  ERR_LEDGER_SYNC_PROTOCOL: 502,
  ERR_LEDGER_SYNC_FRAME_TOO_LARGE: 502,
  ERR_LEDGER_SYNC_LIMIT: 502,
  ERR_LEDGER_SYNC_PEER: 502,
  ERR_LEDGER_SYNC_TIMEOUT: 504,
  ERR_LEDGER_SYNC_COMMUNITY: 409,
  // communities and rounds
  ERR_ROUNDS_BAD_GENESIS: 400,
  ERR_ROUNDS_COMMUNITY_MISMATCH: 400,
  ERR_ROUNDS_NOT_MAINTAINER: 403,
  ERR_ROUNDS_NO_COMMUNITY: 409,
  ERR_ROUNDS_BAD_PARAMS: 400,
  ERR_ROUNDS_CONFIG_INVALID: 400,
  ERR_ROUNDS_NOT_FOUND: 404,
  ERR_ROUNDS_RELEASE_NOT_FOUND: 404,
  ERR_ROUNDS_ALREADY_OPEN: 409,
  ERR_ROUNDS_NOT_OPEN: 409,
  ERR_ROUNDS_VERIFY_INCOMPLETE: 422,
  ERR_ROUNDS_STATE_CORRUPT: 500,
  ERR_ROUNDS_STATE_VERSION: 500,
  ERR_ROUNDS_STATE_IN_USE: 500
})

/** The status of `code` in {@link CONTROL_STATUS_OF_CODE}; 500 for a code not listed, or none. */
export function controlStatusOf (code: string | undefined): number {
  return code !== undefined && Object.hasOwn(CONTROL_STATUS_OF_CODE, code) ? CONTROL_STATUS_OF_CODE[code] : 500
}
