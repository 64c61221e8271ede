/**
 * Wire benchmark (`npm run bench -- wire`). Figures, each beside a reference measured in the same run:
 *  - entry validation throughput (size caps, pre-scan, decode, canonical re-encode, schemas, Ed25519
 *    verify) in entries/s, against Ed25519 verification alone on the same entries with the primitive wire
 *    uses (node:crypto `verify` with a prepared KeyObject: the floor any validator pays);
 *  - the time to reject each kind of hostile 4 MiB frame against the time to decode an honest 4 MiB frame of
 *    the same shape (goal ≤ 2: a hostile frame costs no more than an honest one), and the worst of them.
 */
import { createPublicKey, verify } from 'node:crypto'
import {
  decodeCanonical, encodeCanonical, ENTRY_KINDS, LIMITS, signedBytesOf, signEntry, validateEntry, WireError,
  type SignedEntry
} from '@swarmtune/wire'
import { keyFromSeed, sampleEntry, TS } from '../../packages/wire/test/fixtures.js'

const FRAME_BYTES = LIMITS.maxFrameBytes

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** Median wall time of `fn` in ms over `runs` runs after `warmup` runs. */
async function timeMs (fn: () => unknown, runs: number, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn()
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    await fn()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return median(times)
}

const fmt = (x: number, digits = 3) => Number(x.toPrecision(digits)).toLocaleString('en-US')

async function entryThroughput (): Promise<void> {
  const key = await keyFromSeed(1)
  const signed: SignedEntry[] = []
  for (let i = 0; i < 100; i++) {
    for (const kind of ENTRY_KINDS) signed.push(await signEntry({ ...sampleEntry(kind, key.publicKey.raw), ts: TS + i } as never, key))
  }
  const ctx = { now: TS + 1_000 }
  const validateAll = async () => {
    for (const s of signed) {
      const r = await validateEntry(s.bytes, ctx)
      if (r.status !== 'accept') throw new Error(`bench entry not accepted: ${r.code}`)
    }
  }
  // the key parsed once, as wire's key cache holds it for a run of entries by one author
  const pub = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.publicKey.raw).toString('base64url') } })
  const toVerify = signed.map((s) => ({ data: signedBytesOf(s.entry), sig: s.entry.sig }))
  const verifyAll = () => {
    for (const v of toVerify) if (!verify(null, v.data, pub, v.sig)) throw new Error('bench signature invalid')
  }
  // alternate the two so that load from other processes hits both alike
  const vs: number[] = []
  const ws: number[] = []
  for (let i = 0; i < 9; i++) {
    vs.push(await timeMs(validateAll, 1, i === 0 ? 2 : 0))
    ws.push(await timeMs(verifyAll, 1, i === 0 ? 2 : 0))
  }
  const tValidate = median(vs)
  const tVerify = median(ws)
  const rate = signed.length / (tValidate / 1000)
  const verifyRate = signed.length / (tVerify / 1000)
  const meanBytes = signed.reduce((n, s) => n + s.bytes.length, 0) / signed.length
  console.log(`wire: decode+verify = ${fmt(rate)} entries/s  (vs node:crypto Ed25519 verify alone = ${fmt(verifyRate)} entries/s, ratio ${fmt(rate / verifyRate, 2)}; mean entry ${Math.round(meanBytes)} B, 7 kinds)`)
}

/** An honest frame of exactly FRAME_BYTES: `count` ASCII strings of even sizes in one array. */
function honestStrings (count: number): Uint8Array {
  const strings: string[] = []
  let left = FRAME_BYTES - (count < 16 ? 1 : count < 65_536 ? 3 : 5)
  for (let i = 0; i < count; i++) {
    const share = Math.floor(left / (count - i))
    const strHeader = share - 1 < 32 ? 1 : share - 2 < 256 ? 2 : share - 3 < 65_536 ? 3 : 5
    strings.push(String(i).padStart(share - strHeader, 'x'))
    left -= share
  }
  const frame = encodeCanonical(strings)
  if (frame.length !== FRAME_BYTES) throw new Error(`honest frame is ${frame.length} bytes, wanted ${FRAME_BYTES}`)
  return frame
}

