/**
 * The ledger in the daemon: opens `<data>/ledger` (the daemon is the one process that holds it), serves
 * and starts ledger sync sessions (LEDGER_SYNC_PROTOCOL) — with each peer that speaks it once identified,
 * again whenever gossip shows an entry whose predecessors are missing, and every LEDGER_ANTI_ENTROPY_MS with
 * one random connected peer (anti-entropy: an entry gossip did not bring — missed outside the mesh, or taken
 * by sync from a third peer, which gossip does not forward — arrives within that interval; sessions between
 * ledgers that agree exchange only a heads digest) — ingests entries from the community topic (the gossip
 * validator stores what it accepts), publishes entries this node signs, and serves the ledger's views on the
 * control API under `/v1/ledger` (ledger-routes.ts; the protocol, ledger-protocol.ts).
 */
import type { PeerId, Stream } from '@libp2p/interface'
import {
  LedgerCommunityError, openLedger, syncLedger,
  type EntryDraft, type EvidenceDrop, type IngestResult, type Ledger, type SyncReport
} from '@swarmtune/ledger'
import { LEDGER_SYNC_PROTOCOL, type CID, type EntryKind, type SignedEntry } from '@swarmtune/wire'
import { LEDGER_ANTI_ENTROPY_MS } from './constants.js'
import type { DaemonComponents, DaemonService, ServiceFactory } from './daemon-types.js'
import { ConfigError, DialError } from './errors.js'
import type { GossipValidator } from './gossip.js'
import { arrivalClock, elapsedMs } from './handling-time.js'
import { ledgerRoutes } from './ledger-routes.js'

/** The ledger service as other services see it (`daemon.services.ledger`). */
export interface LedgerService extends DaemonService {
  /** The open ledger (after start). */
  readonly ledger: Ledger
  /** Signs `draft` with the node's key, stores it and publishes it on the community topic. */
  sign: <K extends EntryKind>(draft: EntryDraft<K>) => Promise<SignedEntry>
  /** Runs one sync session with a connected (or dialable) peer. */
  syncWith: (peer: PeerId) => Promise<SyncReport>
}

/** What the ledger service uses of the daemon. */
export type LedgerComponents = Pick<DaemonComponents, 'dataDir' | 'privateKey' | 'libp2p' | 'gossip' | 'events' | 'log'>

/** Options of {@link ledgerService}. */
export interface LedgerServiceInit {
  /**
   * How often a sync session is run with one random connected peer that speaks the sync protocol, in ms
   * (default LEDGER_ANTI_ENTROPY_MS); 0 turns anti-entropy off.
   */
  antiEntropyMs?: number
  /**
   * The community the data folder belongs to; the ledger is opened bound to it, so it refuses entries of any
   * other community at ingest and at sync, whoever serves them. Default (and when it resolves to undefined):
   * unbound, an empty ledger takes the community of the first entry it stores. `@swarmtune/rounds` binds it
   * to the community of the folder's genesis file (its `defaultServices`).
   */
  community?: (components: LedgerComponents) => Promise<CID | undefined>
  /**
   * The error to throw when the ledger refuses to open bound to `community` (`ERR_LEDGER_COMMUNITY_MISMATCH`),
   * e.g. one that says the genesis given is the wrong one; default the ledger's error.
   */
  onCommunityMismatch?: (components: LedgerComponents, err: LedgerCommunityError) => Promise<Error>
}

/** What started a sync session, as reported in `ledger:sync` events and the service status. */
export type SyncTrigger = 'connect' | 'gap' | 'anti-entropy' | 'request' | 'inbound'

/**
 * A {@link ServiceFactory} for `createDaemon({ services: { ledger: ledgerService() } })`.
 * @throws ConfigError `ERR_NODE_CONFIG_INVALID` for a negative or fractional `antiEntropyMs`.
 */
