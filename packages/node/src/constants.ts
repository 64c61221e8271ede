/**
 * Defaults and limits of the daemon, each with its unit in the name and where the number comes from.
 * Configuration (`config.ts`) starts from these; protocol-wide numbers (frame sizes, topic names) come from
 * `@swarmtune/wire`.
 */
import { LIMITS, SHA2_256_BYTES } from '@swarmtune/wire'

// --- data folder ---------------------------------------------------------------------------------------

/** Environment variable naming the data folder; otherwise `~/.swarmtune`. */
export const DATA_DIR_ENV = 'SWARMTUNE_HOME'
/** Version of the data-folder layout, stored in `config.json`; checked on open. */
export const DATA_DIR_LAYOUT_VERSION = 1
/** Mode of secret files (identity key, control token): owner read/write only, as ssh requires of keys. */
export const SECRET_FILE_MODE = 0o600
/** Mode of the data folder itself: owner only. */
export const DATA_DIR_MODE = 0o700
/** Length of the control-API bearer token in bytes before base64url (256 bits, NIST SP 800-63B "secret"). */
export const CONTROL_TOKEN_BYTES = 32
/**
 * Largest config.json read, in bytes: 64 KiB. A full configuration (bootstrap list, communities, blob and
 * gossip settings) is about 2 KiB; the margin allows long bootstrap lists, and the cap keeps a link to a
 * device or a wrong file from being read without end.
 */
export const MAX_CONFIG_FILE_BYTES = 64 * 1024
/**
 * Largest identity.key read, in bytes: 1 KiB. A libp2p protobuf Ed25519 private key is 68 bytes (4-byte
 * header + 64-byte key, libp2p peer-id spec "Keys"); the cap refuses any other file.
 */
export const MAX_IDENTITY_KEY_FILE_BYTES = 1024
/** Largest control.token read, in bytes: 1 KiB; the token is 43 base64url characters and a newline. */
export const MAX_CONTROL_TOKEN_FILE_BYTES = 1024

// --- network --------------------------------------------------------------------------------------------

/** Default libp2p TCP port (unassigned by IANA in the 4100 range; the control API sits one below). */
export const DEFAULT_P2P_PORT = 4101
/** Default control-API port on 127.0.0.1: the one below {@link DEFAULT_P2P_PORT}. */
export const DEFAULT_CONTROL_PORT = DEFAULT_P2P_PORT - 1
/** Default libp2p WebSocket port: the TCP port + 1 (a second transport for networks that let only HTTP-like traffic through). */
export const DEFAULT_WS_PORT = DEFAULT_P2P_PORT + 1
/**
 * Most circuit relay v2 reservations a relaying daemon holds at once: `@libp2p/circuit-relay-v2`'s default
 * (15). Each reservation lets one unreachable peer be dialled through this daemon.
 */
export const DEFAULT_RELAY_MAX_RESERVATIONS = 15
/**
 * Longest a relayed connection lives, in ms: 2 min, the circuit relay v2 default (libp2p specs, relay/circuit-v2.md,
 * "Reservation"; `@libp2p/circuit-relay-v2` DEFAULT_DURATION_LIMIT). A relay is a signalling path, not a data path.
 */
export const DEFAULT_RELAY_DURATION_LIMIT_MS = 120_000
/** Most bytes one relayed connection carries (each way): 128 KiB, the circuit relay v2 default (`DEFAULT_DATA_LIMIT`). */
export const DEFAULT_RELAY_DATA_LIMIT_BYTES = 131_072
/**
 * How long a relay's reservation lasts before the client renews it, in ms: 2 h (`@libp2p/circuit-relay-v2`
 * `reservationTtl` default; go-libp2p uses 1 h).
 */
export const RELAY_RESERVATION_TTL_MS = 7_200_000
/** Relays an unreachable daemon reserves a slot on (two, so that one relay leaving does not cut it off). */
export const RELAY_RESERVATIONS_WANTED = 2
/**
 * Kademlia protocol id of the swarmtune DHT. A protocol of our own keeps swarmtune peers out of the public
 * IPFS Amino DHT (`/ipfs/kad/1.0.0`), whose routing tables would fill with peers that speak none of our
 * protocols.
 */
export const DHT_PROTOCOL = '/swarmtune/kad/1.0.0'
/**
 * Largest DHT message read, in bytes: 4 MiB, go-libp2p-kad-dht's message limit (msgio's 4 MiB reader). Its
 * varint prefix has at most 4 bytes; `@libp2p/kad-dht` itself sets no limit (negotiation-guard.ts).
 */
