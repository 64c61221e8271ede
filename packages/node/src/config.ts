/**
 * Daemon configuration: the `config.json` of a data folder. An interface (`DaemonConfig`), a defaults object
 * (`DEFAULT_CONFIG`), a merge (`createConfig(partial)`) and a validation (`validateConfig(value)`) that throws a
 * `ConfigError` naming every bad field, what was expected and how to fix it.
 */
import { isIP } from 'node:net'
import { CID } from 'multiformats/cid'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import {
  DATA_DIR_LAYOUT_VERSION, DEFAULT_CONCURRENT_FETCHES, DEFAULT_CONTROL_PORT, DEFAULT_FETCH_PROVIDERS,
  DEFAULT_MAX_BLOB_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_P2P_PORT, DEFAULT_TARGET_CONNECTIONS,
  DEFAULT_ADDRESS_MESSAGES_PER_WINDOW, DEFAULT_GOSSIP_RATE_WINDOW_MS, DEFAULT_IDENTITIES_PER_ADDRESS, DEFAULT_IDENTITY_WINDOW_MS,
  DEFAULT_IP_COLOCATION_THRESHOLD, DEFAULT_PEER_MESSAGES_PER_WINDOW, DEFAULT_REJECTION_LOG_INTERVAL_MS,
  DEFAULT_DEPARTED_PEERS, DEFAULT_DEPARTED_SCORES, DEFAULT_WS_PORT, DEFAULT_RELAY_MAX_RESERVATIONS,
  DEFAULT_RELAY_DURATION_LIMIT_MS, DEFAULT_RELAY_DATA_LIMIT_BYTES
} from './constants.js'
import { ConfigError } from './errors.js'
import {
  BLOB_CHUNK_SEND_TIMEOUT_MS, BLOB_MAX_INBOUND_STREAMS, BLOB_MAX_SERVING_PER_PEER, BLOB_MAX_SERVING_STREAMS, BLOB_REQUEST_TIMEOUT_MS
} from './constants.js'

/** How the node takes part in the Kademlia DHT. */
export type DhtMode = 'off' | 'client' | 'server' | 'auto'

/** `auto`: decided from the node's addresses at start (doc/daemon.md, "Reachability"); `on` / `off`: always / never. */
export type AutoSwitch = 'auto' | 'on' | 'off'

