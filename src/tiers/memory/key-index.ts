import { hashKey } from '../../eviction/index.js'

/*
 * A bucket holds 0 (empty) or slot + 1 in its low SLOT_BITS and, above them, the entry's distance
 * from its home bucket (capped at SATURATED). The distance tells a probe which entries share its
 * key's home — only those can be its key, so the others are passed without reading their keys —
 * and lets a deletion shift entries back without hashing their keys again.
 */
const SLOT_BITS = 24
const SLOT_MASK = (1 << SLOT_BITS) - 1
/** The distance of an entry 127 or more buckets from home (its home is then found from its hash). */
const SATURATED = 127
/** Buckets in use at most, as a share of the buckets (linear probing stays short below ~0.7). */
const MAX_LOAD = 0.65
const INITIAL_BUCKETS = 128
const TWO_32 = 4294967296

/**
 * The L1's key → slot index, and the key of each slot: an open-addressing hash table (linear
 * probing, deletion by backward shift: no tombstones, so churn never degrades it) of Int32
 * buckets, about 6 bytes per entry at full size — where a `Map<string, number>` costs ~30–37
 * (three 8-byte words per entry plus its buckets, in a table that doubles, and deleted entries
 * linger until it rehashes). A key's bucket is its 32-bit {@link hashKey} scaled to the number
 * of buckets (no power-of-two rounding, so the table is sized to the capacity, not past it); the
 * same hash is what the eviction policies see, so a write hashes its key once.
 *
 * The buckets start small and grow (doubling, then exactly to the capacity's size) as entries
 * are added; the keys array grows with the store's slots (see {@link growTo}). Nothing shrinks except
 * on {@link clear}.
 */
export class KeyIndex {
  /** The key in each slot (undefined: free). Read-only outside this class. */
  keys: (string | undefined)[] = []
  #buckets = new Int32Array(0)
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

  /** The slot of `key`, or -1. */
  find(key: string): number {
    return this.findHashed(key, hashKey(key))
  }

  /** The slot of `key` whose {@link hashKey} is `hash`, or -1. */
  findHashed(key: string, hash: number): number {
    const buckets = this.#buckets
    const n = buckets.length
    if (n === 0) return -1
    const mask = this.#slotMask
    const wide = this.#wide
    const keys = this.keys
    let b = Math.floor((hash * n) / TWO_32)
    let distance = 0
    for (;;) {
      const cell = buckets[b] as number
      if (cell === 0) return -1
      const d = wide ? SATURATED : cell >>> SLOT_BITS
      if (d === distance || d === SATURATED) {
        const slot = (cell & mask) - 1
        if (keys[slot] === key) return slot
      }
      if (++b === n) b = 0
      if (distance < SATURATED) distance++
    }
  }

  /** Lengthens the keys array to `length` slots (the store grows all its per-slot arrays together). */
  growTo(length: number): void {
    const keys = this.keys
    if (length <= keys.length) return
    const next = new Array<string | undefined>(length)
    for (let i = 0; i < keys.length; i++) next[i] = keys[i]
    // No holes: reading a hole would look the index up on the prototype chain.
    this.keys = next.fill(undefined, keys.length)
  }

  /** Adds `key` (absent; its hash `hash`) in `slot` (within the keys array). */
  add(key: string, hash: number, slot: number): void {
    if (this.#count >= this.#limit) this.#grow()
    this.keys[slot] = key
    this.#place(this.#buckets, hash, slot)
    this.#count++
  }

  /** Removes the key in `slot` (present). */
  remove(slot: number): void {
    const keys = this.keys
    const buckets = this.#buckets
    const n = buckets.length
    const mask = this.#slotMask
    let i = Math.floor((hashKey(keys[slot] as string) * n) / TWO_32)
    while (((buckets[i] as number) & mask) !== slot + 1) if (++i === n) i = 0
    keys[slot] = undefined
    this.#count--
    // Backward shift: pull each later entry of the run back into the hole unless its home bucket
    // lies cyclically in (hole, its bucket] — where it must stay to be found.
    let j = i
    for (;;) {
      if (++j === n) j = 0
      const cell = buckets[j] as number
      if (cell === 0) break
      const home = this.#homeOf(cell, j, n)
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue
      buckets[i] = this.#cell(cell & mask, i - home + (i < home ? n : 0))
      i = j
    }
    buckets[i] = 0
  }

  /** Forgets every key and gives the memory back. */
  clear(): void {
    this.keys = []
    this.#buckets = new Int32Array(0)
    this.#limit = 0
    this.#count = 0
  }

  /** The keys held, in slot order. */
  *entries(): IterableIterator<string> {
    const keys = this.keys
    for (let slot = 0; slot < keys.length; slot++) {
      const key = keys[slot]
      if (key !== undefined) yield key
    }
  }

  /** The home bucket of the entry `cell` found in bucket `b` (of `n`). */
  #homeOf(cell: number, b: number, n: number): number {
    const d = this.#wide ? SATURATED : cell >>> SLOT_BITS
    if (d !== SATURATED) return b >= d ? b - d : b - d + n
    return Math.floor((hashKey(this.keys[(cell & this.#slotMask) - 1] as string) * n) / TWO_32)
  }

  /** A bucket's content: `entry` (slot + 1) at `distance` from its home. */
  #cell(entry: number, distance: number): number {
    return this.#wide ? entry : entry | (Math.min(distance, SATURATED) << SLOT_BITS)
  }

  #place(buckets: Int32Array, hash: number, slot: number): void {
    const n = buckets.length
    const home = Math.floor((hash * n) / TWO_32)
    let b = home
    while (buckets[b] !== 0) if (++b === n) b = 0
    buckets[b] = this.#cell(slot + 1, b >= home ? b - home : b - home + n)
  }

  /** Doubles the buckets (exactly to the full size at the last step, past it if slots exceed it) and rehashes. */
  #grow(): void {
    const old = this.#buckets
    const full = this.#fullBuckets
    const n =
      old.length === 0 ? INITIAL_BUCKETS : old.length < full ? Math.min(old.length * 2, full) : old.length * 2
    const buckets = new Int32Array(n)
    const mask = this.#slotMask
    const keys = this.keys
    for (let b = 0; b < old.length; b++) {
      const cell = old[b] as number
      if (cell === 0) continue
      const slot = (cell & mask) - 1
      this.#place(buckets, hashKey(keys[slot] as string), slot)
    }
    this.#buckets = buckets
    this.#limit = Math.floor(n * MAX_LOAD)
  }
}
