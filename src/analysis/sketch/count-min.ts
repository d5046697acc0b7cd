/**
 * A count-min sketch (Cormode & Muthukrishnan 2005) over 32-bit hashes: `depth` rows of `width`
 * counters, indexes derived from one hash by multiplication (Kirsch–Mitzenmacher). An estimate
 * never undercounts and overcounts by at most 2n/width with probability 1 − 2^-depth.
 */
export class CountMin {
  readonly #rows: Uint32Array
  readonly #mask: number
  readonly #depth: number

  constructor(widthBits = 16, depth = 4) {
    this.#mask = (1 << widthBits) - 1
    this.#depth = depth
    this.#rows = new Uint32Array(depth << widthBits)
  }

  /** Counts one occurrence of the item hashed to `hash`; returns its new estimate. */
  add(hash: number): number {
    const rows = this.#rows
    const mask = this.#mask
    const h2 = Math.imul(hash, 0x9e3779b1) | 1
    let min = 0xffffffff
    for (let d = 0; d < this.#depth; d++) {
      const index = d * (mask + 1) + ((hash + Math.imul(d, h2)) & mask)
      const value = (rows[index] as number) + 1
      rows[index] = value
      if (value < min) min = value
    }
    return min
  }
}
