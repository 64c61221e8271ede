/**
 * Splitting a dataset among simulated clients, deterministic by seed. Each partitioner returns one array of
 * example indices per client; the arrays are disjoint.
 *
 * - IID: shuffle, then deal equal parts (McMahan et al. 2017, §3: "the data is shuffled, and then partitioned
 *   into 100 clients each receiving 600 examples").
 * - Pathological non-IID (McMahan et al. 2017, §3): "sort the data by digit label, divide it into 200 shards of
 *   size 300, and assign each of 100 clients 2 shards".
 * - Dirichlet(α) label skew (Hsu, Qi & Brown 2019, "Measuring the Effects of Non-Identical Data Distribution for
 *   Federated Visual Classification"): for each class, draw client proportions p ~ Dir(α) and split that class's
 *   examples accordingly. Small α → each client sees few classes; large α → close to IID.
 */
import { PATHOLOGICAL_SHARD_SIZE, PATHOLOGICAL_SHARDS, PATHOLOGICAL_SHARDS_PER_CLIENT } from '../constants.js'
import { InvalidPartitionError } from '../errors.js'
import type { Dataset } from './dataset.js'
import { subset } from './dataset.js'
import { createRng } from './random.js'

/** How to split a dataset among `clients` and which client's part to take. Plain data: it crosses worker boundaries. */
export type PartitionSpec =
  | { scheme: 'iid', clients: number, client: number, seed: number }
  | { scheme: 'pathological', clients: number, client: number, seed: number, shardsPerClient?: number, shardSize?: number }
  | { scheme: 'dirichlet', clients: number, client: number, seed: number, alpha: number }

function checkClients (clients: number, n: number): void {
  if (!Number.isSafeInteger(clients) || clients < 1) {
    throw new InvalidPartitionError(`client count ${clients} is not a positive integer`)
  }
  if (clients > n) throw new InvalidPartitionError(`cannot split ${n} examples among ${clients} clients: at most one client per example`)
}

/**
 * IID partition: a seeded shuffle of `0..n-1` dealt into `clients` contiguous parts whose sizes differ by at most 1.
 * @throws InvalidPartitionError when `clients` is not in [1, n].
 */
export function partitionIid (n: number, clients: number, seed: number): number[][] {
  checkClients(clients, n)
  const order = createRng(seed).shuffle(Array.from({ length: n }, (_, i) => i))
  const parts: number[][] = []
  const base = Math.floor(n / clients)
  const extra = n % clients
  let at = 0
  for (let c = 0; c < clients; c++) {
    const size = base + (c < extra ? 1 : 0)
    parts.push(order.slice(at, at + size))
    at += size
  }
  return parts
}

/**
 * Pathological non-IID partition (McMahan et al. 2017): indices sorted by label (ties by index), cut into
 * `clients × shardsPerClient` shards of `shardSize` examples, shards dealt to clients after a seeded shuffle.
 * With 60,000 examples, 100 clients and the defaults (2 shards per client, shard size ⌊n / 200⌋ = 300) this is
 * the paper's split. Examples beyond `clients × shardsPerClient × shardSize` are left out.
 * @throws InvalidPartitionError when the shards do not fit in the data.
 */
export function partitionPathological (labels: ArrayLike<number>, clients: number, seed: number,
  options: { shardsPerClient?: number, shardSize?: number } = {}): number[][] {
  const n = labels.length
  checkClients(clients, n)
  const perClient = options.shardsPerClient ?? PATHOLOGICAL_SHARDS_PER_CLIENT
  const shards = clients * perClient
  const shardSize = options.shardSize ?? Math.floor(n / shards)
  if (!Number.isSafeInteger(perClient) || perClient < 1 || !Number.isSafeInteger(shardSize) || shardSize < 1 || shards * shardSize > n) {
    throw new InvalidPartitionError(`${clients} clients × ${perClient} shards × ${shardSize} examples do not fit in ${n} examples (the paper uses ${PATHOLOGICAL_SHARDS} shards of ${PATHOLOGICAL_SHARD_SIZE} for 60,000)`)
  }
  const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => (labels[a] - labels[b]) || (a - b))
  const shardOrder = createRng(seed).shuffle(Array.from({ length: shards }, (_, i) => i))
  const parts: number[][] = []
  for (let c = 0; c < clients; c++) {
    const part: number[] = []
    for (let k = 0; k < perClient; k++) {
      const s = shardOrder[c * perClient + k]
      for (let j = s * shardSize; j < (s + 1) * shardSize; j++) part.push(sorted[j])
    }
    parts.push(part)
  }
  return parts
}

/**
 * Dirichlet(α) label-skew partition (Hsu et al. 2019): for every class, a seeded shuffle of its examples is cut
 * at the cumulative proportions of p ~ Dir(α, …, α) over the clients. Every example goes to exactly one client;
 * a client may get none (likely when α is small and clients are many).
 * @param classes number of classes (labels must be below it)
 * @throws InvalidPartitionError when α ≤ 0 or not finite, or `clients` is out of range.
 */
export function partitionDirichlet (labels: ArrayLike<number>, clients: number, alpha: number, seed: number, classes: number): number[][] {
  checkClients(clients, labels.length)
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new InvalidPartitionError(`Dirichlet concentration α = ${alpha}: expected a finite number > 0 (0.1 is strongly skewed, 100 is close to IID)`)
  const rng = createRng(seed)
  const byClass: number[][] = Array.from({ length: classes }, () => [])
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]
    if (!(y >= 0 && y < classes)) throw new InvalidPartitionError(`label ${y} of example ${i} is outside 0–${classes - 1}`)
    byClass[y].push(i)
  }
  const parts: number[][] = Array.from({ length: clients }, () => [])
  for (const members of byClass) {
    rng.shuffle(members)
    const g = Array.from({ length: clients }, () => rng.gamma(alpha))
    const total = g.reduce((a, b) => a + b, 0)
    let cum = 0
    let start = 0
    for (let c = 0; c < clients; c++) {
      cum += g[c]
      const end = c === clients - 1 ? members.length : Math.round(members.length * cum / total)
      for (let j = start; j < end; j++) parts[c].push(members[j])
      start = Math.max(start, end)
    }
  }
  return parts
}

/**
 * The example indices of one client under a partition spec.
 * @throws InvalidPartitionError when the spec is malformed or `client` is not in [0, clients).
 */
export function partitionIndices (labels: ArrayLike<number>, classes: number, spec: PartitionSpec): number[] {
  if (!Number.isSafeInteger(spec.client) || spec.client < 0 || spec.client >= spec.clients) {
    throw new InvalidPartitionError(`client index ${spec.client} is out of range: expected 0–${spec.clients - 1}`)
  }
  switch (spec.scheme) {
    case 'iid': return partitionIid(labels.length, spec.clients, spec.seed)[spec.client]
    case 'pathological': return partitionPathological(labels, spec.clients, spec.seed, spec)[spec.client]
    case 'dirichlet': return partitionDirichlet(labels, spec.clients, spec.alpha, spec.seed, classes)[spec.client]
    default: throw new InvalidPartitionError(`partition scheme ${(spec as { scheme: unknown }).scheme} is unknown: expected iid, pathological or dirichlet`)
  }
}

/** One client's part of a dataset under a partition spec (a copy). */
export function partitionDataset (ds: Dataset, spec: PartitionSpec): Dataset {
  return subset(ds, partitionIndices(ds.labels, ds.classes, spec))
}
