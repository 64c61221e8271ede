/** The shapes of a blob download (blob-fetch.ts): its options, components, progress events, result and penalties. */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { CustomProgressEvent, ProgressOptions } from 'progress-events'
import type { CID } from '@swarmtune/wire'
import type { BlobStore } from './blob-store.js'

/** Why a provider was penalised. */
export type PenaltyReason = 'bad-bytes' | 'bad-table' | 'protocol' | 'failed'

export interface FetchPenalty { peer: string, reason: PenaltyReason, points: number, detail: string }

export interface FetchResult {
  cid: CID
  /** Blob size in bytes. */
  size: number
  /** Bytes received from the network by this call (chunks that failed verification included). */
  fetchedBytes: number
  /** Bytes already verified on disk from an earlier, interrupted fetch. */
  resumedBytes: number
  /** Providers that delivered verified chunks, with how many. */
  providers: Array<{ peer: string, chunks: number, bytes: number }>
  /** Penalties given during this fetch. */
  penalties: FetchPenalty[]
}

export type BlobFetchProgressEvents =
  | CustomProgressEvent<{ cid: CID, size: number, chunks: number, resumedBytes: number, providers: number }, 'blob:fetch:table'>
  | CustomProgressEvent<{ cid: CID, index: number, peer: string, bytesDone: number, bytesTotal: number }, 'blob:fetch:chunk'>
  | CustomProgressEvent<FetchPenalty & { cid: CID }, 'blob:fetch:penalty'>

export interface FetchOptions extends ProgressOptions<BlobFetchProgressEvents> {
  /** Stops the fetch; verified chunks are kept for a later fetch to resume from. */
  signal?: AbortSignal
  /** Peers believed to hold the blob (e.g. the author of a contribution entry); asked first. */
  providers?: PeerId[]
  /** Largest size accepted, in bytes (default and ceiling: the store's `maxBlobBytes`). */
  maxBytes?: number
  /** Also look for providers among connected peers and in the DHT (default true). */
  discover?: boolean
}

export interface BlobFetchComponents {
  /** `getConnections`, when given, lets a fetch that found no provider say that this node has no connected peer. */
  libp2p: Pick<Libp2p, 'dialProtocol'> & Partial<Pick<Libp2p, 'getConnections'>>
  store: BlobStore
  /** Candidate providers beyond the hints: connected peers, then DHT provider records. */
  candidates(cid: CID, signal: AbortSignal): AsyncIterable<PeerId>
  /** Records a penalty against a peer (reputation, gossipsub P5, events). */
  penalise(peer: string, points: number, reason: PenaltyReason, cid: CID, detail: string): void
  /** true for peers currently excluded for their penalties. */
  excluded(peer: string): boolean
}

export interface BlobFetchInit {
  /** Providers downloaded from at once. */
  fetchProviders: number
}