export const DHT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/** The daemon dials discovered peers until it has this many connections (libp2p no longer auto-dials). */
export const DEFAULT_TARGET_CONNECTIONS = 16
/** Hard cap on open connections (libp2p connection-manager `maxConnections`; its own default is 300). */
export const DEFAULT_MAX_CONNECTIONS = 128
/** How often the daemon re-dials its bootstrap list while below its connection target. */
export const RECONNECT_INTERVAL_MS = 10_000
/** Give up on one dial after this long (libp2p's default dial timeout is 5 s). */
export const DIAL_TIMEOUT_MS = 5_000
/**
 * A failed dial of one bootstrap address is logged at warn at most once per this many ms (the others are counted
 * in the next line's `suppressed`): 6 re-dials at RECONNECT_INTERVAL_MS, so a wrong address shows at once and
 * then once a minute, not every 10 s.
 */
export const BOOTSTRAP_WARN_INTERVAL_MS = 6 * RECONNECT_INTERVAL_MS
/**
 * A daemon with no peer this long after its start logs a warning with the reason (ERR_NODE_NO_PEERS): 3 rounds
 * of bootstrap re-dials (RECONNECT_INTERVAL_MS) and ample time for mDNS, which answers within a second on a LAN.
 */
export const NO_PEER_WARNING_MS = 3 * RECONNECT_INTERVAL_MS
/** Delay before the first bootstrap dial (`@libp2p/bootstrap` default is 1000 ms; 100 ms is enough locally). */
export const BOOTSTRAP_DELAY_MS = 100

// --- gossip ---------------------------------------------------------------------------------------------

/**
 * Bytes a gossipsub RPC may carry on top of one entry frame: the protobuf envelope of one message (from,
 * seqno, 64-byte signature, 36-byte key, topic ≈ 250 B) plus piggy-backed control messages (IHAVE/IWANT
 * ids). 64 KiB leaves room for a few thousand message ids, gossipsub's per-heartbeat IHAVE cap being 5000.
 */
export const GOSSIP_RPC_OVERHEAD_BYTES = 64 * 1024

/**
 * Largest gossipsub RPC frame accepted, in bytes: one entry frame at the protocol's cap (`LIMITS.maxFrameBytes`)
 * plus {@link GOSSIP_RPC_OVERHEAD_BYTES} of envelope and control messages. Larger frames are dropped before
 * they are decoded.
 */
export const GOSSIP_MAX_INBOUND_BYTES = LIMITS.maxFrameBytes + GOSSIP_RPC_OVERHEAD_BYTES
/** Gossipsub score decay interval (the libp2p default, 1 s); half-lives below are converted against it. */
export const SCORE_DECAY_INTERVAL_MS = 1_000
/**
 * Peer ids on one IP before gossipsub's IP-colocation penalty P6 applies (−5 × (n − 10)²): the gossipsub v1.1
 * spec's example value. Gossipsub counts disconnected peers whose score it retains (non-positive scores, for
 * an hour), so rotating identities from one address adds up: the 15th id from one IP starts graylisted.
 */
export const DEFAULT_IP_COLOCATION_THRESHOLD = 10
/**
 * Distinct peer ids one address may present within {@link DEFAULT_IDENTITY_WINDOW_MS} before further new ids
 * from it are refused after the noise handshake. A host runs one daemon (12 leaves room for a few restarts
 * with new folders, or a small NAT); libp2p's own limit of 5 inbound connections per second per host bounds
 * the handshakes an address can make us do meanwhile.
 */
export const DEFAULT_IDENTITIES_PER_ADDRESS = 12
/** Window of {@link DEFAULT_IDENTITIES_PER_ADDRESS}: 10 minutes (a rotating attacker gets 12 ids per 10 min). */
export const DEFAULT_IDENTITY_WINDOW_MS = 10 * 60_000
/** Addresses whose identities are tracked at once; the least recently seen is forgotten beyond this (memory bound). */
export const IDENTITY_TRACKED_ADDRESSES = 4096
/**
 * Gossip messages one peer may have validated per {@link DEFAULT_GOSSIP_RATE_WINDOW_MS}; more are ignored
 * (`ERR_NODE_GOSSIP_RATE_LIMITED`) before the topic validator runs. Only first deliveries count (gossipsub
 * drops duplicates before validation): a round of 1,000 volunteers reaches a node through ~6 mesh peers, ~170
 * first deliveries each, under 256.
 */
