/**
 * Ledger benchmark (`npm run bench -- ledger`). Figures, each beside a reference measured in the same run:
 *  - appends/s, batched (256 entries per ingest, no fsync) against raw LevelDB batch puts of the same
 *    frames and against Ed25519 verification alone (every append validates its entry);
 *  - appends/s, synced (one entry per fsynced batch) against raw LevelDB single puts with sync;
 *  - verify-on-open time for 100k entries (a full verification), in entries/s, against Ed25519 verification alone;
 *  - reopen time of that store once verified (the checkpoint of doc/ledger-format.md "Reopen"), against the
 *    full verify-on-open and against a raw LevelDB read of every record with a SHA-256 of each entry frame
 *    (the floor of what the reopen check does);
 *  - sync throughput between two LevelDB stores over an in-memory byte stream, in entries/s, against
 *    the batched append rate (the receiver's ceiling).
 * "Ed25519 verification alone" is the primitive the ledger's validation uses (wire's node:crypto `verify` with a
 * prepared KeyObject per author), measured right before and right after each figure it is compared with; the
 * mean of the two is the reference, so load from other processes moves figure and reference alike.
 * Set SWARMTUNE_BENCH_ENTRIES to change the 100k.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { blobCid, encodeCanonical, signedBytesOf, type SignedEntry, type SigningKey, type UnsignedEntry } from '@swarmtune/wire'
import { openLedger, syncLedger, type Ledger } from '@swarmtune/ledger'
import { bodies, fakeCid, keyFor, makeCommunity } from '../../packages/ledger/test/fixtures.js'
import { duplexPair } from '../../packages/ledger/test/helpers.js'

const ENTRIES = Number(process.env.SWARMTUNE_BENCH_ENTRIES ?? 100_000)
const AUTHORS = 100
const SYNC_ENTRIES = Math.min(20_000, ENTRIES)
const SYNCED_APPENDS = 300

const fmt = (x: number, digits = 3): string => Number(x.toPrecision(digits)).toLocaleString('en-US')
const line = (area: string, figure: string, value: number, unit: string, ref: string, refValue: number, refUnit: string, goal?: string): void => {
  process.stdout.write(`${area}: ${figure} = ${fmt(value)} ${unit}  (vs ${ref} = ${fmt(refValue)} ${refUnit}, ratio ${fmt(value / refValue, 2)}${goal === undefined ? '' : `; goal ${goal}`})\n`)
}
const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9
const cpuSeconds = (from: NodeJS.CpuUsage): number => { const u = process.cpuUsage(from); return (u.user + u.system) / 1e6 }

/**
 * `count` contributions spread over AUTHORS volunteer chains, after a genesis, in chain order. Signed with
 * node:crypto directly (one key object per author) over wire's signed bytes, so that making 100k entries
 * does not dominate the run; the ledger validates each as usual when it stores them.
 */
async function makeEntries (count: number): Promise<{ genesis: SignedEntry, entries: SignedEntry[] }> {
  const { genesis } = await makeCommunity()
  const keys: SigningKey[] = await Promise.all(Array.from({ length: AUTHORS }, async (_, i) => await keyFor(i + 1)))
  const signers = keys.map((k) => createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from((k as unknown as { raw: Uint8Array }).raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(k.publicKey.raw).toString('base64url') }
  }))
  const heads: Array<SignedEntry | undefined> = new Array(AUTHORS)
  const entries: SignedEntry[] = []
  const base = fakeCid('release-0')
  for (let i = 0; i < count; i++) {
    const a = i % AUTHORS
    const prev = heads[a]
    const unsigned = {
      v: 1, community: genesis.id.bytes, author: keys[a].publicKey.raw, seq: prev === undefined ? 0 : prev.entry.seq + 1,
      prev: prev === undefined ? null : prev.id.bytes, ts: 1_700_000_000_000 + i, kind: 'contribution' as const,
      body: bodies.contribution(1 + (i % 50), genesis.id.bytes, base, fakeCid(`blob-${i}`), 10 + (i % 90))
    }
    const sig = new Uint8Array(sign(null, signedBytesOf(unsigned as UnsignedEntry), signers[a]))
    const bytes = encodeCanonical({ ...unsigned, sig })
    const e = { entry: { ...unsigned, sig }, bytes, id: blobCid(bytes) } as unknown as SignedEntry
    heads[a] = e
    entries.push(e)
  }
  return { genesis, entries }
}

