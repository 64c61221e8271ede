/**
 * Sample entries of every kind, with deterministic keys (Ed25519 from fixed seeds), for the wire tests,
 * the vector generator and the benchmark.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { blobCid, type EntryKind, type UnsignedEntry } from '../src/index.js'

const text = new TextEncoder()

/** A deterministic Ed25519 key: seed = 32 bytes of `n`. */
export async function keyFromSeed (n: number) {
  return await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(n))
}

/** CID bytes of the bytes of `label`. */
export function cidOf (label: string): Uint8Array {
  return blobCid(text.encode(label)).bytes
}

/** A fixed time: 2026-01-01T00:00:00Z, in ms since the Unix epoch. */
export const TS = Date.UTC(2026, 0, 1)

/** A body of each kind, valid under protocol v1. */
export function sampleBodies (maintainer: Uint8Array): { [K in EntryKind]: UnsignedEntry<K>['body'] } {
  return {
    genesis: {
      name: 'mnist-demo',
      task: { id: 'mnist-cnn', classes: 10, description: 'handwritten digits' },
      maintainers: [maintainer],
      release: cidOf('genesis manifest'),
      policy: { maxDeltaNorm: 10.5, maxRoundMs: 600_000 }
    },
    'round-open': {
      round: 1,
      base: cidOf('genesis manifest'),
      train: { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'sgd' },
      deadline: TS + 600_000,
      quorum: 2,
      maxContributions: 100,
      aggregator: { name: 'fedavg', params: { server: { kind: 'sgd', lr: 1 } } },
      codec: { name: 'fp16', params: {} },
      normBound: 10.5
    },
    contribution: {
      round: 1,
      roundOpen: cidOf('round-open 1'),
      base: cidOf('genesis manifest'),
      blob: cidOf('delta'),
      codec: { name: 'fp16', params: {} },
      samples: 600,
      metrics: { lossBefore: 2.3, lossAfter: 0.4 },
      norm: 3.25
    },
    verdict: {
      round: 1,
      contribution: cidOf('contribution a'),
      accepted: false,
      code: 'ERR_FEDAVG_NORM_BOUND',
      reason: 'delta norm 12.1 exceeds the round bound 10.5'
    },
    release: {
      round: 1,
      parent: cidOf('genesis manifest'),
      manifest: cidOf('release 1 manifest'),
      contributions: [cidOf('contribution a'), cidOf('contribution b')].sort(Buffer.compare),
      weights: [0.25, 0.75],
      metrics: { accuracy: 0.91, loss: 0.3 }
    },
    'round-close': {
      round: 1,
      roundOpen: cidOf('round-open 1'),
      outcome: 'released',
      release: cidOf('release 1 entry'),
      reason: ''
    },
    checkpoint: { length: 12, head: cidOf('head') }
  }
}

/** An unsigned entry of `kind` by `author` in the sample community. */
export function sampleEntry<K extends EntryKind> (kind: K, author: Uint8Array, seq = kind === 'genesis' ? 0 : 3): UnsignedEntry<K> {
  return {
    v: 1,
    community: kind === 'genesis' ? new Uint8Array(0) : cidOf('community'),
    author,
    seq,
    prev: seq === 0 ? null : cidOf(`prev ${seq - 1}`),
    ts: TS,
    kind,
    body: sampleBodies(author)[kind]
  } as unknown as UnsignedEntry<K>
}
