/**
 * The cache sizes at which miss-ratio curves are evaluated: ⌈2^(k/8)⌉ for k = 0, 1, …, deduplicated
 * (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 14, 16, 17, 20, …): 8 points per doubling, about 9% apart,
 * up to 2^31. Stack distances are binned by these sizes, so the curve is exact at every grid point.
 */
export const SIZE_GRID: readonly number[] = (() => {
  const sizes: number[] = []
  for (let k = 0; k <= 31 * 8; k++) {
    const size = Math.ceil(2 ** (k / 8) - 1e-9)
    if (sizes[sizes.length - 1] !== size) sizes.push(size)
  }
  return sizes
})()

const SMALL = 1 << 14
const SMALL_BUCKET = (() => {
  const table = new Uint16Array(SMALL)
  let k = 0
  for (let d = 0; d < SMALL; d++) {
    while ((SIZE_GRID[k] as number) <= d) k++
    table[d] = k
  }
  return table
})()

/** The bucket of a stack distance `d`: the index of the smallest grid size C with C > d (a hit at C). */
export function bucketOfDistance(d: number): number {
  if (d < SMALL) return SMALL_BUCKET[Math.floor(d)] as number
  let lo = 0
  let hi = SIZE_GRID.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((SIZE_GRID[mid] as number) > d) hi = mid
    else lo = mid + 1
  }
  return lo
}
