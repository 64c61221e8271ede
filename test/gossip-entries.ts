/**
 * Entries for gossip tests: a community genesis and distinct checkpoints of it, each of which
 * `validateEntry` accepts on the community's topic (signed, canonical, of that community).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { blobCid, signEntry, type SignedEntry } from '@swarmtune/wire'

/** A fresh maintainer key's genesis named `name` and `count` checkpoints (seq 1…count) of it. */
export async function communityWithCheckpoints (name: string, count: number): Promise<{ genesis: SignedEntry, entries: SignedEntry[] }> {
  const key = await generateKeyPair('Ed25519')
  const genesis = await signEntry({
    v: 1, community: new Uint8Array(0), author: key.publicKey.raw, seq: 0, prev: null, ts: Date.now(), kind: 'genesis',
    body: { name, task: { id: 'mnist-cnn' }, maintainers: [key.publicKey.raw], release: blobCid(new TextEncoder().encode(name)).bytes, policy: { maxDeltaNorm: 10, maxRoundMs: 600_000 } }
  }, key)
  const entries = await Promise.all(Array.from({ length: count }, async (_, i) => await signEntry({
    v: 1, community: genesis.id.bytes, author: key.publicKey.raw, seq: i + 1, prev: genesis.id.bytes, ts: Date.now() + i, kind: 'checkpoint',
    body: { length: i + 1, head: genesis.id.bytes }
  }, key)))
  return { genesis, entries }
}
