import { hashKeyInt32 } from '../../eviction/policy.js'

/*
 * A bucket holds 0 (empty) or slot + 1 in its low SLOT_BITS; above them, the entry's distance from
 * its home bucket (3 bits, capped at SATURATED) and a 4-bit tag from its key's hash. Distance and
 * tag tell a probe which entries can be its key (same home, same tag: 1 in 16 of the others), so
 * it reads few keys; the distance also says when the key is absent (an entry nearer its home than
 * the probe is to the key's: Robin Hood order) and lets insertions and deletions move entries
 * without hashing their keys again (only a saturated distance is recomputed from the hash).
 */
const SLOT_BITS = 24
const SLOT_MASK = (1 << SLOT_BITS) - 1
const DISTANCE_MASK = 7
/** The distance of an entry 7 or more buckets from home (rare below MAX_LOAD with Robin Hood order). */
const SATURATED = 7
const TAG_SHIFT = 28 // the hash's top 4 bits
/** Buckets in use at most, as a share of the buckets (linear probing stays short below ~0.7). */
const MAX_LOAD = 0.65
const INITIAL_BUCKETS = 128
/** 2^-32: a hash times the bucket count, scaled by it, is the bucket (a multiplication, not a division). */
const PER_TWO_32 = 1 / 4294967296
/**
 * An empty index has one empty bucket rather than none: every probe then finds a bucket to read
 * (an empty one answers "absent"), so the hit path needs no test for a table not yet allocated.
 */
const NO_BUCKETS = 1

/**
 * The L1's key → slot index, and the key of each slot: an open-addressing hash table (linear
 * probing, Robin Hood insertion, so a look-up for an absent key stops early, and deletion by
 * backward shift: no tombstones, so churn never degrades it) of Int32
 * buckets, about 6 bytes per entry at full size — where a `Map<string, number>` costs ~30–37
 * (three 8-byte words per entry plus its buckets, in a table that doubles, and deleted entries
 * linger until it rehashes). A key's bucket is its 32-bit {@link hashKeyInt32} scaled to the number
 * of buckets (no power-of-two rounding, so the table is sized to the capacity, not past it); the
 * same hash is what the eviction policies see, so a write hashes its key once.
 *
 * The buckets start small and grow (doubling, then exactly to the capacity's size) as entries
 * are added; the keys array grows with the store's slots (see {@link growTo}). Nothing shrinks except
 * on {@link clear}.
 */
export class KeyIndex {
  /**
   * Per slot, its key (undefined: free) and the store's value: slot s at 2s and 2s + 1, so that a
   * hit reads the key it compares and the value it returns from one cache line (two arrays were
   * two random reads per hit in a large store). The keys are read-only outside this class; the
   * values are the store's (see {@link valueAt}).
   */
  pairs: unknown[] = []
  #buckets = new Int32Array(NO_BUCKETS)
  /**
   * The bucket count × 2^-32: a hash (as uint32) times this, truncated, is its home bucket — one
   * multiplication on the hit path. (hash × n × 2^-32 in either order rounds the same real number
   * once, scaled by a power of two: every method agrees on a key's home.)
   */
  #scale = NO_BUCKETS * PER_TWO_32
  /** Entries the buckets may hold before they grow. */
  #limit = 0
  #count = 0
  /** Bucket count for a full store (slots it may use ÷ MAX_LOAD). */
  readonly #fullBuckets: number
  /** Slots past SLOT_BITS (over 16 million entries) leave no room for distances: all read as saturated. */
  readonly #wide: boolean
  readonly #slotMask: number

  constructor(slots: number) {
    // (+1: the last step's limit, floor(buckets × MAX_LOAD), must still reach `slots`.)
    this.#fullBuckets = Math.max(INITIAL_BUCKETS, Math.ceil(slots / MAX_LOAD) + 1)
    this.#wide = slots >= SLOT_MASK
    this.#slotMask = this.#wide ? 0x7fffffff : SLOT_MASK
  }

  get size(): number {
    return this.#count
  }

  /** Slots the pairs array has room for. */
  get slots(): number {
    return this.pairs.length >> 1
  }

  /** The key in `slot`, or undefined when it is free. */
  keyAt(slot: number): string | undefined {
    return this.pairs[slot << 1] as string | undefined
  }

  /** The value the store keeps in `slot`. */
  valueAt(slot: number): unknown {
    return this.pairs[(slot << 1) + 1]
  }

  setValue(slot: number, value: unknown): void {
    this.pairs[(slot << 1) + 1] = value
  }

  /** The slot of `key`, or -1. */
  find(key: string): number {
    return this.findHashed(key, hashKeyInt32(key))
  }

  /** The slot of `key` whose {@link hashKeyInt32} is `hash`, or -1. */
  findHashed(key: string, hash: number): number {
    const buckets = this.#buckets
    // (Below 2^31 buckets, truncation with `| 0` is the floor.)
    let b = ((hash >>> 0) * this.#scale) | 0
    if (this.#wide) return this.#findWide(key, b)
    const tag = (hash >>> TAG_SHIFT) << 3
    let distance = 0
    for (;;) {
      const cell = buckets[b] as number
      if (cell === 0) return -1
      const high = cell >>> SLOT_BITS
      if (high === (tag | distance)) {
        const slot = (cell & SLOT_MASK) - 1
        if (this.pairs[slot << 1] === key) return slot
      } else if ((high & DISTANCE_MASK) < distance) return -1 // Robin Hood: the key would be here
      if (++b === buckets.length) b = 0
      if (distance < SATURATED) distance++
    }
  }

  /** The home bucket of `hash` in a table of `n` buckets. */
  #home(hash: number, n: number): number {
    return ((hash >>> 0) * (n * PER_TWO_32)) | 0
  }

  /** {@link findHashed} without distances or tags: every key on the way is read. */
  #findWide(key: string, b: number): number {
    const buckets = this.#buckets
    const n = buckets.length
    for (;;) {
      const cell = buckets[b] as number
      if (cell === 0) return -1
      if (this.pairs[(cell - 1) * 2] === key) return cell - 1
      if (++b === n) b = 0
    }
  }

