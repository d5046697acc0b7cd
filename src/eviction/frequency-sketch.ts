/** The sketch ages (halves every counter) after this many additions per entry of capacity. */
const SAMPLE_FACTOR = 20

/**
 * TinyLFU's popularity estimate: a count-min sketch with 4 counters per key, each capped at 15
 * (stored one per byte). As in Caffeine, a key's 4 counters lie in one 64-byte block (one cache
 * line): the block is chosen by the key's hash, and each counter by 4 bits of a second hash
 * within its own 16-byte quarter. The table holds 16 counters per entry of capacity (Caffeine's
 * density; measured here, 4 per entry costs about a point of hit ratio).
 *
 * Updates are *conservative* (Estan & Varghese, 2002): an addition raises only the key's smallest
 * counters, to the new minimum, instead of adding to all 4. The estimate stays an upper bound,
 * but a popular key sharing a counter inflates its neighbours far less — the keys that admission
 * must tell apart are the tail keys with counts of 1 – 3, where that noise decides.
 *
 * After `20 × capacity` additions every counter is halved, so the sketch forgets old popularity
 * (aging). Caffeine ages every 10 × capacity; with conservative updates the longer period measured
 * better on stationary skew (Zipf) and on a hot set that moves (the window adapts to the move).
 */
export class FrequencySketch {
  readonly #table: Uint8Array
  readonly #blockMask: number
  readonly #sampleSize: number
  #additions = 0

  constructor(capacity: number) {
    let blocks = 1
    while (blocks * 4 < capacity) blocks *= 2 // 64 counters per block: 16 per entry
    this.#blockMask = blocks - 1
    this.#table = new Uint8Array(blocks * 64)
    this.#sampleSize = Math.max(SAMPLE_FACTOR * capacity, 16)
  }

  /** Estimated count of `hash` (0–15). */
  frequency(hash: number): number {
    const t = this.#table
    const base = (hash & this.#blockMask) << 6
    const h = counterHash(hash)
    let min = t[base + (h & 15)] as number
    let c = t[base + 16 + ((h >>> 4) & 15)] as number
    if (c < min) min = c
    c = t[base + 32 + ((h >>> 8) & 15)] as number
    if (c < min) min = c
    c = t[base + 48 + ((h >>> 12) & 15)] as number
    return c < min ? c : min
  }

  /** Counts one occurrence of `hash`. */
  increment(hash: number): void {
    if (this.add(hash, 1)) this.count()
  }

  /**
   * Adds `n` occurrences of `hash` (hits recorded elsewhere, flushed in one go): raises each of its
   * counters to at least min + n (capped at 15). False when its counters were already saturated.
   */
  add(hash: number, n: number): boolean {
    const t = this.#table
    const base = (hash & this.#blockMask) << 6
    const h = counterHash(hash)
    const i0 = base + (h & 15)
    const i1 = base + 16 + ((h >>> 4) & 15)
    const i2 = base + 32 + ((h >>> 8) & 15)
    const i3 = base + 48 + ((h >>> 12) & 15)
    let min = t[i0] as number
    if ((t[i1] as number) < min) min = t[i1] as number
    if ((t[i2] as number) < min) min = t[i2] as number
    if ((t[i3] as number) < min) min = t[i3] as number
    if (min >= 15) return false
    const target = Math.min(min + n, 15)
    if ((t[i0] as number) < target) t[i0] = target
    if ((t[i1] as number) < target) t[i1] = target
    if ((t[i2] as number) < target) t[i2] = target
    if ((t[i3] as number) < target) t[i3] = target
    return true
  }

  /** Counts one addition made outside the table (toward the aging period). */
  count(): void {
    if (++this.#additions >= this.#sampleSize) this.#age()
  }

  /** How many times the counters have been halved; counts kept outside the table halve with it. */
  epoch = 0

  #age(): void {
    this.epoch++
    const t = this.#table
    for (let i = 0; i < t.length; i++) t[i] = (t[i] as number) >>> 1
    this.#additions >>>= 1
  }
}

/** A second hash, independent of the block bits (the low bits of `hash`). */
function counterHash(hash: number): number {
  const h = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d)
  return (h ^ (h >>> 12)) >>> 8
}
