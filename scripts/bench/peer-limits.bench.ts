/**
 * peer-limits benchmark: how much validation work one address can cause by rotating peer ids.
 *
 * A daemon on 127.0.0.1 is flooded by ROTATIONS fresh identities from the same address, one after another,
 * each publishing BURST invalid messages as fast as it can (random bytes on the community topic). The figure
 * is the number of messages the daemon ran its topic validator on, and its CPU time, with the limits applied
 * to the address (`connections.exempt: []`, 4 identities per address, 16 messages per peer per window),
 * beside the same flood against a daemon that exempts the address (the default for loopback: no per-address
 * limit, the default per-peer rate of 256 per 10 s). Both daemons run in this process, one after the other.
 * Run: `npm run bench -- peer-limits`.
 */
import { randomBytes } from 'node:crypto'
import type { DaemonConfigInit } from '@swarmtune/node'
import { communityTopic } from '@swarmtune/wire'
import { waitFor } from '@swarmtune/test-support'
import { startNode } from '@swarmtune/test-support/daemons'
import { communityWithCheckpoints } from '../../test/gossip-entries.js'
import { gossipPeer } from '../../test/gossip-peers.js'

const ROTATIONS = 20
const BURST = 60

async function flood (config: DaemonConfigInit): Promise<{ validated: number, admitted: number, cpuMs: number }> {
  const { genesis } = await communityWithCheckpoints('peer-limits-bench', 0)
  const node = await startNode({ config: { communities: [genesis.id.toString()], ...config } })
  const topic = communityTopic(genesis.id)
  let validated = 0
  node.daemon.events.subscribe((e) => {
    // rejected or ignored by the topic validator (a rate-limited message never reached it)
    if ((e.type === 'gossip:rejected' || e.type === 'gossip:ignored') && e.code !== 'ERR_NODE_GOSSIP_RATE_LIMITED' && String(e.code).startsWith('ERR_WIRE_')) validated++
  })
  let admitted = 0
  const cpu = process.cpuUsage()
  for (let r = 0; r < ROTATIONS; r++) {
    const a = await gossipPeer()
    a.services.pubsub.subscribe(topic)
    try {
      await a.dial(node.daemon.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(3_000) })
      await waitFor(() => a.getConnections().length === 0 || a.services.pubsub.getSubscribers(topic).length > 0, 3_000, 'the topic')
      if (a.getConnections().length > 0) {
        admitted++
        for (let i = 0; i < BURST; i++) await a.services.pubsub.publish(topic, randomBytes(64)).catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    } catch {
      // refused: the identity got no connection
    }
    await a.stop()
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const used = process.cpuUsage(cpu)
  await node.destroy()
  return { validated, admitted, cpuMs: (used.user + used.system) / 1000 }
}

const open = await flood({})
const limited = await flood({ connections: { exempt: [], identitiesPerAddress: 4 }, gossip: { peerMessagesPerWindow: 16 } })
const sent = ROTATIONS * BURST
process.stdout.write(`peer-limits: messages validated from one rotating address = ${limited.validated} of ${sent} sent, ${limited.admitted} of ${ROTATIONS} ids admitted  (vs address exempt = ${open.validated}, ${open.admitted} ids admitted, ratio ${(limited.validated / Math.max(1, open.validated)).toFixed(3)})\n`)
process.stdout.write(`peer-limits: process CPU time during the flood = ${limited.cpuMs.toFixed(0)} ms  (vs address exempt = ${open.cpuMs.toFixed(0)} ms, ratio ${(limited.cpuMs / open.cpuMs).toFixed(2)}; attackers share the process)\n`)