async function ingestAll (ledger: Ledger, entries: SignedEntry[], batch: number): Promise<void> {
  for (let i = 0; i < entries.length; i += batch) {
    const results = await ledger.ingest(entries.slice(i, i + batch).map((e) => e.bytes))
    const bad = results.find((r) => r.status !== 'accept')
    if (bad !== undefined) throw new Error(`bench entry not stored: ${bad.code ?? ''} ${bad.reason ?? ''}`)
  }
}

/**
 * A reference measurement: Ed25519 verifications/s of 5,000 entries with node:crypto, each author's key parsed
 * once beforehand (as wire's key cache does).
 */
function ed25519Reference (entries: SignedEntry[]): () => number {
  const keys = new Map<string, KeyObject>()
  const keyOf = (raw: Uint8Array): KeyObject => {
    const x = Buffer.from(raw).toString('base64url')
    let k = keys.get(x)
    if (k === undefined) keys.set(x, k = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x } }))
    return k
  }
  const sample = entries.slice(0, 5_000).map((e) => ({ key: keyOf(e.entry.author), data: signedBytesOf(e.entry), sig: e.entry.sig }))
  return () => {
    const t0 = process.hrtime.bigint()
    for (const s of sample) if (!verify(null, s.data, s.key, s.sig)) throw new Error('bench signature invalid')
    return sample.length / seconds(t0)
  }
}

/** Seconds to read every record of the LevelDB at `dir` in key order and SHA-256 each entry frame. */
async function rawReadSeconds (dir: string): Promise<number> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const t = process.hrtime.bigint()
  const iterator = db.iterator()
  try {
    for (let batch = await iterator.nextv(1000); batch.length > 0; batch = await iterator.nextv(1000)) {
      for (const [key, value] of batch) if (key.startsWith('e!')) createHash('sha256').update(value).digest()
    }
  } finally {
    await iterator.close()
  }
  const s = seconds(t)
  await db.close()
  return s
}

