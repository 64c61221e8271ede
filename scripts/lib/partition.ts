/**
 * What each volunteer's part of MNIST holds: the same seeded partitioners the daemons use
 * (`partitionIndices` of `@swarmtune/model`), applied to the MNIST training labels only.
 */
import { join } from 'node:path'
import { MNIST_CLASSES, mnistDataDir, partitionIndices, readIdxFile, type PartitionSpec } from '@swarmtune/model'
import type { PartitionScheme } from './cluster.js'
import { table } from './report.js'

/** One volunteer's part: its example count and its examples per digit class. */
export interface PartSummary {
  part: number
  examples: number
  /** Examples of each class 0–9. */
  perClass: number[]
}

/** How the parts were drawn. */
export interface PartitionSettings {
  scheme: PartitionScheme
  clients: number
  seed: number
  alpha?: number
  /** The first n MNIST training examples are shared out (default all). */
  limit?: number
}

/** Class counts of every volunteer's part. @throws IdxFormatError, InvalidPartitionError of `@swarmtune/model` */
export async function partitionSummary (s: PartitionSettings): Promise<PartSummary[]> {
  const labels = (await readIdxFile(join(mnistDataDir(), 'train-labels-idx1-ubyte'), { limit: s.limit })).data
  return Array.from({ length: s.clients }, (_, client) => {
    const spec: PartitionSpec = s.scheme === 'dirichlet'
      ? { scheme: 'dirichlet', clients: s.clients, client, seed: s.seed, alpha: s.alpha ?? 0.5 }
      : { scheme: s.scheme, clients: s.clients, client, seed: s.seed }
    const indices = partitionIndices(labels, MNIST_CLASSES, spec)
    const perClass = new Array<number>(MNIST_CLASSES).fill(0)
    for (const i of indices) perClass[labels[i]]++
    return { part: client, examples: indices.length, perClass }
  })
}

/** Classes that at least one part holds an example of. */
export function coveredClasses (parts: PartSummary[]): number[] {
  return Array.from({ length: MNIST_CLASSES }, (_, c) => c).filter((c) => parts.some((p) => p.perClass[c] > 0))
}

/** A plain description of the scheme, with its source. */
export function describeScheme (s: PartitionSettings): string {
  const pool = `${(s.limit ?? 60_000).toLocaleString('en')} MNIST training examples`
  switch (s.scheme) {
    case 'dirichlet': return `Dirichlet label skew, α = ${s.alpha ?? 0.5} (Hsu et al. 2019): for each digit, its examples are split among the ${s.clients} volunteers in proportions drawn from Dir(α); ${pool}, seed ${s.seed}`
    case 'pathological': return `the paper's pathological non-IID shards (McMahan et al. 2017 §3): ${pool} sorted by digit, cut into ${2 * s.clients} shards, 2 per volunteer; seed ${s.seed}`
    case 'iid': return `IID (McMahan et al. 2017 §3): ${pool} shuffled and dealt out evenly; seed ${s.seed}`
  }
}

/** One row per volunteer: its examples and how many of each digit. */
export function partitionTable (parts: PartSummary[], names: string[]): string {
  return table(
    ['volunteer', 'examples', ...Array.from({ length: MNIST_CLASSES }, (_, c) => `${c}`)],
    parts.map((p, i) => [names[i] ?? `part ${p.part}`, p.examples.toLocaleString('en'), ...p.perClass.map((n) => n === 0 ? '·' : String(n))])
  )
}
