/** The sketch ages (halves every counter) after this many additions per entry of capacity. */
const SAMPLE_FACTOR = 20
/** Entries the table is first sized for (8 KB): it grows as the cache fills (see ensureCapacity). */
const INITIAL_ENTRIES = 1024
/** Four-bit counters per 32-bit word, words per 64-byte block, and the mask that halves a word. */
const BLOCK_WORDS = 16
const HALVE_MASK = 0x77777777
/** Entries per block: 128 counters at 16 per entry. */
const BLOCK_ENTRIES = 8

/**
 * TinyLFU's popularity estimate: a count-min sketch with 4 counters per key, each 4 bits wide
 * (capped at 15), eight to a 32-bit word. As in Caffeine, a key's 4 counters lie in one 64-byte
 * block (one cache line) chosen by the key's hash: one counter in each quarter of the block (4
 * words, 32 counters), picked by 5 bits of a second hash. The table holds 16 counters — 8 bytes —
 * per entry of capacity: Caffeine's density (measured here, 4 per entry costs about a point of hit
 * ratio).
 *
 * A key's block is its hash scaled to the number of blocks (not masked: the table is sized to
 * the capacity, not to the next power of two). The table grows with the cache instead of being
 * sized for its capacity up front: it starts at {@link INITIAL_ENTRIES} and doubles (see
 * {@link ensureCapacity}), each block copied into the two that split its range of hashes, which
 * keeps every key's estimate exactly as it was; the last step, to the capacity, takes for each new
 * block the larger counters of the (at most two) old blocks it overlaps: estimates stay upper
 * bounds. Growing loses no history.
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
  #table: Int32Array
  #blocks: number
  readonly #capacity: number
  readonly #sampleSize: number
  #additions = 0

  constructor(capacity: number) {
    this.#capacity = capacity
    this.#blocks = this.#blocksFor(INITIAL_ENTRIES)
    this.#table = new Int32Array(this.#blocks * BLOCK_WORDS)
    this.#sampleSize = Math.max(SAMPLE_FACTOR * capacity, 16)
  }

  /**
   * Sizes the table for `entries` resident entries (at most the capacity): doubles it, copied into
   * both halves, until it holds 16 counters per entry. Never shrinks. Returns how many resident
   * entries it is now sized for (Infinity once sized for the capacity: no need to ask again).
   */
  ensureCapacity(entries: number): number {
    const blocks = this.#blocksFor(entries)
    if (blocks > this.#blocks) this.#grow(blocks)
    const room = this.#blocks * BLOCK_ENTRIES
    return room >= this.#capacity ? Number.POSITIVE_INFINITY : room
  }

  /** Blocks for `entries`: a power of two below the capacity's, exactly the capacity's from there. */
  #blocksFor(entries: number): number {
    const full = Math.ceil(this.#capacity / BLOCK_ENTRIES)
    let blocks = 1
    while (blocks * BLOCK_ENTRIES < entries && blocks < full) blocks *= 2
    return Math.min(blocks, full)
  }

  #grow(blocks: number): void {
    const old = this.#table
    const oldBlocks = this.#blocks
    const table = new Int32Array(blocks * BLOCK_WORDS)
    for (let block = 0; block < blocks; block++) {
      // The old blocks whose hashes this block's range overlaps (one when doubling, else two).
      const first = Math.floor((block * oldBlocks) / blocks)
      const last = Math.ceil(((block + 1) * oldBlocks) / blocks) - 1
      for (let w = 0; w < BLOCK_WORDS; w++) {
        let word = old[first * BLOCK_WORDS + w] as number
        for (let from = first + 1; from <= last; from++)
          word = maxCounters(word, old[from * BLOCK_WORDS + w] as number)
        table[block * BLOCK_WORDS + w] = word
      }
    }
    this.#table = table
    this.#blocks = blocks
  }

  /** The first word of `hash`'s block: the hash (remixed, 25 bits) scaled to the number of blocks. */
  #base(hash: number): number {
    return Math.floor(((Math.imul(hash, 0x9e3779b1) >>> 7) * this.#blocks) / 33554432) * BLOCK_WORDS
  }

  /** Estimated count of `hash` (0–15). */
  frequency(hash: number): number {
    const t = this.#table
    const base = this.#base(hash)
    const h = counterHash(hash)
    let min = counter(t, base, h)
    let c = counter(t, base + 4, h >>> 5)
    if (c < min) min = c
    c = counter(t, base + 8, h >>> 10)
    if (c < min) min = c
    c = counter(t, base + 12, h >>> 15)
    return Math.min(c, min)
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
    const base = this.#base(hash)
    const h = counterHash(hash)
    const c0 = counter(t, base, h)
    const c1 = counter(t, base + 4, h >>> 5)
    const c2 = counter(t, base + 8, h >>> 10)
    const c3 = counter(t, base + 12, h >>> 15)
    let min = c0
    if (c1 < min) min = c1
    if (c2 < min) min = c2
    if (c3 < min) min = c3
    if (min >= 15) return false
    const target = Math.min(min + n, 15)
    if (c0 < target) raise(t, base, h, target)
    if (c1 < target) raise(t, base + 4, h >>> 5, target)
    if (c2 < target) raise(t, base + 8, h >>> 10, target)
    if (c3 < target) raise(t, base + 12, h >>> 15, target)
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
    for (let i = 0; i < t.length; i++) t[i] = ((t[i] as number) >>> 1) & HALVE_MASK
    this.#additions >>>= 1
  }
}

/** The nibble-wise maximum of two words of counters. */
function maxCounters(a: number, b: number): number {
  let word = 0
  for (let shift = 0; shift < 32; shift += 4)
    word |= Math.max((a >>> shift) & 15, (b >>> shift) & 15) << shift
  return word
}

/** The counter picked by the low 5 bits of `h` in the quarter of a block starting at word `quarter`. */
function counter(t: Int32Array, quarter: number, h: number): number {
  return ((t[quarter + ((h >>> 3) & 3)] as number) >>> ((h & 7) << 2)) & 15
}

function raise(t: Int32Array, quarter: number, h: number, value: number): void {
  const word = quarter + ((h >>> 3) & 3)
  const shift = (h & 7) << 2
  t[word] = ((t[word] as number) & ~(15 << shift)) | (value << shift)
}

/** A second hash, independent of the block (picked by another remix of `hash`). */
function counterHash(hash: number): number {
  const h = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d)
  return (h ^ (h >>> 12)) >>> 8
}
