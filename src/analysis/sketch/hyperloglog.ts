/**
 * HyperLogLog (Flajolet et al. 2007) over 32-bit hashes, with linear counting for small
 * cardinalities: 2^p one-byte registers (4 KiB at p = 12), standard error 1.04 / sqrt(2^p)
 * (1.6% at p = 12), whatever the number of keys.
 */
export class HyperLogLog {
  readonly #p: number
  readonly #registers: Uint8Array

  constructor(p = 12) {
    this.#p = p
    this.#registers = new Uint8Array(1 << p)
  }

  /** The relative standard error of {@link estimate}. */
  get standardError(): number {
    return 1.04 / Math.sqrt(this.#registers.length)
  }

  add(hash32: number): void {
    const index = hash32 >>> (32 - this.#p)
    const rest = (hash32 << this.#p) | (1 << (this.#p - 1)) // a sentinel bit bounds the rank
    const rank = Math.clz32(rest) + 1
    if (rank > (this.#registers[index] as number)) this.#registers[index] = rank
  }

  estimate(): number {
    const m = this.#registers.length
    let sum = 0
    let zeros = 0
    for (let i = 0; i < m; i++) {
      const r = this.#registers[i] as number
      sum += 2 ** -r
      if (r === 0) zeros++
    }
    const alpha = 0.7213 / (1 + 1.079 / m)
    const raw = (alpha * m * m) / sum
    if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros))
    return Math.round(raw)
  }
}
