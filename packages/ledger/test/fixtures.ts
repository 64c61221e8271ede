/**
 * Test fixtures: keys, entry bodies of every kind, and a signer that keeps per-author chain state so that
 * tests can build valid (or deliberately broken) entries without a ledger.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { tempDir } from '@swarmtune/test-support'
import { afterEach, beforeEach } from 'vitest'
import { blobCid, signEntry, type CID, type EntryKind, type SignedEntry, type SigningKey, type UnsignedEntry } from '@swarmtune/wire'

const enc = new TextEncoder()

/** A deterministic Ed25519 key from a small integer. */
export async function keyFor (n: number): Promise<SigningKey> {
  const seed = new Uint8Array(32)
  new DataView(seed.buffer).setUint32(0, n + 1)
  return await generateKeyPairFromSeed('Ed25519', seed)
}

/** CID bytes of a made-up blob. */
export function fakeCid (label: string): Uint8Array {
  return blobCid(enc.encode(label)).bytes
}

export const bodies = {
  genesis: (maintainers: Uint8Array[]) => ({
    name: 'test-community', task: { id: 'mnist-mlp' }, maintainers, release: fakeCid('release-0'),
    policy: { maxDeltaNorm: 10, maxRoundMs: 600_000 }
  }),
  roundOpen: (round: number, base: Uint8Array) => ({
    round, base, train: { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'sgd' }, deadline: 1_700_000_600_000,
    quorum: 1, maxContributions: 100, aggregator: { name: 'fedavg', params: {} }, codec: { name: 'fp16', params: {} }, normBound: 10
  }),
  contribution: (round: number, roundOpen: Uint8Array, base: Uint8Array, blob: Uint8Array, samples: number) => ({
    round, roundOpen, base, blob, codec: { name: 'fp16', params: {} }, samples, metrics: { lossBefore: 2.3, lossAfter: 1.1 }, norm: 1.5
  }),
  verdict: (round: number, contribution: Uint8Array, accepted: boolean, code = accepted ? 'OK' : 'ERR_FEDAVG_NORM_BOUND', reason = accepted ? 'accepted' : 'delta norm 12 exceeds bound 10') => ({
    round, contribution, accepted, code, reason
  }),
  release: (round: number, parent: Uint8Array, manifest: Uint8Array, contributions: Uint8Array[], weights: number[], metrics: Record<string, number | string> = { accuracy: 0.9 }) => {
    const order = contributions.map((c, i) => ({ c, w: weights[i] })).sort((a, b) => Buffer.compare(a.c, b.c))
    return { round, parent, manifest, contributions: order.map((o) => o.c), weights: order.map((o) => o.w), metrics }
  },
  roundClose: (round: number, roundOpen: Uint8Array, release?: Uint8Array) => release === undefined
    ? { round, roundOpen, outcome: 'no-release' as const, reason: 'quorum not reached' }
    : { round, roundOpen, outcome: 'released' as const, release, reason: 'quorum reached' }
}

/** Signs chains outside any ledger: remembers each author's seq and prev. */
export class ChainSigner {
  readonly heads = new Map<string, { seq: number, id: CID }>()
  community: Uint8Array
  ts = 1_700_000_000_000

  constructor (community?: CID) {
    this.community = community?.bytes ?? new Uint8Array(0)
  }

  async sign (key: SigningKey, kind: EntryKind, body: unknown, overrides: Partial<UnsignedEntry> = {}): Promise<SignedEntry> {
    const author = Buffer.from(key.publicKey.raw).toString('hex')
    const head = this.heads.get(author)
    const unsigned = {
      v: 1,
      community: kind === 'genesis' ? new Uint8Array(0) : this.community,
      author: key.publicKey.raw,
      seq: head === undefined ? 0 : head.seq + 1,
      prev: head === undefined ? null : head.id.bytes,
      ts: this.ts++,
      kind,
      body,
      ...overrides
    } as unknown as UnsignedEntry
    const signed = await signEntry(unsigned, key)
    if (Object.keys(overrides).length > 0) return signed
    this.heads.set(author, { seq: signed.entry.seq, id: signed.id })
    if (kind === 'genesis') this.community = signed.id.bytes
    return signed
  }
}

/** A community: maintainer key, its genesis, and a signer positioned after it. */
export async function makeCommunity (name = 'test-community'): Promise<{ maintainer: SigningKey, genesis: SignedEntry, signer: ChainSigner }> {
  const maintainer = await keyFor(0)
  const signer = new ChainSigner()
  const genesis = await signer.sign(maintainer, 'genesis', { ...bodies.genesis([maintainer.publicKey.raw]), name })
  return { maintainer, genesis, signer }
}

/** A copy of an entry frame with one bit of its signature flipped. */
export function flipSignatureBit (signed: SignedEntry): Uint8Array {
  const bytes = Uint8Array.from(signed.bytes)
  const at = Buffer.from(bytes).indexOf(Buffer.from(signed.entry.sig))
  if (at < 0) throw new Error('signature not found in frame')
  bytes[at + 10] ^= 0x01
  return bytes
}

/** Gives each test of the file a fresh temporary folder (`use` is called with it before the test), removed after it. */
export function eachTempFolder (prefix: string, use: (dir: string) => void): void {
  let remove: (() => Promise<void>) | undefined
  beforeEach(async () => {
    const t = await tempDir(prefix)
    remove = t.cleanup
    use(t.path)
  })
  afterEach(async () => { await remove?.() })
}
