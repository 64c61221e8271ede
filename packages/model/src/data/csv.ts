/**
 * A volunteer's own tabular data: a CSV file (RFC 4180, parsed with the maintained `csv-parse`) with a header
 * row, one label column and numeric feature columns.
 */
import { open } from 'node:fs/promises'
import { parse } from 'csv-parse/sync'
import { MAX_CSV_FILE_BYTES, MAX_DATASET_CLASSES } from '../constants.js'
import { CsvDataError } from '../errors.js'
import type { NamedDataset } from './image-folder.js'
import { compareCodePoints, validateLabels } from './images.js'
import { validateDataset } from './dataset.js'

/** How to read a CSV file (see `loadCsv`). */
export interface CsvOptions {
  /** Name of the label column (in the header row). */
  label: string
  /** Names of the feature columns, in the order of the example's values; default every column but the label's. */
  features?: readonly string[]
  /** The community's class names in class-index order; every label value must be one of them. */
  labels?: readonly string[]
  /** Fewest data rows accepted (default 1). */
  minExamples?: number
  /** Largest file read, in bytes (default and at most `MAX_CSV_FILE_BYTES`). */
  maxFileBytes?: number
}

interface Parsed { record: string[], info: { lines: number } }

async function readCsvText (path: string, max: number): Promise<string> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw new CsvDataError('ERR_MODEL_DATA_NOT_FOUND', path, `CSV file ${path} cannot be opened (${(err as Error).message}): check the path`, { cause: err })
  }
  try {
    const s = await handle.stat()
    if (!s.isFile()) throw new CsvDataError('ERR_MODEL_DATA_NOT_FOUND', path, `${path} is not a file: pass a CSV file`)
    if (s.size > max) throw new CsvDataError('ERR_MODEL_DATA_FILE_TOO_LARGE', path, `CSV file ${path} has ${s.size} bytes, above the limit of ${max}: split it`)
    const bytes = Buffer.alloc(s.size)
    const { bytesRead } = await handle.read(bytes, 0, s.size, 0)
    return bytes.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

/** A label value's class: the index in `labels`; or, without labels, see `loadCsv`. */
function classIndex (values: string[], labels: readonly string[] | undefined, path: string, column: string): { index: Uint8Array, classNames: string[] } {
  let classNames: string[]
  if (labels !== undefined) {
    classNames = [...labels]
  } else if (values.every((v) => /^(0|[1-9]\d*)$/.test(v))) {
    const max = values.reduce((m, v) => Math.max(m, Number(v)), 0)
    if (max >= MAX_DATASET_CLASSES) {
      throw new CsvDataError('ERR_MODEL_INVALID_LABELS', path, `label column ${JSON.stringify(column)} holds class ${max}; at most ${MAX_DATASET_CLASSES} classes (0–${MAX_DATASET_CLASSES - 1}) are supported`, { column })
    }
    classNames = Array.from({ length: Math.max(max + 1, 2) }, (_, i) => String(i))
  } else {
    classNames = [...new Set(values)].sort(compareCodePoints)
    if (classNames.length < 2) {
      throw new CsvDataError('ERR_MODEL_INVALID_LABELS', path, `label column ${JSON.stringify(column)} of ${path} holds ${classNames.length} distinct value; a classifier needs at least 2 classes: add examples of other classes, or pass the community's labels`, { column })
    }
  }
  validateLabels(classNames, path)
  const of = new Map(classNames.map((l, i) => [l, i]))
  const index = new Uint8Array(values.length)
  values.forEach((v, r) => {
    const i = of.get(v)
    if (i === undefined) {
      throw new CsvDataError('ERR_MODEL_UNKNOWN_CLASS', path, `row ${r + 1} of ${path} has label ${JSON.stringify(v)}, not one of the community's labels (${classNames.map((l) => JSON.stringify(l)).join(', ')}): correct the value or drop the row`, { row: r + 1, column })
    }
    index[r] = i
  })
  return { index, classNames }
}

/**
 * Reads a CSV file as a dataset: the first row is the header (column names, distinct); each further non-empty row
 * is one example. Cells are trimmed; a UTF-8 byte-order mark is skipped. Feature cells must be finite decimal
 * numbers (stored as float32, not rescaled); the example is `[features.length]` values in `features` order.
 * Label values map to class indices: by position in `labels` when given; otherwise, when every value is a
 * non-negative integer, the value itself (classes = largest + 1, at least 2); else the distinct values sorted by
 * code point.
 * @returns a dataset of `exampleShape` [features], with `classNames`.
 * @throws DataSourceError — a `CsvDataError` (with `row` and `column` where known) for each code but the labels':
 *   `ERR_MODEL_DATA_NOT_FOUND`, `ERR_MODEL_DATA_FILE_TOO_LARGE`, `ERR_MODEL_CSV_EMPTY` (no
 *   header, or no data row), `ERR_MODEL_CSV_MALFORMED` (unparsable quoting, duplicate or empty column names),
 *   `ERR_MODEL_CSV_MISSING_COLUMN` (the label or a feature column is not in the header, or no feature column),
 *   `ERR_MODEL_CSV_RAGGED` (a row with another number of cells than the header), `ERR_MODEL_CSV_NOT_NUMERIC` (with
 *   `row` and `column`), `ERR_MODEL_INVALID_LABELS`, `ERR_MODEL_UNKNOWN_CLASS`, `ERR_MODEL_TOO_FEW_EXAMPLES`.
 */
export async function loadCsv (path: string, options: CsvOptions): Promise<NamedDataset> {
  const max = options.maxFileBytes ?? MAX_CSV_FILE_BYTES
  if (!(Number.isSafeInteger(max) && max >= 1 && max <= MAX_CSV_FILE_BYTES)) {
    throw new CsvDataError('ERR_MODEL_INVALID_DATA', path, `maxFileBytes ${String(options.maxFileBytes)} is not an integer in [1, ${MAX_CSV_FILE_BYTES}]`)
  }
  if (options.labels !== undefined) validateLabels(options.labels, path)
  const text = await readCsvText(path, max)
  let rows: Parsed[]
  try {
    rows = parse(text, { bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, info: true }) as unknown as Parsed[]
  } catch (err) {
    const line = (err as { lines?: number }).lines
    throw new CsvDataError('ERR_MODEL_CSV_MALFORMED', path, `${path} is not valid CSV${line === undefined ? '' : ` at line ${line}`} (${(err as Error).message}): check the quoting there`, { cause: err })
  }
  if (rows.length === 0) throw new CsvDataError('ERR_MODEL_CSV_EMPTY', path, `CSV file ${path} is empty: it needs a header row naming the columns, then one row per example`)
  const header = rows[0].record
  const dup = header.find((h, i) => h === '' || header.indexOf(h) !== i)
  if (dup !== undefined) {
    throw new CsvDataError('ERR_MODEL_CSV_MALFORMED', path, `the header of ${path} has ${dup === '' ? 'an empty column name' : `column ${JSON.stringify(dup)} twice`}: name every column once`, { column: dup })
  }
  const col = (name: string): number => {
    const i = header.indexOf(name)
    if (i < 0) throw new CsvDataError('ERR_MODEL_CSV_MISSING_COLUMN', path, `${path} has no column ${JSON.stringify(name)}; its columns are ${header.map((h) => JSON.stringify(h)).join(', ')}`, { column: name })
    return i
  }
  const labelCol = col(options.label)
  const featureNames = options.features !== undefined ? [...options.features] : header.filter((_, i) => i !== labelCol)
  const featureCols = featureNames.map(col)
  if (featureCols.length === 0) throw new CsvDataError('ERR_MODEL_CSV_MISSING_COLUMN', path, `${path} has no feature column besides the label ${JSON.stringify(options.label)}: add numeric columns`)
  const data = rows.slice(1)
  if (data.length === 0) throw new CsvDataError('ERR_MODEL_CSV_EMPTY', path, `CSV file ${path} has a header but no data rows: add one row per example`)
  const needed = options.minExamples ?? 1
  if (data.length < needed) {
    throw new CsvDataError('ERR_MODEL_TOO_FEW_EXAMPLES', path, `CSV file ${path} holds ${data.length} examples; at least ${needed} are needed: add rows`)
  }
  const f = featureCols.length
  const images = new Float32Array(data.length * f)
  const labelValues: string[] = []
  data.forEach(({ record, info }, r) => {
    if (record.length !== header.length) {
      throw new CsvDataError('ERR_MODEL_CSV_RAGGED', path, `row ${r + 1} (line ${info.lines}) of ${path} has ${record.length} cells; the header has ${header.length}: every row needs one cell per column`, { row: r + 1 })
    }
    featureCols.forEach((c, j) => {
      const cell = record[c]
      const v = cell === '' ? Number.NaN : Number(cell)
      if (!Number.isFinite(v)) {
        throw new CsvDataError('ERR_MODEL_CSV_NOT_NUMERIC', path, `row ${r + 1} (line ${info.lines}) of ${path}, column ${JSON.stringify(header[c])}, holds ${JSON.stringify(cell)}: feature cells must be finite numbers; fix the cell or leave the column out of the features`, { row: r + 1, column: header[c] })
      }
      images[r * f + j] = v
    })
    labelValues.push(record[labelCol])
  })
  const { index, classNames } = classIndex(labelValues, options.labels, path, options.label)
  const ds: NamedDataset = { images, labels: index, count: data.length, exampleShape: [f], classes: classNames.length, classNames }
  validateDataset(ds)
  return ds
}