export interface DaemonConfig {
  /** Layout version of the data folder ({@link DATA_DIR_LAYOUT_VERSION}). */
  version: number
  /** libp2p listen multiaddrs, e.g. `/ip4/0.0.0.0/tcp/4101`. Port 0 picks a free port. */
  listen: string[]
  /** Multiaddrs to announce instead of the listen addresses (a public address behind port forwarding). */
  announce: string[]
  /** Multiaddrs of peers to dial at start and whenever below the connection target; each ends in `/p2p/<peer id>`. */
  bootstrap: string[]
  /** Find peers on the local network with multicast DNS (RFC 6762). On by default for home LANs. */
  mdns: boolean
  dht: {
    /** `auto`: client until a public address is confirmed, then server; `server`: always answer queries (LANs, tests); `client`: only query; `off`: no DHT. */
    mode: DhtMode
    /** Keep private (RFC 1918, loopback) addresses in DHT records; needed on LANs, off for internet-only swarms. */
    privateAddresses: boolean
  }
  /** Community ids (CID of the genesis entry, base32) whose gossip topic the daemon joins at start. */
  communities: string[]
  nat: {
    /** Ask the router to map the listen ports (UPnP IGD), so that peers on the internet can dial in. */
    upnp: boolean
    /** Let peers check which of this node's addresses they can dial (AutoNAT v2), and answer their checks. */
    autonat: boolean
    /** Upgrade a relayed connection to a direct one (DCUtR: direct connection upgrade through relay). */
    holePunching: boolean
  }
  relay: {
    /**
     * Offer circuit relay v2 reservations to unreachable peers. `auto`: when this node has a public address
     * (a listen or announce address, or an interface address of a wildcard listen address, outside the private,
     * loopback and link-local ranges).
     */
    serve: AutoSwitch
    /**
     * Reserve slots on relays among the peers and announce the relayed addresses. `auto`: when this node has a
     * private address and no public one (behind a home router).
     */
    reserve: AutoSwitch
    /** Reservations a relaying node holds at once. */
    maxReservations: number
    /** Longest a relayed connection lives, in ms. */
    durationLimitMs: number
    /** Most bytes a relayed connection carries. */
    dataLimitBytes: number
  }
  control: {
    /** Loopback address the control API listens on: 127.0.0.1 or ::1. Anything else is refused. */
    host: string
    /** TCP port; 0 picks a free one (the daemon writes the URL it got into `daemon.json`). */
    port: number
  }
  connections: {
    /** Dial discovered peers until this many connections are open. */
    target: number
    /** Refuse connections beyond this many. */
    max: number
    /**
     * Multiaddr networks exempt from the inbound connection limits (rate per host, pending upgrades, max).
     * Loopback by default: only processes on this machine come from it.
     */
    allow: string[]
    /**
     * Multiaddr networks (`/ip4/<net>/ipcidr/<bits>`, `/ip6/…`) exempt from swarmtune's per-address limits:
     * `identitiesPerAddress` and `gossip.addressMessagesPerWindow`. Loopback by default, so that the daemons of
     * a demo or a test on one machine are not counted as one address; per-peer limits and the refusal of
     * graylisted peers apply to every address.
     */
    exempt: string[]
    /** Distinct peer ids one non-exempt address may present within `identityWindowMs`; further new ids are refused (`ERR_NODE_IDENTITY_CHURN`). */
    identitiesPerAddress: number
    /** Window of `identitiesPerAddress`, in ms. */
    identityWindowMs: number
    /**
     * Bound what is kept of peers that left (doc/daemon.md, "Gossip and connection limits"): the peer store
     * keeps `departedPeers` disconnected peers besides those with a reason to stay, gossipsub the scores of
     * `gossip.departedScores`. false keeps libp2p's and gossipsub's own behaviour (every record; scores for an hour).
     */
    pruneDeparted: boolean
    /** Disconnected peers kept in the peer store beyond tagged and bootstrap ones, the most recently departed. */
    departedPeers: number
  }
  blobs: {
    /** Largest blob stored or fetched, in bytes. */
    maxBlobBytes: number
    /** Providers one fetch downloads from at once. */
    fetchProviders: number
    /** Blob fetches run at once; more wait in a queue. */
    concurrentFetches: number
    /** Inbound blob streams served at once (doc/daemon.md, "Blob serving limits"). */
    maxServing: number
    /** Inbound blob streams of one peer served at once; at most `maxServing`. */
    maxServingPerPeer: number
    /** Inbound blob streams one connection may have open (libp2p `maxInboundStreams` of the blob protocol). */
    maxStreamsPerConnection: number
    /** ms a provider waits for a whole request, from a stream's start or its previous answer; then the stream is reset. */
    requestTimeoutMs: number
    /** ms a reader may take to accept one answer (a chunk); then the stream is reset. */
    chunkSendTimeoutMs: number
  }
  gossip: {
    /** IPs exempt from gossipsub's IP-colocation penalty (P6). Loopback by default: only local peers come from it. */
    ipColocationWhitelist: string[]
    /** Peer ids on one IP before the colocation penalty P6 applies (gossipsub `IPColocationFactorThreshold`). */
    ipColocationThreshold: number
    /** Gossip messages one peer may have validated per `rateWindowMs`; more are ignored (`ERR_NODE_GOSSIP_RATE_LIMITED`). */
    peerMessagesPerWindow: number
    /** Gossip messages all peers of one non-exempt address (see `connections.exempt`) may have validated per `rateWindowMs`. */
    addressMessagesPerWindow: number
    /** Window of the two rate limits, in ms. */
    rateWindowMs: number
    /** Each (peer, code) of a gossip rejection or a refused peer is logged at most once per this many ms, with a `suppressed` count. */
    rejectionLogIntervalMs: number
    /** Departed peers whose gossipsub score record is retained (graylisted ones are remembered apart, so they stay refused). */
    departedScores: number
  }
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  }
}

