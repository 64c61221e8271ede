import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { encodeCanonical, parseCid, signedBytesOf, type SignedEntry, type SigningKey, type UnsignedEntry } from '@swarmtune/wire'
import { createMemoryDb, LENGTHS_WRITE_INTERVAL_MS, MAINTAINER_KINDS, openLedger, syncLedger, type Ledger } from '../src/index.js'
import { bodies, ChainSigner, eachTempFolder, fakeCid, flipSignatureBit, keyFor, makeCommunity } from './fixtures.js'
import { duplexPair, exited, startChild, waitForLine } from './helpers.js'

async function collect (it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const x of it) out.push(x)
  return out
}

let dir: string
let path: string
eachTempFolder('swarmtune-ledger-', (d) => { dir = d; path = join(d, 'ledger') })

/** A store with a genesis, a round-open, three volunteers' contributions, verdicts and a release. */
async function populate (ledger: Ledger): Promise<{ entries: SignedEntry[] }> {
  const { maintainer, genesis } = await makeCommunity()
  await ledger.append(genesis)
  const base = fakeCid('release-0')
  const entries = [genesis]
  const roundOpen = await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(1, base) }, maintainer)
  entries.push(roundOpen)
  const contributions: SignedEntry[] = []
  for (let v = 1; v <= 3; v++) {
    const key = await keyFor(v)
    for (let i = 0; i < 2; i++) {
      const c = await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, roundOpen.id.bytes, base, fakeCid(`blob-${v}-${i}`), 100 * v) }, key)
      contributions.push(c)
      entries.push(c)
    }
  }
  for (const c of contributions) entries.push(await ledger.sign({ kind: 'verdict', body: bodies.verdict(1, c.id.bytes, true) }, maintainer))
  entries.push(await ledger.sign({ kind: 'release', body: bodies.release(1, base, fakeCid('release-1'), contributions.map((c) => c.id.bytes), contributions.map(() => 1 / 6)) }, maintainer))
  return { entries }
}

/** A store at `path` {@link populate}d, then closed: its entries. */
async function populated (): Promise<SignedEntry[]> {
  const ledger = await openLedger({ path })
  const { entries } = await populate(ledger)
  await ledger.close()
  return entries
}

/** Runs `fn` on a store opened with `init` (default the one at `path`), then closes it, whatever `fn` did. */
async function withLedger (fn: (ledger: Ledger) => Promise<void>, init: Parameters<typeof openLedger>[0] = { path }): Promise<void> {
  const ledger = await openLedger(init)
  try {
    await fn(ledger)
  } finally {
    await ledger.close()
  }
}

