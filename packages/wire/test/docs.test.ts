/** The written docs state what the code does: error codes listed, documented examples true. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { blobCid, ENTRY_DOMAIN, LIMITS, WIRE_ERROR_CODES } from '../src/index.js'
import { isSmallOrderEncoding } from '../src/verify.js'

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8')

describe('docs', () => {
  it('doc/errors.md lists every wire error code, and no other', () => {
    const doc = read('../../../doc/errors.md')
    const section = doc.slice(doc.indexOf('## wire'))
    const end = section.indexOf('\n## ', 1)
    const listed = new Set((end === -1 ? section : section.slice(0, end)).match(/ERR_WIRE_[A-Z0-9_]+/g))
    expect([...listed].sort()).toEqual([...WIRE_ERROR_CODES].sort())
  })

  it('protocol/signing.md lists exactly the seven small-order encodings the verifier refuses', () => {
    const doc = read('../../../protocol/signing.md')
    const section = doc.slice(doc.indexOf('### Keys and R a verifier refuses'))
    const listed = [...section.matchAll(/^\| `([0-9a-f]{64})` \|/gm)].map((m) => m[1])
    expect(listed).toHaveLength(7)
    for (const h of listed) {
      const bytes = Buffer.from(h, 'hex')
      expect(isSmallOrderEncoding(bytes), h).toBe(true)
      bytes[31] |= 0x80
      expect(isSmallOrderEncoding(bytes), `${h} with the sign bit`).toBe(true)
    }
  })

  it('protocol/limits.md states the entry item limit of the code', () => {
    expect(read('../../../protocol/limits.md')).toContain(`\`maxEntryItems\` = ${LIMITS.maxEntryItems.toLocaleString('en-US')} values`)
  })

  it('doc/daemon.md lists every control-API route of the daemon, the ledger service and the rounds service', () => {
    const doc = read('../../../doc/daemon.md')
    // the routes as the services' protocols declare them (method, then path)
    const sources: Array<[string, string]> = [['node/src/core-protocol.ts', ''], ['node/src/ledger-protocol.ts', '/ledger'], ['rounds/src/protocol.ts', '/rounds']]
    let routes = 0
    for (const [file, prefix] of sources) {
      for (const m of read(`../../${file}`).matchAll(/method: '(GET|POST|PUT|DELETE)',\s*path: '([^']*)'/g)) {
        const path = `/v1${prefix}${m[2] === '/' ? '' : m[2]}`.replace(/:(\w+)/g, '<$1>')
        const row = new RegExp(`^\\| ${m[1]} \\| \`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\`?]`, 'm')
        expect(doc, `${m[1]} ${path}`).toMatch(row)
        routes++
      }
    }
    expect(routes).toBeGreaterThanOrEqual(23)
  })

  it('protocol/cids.md and protocol/signing.md give true examples', () => {
    expect(read('../../../protocol/cids.md')).toContain(blobCid(new Uint8Array([1, 2, 3])).toString())
    expect(read('../../../protocol/signing.md').replace(/\s+/g, '')).toContain(Buffer.from(ENTRY_DOMAIN).toString('hex'))
  })
})