/** Runs `figure` between two reference measurements; returns its result and the mean reference rate. */
async function bracketed<T> (reference: () => number, figure: () => Promise<T>): Promise<{ result: T, referenceRate: number }> {
  const before = reference()
  const result = await figure()
  return { result, referenceRate: (before + reference()) / 2 }
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmtune-ledger-bench-'))
  try {
    const t0 = process.hrtime.bigint()
    const { genesis, entries } = await makeEntries(ENTRIES)
    process.stdout.write(`# ${ENTRIES} entries over ${AUTHORS} author chains signed in ${fmt(seconds(t0))} s\n`)
    const verifyReference = ed25519Reference(entries)
    verifyReference() // warm-up

    // Raw LevelDB: the same frames under chain keys, 256 per batch, no fsync.
    const raw = new Level<string, Uint8Array>(join(dir, 'raw'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    await raw.open()
    let t = process.hrtime.bigint()
    for (let i = 0; i < entries.length; i += 256) {
      await raw.batch(entries.slice(i, i + 256).map((e, j) => ({ type: 'put' as const, key: `e!${i + j}`, value: e.bytes })))
    }
    const rawBatchRate = entries.length / seconds(t)
    t = process.hrtime.bigint()
    for (let i = 0; i < SYNCED_APPENDS; i++) await raw.put(`s!${i}`, entries[i].bytes, { sync: true } as object)
    const rawSyncRate = SYNCED_APPENDS / seconds(t)
    await raw.close()

    // Batched appends into the ledger (this is also the store the open benchmark reopens).
    const path = join(dir, 'ledger')
    let ledger = await openLedger({ path, sync: false })
    await ledger.append(genesis)
    const batched = await bracketed(verifyReference, async () => {
      const t1 = process.hrtime.bigint()
      await ingestAll(ledger, entries, 256)
      return entries.length / seconds(t1)
    })
    const batchedRate = batched.result
    line('ledger', 'appends, batched (256/batch, no fsync)', batchedRate, 'entries/s', 'raw LevelDB batch put', rawBatchRate, 'entries/s')
    line('ledger', 'appends, batched (256/batch, no fsync)', batchedRate, 'entries/s', 'Ed25519 verify alone', batched.referenceRate, 'entries/s', '≥ 0.5 of verify')
    await ledger.close()

    // Synced appends: each entry its own fsynced batch.
    const synced = await openLedger({ path: join(dir, 'synced') })
    await synced.append(genesis)
    t = process.hrtime.bigint()
    for (const e of entries.slice(0, SYNCED_APPENDS)) await synced.append(e)
    line('ledger', 'appends, synced (1/batch, fsync)', SYNCED_APPENDS / seconds(t), 'entries/s', 'raw LevelDB put with sync', rawSyncRate, 'puts/s')
    await synced.close()

    // Verify on open: every chain, signature, head, summary and index of the store.
    let cpu = process.cpuUsage()
    const opened = await bracketed(verifyReference, async () => {
      const t1 = process.hrtime.bigint()
      ledger = await openLedger({ path, verifyOnOpen: 'full' })
      return seconds(t1)
    })
    const openCpuS = cpuSeconds(cpu) // includes the two reference runs of 5,000 verifications
    const openS = opened.result
    process.stdout.write(`ledger: verify-on-open of ${ledger.size} entries = ${fmt(openS)} s\n`)
    line('ledger', 'verify-on-open', ledger.size / openS, 'entries/s', 'Ed25519 verify alone', opened.referenceRate, 'entries/s', '≥ 0.5 of verify')
    await ledger.close()

    // Reopen of the verified store: the checkpoint written on close covers every entry.
    cpu = process.cpuUsage()
    t = process.hrtime.bigint()
    ledger = await openLedger({ path })
    const reopenS = seconds(t)
    const reopenCpuS = cpuSeconds(cpu)
    if (ledger.openReport.checkpoint !== 'used' || ledger.openReport.signaturesChecked !== 0) throw new Error(`the reopen did not use its checkpoint: ${JSON.stringify(ledger.openReport)}`)
    await ledger.close()
    const readS = await rawReadSeconds(join(path, 'db'))
    ledger = await openLedger({ path })
    line('ledger', `reopen of a verified store of ${ledger.size} entries`, reopenS, 's', 'full verify-on-open', openS, 's', '≤ 1 s')
    line('ledger', `reopen of a verified store of ${ledger.size} entries`, reopenS, 's', 'raw LevelDB read of every record + SHA-256 of each entry', readS, 's')
    // CPU time (all threads of this process: LevelDB's reads included) moves less with other processes' load
    process.stdout.write(`# CPU time: reopen ${fmt(reopenCpuS)} s, full verify-on-open ${fmt(openCpuS)} s (with its 10,000 reference verifications)\n`)

    // Sync: a fresh store fetches SYNC_ENTRIES entries from the full one.
    const receiver = await openLedger({ path: join(dir, 'receiver'), sync: false })
    await receiver.append(genesis)
    const partial = await openLedger({ path: join(dir, 'partial'), sync: false })
    await partial.append(genesis)
    await ingestAll(partial, entries.slice(0, SYNC_ENTRIES), 256)
    const [x, y] = duplexPair()
    t = process.hrtime.bigint()
    const [report] = await Promise.all([syncLedger(receiver, x), syncLedger(partial, y)])
    const syncRate = report.appended / seconds(t)
    if (report.appended !== SYNC_ENTRIES) throw new Error(`sync moved ${report.appended} entries, expected ${SYNC_ENTRIES}`)
    line('ledger', `sync throughput (${SYNC_ENTRIES} entries, LevelDB to LevelDB, in-memory stream)`, syncRate, 'entries/s', 'batched appends', batchedRate, 'entries/s', '≥ 0.7 of appends')
    await Promise.all([ledger.close(), receiver.close(), partial.close()])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