/** Runs `fn` on the raw LevelDB of the (closed) store. */
async function raw (fn: (db: Level<string, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<string, Uint8Array>(join(path, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    await fn(db)
  } finally {
    await db.close()
  }
}

async function keysWith (prefix: string): Promise<string[]> {
  let keys: string[] = []
  await raw(async (db) => { keys = await db.keys({ gte: prefix, lt: prefix + '\xff' }).all() })
  return keys
}

describe('ledger store on LevelDB', () => {
  it('keeps every entry, head and index across close and reopen', async () => {
    const ledger = await openLedger({ path })
    const { entries } = await populate(ledger)
    const heads = ledger.heads()
    await ledger.close()
    await withLedger(async (again) => {
      expect(again.openReport).toMatchObject({ entries: entries.length, authors: 4, evidence: 0, indexesRebuilt: false })
      expect(again.heads()).toEqual(heads)
      expect(again.community?.toString()).toBe(entries[0].id.toString())
      const kinds: string[] = []
      for await (const e of again.entries({ round: 1 })) kinds.push(e.entry.kind)
      expect(kinds.filter((k) => k === 'contribution')).toHaveLength(6)
      const released: string[] = []
      for await (const e of again.entries({ release: parseCid(fakeCid('release-1')).toString() })) released.push(e.entry.kind)
      expect(released).toEqual(['release'])
    })
  })

  it('reports the verification on open and on request as ledger:verify progress events, and stops on its signal', async () => {
    const entries = await populated()
    const seen: Array<{ type: string, verified: number, total: number }> = []
    await withLedger(async (again) => {
      expect(seen.at(-1)).toEqual({ type: 'ledger:verify', verified: entries.length, total: entries.length })
      seen.length = 0
      await again.verify({ onProgress: (evt) => { seen.push({ type: evt.type, ...evt.detail }) } })
      expect(seen.at(-1)).toEqual({ type: 'ledger:verify', verified: entries.length, total: entries.length })
      await expect(again.verify({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: expect.stringMatching(/Abort/) })
    }, { path, onProgress: (evt) => { seen.push({ type: evt.type, ...evt.detail }) } })
  })

  it('indexes entries by the release manifests they name', async () => {
    await withLedger(async (ledger) => {
      await populate(ledger)
      const base = parseCid(fakeCid('release-0')).toString()
      const kinds: string[] = []
      for await (const e of ledger.entries({ release: base })) kinds.push(e.entry.kind)
      // genesis release, round-open base, six contribution bases, release parent
      expect(kinds.sort()).toEqual(['contribution', 'contribution', 'contribution', 'contribution', 'contribution', 'contribution', 'genesis', 'release', 'round-open'])
    })
  })

  it('signs checkpoints of its own chain and refuses a checkpoint that misstates it', async () => {
    await withLedger(async (ledger) => {
      const { entries } = await populate(ledger)
      const maintainer = await keyFor(0)
      const cp = await ledger.sign({ kind: 'checkpoint' }, maintainer)
      expect(cp.entry.body).toMatchObject({ length: cp.entry.seq })
      await expect(ledger.sign({ kind: 'checkpoint', body: { length: 3, head: entries[0].id.bytes } }, maintainer))
        .rejects.toMatchObject({ code: 'ERR_LEDGER_BAD_CHECKPOINT' })
    })
  })

  it('refuses to sign a non-genesis entry before it knows its community', async () => {
    await withLedger(async (ledger) => {
      await expect(ledger.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('x')) }, await keyFor(0)))
        .rejects.toMatchObject({ code: 'ERR_LEDGER_BAD_ARGUMENT' })
    })
  })

  it('rejects forged and foreign entries from the network without storing them', async () => {
    await withLedger(async (ledger) => {
      const { entries } = await populate(ledger)
      const forged = flipSignatureBit(entries[2])
      const other = await makeCommunity('another-community')
      const foreignKey = await keyFor(9)
      const foreign = await other.signer.sign(foreignKey, 'contribution', bodies.contribution(1, other.genesis.id.bytes, fakeCid('b'), fakeCid('c'), 1))
      const results = await ledger.ingest([forged, other.genesis.bytes, foreign.bytes, new Uint8Array([0xc1]), new Uint8Array(0)])
      expect(results.map((r) => [r.status, r.code])).toEqual([
        ['reject', 'ERR_WIRE_BAD_SIGNATURE'],
        ['reject', 'ERR_WIRE_WRONG_COMMUNITY'],
        ['reject', 'ERR_WIRE_WRONG_COMMUNITY'],
        ['reject', expect.stringMatching(/^ERR_WIRE_/)],
        ['reject', expect.stringMatching(/^ERR_WIRE_/)]
      ])
      expect(ledger.size).toBe(entries.length)
    })
  })
})

