/**
 * Errors of the daemon. One class per failure kind, each a `SwarmtuneError` (`@swarmtune/wire`) whose `name` is
 * its class's and whose `code` is stable (listed in doc/errors.md, section `## node`). Messages say what
 * happened, what was expected and what to do; tests and callers check `code` or `name`, never the message. The
 * HTTP status the control API answers each code with is in control-status.ts, not here.
 */
import { SwarmtuneError, withCode } from '@swarmtune/wire'

/** Base class: every error of the daemon. */
export class NodeError<C extends string = string> extends SwarmtuneError<C> {}

/** `config.json` or an option passed in does not match the schema; the message lists every bad field. */
export class ConfigError extends withCode(NodeError, 'ERR_NODE_CONFIG_INVALID') {}

/** The data folder is missing, already initialised, of an unknown layout, or has unsafe permissions. */
export class DataDirError extends NodeError {}

/** Another daemon holds the data folder (its lock file names a live process). */
export class DaemonLockedError extends withCode(NodeError, 'ERR_NODE_LOCKED') {}

/**
 * A dial asked for through the control API failed: `ERR_NODE_DIAL_SELF` (the address is this node's own),
 * `ERR_NODE_DIAL_NOT_LIBP2P` (something answered that does not speak libp2p), `ERR_NODE_DIAL_FAILED` (refused,
 * timed out, wrong peer id…); the cause is kept.
 */
export class DialError extends NodeError {}

/**
 * A port the daemon needs is taken: `ERR_NODE_CONTROL_PORT_IN_USE` (control API, `control.port` /
 * `--control-port`), `ERR_NODE_LISTEN_PORT_IN_USE` (libp2p, `listen` / `--listen`).
 */
export class PortInUseError extends NodeError {}

/** A blob is not in the local store. */
export class BlobNotFoundError extends withCode(NodeError, 'ERR_NODE_BLOB_NOT_FOUND') {}

/** Stored or received bytes do not hash to their CID. */
export class BlobCorruptError extends withCode(NodeError, 'ERR_NODE_BLOB_CORRUPT') {}

/** A blob is larger than the configured limit. */
export class BlobTooLargeError extends withCode(NodeError, 'ERR_NODE_BLOB_TOO_LARGE') {}

/** A fetch could not complete: no (remaining) provider has the blob, or every one failed. */
export class BlobFetchError extends NodeError {}

/** A peer sent a malformed blob-protocol frame; the stream is closed and (client side) the peer penalised. */
export class BlobProtocolError extends withCode(NodeError, 'ERR_NODE_BLOB_PROTOCOL') {}

/**
 * A length prefix read from a peer is longer than the bytes its limit needs, or announces more than the
 * limit (`ERR_NODE_FRAME_LENGTH`); raised as soon as the offending byte arrives, before any body is read.
 * The stream is reset.
 */
export class FrameLengthError extends withCode(NodeError, 'ERR_NODE_FRAME_LENGTH') {}

/** A peer's stream ended inside a frame: after part of its length prefix or body (`ERR_NODE_FRAME_TRUNCATED`). */
export class FrameTruncatedError extends withCode(NodeError, 'ERR_NODE_FRAME_TRUNCATED') {}

/**
 * The provider refused or ended an inbound blob stream: `ERR_NODE_BLOB_BUSY` (no slot for this peer),
 * `ERR_NODE_BLOB_EVICTED` (an idle stream reset to give its slot to a peer holding fewer),
 * `ERR_NODE_BLOB_REQUEST_TIMEOUT` (no whole request in time), `ERR_NODE_BLOB_SEND_TIMEOUT` (a response
 * not taken by the reader in time), `ERR_NODE_BLOB_FLOOD` (more unread bytes than the provider buffers).
 */
export class BlobStreamError extends NodeError {}

/**
 * An inbound stream broke the bounds of multistream-select before a protocol was agreed
 * (`ERR_NODE_NEGOTIATION_LIMIT`: more proposals than allowed). Over-long length prefixes there are
 * {@link FrameLengthError}. The stream is reset.
 */
export class NegotiationError extends withCode(NodeError, 'ERR_NODE_NEGOTIATION_LIMIT') {}

/**
 * A long operation was stopped through its `AbortSignal`, or the daemon is stopping; what was done so far is
 * kept. The one `AbortError` of `@swarmtune/wire` (`ERR_ABORTED`), under the name this package exported.
 */
export { AbortError as AbortedError } from '@swarmtune/wire'

/** A call to the control API failed; `code` is the daemon's error code, or a client-side one. */
export class ControlError extends NodeError {
  /** HTTP status, when the daemon answered. */
  readonly status?: number
  constructor (code: string, message: string, options?: { cause?: unknown, status?: number }) {
    super(code, message, options)
    this.status = options?.status
  }
}

/** A gossip operation named a community the daemon has not joined, or a message was refused locally. */
export class GossipError extends NodeError {}

/** Wraps anything thrown into a `NodeError`-shaped record for logs and API replies. */
export function errorRecord (err: unknown): { code: string, message: string } {
  const e = err as { code?: unknown, message?: unknown }
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERR_NODE_INTERNAL',
    message: typeof e?.message === 'string' ? e.message : String(err)
  }
}
