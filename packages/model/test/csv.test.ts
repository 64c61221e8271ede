import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir, type TempDir } from '@swarmtune/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CsvDataError, DataSourceError, loadCsv, loadData, type CsvOptions } from '../src/index.js'

describe('CSV data', () => {
  let tmp: TempDir
  let n = 0
  const file = async (text: string): Promise<string> => {
    const p = join(tmp.path, `case-${n++}.csv`)
    await writeFile(p, text)
    return p
  }
  /** The CsvDataError a load throws: its code, row and column. */
  const failure = async (text: string, options: CsvOptions): Promise<{ code: string, row?: number, column?: string }> => {
    try {
      await loadCsv(await file(text), options)
    } catch (err) {
      expect(err).toBeInstanceOf(DataSourceError)
      const e = err as Partial<CsvDataError> & DataSourceError
      return { code: e.code, ...(e.row !== undefined ? { row: e.row } : {}), ...(e.column !== undefined ? { column: e.column } : {}) }
    }
    throw new Error('expected the load to fail')
  }

  beforeAll(async () => { tmp = await tempDir('swarmtune-csv-') })
  afterAll(async () => { await tmp.cleanup() })

  it('reads a label column and numeric features, with the community\'s labels', async () => {
    const text = '\uFEFFpetal_length,species,"petal width"\n1.4,setosa,0.2\n\n 4.7 ,versicolor,1.4\n6.0,"virginica",2.5\n1e-1,setosa,-3\n'
    const ds = await loadCsv(await file(text), { label: 'species', labels: ['virginica', 'setosa', 'versicolor'] })
    expect(ds.exampleShape).toEqual([2])
    expect(ds.count).toBe(4)
    expect(ds.classes).toBe(3)
    expect(ds.classNames).toEqual(['virginica', 'setosa', 'versicolor'])
    expect([...ds.labels]).toEqual([1, 2, 0, 1])
    expect([...ds.images]).toEqual([1.4, 0.2, 4.7, 1.4, 6.0, 2.5, 0.1, -3].map(Math.fround))
    // chosen features, in the given order
    const two = await loadCsv(await file(text), { label: 'species', features: ['petal width'] })
    expect([...two.images]).toEqual([0.2, 1.4, 2.5, -3].map(Math.fround))
    // without labels: names sorted by code point
    expect(two.classNames).toEqual(['setosa', 'versicolor', 'virginica'])
    expect([...two.labels]).toEqual([0, 1, 2, 0])
  })

  it('takes integer labels as class indices, and loads through a DataSpec with a partition', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `${i},${i * 2},${(i * 7) % 10}`).join('\n')
    const path = await file(`a,b,digit\n${rows}\n`)
    const ds = await loadCsv(path, { label: 'digit' })
    expect(ds.classes).toBe(10)
    expect([...ds.labels]).toEqual(Array.from({ length: 12 }, (_, i) => (i * 7) % 10))
    const part = await loadData({ source: 'csv', path, label: 'digit', partition: { scheme: 'iid', clients: 3, client: 0, seed: 1 } })
    expect(part.count).toBe(4)
    expect(part.exampleShape).toEqual([2])
  })

  it('gives each bad CSV its own code, with the row and column', async () => {
    const ok = 'x,y,label\n1,2,a\n3,4,b\n'
    expect(await failure(ok, { label: 'class' })).toEqual({ code: 'ERR_MODEL_CSV_MISSING_COLUMN', column: 'class' })
    expect(await failure(ok, { label: 'label', features: ['x', 'z'] })).toEqual({ code: 'ERR_MODEL_CSV_MISSING_COLUMN', column: 'z' })
    expect(await failure('label\na\nb\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_MISSING_COLUMN' })
    expect(await failure('x,y,label\n1,2,a\n3,four,b\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_NOT_NUMERIC', row: 2, column: 'y' })
    expect(await failure('x,y,label\n1,,a\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_NOT_NUMERIC', row: 1, column: 'y' })
    expect(await failure('x,y,label\n1,2,a\n3,4\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_RAGGED', row: 2 })
    expect(await failure('x,y,label\n1,2,a,9\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_RAGGED', row: 1 })
    expect(await failure('', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_EMPTY' })
    expect(await failure('\n\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_EMPTY' })
    expect(await failure('x,y,label\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_EMPTY' })
    expect(await failure('x,y,label\n1,"2,a\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_MALFORMED' })
    expect(await failure('x,x,label\n1,2,a\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_CSV_MALFORMED', column: 'x' })
    expect(await failure(ok, { label: 'label', labels: ['a', 'c'] })).toEqual({ code: 'ERR_MODEL_UNKNOWN_CLASS', row: 2, column: 'label' })
    expect(await failure(ok, { label: 'label', labels: ['a', 'a'] })).toEqual({ code: 'ERR_MODEL_INVALID_LABELS' })
    expect(await failure('x,label\n1,a\n2,a\n', { label: 'label' })).toEqual({ code: 'ERR_MODEL_INVALID_LABELS', column: 'label' })
    expect(await failure(ok, { label: 'label', minExamples: 3 })).toEqual({ code: 'ERR_MODEL_TOO_FEW_EXAMPLES' })
    expect(await failure(ok, { label: 'label', maxFileBytes: 10 })).toEqual({ code: 'ERR_MODEL_DATA_FILE_TOO_LARGE' })
    expect((await loadCsv(await file(ok), { label: 'label', minExamples: 2 })).count).toBe(2)
    let code: string | undefined
    try { await loadCsv(join(tmp.path, 'missing.csv'), { label: 'label' }) } catch (err) { code = (err as DataSourceError).code }
    expect(code).toBe('ERR_MODEL_DATA_NOT_FOUND')
  })
})
