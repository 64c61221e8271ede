/**
 * Hostile entry frames benchmark (`npm run bench -- wire-entry`): the time `validateEntry` takes to reject
 * each kind of hostile frame of ~900 KB (what a gossip or sync peer can send within the release limit), as
 * median and p99 per frame, against the time it takes to validate an honest release entry of the same
 * size measured in the same run (ratio of medians), and against decoding the same frame with the generic
 * codec limits (`decodeCanonical`, which an entry frame used to go through whole before its envelope was
 * read). Times are the process's CPU time per call (user + system, `process.cpuUsage`), so that other
 * processes on a shared machine do not count; the wall-clock median is printed too. Goal: p99 ≤ 5 ms of
 * CPU per hostile frame.
 *
 * Ledger sync frames are read by `decodeSyncMessage` under the sync message's own limits
 * (SYNC_MESSAGE_LIMITS): a map of maps as the hostile-peer suite sends it is timed there, against the same
 * frame decoded under the codec's defaults with the sync frame cap (what sync did before), and against an
 * honest `heads` frame of 4,096 heads.
 */
import { createHash } from 'node:crypto'
import {
  decodeCanonical, encodeCanonical, LIMITS, signEntry, signedBytesOf, validateEntry, type UnsignedEntry
} from '@swarmtune/wire'
import { decodeSyncMessage, SYNC_HEADS_PER_FRAME, SYNC_MAX_FRAME_BYTES } from '@swarmtune/ledger'
import { keyFromSeed, sampleEntry, TS } from '../../packages/wire/test/fixtures.js'

/** Size of every frame measured, in bytes: a 900 KB nested map (the largest hostile frame measured before the item cap), within the 1 MiB release limit. */
const FRAME_BYTES = 900_000
const RUNS = 200

function quantile (xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/** CPU times and wall times in ms of `runs` calls of `fn`, after 5 warm-up calls and a full GC. */
async function times (fn: () => unknown, runs: number): Promise<{ cpu: number[], wall: number[] }> {
  for (let i = 0; i < 5; i++) await fn()
  ;(globalThis as { gc?: () => void }).gc?.()
  const cpu: number[] = []
  const wall: number[] = []
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    await fn()
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000)
  }
  return { cpu, wall }
}

const fmt = (x: number, digits = 3) => Number(x.toPrecision(digits)).toLocaleString('en-US')
const ctx = { now: TS + 60_000 }

/** n distinct contribution ids in ascending byte order. */
function cids (n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const c = new Uint8Array(36)
    c.set([1, 0x55, 0x12, 0x20, i >> 8, i & 0xff])
    c.set(createHash('sha256').update(String(i)).digest().subarray(0, 30), 6)
    return c
  })
}

/** `unsigned` with a metrics string padding its signed frame to exactly FRAME_BYTES. */
function padTo (unsigned: UnsignedEntry<'release'>): UnsignedEntry<'release'> {
  const frame = (pad: string) => encodeCanonical({ ...unsigned, body: { ...unsigned.body, metrics: { ...unsigned.body.metrics, pad } }, sig: new Uint8Array(64) })
  let n = 0
  for (let i = 0; i < 6; i++) {
    const size = frame('x'.repeat(n)).length
    if (size === FRAME_BYTES) break
    n += FRAME_BYTES - size
  }
  // metrics strings are at most maxStringBytes: split the padding over several keys
  const pads: Record<string, string> = {}
  for (let i = 0; i * 60_000 < n; i++) pads[`pad${String(i).padStart(2, '0')}`] = 'x'.repeat(Math.min(60_000, n - i * 60_000))
  const out = { ...unsigned, body: { ...unsigned.body, metrics: { ...unsigned.body.metrics, ...pads } } }
  const size = encodeCanonical({ ...out, sig: new Uint8Array(64) }).length
  return { ...out, body: { ...out.body, metrics: { ...out.body.metrics, pad00: 'x'.repeat(Math.max(0, pads.pad00.length + FRAME_BYTES - size)) } } }
}

