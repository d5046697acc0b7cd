/**
 * The small-cache end of a sampled miss-ratio curve. SHARDS scales a sampled stack distance d by
 * 1/R, so at R = 0.01 it cannot tell a distance of 3 from one of 90, and which of the hottest keys
 * happen to be sampled swings the curve below ~1/R entries by many points. Small caches are
 * decided by short reuses, and those are cheap to measure on a much larger sample of the keys (a
 * quarter): the time since the key's previous reference, from a small direct-mapped table of
 * hashes (one probe per sampled reference, no tree), turned into hit ratios by the
 * average-eviction-time model (AET, Hu et al., USENIX ATC 2016): an LRU cache of C entries keeps a
 * key for T references where Σ_{t<T} P(reuse time > t) = C, and a reference hits when its reuse
 * time is at most T.
 *
 * A collision in the table (another key took the slot since) reads as a long reuse: a reuse over D
 * distinct keys is lost with probability ≈ D × rate / slots — with 2^15 slots (256 KiB) over a
 * quarter of the keys, and the few thousand keys a small cache holds, a few percent of its hits
 * at the top of the range, less below.
 */
export class ReuseTimes {
  /** Per slot, side by side (one cache line per probe): the key's hash, then its last reference's number. */
  readonly #slots: Int32Array
  readonly #mask: number
  /** counts[t] = references whose reuse time was t (1 ≤ t < limit). */
  readonly #counts: Float64Array
  #references = 0
  /** References to sampled keys (the denominator of the reuse-time distribution). */
  #sampled = 0
  /** Keys whose hash is below it are sampled. */
  readonly #threshold: number

  /**
   * `bits`: log2 of the table's slots; `rate`: share of keys sampled (spatially, by hash: the
   * table holds only those, so it stays small and in cache); `limit`: longest reuse time measured.
   */
  constructor(bits: number, rate: number, limit = 1 << 16) {
    this.#slots = new Int32Array(2 << bits)
    this.#mask = (1 << bits) - 1
    this.#threshold = rate * 4294967296
    this.#counts = new Float64Array(limit)
  }

  get references(): number {
    return this.#references
  }

  /** One reference to the key whose 32-bit hash is `hash`. */
  access(hash: number): void {
    // Reference numbers start at 1 (0 marks an empty slot) and wrap at 2^31: reuse times are
    // differences modulo 2^32, exact while shorter than that.
    const now = ++this.#references | 0 || 1
    if (hash >= this.#threshold) return
    this.#sampled++
    const at = ((hash ^ (hash >>> 15)) & this.#mask) << 1
    const slots = this.#slots
    if (slots[at] === (hash | 0) && slots[at + 1] !== 0) {
      const t = (now - (slots[at + 1] as number)) >>> 0
      if (t < this.#counts.length) this.#counts[t] = (this.#counts[t] as number) + 1
    } else slots[at] = hash | 0
    slots[at + 1] = now
  }
  /**
   * LRU hit ratios at `sizes` (ascending) by AET, up to the largest size the measured reuse times
   * reach; the array stops there (the caller takes SHARDS beyond).
   */
  hitRatios(sizes: readonly number[]): number[] {
    const n = this.#sampled
    const out: number[] = []
    if (n === 0) return out
    // P(rt > t) for t = 0, 1, …: 1 at t = 0, minus the references reused within t.
    let reusedWithin = 0
    let footprint = 0
    let k = 0
    for (let t = 1; t < this.#counts.length && k < sizes.length; t++) {
      // A cache keeping keys for T = t references holds Σ_{u<t} P(rt > u) of them.
      footprint += 1 - reusedWithin / n
      reusedWithin += this.#counts[t] as number
      while (k < sizes.length && footprint >= (sizes[k] as number)) {
        out.push(reusedWithin / n)
        k++
      }
    }
    return out
  }
}
