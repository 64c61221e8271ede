/** The written docs state what the code does: error codes listed, documented examples true. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { blobCid, ENTRY_DOMAIN, WIRE_ERROR_CODES } from '../src/index.js'

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8')

describe('docs', () => {
  it('doc/errors.md lists every wire error code, and no other', () => {
    const doc = read('../../../doc/errors.md')
    const section = doc.slice(doc.indexOf('## wire'))
    const end = section.indexOf('\n## ', 1)
    const listed = new Set((end === -1 ? section : section.slice(0, end)).match(/ERR_WIRE_[A-Z0-9_]+/g))
    expect([...listed].sort()).toEqual([...WIRE_ERROR_CODES].sort())
  })

  it('protocol/cids.md and protocol/signing.md give true examples', () => {
    expect(read('../../../protocol/cids.md')).toContain(blobCid(new Uint8Array([1, 2, 3])).toString())
    expect(read('../../../protocol/signing.md').replace(/\s+/g, '')).toContain(Buffer.from(ENTRY_DOMAIN).toString('hex'))
  })
})