/** An entry-shaped frame whose release body holds `maps` maps of `pairs` pairs with `keyBytes`-byte keys. */
function nestedMapBody (author: Uint8Array, maps: number, pairs: number, keyBytes: number): UnsignedEntry {
  const metrics: Record<string, unknown> = {}
  for (let i = 0; i < maps; i++) {
    const m: Record<string, number> = {}
    for (let j = 0; j < pairs; j++) m[String(j).padStart(keyBytes, 'k')] = j
    metrics[String(i).padStart(8, '0')] = m
  }
  const release = sampleEntry('release', author)
  return { ...release, body: { ...release.body, metrics } } as unknown as UnsignedEntry
}

async function main (): Promise<void> {
  const key = await keyFromSeed(1)
  const throwaway = await keyFromSeed(99)
  const author = key.publicKey.raw

  // the reference: an honest release of 10,000 contributions, padded to FRAME_BYTES
  const ids = cids(10_000).sort(Buffer.compare)
  const base = sampleEntry('release', author)
  const honestUnsigned = padTo({ ...base, body: { ...base.body, contributions: ids, weights: ids.map((_, i) => (i + 0.5) / 10_000) } })
  const honest = await signEntry(honestUnsigned, key)
  if ((await validateEntry(honest.bytes, ctx)).status !== 'accept') throw new Error('the honest release was not accepted')

  const frames: Array<{ name: string, bytes: Uint8Array }> = []
  // 1. the nested map of the hostile-peer report: 1,000 maps of 64 pairs (~129,000 values), unsigned
  const bomb = nestedMapBody(author, 1_000, 64, 12)
  frames.push({ name: 'nested maps, 129,000 values', bytes: encodeCanonical({ ...bomb, sig: new Uint8Array(64).fill(7) }) })
  // 2. nested maps within the entry item limit (keys long enough to fill the frame), bad signature
  const within = nestedMapBody(author, 160, 64, 84)
  frames.push({ name: 'nested maps, 20,700 values, unsigned', bytes: encodeCanonical({ ...within, sig: new Uint8Array(64).fill(7) }) })
  // 3. the same with an unknown body field, validly signed by a throwaway key: decoded in full, then
  // refused by the release schema (the worst case: only a signed frame gets this far)
  const withinByThrowaway = { ...within, author: throwaway.publicKey.raw, body: { ...within.body, note: 1 } } as unknown as UnsignedEntry
  frames.push({ name: 'nested maps, 20,700 values, signed', bytes: encodeCanonical({ ...withinByThrowaway, sig: await throwaway.sign(signedBytesOf(withinByThrowaway)) }) })
  // 4. depth bomb: nested one-element arrays
  frames.push({ name: 'depth bomb', bytes: new Uint8Array(FRAME_BYTES).fill(0x91) })
  // 5. length lie: a map32 header claiming 2^32 − 1 pairs
  const lie = new Uint8Array(FRAME_BYTES)
  lie.set([0xdf, 0xff, 0xff, 0xff, 0xff])
  frames.push({ name: 'map32 header claiming 2^32 − 1 pairs', bytes: lie })
  // 6. truncation: the honest release without its last byte
  frames.push({ name: 'honest release cut by one byte', bytes: honest.bytes.subarray(0, honest.bytes.length - 1) })
  // 7. non-canonical: the honest release with its last weight written as the float64 1.0 (an integer)
  const weightsKey = Buffer.from('a7776569676874730dc2710', 'hex').subarray(0, 8)
  const at = Buffer.from(honest.bytes).indexOf(weightsKey) + weightsKey.length + 3 + 9 * 9_999
  const nonCanonical = new Uint8Array(honest.bytes)
  nonCanonical.set([0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], at)
  frames.push({ name: 'honest release with a float64 integer weight', bytes: nonCanonical })
  // 8. replay: the honest release with one signature bit flipped
  const fields = decodeCanonical(honest.bytes) as Record<string, Uint8Array>
  const flipped = new Uint8Array(fields.sig)
  flipped[5] ^= 1
  frames.push({ name: 'honest release, one signature bit flipped', bytes: encodeCanonical({ ...fields, sig: flipped }) })
  // 9. forgery: the release authored by the identity point, R = identity, S = 0
  const identity = new Uint8Array(32)
  identity[0] = 1
  const forged = new Uint8Array(64)
  forged[0] = 1
  frames.push({ name: 'release by the identity point (R = identity, S = 0)', bytes: encodeCanonical({ ...fields, author: identity, sig: forged }) })

  const reference = await times(async () => await validateEntry(honest.bytes, ctx), 40)
  const refMs = quantile(reference.cpu, 0.5)
  console.log(`wire-entry: validate honest release (10,000 contributions) of ${fmt(honest.bytes.length / 1000)} KB = ${fmt(refMs)} ms CPU median, ${fmt(quantile(reference.cpu, 0.99))} ms p99 (wall median ${fmt(quantile(reference.wall, 0.5))} ms)`)
  let worst = 0
  for (const f of frames) {
    const result = await validateEntry(f.bytes, ctx)
    if (result.status === 'accept' || result.code === undefined) throw new Error(`hostile frame "${f.name}" was not rejected with a code`)
    const t = await times(async () => await validateEntry(f.bytes, ctx), RUNS)
    const generic = await times(() => { try { decodeCanonical(f.bytes, { maxFrameBytes: LIMITS.maxFrameBytes }) } catch { /* hostile: rejected, as expected */ } }, 20)
    const p50 = quantile(t.cpu, 0.5)
    const p99 = quantile(t.cpu, 0.99)
    worst = Math.max(worst, p99)
    console.log(`wire-entry: reject ${f.name} (${fmt(f.bytes.length / 1000)} KB) = ${fmt(p50)} ms CPU median, ${fmt(p99)} ms p99, wall median ${fmt(quantile(t.wall, 0.5))} ms  ` +
      `(vs validate honest release = ${fmt(refMs)} ms, ratio ${fmt(p50 / refMs, 2)}; generic decode of the frame = ${fmt(quantile(generic.cpu, 0.5))} ms; goal p99 ≤ 5 ms) [${result.code}]`)
  }
  console.log(`wire-entry: worst p99 CPU time to reject a hostile ~${fmt(FRAME_BYTES / 1000)} KB entry frame = ${fmt(worst)} ms  (goal ≤ 5 ms)`)
  await syncFrames()
}