/** An honest frame of exactly FRAME_BYTES holding byte strings (a ledger-sync batch of entry frames). */
function honestBins (count: number): Uint8Array {
  const bins: Uint8Array[] = []
  const header = count < 16 ? 1 : count < 65_536 ? 3 : 5
  let left = FRAME_BYTES - header
  for (let i = 0; i < count; i++) {
    const share = Math.floor(left / (count - i))
    const binHeader = share - 2 < 256 ? 2 : share - 3 < 65_536 ? 3 : 5
    bins.push(new Uint8Array(share - binHeader).fill(i & 0xff))
    left -= share
  }
  const frame = encodeCanonical(bins)
  if (frame.length !== FRAME_BYTES) throw new Error(`honest frame is ${frame.length} bytes, wanted ${FRAME_BYTES}`)
  return frame
}

function rejectCode (frame: Uint8Array): string {
  try {
    decodeCanonical(frame)
  } catch (err) {
    if (err instanceof WireError) return err.code
    throw err
  }
  throw new Error('hostile frame was accepted')
}

async function hostileFrames (): Promise<void> {
  const strings = honestStrings(65_536) // the finest-grained honest shape within the limits
  const bins = honestBins(4_096) // ~1 KiB each, like a batch of entries
  const bulk = honestBins(2) // one near-maximal byte string: a blob chunk

  // Hostile frames, each exactly FRAME_BYTES, each paired with the honest frame of its shape.
  const badUtf8AtEnd = new Uint8Array(strings)
  badUtf8AtEnd[FRAME_BYTES - 1] = 0xff // last string: invalid UTF-8, found only after scanning everything
  const trailing = bins.subarray(0, FRAME_BYTES - 1) // last byte missing: truncated at the very end
  const forged = new Uint8Array(FRAME_BYTES)
  forged.set([0xdd, 0xff, 0xff, 0xff, 0xff]) // array32 claiming 2^32 − 1 elements
  const depthBomb = new Uint8Array(FRAME_BYTES).fill(0x91) // 4 Mi nested one-element arrays
  const itemBomb = new Uint8Array(FRAME_BYTES)
  itemBomb.set([0xdd, 0x00, 0x01, 0x00, 0x00]) // 65,536 elements, each a 15-element array of zeros
  for (let i = 5; i + 16 <= FRAME_BYTES; i += 16) itemBomb[i] = 0x9f

  const honest = [
    { name: 'honest 65,536 strings', frame: strings },
    { name: 'honest 4,096 bins', frame: bins },
    { name: 'honest 2 bins', frame: bulk }
  ]
  const honestMs = new Map<Uint8Array, number>()
  for (const h of honest) {
    decodeCanonical(h.frame) // must be accepted
    honestMs.set(h.frame, await timeMs(() => decodeCanonical(h.frame), 9))
  }
  const hostile = [
    { name: 'invalid UTF-8 in the last of 65,536 strings', frame: badUtf8AtEnd, against: strings },
    { name: 'last byte cut from 4,096 bins', frame: trailing, against: bins },
    { name: 'forged 2^32 array header', frame: forged, against: bulk },
    { name: 'nesting bomb', frame: depthBomb, against: bulk },
    { name: 'item bomb (nested arrays of zeros)', frame: itemBomb, against: strings }
  ]
  let worst = 0
  for (const h of hostile) {
    const code = rejectCode(h.frame)
    const t = await timeMs(() => rejectCode(h.frame), 9)
    const ref = honestMs.get(h.against)!
    const refName = honest.find((x) => x.frame === h.against)!.name
    worst = Math.max(worst, t / ref)
    console.log(`wire: reject ${h.name} = ${fmt(t)} ms  (vs decode ${refName} = ${fmt(ref)} ms, ratio ${fmt(t / ref, 2)}; goal ≤ 2) [${code}]`)
  }
  console.log(`wire: worst hostile/honest 4 MiB ratio = ${fmt(worst, 2)}  (goal ≤ 2)`)
}

await entryThroughput()
await hostileFrames()
