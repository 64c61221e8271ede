/**
 * The protocol of the daemon's own control-API routes (under `/v1`): status, peers, blobs, events. Served by
 * core-routes.ts, called by `ControlClient`. Reference in doc/daemon.md, "Control API".
 */
import { z } from 'zod'
import { defineProtocol } from './control-protocol.js'
import type { DaemonStatus, PeerStatus } from './daemon-types.js'

/** A CID string (checked by the route itself: `ERR_WIRE_BAD_CID`). */
const cidParam = z.strictObject({ cid: z.string() })

/** `{ cid, size }` of a stored blob. */
export const blobStatSchema = z.looseObject({ cid: z.string(), size: z.number().int().nonnegative() })

/** The answer of `GET /v1/status` (the fields clients read are checked; the rest passes as sent). */
export const daemonStatusSchema = z.looseObject({
  peerId: z.string(),
  version: z.string(),
  pid: z.number().int(),
  addresses: z.array(z.string()),
  connections: z.number(),
  peers: z.number(),
  services: z.record(z.string(), z.unknown())
}) as unknown as z.ZodType<DaemonStatus>

/** One row of `GET /v1/peers`. */
export const peerStatusSchema = z.looseObject({
  peerId: z.string(),
  addresses: z.array(z.string()),
  direction: z.enum(['inbound', 'outbound'])
}) as unknown as z.ZodType<PeerStatus>

export const coreProtocol = defineProtocol('', {
  status: { method: 'GET', path: '/status', response: daemonStatusSchema },
  peers: { method: 'GET', path: '/peers', response: z.array(peerStatusSchema) },
  connect: {
    method: 'POST',
    path: '/peers/connect',
    body: z.strictObject({ addr: z.string().max(1024) }),
    response: z.looseObject({ peerId: z.string(), address: z.string() })
  },
  listBlobs: { method: 'GET', path: '/blobs', response: z.array(blobStatSchema) },
  /** Body: the blob's bytes, `application/octet-stream`; answers 201 `{ cid, size }`. */
  putBlob: { method: 'POST', path: '/blobs', status: 201 },
  blobStat: { method: 'GET', path: '/blobs/:cid/stat', params: cidParam, response: blobStatSchema },
  /** Answers the blob's bytes, verified. */
  getBlob: { method: 'GET', path: '/blobs/:cid', params: cidParam },
  /** Answers NDJSON progress lines, then `{ type: 'done', … }` or `{ type: 'error', code, message }`. */
  fetchBlob: {
    method: 'POST',
    path: '/blobs/:cid/fetch',
    params: cidParam,
    body: z.strictObject({
      providers: z.array(z.string().max(128)).max(64).optional(),
      maxBytes: z.number().int().positive().optional()
    }).optional()
  },
  /** A one-time login URL of the researchers' dashboard (doc/dashboard.md); `expiresAt` in ms since the epoch. */
  dashboardLogin: { method: 'POST', path: '/dashboard/login', response: z.strictObject({ url: z.string(), expiresAt: z.number() }) },
  /** Answers the live events as NDJSON, a blank line first once the stream follows the bus. */
  events: {
    method: 'GET',
    path: '/events',
    query: z.looseObject({ prefix: z.union([z.string(), z.array(z.string())]).optional() })
  }
})