export const DEFAULT_PEER_MESSAGES_PER_WINDOW = 256
/** The same bound across all peers of one non-exempt address (4 peers' worth: a NAT of a few volunteers). */
export const DEFAULT_ADDRESS_MESSAGES_PER_WINDOW = 4 * DEFAULT_PEER_MESSAGES_PER_WINDOW
/** Window of the gossip rate limits: 10 s (fixed windows, `RateLimiter` of `@libp2p/utils`). */
export const DEFAULT_GOSSIP_RATE_WINDOW_MS = 10_000
/** A gossip rejection is logged at most once per peer and code per this long, with the count suppressed meanwhile. */
export const DEFAULT_REJECTION_LOG_INTERVAL_MS = 60_000
/** (peer, code) pairs the rejection log remembers; the oldest is forgotten beyond this (memory bound under identity churn). */
export const REJECTION_LOG_MAX_KEYS = 4096
/**
 * How long a peer that broke the gossip framing (a frame above the inbound cap, an unreadable length prefix)
 * is refused after being disconnected: 10 minutes, the half-life of the blob penalties.
 */
export const GOSSIP_FRAME_BAN_MS = 10 * 60_000
/** How often connected peers are checked against the graylist threshold (one gossipsub heartbeat). */
export const GRAYLIST_SWEEP_INTERVAL_MS = 1_000

// --- what is kept of departed peers (peer-retention.ts) -------------------------------------------------

/**
 * Disconnected peers kept in libp2p's peer store (addresses, protocols, identify metadata) beyond those with
 * a reason to stay (tags, bootstrap): the most recently departed; older ones are deleted. A record costs
 * ~7.5 KiB after GC (its bytes are views into 8 KiB pooled buffers), so 256 hold at most ~2 MiB — twice the
 * default connection cap (128), enough to redial the peers of the last hours of an honest swarm.
 */
export const DEFAULT_DEPARTED_PEERS = 2 * DEFAULT_MAX_CONNECTIONS
/**
 * Departed peers whose gossipsub score record is retained (gossipsub keeps every non-positive one, a fresh
 * peer's 0 included, for `retainScore`, 1 h). A record is ~1 KiB (topic counters, IPs); 1024 keep the
 * IP-colocation count (P6, threshold 10 per IP) of rotated identities and cost at most ~1 MiB.
 */
export const DEFAULT_DEPARTED_SCORES = 1024
/**
 * Graylisted departed peers remembered (peer id → score and expiry, ~150 B each, so at most ~2.5 MiB) after
 * their gossipsub record is dropped, so that they stay refused for the whole retention hour; beyond this the
 * least recently departed is forgotten (and gets a fresh score of 0 if it comes back).
 */
export const GRAYLIST_MEMORY_MAX_PEERS = 16_384
/**
 * Records the peer store may hold before the sweep deletes disconnected peers that never connected
 * (discovered by mDNS or the DHT, dialled in vain) and have no reason to stay: 1024 × ~7.5 KiB ≈ 7.5 MiB.
 */
export const MAX_STORED_PEERS = 1024
/** How often the peer store is checked against {@link MAX_STORED_PEERS}: once a minute (reads every record). */
export const PEER_STORE_SWEEP_INTERVAL_MS = 60_000

// --- ledger replication ---------------------------------------------------------------------------------

/**
 * How often the ledger service runs a sync session with one random connected peer (anti-entropy), in ms. An
 * entry gossip did not deliver — missed while outside the topic's mesh beyond gossipsub's message cache (3
 * heartbeats of 1 s), or stored by sync from a third peer, which gossip does not forward — reaches every
 * connected daemon within about this long, with no gap or reconnect needed. When the two ledgers agree a
 * session is one stream and four small frames each way (hello with a 32-byte heads digest, empty heads, empty
 * wants, served: under 200 bytes), so every 30 s costs little next to a round of minutes (the default round
 * is 2 min, rounds/constants.ts).
 */
export const LEDGER_ANTI_ENTROPY_MS = 30_000

// --- blob exchange --------------------------------------------------------------------------------------

/**
 * Size of one chunk of the blob protocol. Chunks are the unit of verification (each has its own sha2-256 in
 * the chunk table), of resumption and of parallel download. 1 MiB keeps the chunk table of a 1 GiB blob at
 * 32 KiB, and one chunk is four yamux windows (256 KiB initial window, yamux spec), so a chunk is several
 * round trips' worth of pipelined data.
 */