/** Deep-partial input for {@link createConfig}. */
export type DaemonConfigInit = {
  [K in keyof DaemonConfig]?: DaemonConfig[K] extends unknown[] ? DaemonConfig[K] : DaemonConfig[K] extends object ? Partial<DaemonConfig[K]> : DaemonConfig[K]
}

export const DEFAULT_CONFIG: Readonly<DaemonConfig> = Object.freeze({
  version: DATA_DIR_LAYOUT_VERSION,
  listen: [`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`, `/ip4/0.0.0.0/tcp/${DEFAULT_WS_PORT}/ws`],
  announce: [],
  bootstrap: [],
  mdns: true,
  dht: { mode: 'auto', privateAddresses: true },
  communities: [],
  nat: { upnp: true, autonat: true, holePunching: true },
  relay: {
    serve: 'auto',
    reserve: 'auto',
    maxReservations: DEFAULT_RELAY_MAX_RESERVATIONS,
    durationLimitMs: DEFAULT_RELAY_DURATION_LIMIT_MS,
    dataLimitBytes: DEFAULT_RELAY_DATA_LIMIT_BYTES
  },
  control: { host: '127.0.0.1', port: DEFAULT_CONTROL_PORT },
  connections: {
    target: DEFAULT_TARGET_CONNECTIONS,
    max: DEFAULT_MAX_CONNECTIONS,
    allow: ['/ip4/127.0.0.1/ipcidr/8', '/ip6/::1/ipcidr/128'],
    exempt: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
    identitiesPerAddress: DEFAULT_IDENTITIES_PER_ADDRESS,
    identityWindowMs: DEFAULT_IDENTITY_WINDOW_MS,
    pruneDeparted: true,
    departedPeers: DEFAULT_DEPARTED_PEERS
  },
  blobs: {
    maxBlobBytes: DEFAULT_MAX_BLOB_BYTES,
    fetchProviders: DEFAULT_FETCH_PROVIDERS,
    concurrentFetches: DEFAULT_CONCURRENT_FETCHES,
    maxServing: BLOB_MAX_SERVING_STREAMS,
    maxServingPerPeer: BLOB_MAX_SERVING_PER_PEER,
    maxStreamsPerConnection: BLOB_MAX_INBOUND_STREAMS,
    requestTimeoutMs: BLOB_REQUEST_TIMEOUT_MS,
    chunkSendTimeoutMs: BLOB_CHUNK_SEND_TIMEOUT_MS
  },
  gossip: {
    ipColocationWhitelist: ['127.0.0.1', '::1'],
    ipColocationThreshold: DEFAULT_IP_COLOCATION_THRESHOLD,
    peerMessagesPerWindow: DEFAULT_PEER_MESSAGES_PER_WINDOW,
    addressMessagesPerWindow: DEFAULT_ADDRESS_MESSAGES_PER_WINDOW,
    rateWindowMs: DEFAULT_GOSSIP_RATE_WINDOW_MS,
    rejectionLogIntervalMs: DEFAULT_REJECTION_LOG_INTERVAL_MS,
    departedScores: DEFAULT_DEPARTED_SCORES
  },
  log: { level: 'info' }
} satisfies DaemonConfig)

/**
 * What is wrong with `s` as a multiaddr (a listen or announce address), or `undefined` when it is one: the
 * multiaddr parser's complaint (no leading `/`, an unknown protocol, a port above 65535 …) and an example.
 * The config schema and the CLI's `--listen` / `--announce` checks share it.
 */
export function multiaddrProblem (s: string): string | undefined {
  try {
    multiaddr(s)
    return undefined
  } catch (err) {
    return `not a multiaddr (${(err as Error).message}); expected e.g. /ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`
  }
}

/**
 * What is wrong with `s` as a bootstrap address, or `undefined`: a multiaddr ({@link multiaddrProblem}) ending
 * in `/p2p/<peer id>`. The config schema and the CLI's `--bootstrap` check share it.
 */