describe('maintainer rights', () => {
  const hex = (key: SigningKey): string => Buffer.from(key.publicKey.raw).toString('hex')

  /** One entry of each maintainer-only kind, signed by `key` at the head of its chain in `ledger`. */
  async function maintainerKinds (signer: ChainSigner, key: SigningKey, ledger: Ledger): Promise<SignedEntry[]> {
    const head = ledger.head(key.publicKey.raw)
    const at = { seq: head?.length ?? 0, prev: head === undefined ? null : parseCid(head.id).bytes }
    const base = fakeCid('release-0')
    const open = fakeCid('some-round-open')
    return [
      await signer.sign(key, 'round-open', bodies.roundOpen(1, base), at),
      await signer.sign(key, 'verdict', bodies.verdict(1, open, true), at),
      await signer.sign(key, 'release', bodies.release(1, base, fakeCid('release-1'), [open], [1]), at),
      await signer.sign(key, 'round-close', bodies.roundClose(1, open), at)
    ]
  }

  it('refuses round-open, verdict, release and round-close from a key the genesis does not name, on every path', async () => {
    const { maintainer, genesis, signer } = await makeCommunity()
    await withLedger(async (ledger) => {
      await ledger.append(genesis)
      expect([...ledger.maintainers ?? []]).toEqual([hex(maintainer)])
      const stranger = await keyFor(5)
      await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, genesis.id.bytes, fakeCid('r'), fakeCid('b'), 5) }, stranger)
      const forged = await maintainerKinds(signer, stranger, ledger)
      expect(forged.map((e) => e.entry.kind)).toEqual([...MAINTAINER_KINDS])
      const results = await ledger.ingest(forged.map((e) => e.bytes))
      expect(results.map((r) => [r.status, r.code])).toEqual(forged.map(() => ['reject', 'ERR_LEDGER_NOT_MAINTAINER']))
      expect(results[0].reason).toContain(hex(stranger))
      for (const e of forged) {
        await expect(ledger.append(e)).rejects.toMatchObject({ name: 'LedgerEntryError', code: 'ERR_LEDGER_NOT_MAINTAINER' })
        await expect(ledger.sign({ kind: e.entry.kind, body: e.entry.body }, stranger)).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
        expect(await ledger.get(e.id)).toBeUndefined()
      }
      expect(ledger.size).toBe(2)
      // the same kinds from the maintainer are stored, and a checkpoint from anyone
      const own = await maintainerKinds(signer, maintainer, ledger)
      expect((await ledger.ingest([own[0].bytes])).map((r) => r.status)).toEqual(['accept'])
      await ledger.sign({ kind: 'checkpoint' }, stranger)
      expect(ledger.size).toBe(4)
    }, { db: createMemoryDb() })
  })

  it('lets every maintainer the genesis names sign, and no one else', async () => {
    const [creator, second, stranger] = [await keyFor(0), await keyFor(1), await keyFor(2)]
    await withLedger(async (ledger) => {
      await ledger.sign({ kind: 'genesis', body: bodies.genesis([creator.publicKey.raw, second.publicKey.raw]) }, creator)
      expect(ledger.isMaintainer(second.publicKey.raw)).toBe(true)
      expect(ledger.isMaintainer(hex(stranger))).toBe(false)
      await ledger.sign({ kind: 'round-open', body: bodies.roundOpen(1, fakeCid('release-0')) }, second)
      await expect(ledger.sign({ kind: 'round-open', body: bodies.roundOpen(2, fakeCid('release-0')) }, stranger)).rejects.toMatchObject({ code: 'ERR_LEDGER_NOT_MAINTAINER' })
    }, { db: createMemoryDb() })
  })

  it('holds maintainer-only entries back until the genesis is stored, in the same batch or a later one', async () => {
    const { maintainer, genesis, signer } = await makeCommunity()
    const volunteer = await keyFor(1)
    const open = await signer.sign(maintainer, 'round-open', bodies.roundOpen(1, fakeCid('release-0')))
    const contribution = await signer.sign(volunteer, 'contribution', bodies.contribution(1, open.id.bytes, fakeCid('release-0'), fakeCid('b'), 5))
    await withLedger(async (ledger) => {
      // a contribution may come first (it names the community); the round-open waits for the genesis
      const early = await ledger.ingest([contribution.bytes, open.bytes])
      expect(early.map((r) => [r.status, r.code])).toEqual([['accept', undefined], ['ignore', 'ERR_LEDGER_NO_GENESIS']])
      expect(ledger.maintainers).toBeUndefined()
      await expect(ledger.append(open)).rejects.toMatchObject({ code: 'ERR_LEDGER_NO_GENESIS' })
      const late = await ledger.ingest([genesis.bytes, open.bytes])
      expect(late.map((r) => r.status)).toEqual(['accept', 'accept'])
      expect(ledger.isMaintainer(maintainer.publicKey.raw)).toBe(true)
    }, { db: createMemoryDb() })
  })

  it('rejects a genesis whose author is not among its maintainers', async () => {
    const [author, other] = [await keyFor(0), await keyFor(1)]
    const unsigned = {
      v: 1, community: new Uint8Array(0), author: author.publicKey.raw, seq: 0, prev: null, ts: 1_700_000_000_000, kind: 'genesis',
      body: bodies.genesis([other.publicKey.raw])
    } as unknown as UnsignedEntry
    const bytes = encodeCanonical({ ...unsigned, sig: await author.sign(signedBytesOf(unsigned)) })
    await withLedger(async (ledger) => {
      expect(await ledger.ingest([bytes])).toMatchObject([{ status: 'reject', code: 'ERR_WIRE_BAD_BODY' }])
      await expect(ledger.append(bytes)).rejects.toMatchObject({ code: 'ERR_WIRE_BAD_BODY' })
      expect(ledger.size).toBe(0)
      expect(ledger.community).toBeUndefined()
    }, { db: createMemoryDb() })
  })

  it('knows the maintainers again after reopening, and refuses to open a store holding a non-maintainer round-open', async () => {
    const entries = await populated()
    const again = await openLedger({ path })
    expect(again.isMaintainer((await keyFor(0)).publicKey.raw)).toBe(true)
    expect(again.isMaintainer((await keyFor(1)).publicKey.raw)).toBe(false)
    await again.close()

    // Written past the store's checks, straight into LevelDB, with the records that count it kept consistent.
    const stranger = await keyFor(6)
    const usurped = await new ChainSigner(entries[0].id).sign(stranger, 'round-open', bodies.roundOpen(2, fakeCid('release-1')))
    const author = hex(stranger)
    await raw(async (db) => {
      const summary = JSON.parse(new TextDecoder().decode(await db.get('m!summary'))) as { entries: number, authors: number, evidence: number, digest: string }
      const digest = Buffer.from(summary.digest, 'hex')
      usurped.id.multihash.digest.forEach((b, i) => { digest[i] ^= b })
      await db.batch([
        { type: 'put', key: `e!${author}!${'0'.repeat(16)}`, value: usurped.bytes },
        { type: 'put', key: `h!${author}`, value: new TextEncoder().encode(JSON.stringify({ seq: 0, id: usurped.id.toString() })) },
        { type: 'put', key: 'm!summary', value: new TextEncoder().encode(JSON.stringify({ ...summary, entries: summary.entries + 1, authors: summary.authors + 1, digest: digest.toString('hex') })) }
      ])
    })
    await expect(openLedger({ path })).rejects.toMatchObject({ name: 'LedgerCorruptError', code: 'ERR_LEDGER_CORRUPT', detail: { author, seq: 0 } })
  })
})