export function ledgerService (init: LedgerServiceInit = {}): ServiceFactory<LedgerService, LedgerComponents> {
  const antiEntropyMs = init.antiEntropyMs ?? LEDGER_ANTI_ENTROPY_MS
  if (!Number.isSafeInteger(antiEntropyMs) || antiEntropyMs < 0) throw new ConfigError(`ledgerService: antiEntropyMs must be a whole number of ms ≥ 0 (0 turns anti-entropy off), got ${String(antiEntropyMs)}`)
  return (c: LedgerComponents): LedgerService => {
    let ledger: Ledger | undefined
    const running = new Map<string, Promise<SyncReport>>()
    let lastSync: { peer: string, at: number, trigger: SyncTrigger, appended: number, rejected: number } | undefined
    // peers seen (identify) to speak the sync protocol, by peer id string
    const syncPeers = new Map<string, PeerId>()
    const antiEntropy = { sessions: 0, inSync: 0, recovered: 0 }
    let antiEntropyTimer: NodeJS.Timeout | undefined
    let antiEntropyBusy = false
    const log = c.log.child({ part: 'ledger' })
    const open = (): Ledger => {
      if (ledger === undefined) throw new Error('the ledger service is not started')
      return ledger
    }

    /** `handlingMs`: for an inbound session, the longest time from input reaching the daemon to a decision on it (see the inbound handler). */
    const recordSync = (peer: string, report: SyncReport, trigger: SyncTrigger, handlingMs?: number): void => {
      lastSync = { peer, at: Date.now(), trigger, appended: report.appended, rejected: report.rejected.length }
      if (trigger === 'anti-entropy') {
        antiEntropy.sessions++
        if (report.inSync) antiEntropy.inSync++
        antiEntropy.recovered += report.appended
      }
      c.events.emit('ledger:sync', { peer, trigger, inSync: report.inSync, appended: report.appended, sent: report.sent, evidence: report.evidence, evidenceDropped: report.evidenceDropped, rejected: report.rejected, handlingMs })
      if (report.rejected.some((r) => r.code.startsWith('ERR_WIRE_') || r.code === 'ERR_LEDGER_SYNC_UNEXPECTED')) {
        log.warn({ peer, rejected: report.rejected.slice(0, 5) }, 'a peer served entries that were refused')
      }
    }

    const runSession = async (peer: PeerId, trigger: SyncTrigger): Promise<SyncReport> => {
      let stream: Stream
      try {
        stream = await c.libp2p.dialProtocol(peer, LEDGER_SYNC_PROTOCOL)
      } catch (err) {
        throw new DialError('ERR_NODE_DIAL_FAILED', `could not open a ledger sync stream to ${peer.toString()}: ${(err as Error).message}. ` +
          'Check that the peer is connected (`swarmtune peers`) and runs a swarmtune daemon.', { cause: err })
      }
      const report = await syncLedger(open(), stream)
      recordSync(peer.toString(), report, trigger)
      return report
    }

    const syncWith = async (peer: PeerId, trigger: SyncTrigger = 'request'): Promise<SyncReport> => {
      const key = peer.toString()
      const existing = running.get(key)
      if (existing !== undefined) return await existing
      const session = (async () => {
        const report = await runSession(peer, trigger)
        // Maintainer entries met before the genesis could not be checked; once the genesis is in, ask again.
        const held = report.rejected.some((r) => r.code === 'ERR_LEDGER_NO_GENESIS')
        return held && open().maintainers !== undefined ? await runSession(peer, trigger) : report
      })()
      running.set(key, session)
      try {
        return await session
      } finally {
        running.delete(key)
      }
    }
    const syncSoon = (peer: PeerId, trigger: SyncTrigger): void => {
      syncWith(peer, trigger).catch((err: unknown) => { log.debug({ peer: peer.toString(), err }, 'ledger sync failed') })
    }

    // Anti-entropy: one session at a time, with a random connected peer that speaks the protocol and has no
    // session running; when the ledgers agree the session is a hello each way with equal digests.
    const antiEntropyRound = async (): Promise<void> => {
      if (ledger === undefined || antiEntropyBusy) return
      const candidates = [...syncPeers.values()].filter((p) => !running.has(p.toString()) && c.libp2p.getConnections(p).length > 0)
      if (candidates.length === 0) return
      const peer = candidates[Math.floor(Math.random() * candidates.length)]
      antiEntropyBusy = true
      try {
        await syncWith(peer, 'anti-entropy')
      } catch (err) {
        log.debug({ peer: peer.toString(), err }, 'anti-entropy sync failed')
      } finally {
        antiEntropyBusy = false
      }
    }

    // Stores what it accepts: an entry valid in its chain is stored as it passes; a gap (or a maintainer
    // entry ahead of the genesis) triggers a sync with the forwarding peer; an already-stored entry is valid
    // (so this node can publish its own). The ledger's refusals — a forged entry, a round-open or verdict
    // signed by a non-maintainer (ERR_LEDGER_NOT_MAINTAINER) — are rejects, which lower the forwarder's score.
    // A refusal is answered as soon as the ledger has classified the entry, without waiting for the write
    // (and fsync) of the evidence it may keep; an accept waits until the entry is stored.
    const validator: GossipValidator = async (data, { from }) => {
      let early: IngestResult | undefined
      let wake: () => void = () => {}
      const classified = new Promise<void>((resolve) => { wake = resolve })
      const stored = open().ingest([data], { onDecided: ([d]) => { early = d; wake() } })
      await Promise.race([classified, stored])
      // a refusal is final before the write; evidence it keeps is written after the answer
      const r = early !== undefined && early.status !== 'accept' ? early : (await stored)[0]
      if (r.status === 'accept' || r.code === 'ERR_LEDGER_DUPLICATE') return { status: 'accept' }
      if ((r.code === 'ERR_LEDGER_GAP' || r.code === 'ERR_LEDGER_NO_GENESIS') && !from.equals(c.libp2p.peerId)) syncSoon(from, 'gap')
      return { status: r.status, code: r.code, reason: r.reason }
    }

    const communities = (): CID[] => {
      const joined = c.gossip.communities()
      const own = ledger?.community
      return own === undefined || joined.some((j) => j.equals(own)) ? joined : [...joined, own]
    }

    const onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
      const { peerId, protocols } = evt.detail
      if (!protocols.includes(LEDGER_SYNC_PROTOCOL)) {
        syncPeers.delete(peerId.toString())
        return
      }
      syncPeers.set(peerId.toString(), peerId)
      // One side starts the session (sessions are symmetric): the one with the smaller peer id.
      if (c.libp2p.peerId.toString() < peerId.toString()) syncSoon(peerId, 'connect')
    }
    const onDisconnect = (evt: CustomEvent<PeerId>): void => { syncPeers.delete(evt.detail.toString()) }

    const routes = ledgerRoutes({ ledger: open, self: c.libp2p.peerId, syncWith: async (peer) => await syncWith(peer, 'request') })

    return {
      get ledger () { return open() },
      syncWith: async (peer) => await syncWith(peer, 'request'),
      async sign (draft) {
        const l = open()
        const signed = await l.sign(draft, c.privateKey)
        const community = l.community as CID
        c.gossip.join(community, { validator })
        await c.gossip.publish(community, signed.bytes).catch((err: unknown) => { log.debug({ err }, 'publish failed; peers catch up through sync') })
        return signed
      },
      async start () {
        const community = init.community === undefined ? undefined : await init.community(c)
        try {
          ledger = await openLedger({ path: c.dataDir.paths.ledger, community })
        } catch (err) {
          if (err instanceof LedgerCommunityError && init.onCommunityMismatch !== undefined) throw await init.onCommunityMismatch(c, err)
          throw err
        }
        log.info({ entries: ledger.size, authors: ledger.heads().length, verifyMs: Math.round(ledger.openReport.durationMs), indexesRebuilt: ledger.openReport.indexesRebuilt }, 'ledger verified and open')
        ledger.addEventListener('entry', (evt) => {
          const e = (evt as CustomEvent<SignedEntry>).detail
          // A store that learned its community from a peer joins the community's topic then.
          const community = open().community
          if (community !== undefined && !c.gossip.communities().some((j) => j.equals(community))) c.gossip.join(community, { validator })
          c.events.emit('ledger:append', { id: e.id.toString(), kind: e.entry.kind, author: Buffer.from(e.entry.author).toString('hex'), seq: e.entry.seq })
        })
        ledger.addEventListener('equivocation', (evt) => {
          const e = (evt as CustomEvent<SignedEntry>).detail
          c.events.emit('ledger:equivocation', { id: e.id.toString(), author: Buffer.from(e.entry.author).toString('hex'), seq: e.entry.seq })
        })
        ledger.addEventListener('evidence-dropped', (evt) => {
          const { entry: e, reason } = (evt as CustomEvent<EvidenceDrop>).detail
          c.events.emit('ledger:evidence-dropped', { id: e.id.toString(), author: Buffer.from(e.entry.author).toString('hex'), seq: e.entry.seq, reason })
        })
        for (const community of communities()) c.gossip.join(community, { validator })
        // Handling time of an inbound session: from the latest input (bytes, or the peer's end of writing) to
        // each decision on it — each stored `entries` frame, and the session's end (report or failure); the
        // longest of these is reported (`handlingMs`), so a slow frame shows even among fast ones.
        await c.libp2p.handle(LEDGER_SYNC_PROTOCOL, (stream: Stream, connection) => {
          const peer = connection.remotePeer.toString()
          const clock = arrivalClock(stream)
          let slowest = 0
          const decided = (): number => { slowest = Math.max(slowest, elapsedMs(clock.last())); return slowest }
          const session = syncLedger(open(), stream, { onProgress: decided })
          session.then((report) => { clock.stop(); recordSync(peer, report, 'inbound', decided()) }, (err: unknown) => {
            clock.stop()
            // a session ended by its idle deadline was decided by the clock, not by input
            const timedOut = (err as { code?: unknown })?.code === 'ERR_LEDGER_SYNC_TIMEOUT'
            log.debug({ peer, err, handlingMs: timedOut ? undefined : decided() }, 'inbound ledger sync failed')
          })
        })
        c.libp2p.addEventListener('peer:identify', onIdentify)
        c.libp2p.addEventListener('peer:disconnect', onDisconnect)
        // The host dials its bootstrap peers before services start, so identify may already have finished
        // with some of them while the ledger was opening: their `peer:identify` was missed, and they may have
        // identified us before we served the sync protocol. Sync with every such peer now, from this side
        // whatever the peer id order, and keep it for anti-entropy.
        for (const peer of c.libp2p.getPeers()) {
          const known = await c.libp2p.peerStore.get(peer).catch(() => undefined)
          if (known?.protocols.includes(LEDGER_SYNC_PROTOCOL) !== true) continue
          syncPeers.set(peer.toString(), peer)
          syncSoon(peer, 'connect')
        }
        if (antiEntropyMs > 0) {
          antiEntropyTimer = setInterval(() => { void antiEntropyRound() }, antiEntropyMs)
          antiEntropyTimer.unref()
        }
      },
      async stop () {
        clearInterval(antiEntropyTimer)
        c.libp2p.removeEventListener('peer:identify', onIdentify)
        c.libp2p.removeEventListener('peer:disconnect', onDisconnect)
        await c.libp2p.unhandle(LEDGER_SYNC_PROTOCOL).catch(() => {})
        await Promise.allSettled(running.values())
        await ledger?.close()
        ledger = undefined
      },
      routes,
      status () {
        if (ledger === undefined) return { open: false }
        return {
          open: true,
          community: ledger.community?.toString(),
          entries: ledger.size,
          authors: ledger.heads().length,
          equivocations: ledger.evidenceCount,
          evidenceDropped: ledger.evidenceDropped,
          lastSync,
          antiEntropy: { intervalMs: antiEntropyMs, ...antiEntropy }
        }
      }
    }
  }
}