export const BLOB_CHUNK_BYTES = 1024 * 1024
/** Smallest and largest chunk size a provider may announce in its chunk table (the largest stays under the wire frame cap, 4 MiB). */
export const BLOB_MIN_CHUNK_BYTES = 64 * 1024
export const BLOB_MAX_CHUNK_BYTES = 2 * 1024 * 1024
/** Largest blob the daemon stores or fetches unless configured otherwise (a 7B-parameter fp16 shard set is split well below this). */
export const DEFAULT_MAX_BLOB_BYTES = 4 * 1024 * 1024 * 1024
/** Largest request frame on the blob protocol (a request names a CID and a chunk index: < 100 bytes). */
export const BLOB_MAX_REQUEST_BYTES = 1024
/**
 * Largest response header frame: the chunk table of the largest blob at the smallest chunk size (a 32-byte sha2-256
 * per chunk: 32 B × ceil(4 GiB / 64 KiB) = 2 MiB) and 1 KiB for the fields around it.
 */
export const BLOB_MAX_HEADER_BYTES = SHA2_256_BYTES * Math.ceil(DEFAULT_MAX_BLOB_BYTES / BLOB_MIN_CHUNK_BYTES) + 1024
/** Largest chunk header or error frame (an error reason is at most 1024 characters). */
export const BLOB_MAX_CHUNK_HEADER_BYTES = 4096
/** Inbound blob streams one connection may open at once (libp2p `maxInboundStreams`; its default is 32). */
export const BLOB_MAX_INBOUND_STREAMS = 8
/**
 * Inbound blob streams served at once across all connections. When all are taken, a new stream takes the
 * slot of an idle one of the peer holding most, or gets `busy` (blob-server.ts).
 */
export const BLOB_MAX_SERVING_STREAMS = 64
/**
 * Inbound blob streams of one peer served at once: a quarter of {@link BLOB_MAX_SERVING_STREAMS}, so no peer
 * holds every slot. A daemon's own fetches use one stream per provider and fetch (4 × 1 by default), so 16
 * leaves four times what an honest peer needs.
 */
export const BLOB_MAX_SERVING_PER_PEER = BLOB_MAX_SERVING_STREAMS / 4
/**
 * How long a provider waits for a whole request, from the stream's start or from its previous answer, in ms.
 * A client sends its request as soon as the stream is negotiated and pipelines the next one, so an honest
 * request needs one round trip; 10 s is a hundred round trips of a slow intercontinental path.
 */
export const BLOB_REQUEST_TIMEOUT_MS = 10_000
/**
 * How long the reader may take to accept one answer (a chunk of up to {@link BLOB_MAX_CHUNK_BYTES}), in ms:
 * 30 s is 2 MiB at 70 KB/s. Longer than the client's own {@link FETCH_STALL_TIMEOUT_MS}, so an honest but
 * slow link is dropped by the client first.
 */
export const BLOB_CHUNK_SEND_TIMEOUT_MS = 30_000
/**
 * Unread bytes a provider buffers from one blob stream (libp2p `maxBufferSize`; beyond it the stream is
 * aborted): 16 requests of the largest size. A client pipelines {@link FETCH_PIPELINE_DEPTH} requests of
 * under 100 bytes.
 */
export const BLOB_SERVER_BUFFER_BYTES = 16 * BLOB_MAX_REQUEST_BYTES
/**
 * A client reuses a stream that has been idle (since its chunk-table probe or its last chunk) for at most
 * this long, in ms; an older one may have reached the provider's request deadline
 * ({@link BLOB_REQUEST_TIMEOUT_MS} by default), so a fresh stream is opened instead.
 */
export const FETCH_STREAM_REUSE_MS = 1_000

// --- protocol negotiation (multistream-select, every inbound stream) -----------------------------------

/**
 * Largest multistream-select message, in bytes: 1024, the limit of go-multistream and of
 * `@libp2p/multistream-select` (`MAX_PROTOCOL_LENGTH`); its varint prefix has at most 2 bytes.
 */
export const NEGOTIATION_MAX_MESSAGE_BYTES = 1024
/**
 * Messages an inbound stream may send before a protocol is agreed: the multistream header, `ls` and
 * proposals answered `na`. A libp2p dialer sends the header and one proposal per protocol it tries (the
 * daemon's dialers try one), so 8 is plenty; an endless list of proposals is refused.
 */
