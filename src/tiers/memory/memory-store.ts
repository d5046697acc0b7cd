/**
 * The L1: an in-process map of live values with expiry, bounded by entries and by bytes.
 *
 * Eviction is SIEVE (Zhang et al., NSDI 2024): a hit only sets a `visited` bit — no list
 * reordering, so the hit path is one Map lookup and one store — and a hand sweeping from the
 * oldest entry evicts the first unvisited one, clearing bits as it passes. It matches or beats
 * LRU on most web and database traces. Expired entries met by the hand are dropped first.
 */
export interface L1Entry {
  readonly key: string
  value: unknown
  createdAt: number
  /** Logical expiry (ms since epoch); Infinity = never. */
  expiresAt: number
  /** For sliding entries: how far each hit pushes `expiresAt` (0 = not sliding)… */
  slideMs: number
  /** …and the hard cap it never passes. */
  maxExpiresAt: number
  /** Weight in bytes (the serialized size). */
  size: number
  tags: readonly string[]
  /** True when freezing could not protect the value (Map, Set, Date, typed arrays): reads clone it. */
  cloneOnRead: boolean
  visited: boolean
  newer: L1Entry | undefined
  older: L1Entry | undefined
}

export interface MemoryStoreOptions {
  maxEntries: number
  maxBytes: number
}

export class MemoryStore {
  readonly #map = new Map<string, L1Entry>()
  readonly #maxEntries: number
  readonly #maxBytes: number
  #bytes = 0
  /** Newest entry (insertion end). */
  #head: L1Entry | undefined
  /** Oldest entry. */
  #tail: L1Entry | undefined
  /** SIEVE's hand; moves from old to new. */
  #hand: L1Entry | undefined
  evictions = 0

  constructor(options: MemoryStoreOptions) {
    this.#maxEntries = options.maxEntries
    this.#maxBytes = options.maxBytes
  }

  get size(): number {
    return this.#map.size
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The live entry for `key`, or undefined (an expired entry is removed). Counts as a hit for eviction. */
  get(key: string, now: number): L1Entry | undefined {
    const entry = this.#map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.#remove(entry)
      return undefined
    }
    entry.visited = true
    return entry
  }

  /** Like {@link get} but without the clock or the hit bit (for maintenance and tests). */
  peek(key: string): L1Entry | undefined {
    return this.#map.get(key)
  }

  set(entry: L1Entry): void {
    const previous = this.#map.get(entry.key)
    if (previous !== undefined) this.#remove(previous)
    if (entry.size > this.#maxBytes) return // larger than the whole budget: never cacheable here
    this.#map.set(entry.key, entry)
    this.#bytes += entry.size
    entry.older = this.#head
    entry.newer = undefined
    if (this.#head !== undefined) this.#head.newer = entry
    this.#head = entry
    if (this.#tail === undefined) this.#tail = entry
    while (this.#map.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      if (!this.#evictOne(entry)) break
    }
  }

  delete(key: string): boolean {
    const entry = this.#map.get(key)
    if (entry === undefined) return false
    this.#remove(entry)
    return true
  }

  clear(): void {
    this.#map.clear()
    this.#head = this.#tail = this.#hand = undefined
    this.#bytes = 0
  }

  keys(): IterableIterator<string> {
    return this.#map.keys()
  }

  #evictOne(protect: L1Entry): boolean {
    let hand = this.#hand ?? this.#tail
    // At most two sweeps: the first clears every visited bit, the second must find a victim.
    for (let steps = 0; hand !== undefined && steps <= 2 * this.#map.size; steps++) {
      if (hand.visited && hand !== protect) {
        hand.visited = false
        hand = hand.newer ?? this.#tail
        continue
      }
      if (hand === protect && this.#map.size > 1) {
        hand = hand.newer ?? this.#tail
        continue
      }
      this.#hand = hand.newer
      this.#remove(hand)
      this.evictions++
      return true
    }
    return false
  }

  #remove(entry: L1Entry): void {
    if (this.#map.get(entry.key) !== entry) return
    this.#map.delete(entry.key)
    this.#bytes -= entry.size
    if (this.#hand === entry) this.#hand = entry.newer
    if (entry.newer !== undefined) entry.newer.older = entry.older
    else this.#head = entry.older
    if (entry.older !== undefined) entry.older.newer = entry.newer
    else this.#tail = entry.newer
    entry.newer = entry.older = undefined
  }
}