/** A sync frame of maps of maps (the hostile-peer suite's `sync-nested-map` at its worst under the codec's item cap: 250 maps of 250 keys, 125,501 values), and an honest heads frame. */
async function syncFrames (): Promise<void> {
  const key = (i: number): string => `k${String(i).padStart(4, '0')}`
  const nested = encodeCanonical(Object.fromEntries(Array.from({ length: 250 }, (_, i) => [key(i), Object.fromEntries(Array.from({ length: 250 }, (_, j) => [key(j), j % 128]))])))
  const heads = encodeCanonical({
    t: 'heads', heads: Array.from({ length: SYNC_HEADS_PER_FRAME }, (_, i) => [createHash('sha256').update(`a${i}`).digest(), i, cids(1)[0]]), last: true
  })
  const honest = await times(() => decodeSyncMessage(heads), 40)
  const refused = await times(() => { try { decodeSyncMessage(nested) } catch { /* refused, as expected */ } }, RUNS)
  const before = await times(() => { try { decodeCanonical(nested, { maxFrameBytes: SYNC_MAX_FRAME_BYTES }) } catch { /* not a sync message */ } }, 10)
  const p50 = quantile(refused.cpu, 0.5)
  console.log(`wire-entry: sync frame of 250 × 250 nested maps (${fmt(nested.length / 1000)} KB) refused by decodeSyncMessage = ${fmt(p50)} ms CPU median, ${fmt(quantile(refused.cpu, 0.99))} ms p99  ` +
    `(vs decoded under the codec defaults, as before = ${fmt(quantile(before.cpu, 0.5))} ms, ratio ${fmt(p50 / quantile(before.cpu, 0.5), 2)}; honest heads frame of ${SYNC_HEADS_PER_FRAME} heads, ${fmt(heads.length / 1000)} KB = ${fmt(quantile(honest.cpu, 0.5))} ms; goal p99 ≤ 5 ms)`)
}

await main()