export function bootstrapAddrProblem (s: string): string | undefined {
  const bad = multiaddrProblem(s)
  if (bad !== undefined) return bad
  const m = /\/p2p\/([^/]+)$/.exec(s)
  if (m == null) return 'a bootstrap address must end in /p2p/<peer id>, e.g. /ip4/192.0.2.7/tcp/4101/p2p/12D3KooW…; ask the peer for `swarmtune status` output'
  try {
    peerIdFromString(m[1])
    return undefined
  } catch {
    return `'${m[1]}' is not a peer id (expected 12D3KooW… as \`swarmtune status\` prints it)`
  }
}

const multiaddrString = z.string().superRefine((s, ctx) => {
  const bad = multiaddrProblem(s)
  if (bad !== undefined) ctx.addIssue({ code: 'custom', message: bad })
})

const bootstrapAddr = z.string().superRefine((s, ctx) => {
  const bad = bootstrapAddrProblem(s)
  if (bad !== undefined) ctx.addIssue({ code: 'custom', message: bad })
})

/** A network as a multiaddr: an `ip4`/`ip6` address, optionally followed by `ipcidr/<prefix bits>`. */
const networkAddr = z.string().superRefine((s, ctx) => {
  try {
    ipNetOf(s)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${(err as Error).message}; expected e.g. /ip4/192.0.2.0/ipcidr/24 or /ip6/::1/ipcidr/128` })
  }
})

/**
 * Parses a network multiaddr (`/ip4/<address>[/ipcidr/<bits>]`, the same for `ip6`) into address, family and
 * prefix length (32 or 128 without `ipcidr`).
 *
 * @throws Error when the multiaddr is not of that form
 */
export function ipNetOf (addr: string): { address: string, family: 'ipv4' | 'ipv6', prefix: number } {
  const parts = multiaddr(addr).getComponents()
  const [ip, cidr, ...rest] = parts
  if (ip == null || (ip.name !== 'ip4' && ip.name !== 'ip6') || ip.value == null) throw new Error(`'${addr}' does not start with /ip4/ or /ip6/`)
  const family = ip.name === 'ip4' ? 'ipv4' : 'ipv6'
  const max = family === 'ipv4' ? 32 : 128
  if (rest.length > 0 || (cidr != null && cidr.name !== 'ipcidr')) throw new Error(`'${addr}' has more than an address and an ipcidr prefix`)
  const prefix = cidr == null ? max : Number(cidr.value)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`'${addr}' has a prefix outside 0…${max}`)
  return { address: ip.value, family, prefix }
}

const communityId = z.string().superRefine((s, ctx) => {
  try {
    CID.parse(s)
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a community id: expected the base32 CID of the community genesis entry (starts with "b")' })
  }
})

/** true for 127.0.0.0/8 and ::1. */
export function isLoopbackHost (host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1'
  return false
}

const loopbackHost = z.string().refine(isLoopbackHost, {
  message: 'the control API gives full control of the daemon and listens on loopback only: use 127.0.0.1 or ::1 (reach it from elsewhere through an SSH tunnel)'
})

const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()

const configSchema = z.strictObject({
  version: z.literal(DATA_DIR_LAYOUT_VERSION, { message: `unknown layout version; this daemon reads version ${DATA_DIR_LAYOUT_VERSION}` }),
  listen: z.array(multiaddrString).min(1, 'at least one listen address is needed'),
  announce: z.array(multiaddrString),
  bootstrap: z.array(bootstrapAddr),
  mdns: z.boolean(),
  dht: z.strictObject({
    mode: z.enum(['off', 'client', 'server', 'auto']),
    privateAddresses: z.boolean()
  }),
  communities: z.array(communityId),
  nat: z.strictObject({ upnp: z.boolean(), autonat: z.boolean(), holePunching: z.boolean() }),
  relay: z.strictObject({
    serve: z.enum(['auto', 'on', 'off']),
    reserve: z.enum(['auto', 'on', 'off']),
    maxReservations: positiveInt.max(1024),
    // a relayed connection must outlive a DCUtR exchange (seconds); beyond an hour it is a data path
    durationLimitMs: positiveInt.min(10_000).max(3_600_000),
    // enough for identify, a DCUtR exchange and gossip control; beyond 64 MiB it is a data path
    dataLimitBytes: positiveInt.min(16_384).max(64 * 1024 * 1024)
  }),
  control: z.strictObject({ host: loopbackHost, port }),
  connections: z.strictObject({
    target: positiveInt,
    max: positiveInt,
    allow: z.array(multiaddrString),
    exempt: z.array(networkAddr),
    identitiesPerAddress: positiveInt.max(100_000),
    identityWindowMs: positiveInt.min(1_000).max(24 * 3_600_000),
    pruneDeparted: z.boolean(),
    departedPeers: z.number().int().min(0).max(1_000_000)
  }),
  blobs: z.strictObject({
    maxBlobBytes: positiveInt,
    fetchProviders: positiveInt.max(32),
    concurrentFetches: positiveInt.max(64),
    maxServing: positiveInt.max(4096),
    maxServingPerPeer: positiveInt.max(4096),
    maxStreamsPerConnection: positiveInt.max(1024),
    // below 2 s a client's pipelined request could miss it on a slow link; above 10 min a stream idles for nothing
    requestTimeoutMs: positiveInt.min(2_000).max(600_000),
    chunkSendTimeoutMs: positiveInt.min(2_000).max(600_000)
  }).refine((b) => b.maxServingPerPeer <= b.maxServing, { message: 'blobs.maxServingPerPeer must not exceed blobs.maxServing', path: ['maxServingPerPeer'] }),
  gossip: z.strictObject({
    ipColocationWhitelist: z.array(z.string().refine((s) => isIP(s) !== 0, 'not an IP address')),
    ipColocationThreshold: positiveInt.max(10_000),
    peerMessagesPerWindow: positiveInt.max(1_000_000),
    addressMessagesPerWindow: positiveInt.max(1_000_000),
    rateWindowMs: positiveInt.min(100).max(3_600_000),
    rejectionLogIntervalMs: z.number().int().min(0).max(24 * 3_600_000),
    departedScores: z.number().int().min(0).max(1_000_000)
  }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) })
}).refine((c) => c.connections.target <= c.connections.max, {
  message: 'connections.target must not exceed connections.max', path: ['connections', 'target']
})

/** Merges `over` onto `base`: top-level keys replace, grouped settings (`dht`, `control`, …) merge one level deep. */
export function mergeConfig (base: DaemonConfigInit, over: DaemonConfigInit): DaemonConfigInit {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue
    const current = out[key]
    out[key] = isGroup(current) && isGroup(value) ? { ...current, ...value } : value
  }
  return out as DaemonConfigInit
}

function isGroup (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

/** Merges a partial configuration over {@link DEFAULT_CONFIG}. Does not validate: call {@link validateConfig}. */
export function createConfig (init: DaemonConfigInit = {}): DaemonConfig {
  return mergeConfig(structuredClone(DEFAULT_CONFIG) as DaemonConfig, init) as DaemonConfig
}

/**
 * Checks a configuration value (parsed JSON or the result of {@link createConfig}).
 *
 * @param source - where the value came from, for the message (e.g. the path of config.json)
 * @param fix - what to do, ending the message (default: fix the fields of the file or re-create it); a value
 *   that did not come from a file (options of a run, of `init`) says to correct those options instead
 * @throws ConfigError (`ERR_NODE_CONFIG_INVALID`) listing each bad field as `path: problem`
 */
export function validateConfig (value: unknown, source = 'config', fix?: string): DaemonConfig {
  const result = configSchema.safeParse(value)
  if (result.success) return result.data as DaemonConfig
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)'
    return `  ${path}: ${issue.message}`
  })
  throw new ConfigError(`${source} is not a valid daemon configuration:\n${lines.join('\n')}\n${fix ?? 'Fix these fields (see doc/daemon.md, "Configuration") or re-create the file with `swarmtune init --reset-config`.'}`)
}
