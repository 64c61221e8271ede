/** Helpers of the fedavg tests: a small seeded PRNG and random deltas (the seed itself: `testSeed` of @swarmtune/test-support). */

/** mulberry32: a tiny deterministic PRNG returning floats in [0, 1). */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal samples (Box–Muller) from a uniform source. */
export function gaussian (rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
}

/** Tensors of the given sizes filled with N(0, sigma²) values. */
export function randomDelta (sizes: readonly number[], rand: () => number, sigma = 1): Float32Array[] {
  const g = gaussian(rand)
  return sizes.map((n) => Float32Array.from({ length: n }, () => sigma * g()))
}

/** A one-byte contribution id. */
export function id (b: number): Uint8Array {
  return Uint8Array.of(b)
}

/** All bytes of a list of Float32Arrays, for byte-for-byte comparison. */
export function bytesOf (tensors: readonly Float32Array[]): Buffer {
  return Buffer.concat(tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength)))
}
