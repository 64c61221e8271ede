/**
 * Top-k selection by magnitude (Aji & Heafield 2017, "Sparse Communication for Distributed Gradient
 * Descent"; Lin et al. 2018, "Deep Gradient Compression"): the k coordinates of largest |x|, ties broken
 * towards the lower index, returned in ascending index order. O(n) expected time via quickselect on a copy
 * of the magnitudes (4 bytes × n scratch).
 */

/** k-th largest value of `a` (1 ≤ k ≤ a.length). Reorders `a`. */
function kthLargest (a: Float32Array, k: number): number {
  let lo = 0
  let hi = a.length - 1
  const target = k - 1 // index in descending order
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1)
    // median of three as pivot
    const x = a[lo]
    const y = a[mid]
    const z = a[hi]
    const pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y))
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i] > pivot) i++
      while (a[j] < pivot) j--
      if (i <= j) {
        const tmp = a[i]
        a[i] = a[j]
        a[j] = tmp
        i++
        j--
      }
    }
    if (target <= j) hi = j
    else if (target >= i) lo = i
    else return a[target]
  }
  return a[target]
}

/** Indices (ascending) of the `k` entries of `x` with the largest magnitude; ties go to lower indices. */
export function topKIndices (x: Float32Array, k: number): Uint32Array {
  const n = x.length
  const out = new Uint32Array(k)
  if (k === 0) return out
  if (k >= n) {
    for (let i = 0; i < n; i++) out[i] = i
    return out
  }
  const mag = new Float32Array(n)
  for (let i = 0; i < n; i++) mag[i] = Math.abs(x[i])
  const threshold = kthLargest(mag, k)
  let above = 0
  for (let i = 0; i < n; i++) if (Math.abs(x[i]) > threshold) above++
  let ties = k - above
  let c = 0
  for (let i = 0; i < n && c < k; i++) {
    const m = Math.abs(x[i])
    if (m > threshold || (m === threshold && ties-- > 0)) out[c++] = i
  }
  return out
}
