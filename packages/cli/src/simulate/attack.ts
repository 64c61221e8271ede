/**
 * Byzantine clients for robustness experiments: what an attacker sends instead of its honest delta. The `nan`
 * attacker crafts fp32 bytes full of NaN (the decoder accepts them as well-formed; the aggregator's validation
 * must reject them); the others send a transformed delta through the round's codec like everyone else.
 */
import { encodeDelta, type ModelSpec } from '@swarmtune/fedavg'
import type { Rng } from '@swarmtune/model'
import type { AttackOptions } from './options.js'

/** RMS of a delta over all its values. */
function rms (delta: readonly Float32Array[]): number {
  let s = 0
  let n = 0
  for (const t of delta) {
    for (let i = 0; i < t.length; i++) s += t[i] * t[i]
    n += t.length
  }
  return Math.sqrt(s / Math.max(1, n))
}

/** The delta a `sign-flip` or `noise` attacker sends in place of `honest`. */
export function attackDelta (attack: AttackOptions, honest: readonly Float32Array[], rng: Rng): Float32Array[] {
  if (attack.kind === 'sign-flip') return honest.map((t) => t.map((v) => -attack.scale * v))
  const sigma = attack.scale * rms(honest)
  return honest.map((t) => Float32Array.from({ length: t.length }, () => sigma * rng.normal()))
}

/** Well-formed fp32 delta bytes whose every value is the quiet NaN 0x7FC00000 (bytes 00 00 C0 7F). */
export function nanDeltaBytes (spec: ModelSpec): Uint8Array {
  const bytes = encodeDelta(spec.sizes.map((n) => new Float32Array(n)), spec, { codec: 'fp32' })
  for (let at = bytes.length - 4 * spec.params; at < bytes.length; at += 4) {
    bytes[at + 2] = 0xc0
    bytes[at + 3] = 0x7f
  }
  return bytes
}