describe('ledger store lock', () => {
  it('refuses a second open in the same process and keeps the first open store locked against other processes', async () => {
    const first = await openLedger({ path })
    try {
      await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOCKED', pid: process.pid })
      // The failed second open must not have released LevelDB's OS lock: another process is still refused.
      const child = startChild('try', path)
      const line = await waitForLine(child, (l) => l.startsWith('ok') || l.startsWith('error'))
      await exited(child)
      expect(line).toBe(`error ERR_LEDGER_LOCKED ${process.pid}`)
      await populate(first)
    } finally {
      await first.close()
    }
    const again = await openLedger({ path })
    await again.close()
  })

  it('names the process that holds the store, and opens once that process is gone', async () => {
    const child = startChild('hold', path)
    try {
      await waitForLine(child, (l) => l.startsWith('open'))
      await expect(openLedger({ path })).rejects.toMatchObject({ name: 'LedgerLockedError', code: 'ERR_LEDGER_LOCKED', pid: child.pid })
    } finally {
      child.kill('SIGKILL')
      await exited(child)
    }
    // The killed holder left its lock file behind; its pid is dead, so the lock is stale.
    expect(JSON.parse(await readFile(join(path, 'lock'), 'utf8')).pid).toBe(child.pid)
    const ledger = await openLedger({ path })
    expect(JSON.parse(await readFile(join(path, 'lock'), 'utf8')).pid).toBe(process.pid)
    await ledger.close()
  })

  describe('while another process holds LevelDB\'s lock', () => {
    let child: ReturnType<typeof startChild>
    const lockFile = (): string => join(path, 'lock')
    // /proc/locks names the process holding db/LOCK (Linux); elsewhere the holder is reported as unknown
    const holderPid = (): number | undefined => process.platform === 'linux' ? child.pid : undefined
    beforeEach(async () => {
      child = startChild('hold', path)
      await waitForLine(child, (l) => l.startsWith('open'))
    })
    afterEach(async () => {
      child.kill('SIGKILL')
      await exited(child)
    })

    it('with a stale lock file of a dead process: names the real holder, not the dead pid, and keeps that lock file', async () => {
      const stale = JSON.stringify({ pid: 999999, hostname: (await import('node:os')).hostname(), lockedAt: 0 })
      await writeFile(lockFile(), stale)
      const err = await openLedger({ path }).catch((e: unknown) => e)
      expect(err).toMatchObject({ name: 'LedgerLockedError', code: 'ERR_LEDGER_LOCKED', pid: holderPid(), holder: { lockFile: 'stale', lockFilePid: 999999 } })
      expect((err as { holder: { self?: boolean } }).holder.self).not.toBe(true)
      expect(await readFile(lockFile(), 'utf8')).toBe(stale)
    })

    it('with the lock file deleted: does not claim this process holds it, and removes only the lock file it created', async () => {
      await rm(lockFile())
      const err = await openLedger({ path }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'ERR_LEDGER_LOCKED', pid: holderPid(), holder: { lockFile: 'missing' } })
      expect((err as { holder: { self?: boolean } }).holder.self).not.toBe(true)
      await expect(readFile(lockFile(), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' })
    })

    it('never removes a lock file it did not write, even one naming this process', async () => {
      const leftover = JSON.stringify({ pid: process.pid, hostname: (await import('node:os')).hostname(), lockedAt: 0 })
      await writeFile(lockFile(), leftover)
      await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOCKED', pid: holderPid(), holder: { lockFile: 'stale' } })
      expect(await readFile(lockFile(), 'utf8')).toBe(leftover)
    })
  })

  it('takes over a lock file whose pid is alive but belongs to another process (pid reuse)', async () => {
    await (await openLedger({ path })).close()
    await writeFile(join(path, 'lock'), JSON.stringify({ pid: 1, hostname: (await import('node:os')).hostname(), lockedAt: 0 }))
    const ledger = await openLedger({ path })
    expect(JSON.parse(await readFile(join(path, 'lock'), 'utf8')).pid).toBe(process.pid)
    await ledger.close()
  })
})

describe('ledger store bound to a community', () => {
  it('refuses every entry of another community from the first one on, at ingest and at sync, and stays bound after reopen', async () => {
    const a = await makeCommunity('community-a')
    const b = await makeCommunity('community-b')
    const theirs = await openLedger({ db: createMemoryDb() })
    await theirs.append(a.genesis)
    await theirs.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('open'), fakeCid('release-0'), fakeCid('blob-a'), 10) }, await keyFor(1))
    let ours = await openLedger({ path, community: b.genesis.id })
    expect(ours.community?.toString()).toBe(b.genesis.id.toString())
    const results = await ours.ingest([a.genesis.bytes, ...(await collect(theirs.chainBytes(theirs.heads()[0].author)))])
    for (const r of results) expect(r).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WRONG_COMMUNITY' })
    const [x, y] = duplexPair()
    const [mine, other] = await Promise.allSettled([syncLedger(ours, x), syncLedger(theirs, y)])
    expect(mine).toMatchObject({ status: 'rejected', reason: { code: 'ERR_LEDGER_SYNC_COMMUNITY' } })
    expect(other.status).toBe('rejected')
    expect(ours.size).toBe(0)
    await ours.close()
    // the binding is stored: an open without `community` keeps it, and the own genesis is taken
    ours = await openLedger({ path })
    expect(ours.community?.toString()).toBe(b.genesis.id.toString())
    expect((await ours.ingest([a.genesis.bytes]))[0]).toMatchObject({ status: 'reject', code: 'ERR_WIRE_WRONG_COMMUNITY' })
    expect((await ours.append(b.genesis)).duplicate).toBe(false)
    await ours.close()
    await theirs.close()
  })

  it('refuses to open a store of another community for this one, and leaves it unlocked and unchanged', async () => {
    const a = await makeCommunity('community-a')
    const b = await makeCommunity('community-b')
    const ledger = await openLedger({ path })
    await ledger.append(a.genesis)
    await ledger.close()
    await expect(openLedger({ path, community: b.genesis.id.toString() })).rejects.toMatchObject({
      name: 'LedgerCommunityError', code: 'ERR_LEDGER_COMMUNITY_MISMATCH', found: a.genesis.id.toString(), expected: b.genesis.id.toString(), entries: 1
    })
    await expect(openLedger({ path, community: 'not-a-cid' })).rejects.toMatchObject({ code: 'ERR_LEDGER_BAD_ARGUMENT' })
    const again = await openLedger({ path, community: a.genesis.id })
    expect(again.size).toBe(1)
    await again.close()
  })
})

