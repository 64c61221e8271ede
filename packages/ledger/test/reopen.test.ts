/**
 * Reopen with the verification checkpoint (`m!verified`, doc/ledger-format.md "Reopen"): a store verified
 * once checks the entries the checkpoint covers by hash and verifies only those stored after it, and still
 * fails closed when an old entry's bytes are changed or an entry is deleted behind its back, or when the
 * checkpoint itself was edited or copied. Real LevelDB in a temp folder, damaged with a second LevelDB handle.
 */
import { createHash, randomBytes } from 'node:crypto'
import { cp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { blobCid, decodeEntryUnverified } from '@swarmtune/wire'
import { createMemoryDb, openLedger, type Ledger } from '../src/index.js'
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint.js'
import { bodies, ChainSigner, eachTempFolder, fakeCid, flipSignatureBit, keyFor, makeCommunity } from './fixtures.js'

let dir: string
let path: string
eachTempFolder('swarmtune-reopen-', (d) => { dir = d; path = join(d, 'ledger') })

const VOLUNTEERS = 3
const PER_VOLUNTEER = 4

async function raw<T> (fn: (db: Level<string, Uint8Array>) => Promise<T>, at = path): Promise<T> {
  const db = new Level<string, Uint8Array>(join(at, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

const hexOf = async (n: number): Promise<string> => Buffer.from((await keyFor(n)).publicKey.raw).toString('hex')

/** Appends `count` contributions to each volunteer's chain. */
async function contribute (ledger: Ledger, count: number, label: string): Promise<void> {
  for (let v = 1; v <= VOLUNTEERS; v++) {
    const key = await keyFor(v)
    for (let i = 0; i < count; i++) {
      await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('round-open'), fakeCid('release-0'), fakeCid(`blob-${label}-${v}-${i}`), 10 + i) }, key, { sync: false })
    }
  }
}

/** A store of a genesis and VOLUNTEERS chains of PER_VOLUNTEER contributions, verified and closed. */
async function populated (): Promise<number> {
  const ledger = await openLedger({ path })
  const { genesis } = await makeCommunity()
  await ledger.append(genesis)
  await contribute(ledger, PER_VOLUNTEER, 'a')
  const size = ledger.size
  await ledger.close()
  return size
}

describe('ledger reopen with the verification checkpoint', () => {
  it('checks the entries the checkpoint covers by hash, and verifies the signatures of the rest only', async () => {
    const size = await populated()
    let ledger = await openLedger({ path })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'used', checkpointEntries: size, signaturesChecked: 0, entries: size })
    // the entries appended now are covered by the checkpoint written on close
    await contribute(ledger, 2, 'b')
    await ledger.close()
    ledger = await openLedger({ path })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'used', checkpointEntries: size + 2 * VOLUNTEERS, signaturesChecked: 0 })
    await ledger.close()
    // an older (validly keyed) checkpoint: the entries after it are verified in full
    const older = await raw(async (db) => await db.get('m!verified'))
    ledger = await openLedger({ path })
    await contribute(ledger, 1, 'c')
    await ledger.close()
    await raw(async (db) => { await db.put('m!verified', older as Uint8Array) })
    ledger = await openLedger({ path })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'used', checkpointEntries: size + 2 * VOLUNTEERS, signaturesChecked: VOLUNTEERS, entries: size + 3 * VOLUNTEERS })
    // a full verification still checks every signature
    expect((await ledger.verify()).signaturesChecked).toBe(size + 3 * VOLUNTEERS)
    await ledger.close()
    ledger = await openLedger({ path, verifyOnOpen: 'full' })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'off', signaturesChecked: size + 3 * VOLUNTEERS })
    await ledger.close()
    // a memory store keeps no checkpoint
    const memory = await openLedger({ db: createMemoryDb() })
    expect(memory.openReport.checkpoint).toBe('off')
    await memory.close()
    // an entry after the older checkpoint with a damaged signature: its signature is checked, so open fails
    const author = await hexOf(1)
    await raw(async (db) => {
      const [key] = await db.keys({ gte: `e!${author}`, lt: `e!${author}\xff`, reverse: true, limit: 1 }).all()
      const value = flipSignatureBit(decodeEntryUnverified(await db.get(key) as Uint8Array))
      await db.batch([{ type: 'put', key, value }, { type: 'put', key: 'm!verified', value: older as Uint8Array }])
    })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_CORRUPT', detail: { author, seq: PER_VOLUNTEER + 2 } })
  })

  it('fails with ERR_LEDGER_CORRUPT when a byte of an old entry\'s value was flipped, wherever in its chain', async () => {
    await populated()
    const author = await hexOf(2)
    const keys = await raw(async (db) => await db.keys({ gte: `e!${author}`, lt: `e!${author}\xff` }).all())
    for (const key of [keys[0], keys[keys.length - 1]]) {
      const saved = await raw(async (db) => {
        const value = await db.get(key) as Uint8Array
        const flipped = Uint8Array.from(value)
        flipped[Math.floor(value.length / 2)] ^= 0x10
        await db.put(key, flipped)
        return value
      })
      await expect(openLedger({ path })).rejects.toMatchObject({ name: 'LedgerCorruptError', code: 'ERR_LEDGER_CORRUPT', detail: { author } })
      await raw(async (db) => { await db.put(key, saved) })
      const again = await openLedger({ path })
      expect(again.openReport.checkpoint).toBe('used')
      await again.close()
    }
  })

  it('fails with ERR_LEDGER_TRUNCATED when an old entry was deleted, in the middle or at the end of its chain', async () => {
    await populated()
    const author = await hexOf(1)
    const keys = await raw(async (db) => await db.keys({ gte: `e!${author}`, lt: `e!${author}\xff` }).all())
    await raw(async (db) => { await db.del(keys[1]) })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_TRUNCATED', detail: { author, missing: { from: 1, to: 1 } } })

    await rm(path, { recursive: true })
    await populated()
    // the last entry gone, and its head record, the summary and lengths.json rolled back with it: of the
    // records that count the chain, only the checkpoint still knows
    await raw(async (db) => {
      const last = await db.get(keys[keys.length - 1]) as Uint8Array
      const previous = await db.get(keys[keys.length - 2]) as Uint8Array
      const summary = JSON.parse(Buffer.from(await db.get('m!summary') as Uint8Array).toString('utf8')) as { entries: number, authors: number, evidence: number, digest: string }
      const digest = Buffer.from(summary.digest, 'hex')
      const lastDigest = blobCid(last).multihash.digest
      for (let i = 0; i < 32; i++) digest[i] ^= lastDigest[i]
      await db.batch([
        { type: 'del', key: keys[keys.length - 1] },
        { type: 'put', key: `h!${author}`, value: Buffer.from(JSON.stringify({ seq: keys.length - 2, id: blobCid(previous).toString() })) },
        { type: 'put', key: 'm!summary', value: Buffer.from(JSON.stringify({ ...summary, entries: summary.entries - 1, digest: digest.toString('hex') })) }
      ])
    })
    await rm(join(path, 'lengths.json'))
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_TRUNCATED', detail: { author, missing: { from: keys.length - 1, to: keys.length - 1 } } })
  })

  it('does not trust an edited checkpoint or one from another store: it verifies everything and catches what was changed', async () => {
    const size = await populated()
    const original = await raw(async (db) => await db.get('m!verified') as Uint8Array)
    // one byte of the JSON changed (a chain length raised): the MAC fails, so everything is verified
    const text = Buffer.from(original.subarray(32)).toString('utf8')
    const edited = Buffer.concat([original.subarray(0, 32), Buffer.from(text.replace(`",${PER_VOLUNTEER},"`, `",${PER_VOLUNTEER + 1},"`))])
    expect(edited.length).toBe(original.length)
    expect(edited.equals(original)).toBe(false)
    await raw(async (db) => { await db.put('m!verified', edited) })
    let ledger = await openLedger({ path })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'untrusted', signaturesChecked: size, entries: size })
    expect(ledger.openReport.checkpointReason).toMatch(/MAC/)
    await ledger.close()
    // that open wrote a new checkpoint for the store it verified
    ledger = await openLedger({ path })
    expect(ledger.openReport.checkpoint).toBe('used')
    await ledger.close()

    // the database folder copied into another store folder: that folder's secret differs
    const other = join(dir, 'other')
    await cp(join(path, 'db'), join(other, 'db'), { recursive: true })
    ledger = await openLedger({ path: other })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'untrusted', signaturesChecked: size })
    await ledger.close()

    // an old entry's signature damaged, and a checkpoint made for the damaged bytes under a secret other than
    // this store's: not trusted, so the full check runs and finds the entry
    const author = await hexOf(3)
    const [firstKey] = await raw(async (db) => await db.keys({ gte: `e!${author}`, lt: `e!${author}\xff`, limit: 1 }).all())
    const secret = new Uint8Array(await readFile(join(path, 'verified.key')))
    await raw(async (db) => {
      const value = flipSignatureBit(decodeEntryUnverified(await db.get(firstKey) as Uint8Array))
      const read = decodeCheckpoint(await db.get('m!verified'), secret)
      if (read.status !== 'trusted') throw new Error('the checkpoint should be trusted here')
      const chain = read.checkpoint.chains.get(author) as { length: number, head: string, digest: Uint8Array }
      const digests = createHash('sha256')
      for (const key of await db.keys({ gte: `e!${author}`, lt: `e!${author}\xff` }).all()) {
        digests.update(blobCid(key === firstKey ? value : await db.get(key) as Uint8Array).multihash.digest)
      }
      read.checkpoint.chains.set(author, { ...chain, digest: new Uint8Array(digests.digest()) })
      await db.batch([{ type: 'put', key: firstKey, value }, { type: 'put', key: 'm!verified', value: encodeCheckpoint(read.checkpoint, randomBytes(32)) }])
    })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_CORRUPT', detail: { author } })
    // a secret file of the wrong size is made anew: a checkpoint is then never trusted either
    await writeFile(join(path, 'verified.key'), Buffer.alloc(3))
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_CORRUPT', detail: { author } })
    expect((await stat(join(path, 'verified.key'))).size).toBe(32)
    expect((await stat(join(path, 'verified.key'))).mode & 0o777).toBe(0o600)
  })

  it('checks evidence and indexes against the checkpoint: a changed evidence record fails, a lost index record is rebuilt', async () => {
    const { genesis } = await makeCommunity()
    const signer = new ChainSigner(genesis.id)
    const volunteer = await keyFor(1)
    let ledger = await openLedger({ path })
    await ledger.append(genesis)
    const first = await signer.sign(volunteer, 'contribution', bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid('blob-1'), 10))
    await ledger.append(first)
    const twin = await signer.sign(volunteer, 'contribution', bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid('blob-2'), 10), { seq: 0, prev: null })
    expect((await ledger.ingest([twin.bytes]))[0]).toMatchObject({ code: 'ERR_LEDGER_EQUIVOCATION', evidence: true })
    await ledger.close()
    ledger = await openLedger({ path })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'used', evidence: 1, signaturesChecked: 0 })
    await ledger.close()

    const [idKey] = await raw(async (db) => await db.keys({ gte: 'i!', lt: 'i!\xff', limit: 1 }).all())
    await raw(async (db) => { await db.del(idKey) })
    ledger = await openLedger({ path })
    expect(ledger.openReport).toMatchObject({ checkpoint: 'used', indexesRebuilt: true })
    await ledger.close()

    const [evidenceKey] = await raw(async (db) => await db.keys({ gte: 'x!', lt: 'x!\xff' }).all())
    await raw(async (db) => {
      const value = Uint8Array.from(await db.get(evidenceKey) as Uint8Array)
      value[value.length - 1] ^= 0x01
      await db.put(evidenceKey, value)
    })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_CORRUPT', detail: { key: evidenceKey } })
  })
})
