/**
 * A malicious member of a community, as a process of its own (run by malicious-volunteer.test.ts):
 *
 *   node --import tsx test/faults/malicious-peer.ts <data folder> <genesis file> <bootstrap multiaddr> <round>
 *
 * It runs a daemon of the community (ledger and rounds services, no training data) with its real key, ledger
 * and blob store, and when round <round> opens it signs and gossips contributions a volunteer must not send:
 *   nan            an fp32 delta holding a NaN
 *   huge           a delta of L2 norm √199,210 ≈ 446, above the community's bound of 100
 *   wrong-shape    a delta whose tensors have the model's shapes reversed
 *   wrong-base     a delta on the genesis release instead of the round's base
 *   replay-earlier the delta blob of an honest contribution of an earlier round, fetched from a peer
 *   replay         the delta blob of an honest contribution of this round, fetched from a peer
 * then republishes that honest contribution entry byte for byte, and gossips a copy of it re-signed by this
 * key with one signature bit flipped (badly signed). It prints one JSON line per step on stdout:
 * `{ "type": "ready", "peerId" }`, `{ "type": "sent", "what", "id" }` for each signed contribution,
 * `{ "type": "published", "what" }`, `{ "type": "done" }`, or `{ "type": "error", "message" }`; logs go to
 * stderr. It runs until SIGTERM.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { pino } from 'pino'
import { createModelSpec, encodeDelta } from '@swarmtune/fedavg'
import { getTask } from '@swarmtune/model'
import { createDaemon, type LedgerService } from '@swarmtune/node'
import { defaultServices, peerIdOfKey, type RoundsService } from '@swarmtune/rounds'
import { communityTopic, encodeCanonical, parseCid, signEntry, type SignedEntry } from '@swarmtune/wire'

const [dataDir, genesis, bootstrap, roundArg] = process.argv.slice(2)
if (dataDir === undefined || genesis === undefined || bootstrap === undefined || roundArg === undefined) {
  process.stderr.write('usage: malicious-peer.ts <data folder> <genesis file> <bootstrap multiaddr> <round>\n')
  process.exit(2)
}
const attackRound = Number(roundArg)

const say = (line: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(line) + '\n') }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const daemon = await createDaemon({
  dataDir,
  logger: pino({ level: 'info' }, pino.destination(2)),
  config: { bootstrap: [bootstrap] },
  services: defaultServices({ rounds: { community: genesis } })
})
await daemon.start()
const ledgerService = daemon.services.ledger as LedgerService
const rounds = daemon.services.rounds as RoundsService
const community = rounds.community
if (community === undefined) throw new Error('the rounds service did not join the community')
const ledger = ledgerService.ledger
const me = Buffer.from(daemon.privateKey.publicKey.raw).toString('hex')
const maintainer = peerIdFromString(bootstrap.slice(bootstrap.lastIndexOf('/p2p/') + '/p2p/'.length))
const spec = createModelSpec(getTask(community.task).weightSpecs.map((s) => s.shape))
say({ type: 'ready', peerId: daemon.peerId.toString() })

async function until<T> (find: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const found = await find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** An honest contribution of round `round` (another author's), once this node's ledger has it. */
async function honestContribution (round: number): Promise<SignedEntry<'contribution'>> {
  return await until(async () => {
    for await (const e of ledger.entries({ kind: 'contribution', round })) {
      if (Buffer.from(e.entry.author).toString('hex') !== me) return e as SignedEntry<'contribution'>
    }
    return undefined
  }, `an honest contribution of round ${round}`)
}

/** A blob fetched over the network: from the contributor or the coordinator (which fetched it to judge it). */
async function fetchBlob (c: SignedEntry<'contribution'>): Promise<Uint8Array> {
  const cid = parseCid(c.entry.body.blob)
  const providers = [peerIdOfKey(c.entry.author), maintainer]
  return await until(async () => {
    try {
      await daemon.exchange.fetch(cid, { providers })
      return await daemon.blobs.get(cid)
    } catch {
      return undefined // the coordinator may not hold it yet: ask again
    }
  }, `blob ${cid.toString()}`, 60_000)
}

async function attack (open: SignedEntry<'round-open'>): Promise<void> {
  const body = open.entry.body
  const contribute = async (what: string, blob: Uint8Array, overrides: Record<string, unknown> = {}): Promise<void> => {
    const cid = await daemon.exchange.put(blob)
    const signed = await ledgerService.sign({
      kind: 'contribution',
      body: { round: body.round, roundOpen: open.id.bytes, base: body.base, blob: cid.bytes, codec: body.codec, samples: 500, metrics: { lossBefore: 2.3, lossAfter: 0.4 }, norm: 1, ...overrides }
    })
    say({ type: 'sent', what, id: signed.id.toString() })
  }
  const filled = (value: number): Float32Array[] => spec.sizes.map((n) => new Float32Array(n).fill(value))
  const codec = { codec: 'fp32' as const }

  const nan = encodeDelta(filled(0.001), spec, codec)
  new DataView(nan.buffer, nan.byteOffset).setFloat32(nan.length - 4, NaN, true)
  await contribute('nan', nan)
  await contribute('huge', encodeDelta(filled(1), spec, codec))
  const reversed = createModelSpec(spec.shapes.map((s) => [...s].reverse()))
  await contribute('wrong-shape', encodeDelta(reversed.sizes.map((n) => new Float32Array(n)), reversed, codec))
  await contribute('wrong-base', encodeDelta(filled(0.0001), spec, codec), { base: community?.release.bytes })
  await contribute('replay-earlier', await fetchBlob(await honestContribution(body.round - 1)))

  const honest = await honestContribution(body.round)
  await contribute('replay', await fetchBlob(honest))
  await daemon.gossip.publish(community!.id, honest.bytes).catch(() => {})
  say({ type: 'published', what: 'republished' })
  const resigned = await signEntry({ ...honest.entry, author: daemon.privateKey.publicKey.raw, seq: 1000, prev: honest.id.bytes, ts: Date.now() }, daemon.privateKey)
  const sig = new Uint8Array(resigned.entry.sig)
  sig[0] ^= 0x01
  await daemon.libp2p.services.pubsub.publish(communityTopic(community!.id), encodeCanonical({ ...resigned.entry, sig }))
  say({ type: 'published', what: 'badly-signed' })
  say({ type: 'done' })
}

let started = false
const onEntry = (evt: Event): void => {
  const e = (evt as CustomEvent<SignedEntry>).detail
  if (started || e.entry.kind !== 'round-open' || (e as SignedEntry<'round-open'>).entry.body.round !== attackRound) return
  started = true
  attack(e as SignedEntry<'round-open'>).catch((err: unknown) => { say({ type: 'error', message: (err as Error).message }) })
}
ledger.addEventListener('entry', onEntry)

const stop = (): void => {
  ledger.removeEventListener('entry', onEntry)
  daemon.stop().then(() => process.exit(0), () => process.exit(1))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