describe('ledger store lengths.json', () => {
  it('runs the periodic lengths write and the one of close one after the other: close succeeds and the file is whole', async () => {
    // Only the interval is faked, so the test decides when the periodic write starts: right before close.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    try {
      const { maintainer, genesis } = await makeCommunity()
      const volunteer = await keyFor(1)
      for (let i = 0; i < 8; i++) {
        const ledger = await openLedger({ path, sync: false })
        if (i === 0) await ledger.append(genesis)
        await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, fakeCid('round-open'), fakeCid('release-0'), fakeCid(`blob-${i}`), 10) }, volunteer)
        vi.advanceTimersByTime(LENGTHS_WRITE_INTERVAL_MS) // starts the periodic write (the store changed)
        await ledger.close() // writes lengths.json too, while the periodic write is in flight
        const lengths = JSON.parse(await readFile(join(path, 'lengths.json'), 'utf8')) as { entries: number, authors: Record<string, number> }
        expect(lengths.entries).toBe(i + 2)
        expect(lengths.authors[Buffer.from(volunteer.publicKey.raw).toString('hex')]).toBe(i + 1)
        expect(lengths.authors[Buffer.from(maintainer.publicKey.raw).toString('hex')]).toBe(1)
      }
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('ledger store verification on open', () => {
  it('fails with ERR_LEDGER_TRUNCATED when an entry in the middle of a chain is gone', async () => {
    await populated()
    const [, second] = await keysWith('e!' + Buffer.from((await keyFor(1)).publicKey.raw).toString('hex'))
    await raw(async (db) => { await db.del(second) })
    await expect(openLedger({ path })).rejects.toMatchObject({ name: 'LedgerCorruptError', code: 'ERR_LEDGER_TRUNCATED' })
  })

  it('fails with ERR_LEDGER_TRUNCATED when the last entry of a chain is gone', async () => {
    await populated()
    const keys = await keysWith('e!' + Buffer.from((await keyFor(0)).publicKey.raw).toString('hex'))
    await raw(async (db) => { await db.del(keys[keys.length - 1]) })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_TRUNCATED' })
  })

  it('fails with ERR_LEDGER_TRUNCATED when a whole chain and its head are gone', async () => {
    await populated()
    const author = Buffer.from((await keyFor(2)).publicKey.raw).toString('hex')
    const keys = await keysWith('e!' + author)
    await raw(async (db) => { await db.batch([...keys, 'h!' + author].map((key) => ({ type: 'del' as const, key }))) })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_TRUNCATED' })
  })

  it('fails with ERR_LEDGER_TRUNCATED when the store was rolled back to an earlier consistent state', async () => {
    await populated()
    await cp(join(path, 'db'), join(dir, 'db-copy'), { recursive: true })
    const later = await openLedger({ path })
    await later.sign({ kind: 'checkpoint' }, await keyFor(0))
    await later.close()
    await rm(join(path, 'db'), { recursive: true })
    await cp(join(dir, 'db-copy'), join(path, 'db'), { recursive: true })
    await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_TRUNCATED' })
  })

  it('fails with ERR_LEDGER_CORRUPT when an entry byte, a head, the summary or the schema record is damaged', async () => {
    await populated()
    const damages: Array<(db: Level<string, Uint8Array>) => Promise<void>> = [
      async (db) => {
        const [key] = await db.keys({ gte: 'e!', lt: 'e!\xff', limit: 1 }).all()
        const value = Uint8Array.from((await db.get(key))!)
        value[value.length - 1] ^= 0x80
        await db.put(key, value)
      },
      async (db) => { await db.del((await db.keys({ gte: 'h!', lt: 'h!\xff', limit: 1 }).all())[0]) },
      async (db) => { await db.del('m!summary') },
      async (db) => { await db.put('z!stray', new Uint8Array([1])) },
      async (db) => { await db.del('m!schema') },
      async (db) => { await db.del('m!community') }
    ]
    await cp(path, join(dir, 'pristine'), { recursive: true })
    for (const damage of damages) {
      await rm(path, { recursive: true })
      await cp(join(dir, 'pristine'), path, { recursive: true })
      await raw(damage)
      await expect(openLedger({ path })).rejects.toMatchObject({ code: 'ERR_LEDGER_CORRUPT' })
    }
  })

  it('refuses a store of another schema version with ERR_LEDGER_SCHEMA', async () => {
    await populated()
    await raw(async (db) => { await db.put('m!schema', new TextEncoder().encode('{"version":2}')) })
    await expect(openLedger({ path })).rejects.toMatchObject({ name: 'LedgerSchemaError', code: 'ERR_LEDGER_SCHEMA', found: 2, expected: 1 })
  })

  it('rebuilds lost index records from the verified entries', async () => {
    const entries = await populated()
    const kindKeys = await keysWith('k!contribution!')
    await raw(async (db) => { await db.batch(kindKeys.slice(0, 3).map((key) => ({ type: 'del' as const, key }))) })
    await withLedger(async (ledger) => {
      expect(ledger.openReport.indexesRebuilt).toBe(true)
      let n = 0
      for await (const _ of ledger.entries({ kind: 'contribution' })) n++
      expect(n).toBe(entries.filter((e) => e.entry.kind === 'contribution').length)
    })
  })
})
