/**
 * Every vector of protocol/vectors/v1.json against this implementation, and the committed file against
 * what the generator builds now (so the file cannot drift from the code).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decodeCanonical, encodeCanonical, parseCid, signedBytesOf, validateEntry, WireError } from '../src/index.js'
import {
  buildVectors, fromVectorValue, serializeVectors, toVectorValue, VECTORS_PATH, type EntryVector, type ValueVector,
  type VectorFile
} from '../scripts/generate-vectors.js'

const committed = readFileSync(VECTORS_PATH, 'utf8')
const file = JSON.parse(committed) as VectorFile
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const valueVectors = file.vectors.filter((v): v is ValueVector => v.type === 'value')
const entryVectors = file.vectors.filter((v): v is EntryVector => v.type === 'entry')

describe('protocol/vectors/v1.json', () => {
  it('holds at least 30 vectors, valid and invalid, of values and entries', () => {
    expect(file.vectors.length).toBeGreaterThanOrEqual(30)
    expect(valueVectors.some((v) => v.error === undefined)).toBe(true)
    expect(valueVectors.some((v) => v.error !== undefined)).toBe(true)
    expect(entryVectors.some((v) => v.status === 'accept')).toBe(true)
    expect(entryVectors.some((v) => v.status === 'reject')).toBe(true)
  })

  it.each(valueVectors.map((v) => [v.name, v] as const))('value: %s', (_name, v) => {
    if (v.error === undefined) {
      const decoded = decodeCanonical(fromHex(v.hex))
      expect(toVectorValue(decoded)).toEqual(v.value)
      expect(hex(encodeCanonical(fromVectorValue(v.value!)))).toBe(v.hex)
    } else {
      let code: string | undefined
      try {
        decodeCanonical(fromHex(v.hex))
      } catch (err) {
        expect(err).toBeInstanceOf(WireError)
        code = (err as WireError).code
      }
      expect(code).toBe(v.error)
    }
  })

  it.each(entryVectors.map((v) => [v.name, v] as const))('entry: %s', async (_name, v) => {
    const result = await validateEntry(fromHex(v.hex), {
      now: v.context.now,
      community: v.context.community === undefined ? undefined : parseCid(v.context.community)
    })
    expect(result.status).toBe(v.status)
    expect(result.code).toBe(v.error)
    if (v.status === 'accept') {
      expect(result.value!.id.toString()).toBe(v.id)
      expect(toVectorValue(result.value!.entry)).toEqual(v.entry)
      expect(hex(signedBytesOf(result.value!.entry))).toBe(v.signedHex)
    }
  })

  it('is exactly what the generator builds (run `npm run vectors -w packages/wire` after a protocol change)', async () => {
    expect(serializeVectors(await buildVectors())).toBe(committed)
  })
})