  /** Lengthens the pairs array to `length` slots (the store grows all its per-slot arrays together). */
  growTo(length: number): void {
    const pairs = this.pairs
    if (length * 2 <= pairs.length) return
    const next = new Array<unknown>(length * 2)
    for (let i = 0; i < pairs.length; i++) next[i] = pairs[i]
    // No holes: reading a hole would look the index up on the prototype chain.
    this.pairs = next.fill(undefined, pairs.length)
  }

  /** Adds `key` (absent; its hash `hash`) in `slot` (within the keys array). */
  add(key: string, hash: number, slot: number): void {
    if (this.#count >= this.#limit) this.#grow()
    this.pairs[slot << 1] = key
    this.#place(this.#buckets, hash, slot)
    this.#count++
  }

  /** Removes the key in `slot` (present), and the value beside it. */
  remove(slot: number): void {
    const pairs = this.pairs
    const buckets = this.#buckets
    const n = buckets.length
    const mask = this.#slotMask
    let i = this.#home(hashKeyInt32(pairs[slot << 1] as string), n)
    while (((buckets[i] as number) & mask) !== slot + 1) if (++i === n) i = 0
    pairs[slot << 1] = undefined
    pairs[(slot << 1) + 1] = undefined
    this.#count--
    // Backward shift: each following entry not in its home bucket moves one bucket back.
    for (;;) {
      const j = i + 1 === n ? 0 : i + 1
      const cell = buckets[j] as number
      const d = cell === 0 ? 0 : this.#distanceOf(cell, j, n)
      if (d === 0) break
      buckets[i] = this.#cell(cell, d - 1)
      i = j
    }
    buckets[i] = 0
  }

  /** Forgets every key and gives the memory back. */
  clear(): void {
    this.pairs = []
    this.#buckets = new Int32Array(NO_BUCKETS)
    this.#scale = NO_BUCKETS * PER_TWO_32
    this.#limit = 0
    this.#count = 0
  }

  /** The keys held, in slot order. */
  *entries(): IterableIterator<string> {
    const pairs = this.pairs
    for (let at = 0; at < pairs.length; at += 2) {
      const key = pairs[at] as string | undefined
      if (key !== undefined) yield key
    }
  }

  /** How far the entry `cell`, found in bucket `b` (of `n`), is from its home bucket. */
  #distanceOf(cell: number, b: number, n: number): number {
    const d = this.#wide ? SATURATED : (cell >>> SLOT_BITS) & DISTANCE_MASK
    if (d !== SATURATED) return d
    const home = this.#home(hashKeyInt32(this.pairs[((cell & this.#slotMask) - 1) * 2] as string), n)
    return b >= home ? b - home : b - home + n
  }

  /** A bucket's content: `entry` (slot + 1, tag bits kept) at `distance` from its home. */
  #cell(entry: number, distance: number): number {
    return this.#wide
      ? entry
      : (entry & ~(DISTANCE_MASK << SLOT_BITS)) | (Math.min(distance, SATURATED) << SLOT_BITS)
  }

  /** Robin Hood insertion: an entry farther from its home takes the bucket of one nearer to its own. */
  #place(buckets: Int32Array, hash: number, slot: number): void {
    const n = buckets.length
    let b = this.#home(hash, n)
    let entry = this.#wide ? slot + 1 : (slot + 1) | ((hash >>> TAG_SHIFT) << (SLOT_BITS + 3))
    let distance = 0
    for (;;) {
      const cell = buckets[b] as number
      if (cell === 0) {
        buckets[b] = this.#cell(entry, distance)
        return
      }
      const d = this.#distanceOf(cell, b, n)
      if (d < distance) {
        buckets[b] = this.#cell(entry, distance)
        entry = cell
        distance = d
      }
      if (++b === n) b = 0
      distance++
    }
  }

  /** Doubles the buckets (exactly to the full size at the last step, past it if slots exceed it) and rehashes. */
  #grow(): void {
    const old = this.#buckets
    const full = this.#fullBuckets
    const n =
      old.length < INITIAL_BUCKETS
        ? INITIAL_BUCKETS
        : old.length < full
          ? Math.min(old.length * 2, full)
          : old.length * 2
    const buckets = new Int32Array(n)
    const mask = this.#slotMask
    const pairs = this.pairs
    // (The first table replaces NO_BUCKETS empty ones: nothing to move.)
    for (let b = 0; b < old.length; b++) {
      const cell = old[b] as number
      if (cell === 0) continue
      const slot = (cell & mask) - 1
      this.#place(buckets, hashKeyInt32(pairs[slot * 2] as string), slot)
    }
    this.#buckets = buckets
    this.#scale = n * PER_TWO_32
    this.#limit = Math.floor(n * MAX_LOAD)
  }
}
