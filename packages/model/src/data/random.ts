/**
 * Seeded randomness for partitioning, shuffling and weight initialisation: the same seed gives the same numbers
 * on every machine and runtime (xoroshiro128+ from `pure-rand`; floats with 53 random bits; only exactly-rounded
 * arithmetic — +, ×, sqrt, log — in the derived distributions).
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { uniformInt } from 'pure-rand/distribution/uniformInt'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'

/** A seeded random stream. Not cryptographic. */
export interface Rng {
  /** Uniform float in [0, 1) with 53 random bits. */
  float(): number
  /** Uniform integer in [0, n), n ≥ 1. */
  int(n: number): number
  /** Standard normal N(0, 1) (Marsaglia polar method, Marsaglia & Bray 1964). */
  normal(): number
  /** Gamma(shape, 1), shape > 0 (Marsaglia & Tsang 2000, "A simple method for generating gamma variables"). */
  gamma(shape: number): number
  /** Shuffles `array` in place (Fisher–Yates, Knuth TAOCP vol. 2 §3.4.2, algorithm P) and returns it. */
  shuffle<T extends { length: number, [i: number]: unknown }>(array: T): T
}

/** Creates a random stream from an integer seed (any safe integer; only its low 32 bits matter). */
export function createRng (seed: number): Rng {
  const g = xoroshiro128plus(seed | 0)
  let spare: number | undefined
  const rng: Rng = {
    float: () => uniformFloat64(g),
    int: (n) => uniformInt(g, 0, n - 1),
    normal () {
      if (spare !== undefined) {
        const s = spare
        spare = undefined
        return s
      }
      let u = 0
      let v = 0
      let s = 0
      do {
        u = 2 * rng.float() - 1
        v = 2 * rng.float() - 1
        s = u * u + v * v
      } while (s >= 1 || s === 0)
      const f = Math.sqrt(-2 * Math.log(s) / s)
      spare = v * f
      return u * f
    },
    gamma (shape) {
      if (shape < 1) {
        // Boost: Gamma(a) = Gamma(a + 1) · U^(1/a) (Marsaglia & Tsang 2000, §6).
        const u = rng.float()
        return rng.gamma(shape + 1) * Math.pow(u === 0 ? Number.MIN_VALUE : u, 1 / shape)
      }
      const d = shape - 1 / 3
      const c = 1 / Math.sqrt(9 * d)
      for (;;) {
        let x = 0
        let v = 0
        do {
          x = rng.normal()
          v = 1 + c * x
        } while (v <= 0)
        v = v * v * v
        const u = rng.float()
        if (u < 1 - 0.0331 * x * x * x * x) return d * v
        if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
      }
    },
    shuffle (array) {
      for (let i = array.length - 1; i > 0; i--) {
        const j = rng.int(i + 1)
        const t = array[i]
        array[i] = array[j]
        array[j] = t
      }
      return array
    }
  }
  return rng
}