export const NEGOTIATION_MAX_MESSAGES = 8
/** Providers one fetch downloads from at once. */
export const DEFAULT_FETCH_PROVIDERS = 4
/** Chunk requests in flight per provider (2 hides the request round trip behind the previous chunk). */
export const FETCH_PIPELINE_DEPTH = 2
/** Blob fetches the daemon runs at once; more wait in a queue. */
export const DEFAULT_CONCURRENT_FETCHES = 4
/** A provider that sends nothing for this long is dropped for the blob. */
export const FETCH_STALL_TIMEOUT_MS = 15_000
/**
 * How long a blob fetch waits for a direct connection to a provider that is connected through relays only,
 * in ms: 20 s, above DCUtR's own attempts (3 tries of 5 s, `@libp2p/dcutr` defaults). Blobs never travel over
 * a relayed connection (circuit relay v2 carries 128 KiB per connection by default); after this the provider
 * is skipped for this blob, without a penalty.
 */
export const FETCH_DIRECT_WAIT_MS = 20_000
/** Connected peers asked "do you have this blob" at once. */
export const FETCH_PROBE_CONCURRENCY = 16
/** How long to wait for DHT provider records before giving up on finding providers. */
export const FIND_PROVIDERS_TIMEOUT_MS = 10_000
/** The partial-download state file is rewritten at most this often (and always on stop or abort). */
export const PARTIAL_STATE_FLUSH_MS = 250
/** Blobs whose chunk tables the provider keeps in memory (64 MiB blob → 2 KiB table). */
export const CHUNK_TABLE_CACHE_ENTRIES = 256

// --- peer reputation (blob exchange penalties, fed into gossipsub score P5) -----------------------------

/** Penalty for serving bytes that do not match the chunk table: at gossipsub's publish threshold (−50). */
export const PENALTY_BAD_BYTES = 50
/** Penalty for serving a chunk table that does not hash to the CID. */
export const PENALTY_BAD_TABLE = 50
/** Penalty for a failed or stalled transfer (may be an honest network fault, so light). */
export const PENALTY_FAILED = 5
/** Penalties halve every 10 minutes (the decay of gossipsub behaviour penalties is of the same order). */
export const PENALTY_HALF_LIFE_MS = 10 * 60_000
/** A peer whose penalty exceeds this is not asked for blobs until it decays. */
export const PENALTY_EXCLUDE_THRESHOLD = 80
/**
 * Peers with a penalty remembered at once (~150 B each, ~600 KiB at most); beyond it the least recently
 * penalised, whose penalty has decayed most, is forgotten. A daemon penalises only providers it fetched from.
 */
export const REPUTATION_MAX_PEERS = 4096

// --- control API ----------------------------------------------------------------------------------------

/** Events kept per live-stream subscriber before the oldest are dropped (a slow reader loses events, not memory). */
export const EVENT_QUEUE_LENGTH = 1024
/** Largest JSON body the control API accepts (fastify default is 1 MiB). */
export const CONTROL_MAX_JSON_BYTES = 1024 * 1024
/**
 * Longest path parameter of a control-API route, in characters (fastify's default, 100): the longest one the
 * API takes is a CID string (59 characters for a CIDv1 sha2-256 in base32); longer gets 414 ERR_NODE_CONTROL_TOO_LARGE.
 */
export const CONTROL_MAX_PARAM_CHARS = 100
/**
 * Largest request line plus headers of a control-API request, in bytes (Node's default --max-http-header-size,
 * 16 KiB); larger gets 431 ERR_NODE_CONTROL_TOO_LARGE.
 */
export const CONTROL_MAX_HEADER_BYTES = 16 * 1024
/** Keep-alive comment on the event stream so proxies and clients see the connection is alive. */
export const EVENT_HEARTBEAT_MS = 15_000
/** How long the control client waits for a response. */
export const CONTROL_REQUEST_TIMEOUT_MS = 30_000

/** How long a dashboard login URL works after `swarmtune dashboard` printed it, ms: time to open it in a browser. */
export const DASHBOARD_LOGIN_CODE_TTL_MS = 5 * 60_000

/** How long a dashboard session (its cookie) lasts, ms: a working day; then `swarmtune dashboard` again. */
export const DASHBOARD_SESSION_TTL_MS = 12 * 60 * 60_000

/** Unspent login codes held at once; the oldest goes first (each is 32 random bytes, so none is guessable). */
export const DASHBOARD_MAX_CODES = 32

/** Live dashboard sessions at once; the oldest is logged out first. */
export const DASHBOARD_MAX_SESSIONS = 64

/** Shortest interval between two `ledger verify` runs for the dashboard, ms (a full re-verification reads every entry). */
export const DASHBOARD_VERIFY_INTERVAL_MS = 30_000

/** `rounds:` events the dashboard keeps for its round timelines (a round of 10 volunteers emits ~40). */
export const DASHBOARD_ROUND_EVENTS = 2_000
