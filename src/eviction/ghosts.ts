/**
 * Two bounded histories of recently evicted keys ("ghosts"), by hash, as ARC keeps them: list 0
 * and list 1 each remember their last `depth` evictions. A ghost costs two Int32 cells in a table
 * of 2-way buckets; an insertion overwrites the staler way, so a ghost may be forgotten early
 * (never wrongly remembered beyond its depth): an approximation that needs no deletion, no
 * allocation and O(1) time per operation. Memory: O(depth).
 */
const EMPTY = -1
const STAMP_MASK = 0x3fffffff

export class GhostLists {
  /** Per cell pair: the hash, then `stamp << 1 | list` (stamp: the list's eviction count when added). */
  readonly #table: Int32Array
  readonly #mask: number
  readonly #depth: Int32Array
  readonly #count = new Int32Array(2)

  constructor(depth0: number, depth1: number) {
    this.#depth = Int32Array.of(Math.max(1, depth0), Math.max(1, depth1))
    let buckets = 8
    while (buckets < 2 * (depth0 + depth1)) buckets *= 2
    this.#table = new Int32Array(buckets * 4) // 2 ways × (hash, tag)
    this.#mask = buckets - 1
    for (let i = 1; i < this.#table.length; i += 2) this.#table[i] = EMPTY
  }

  /** Remembers `hash` as evicted from `list`. */
  add(list: number, hash: number): void {
    const t = this.#table
    const base = (hash & this.#mask) << 2
    const stamp = ((this.#count[list] as number) + 1) & STAMP_MASK
    this.#count[list] = stamp
    // Overwrite the way holding the same hash, else the staler (or other list's older) way.
    let way = base
    if (t[base] !== hash) {
      if (t[base + 2] === hash || this.#staleness(base + 2) > this.#staleness(base)) way = base + 2
    }
    t[way] = hash
    t[way + 1] = (stamp << 1) | list
  }

  /**
   * Whether `hash` is a fresh ghost: 0 or 1 for the list that remembers it (and forgets it, so it
   * counts once), −1 otherwise.
   */
  take(hash: number): number {
    const t = this.#table
    const base = (hash & this.#mask) << 2
    for (let way = base; way <= base + 2; way += 2) {
      if (t[way] !== hash) continue
      const tag = t[way + 1] as number
      if (tag === EMPTY) return -1
      const list = tag & 1
      t[way + 1] = EMPTY
      return this.#age(tag) < (this.#depth[list] as number) ? list : -1
    }
    return -1
  }

  /** How many of its list's evictions ago the ghost tagged `tag` was added. */
  #age(tag: number): number {
    return ((this.#count[tag & 1] as number) - (tag >>> 1)) & STAMP_MASK
  }

  /** The cell's ghost age relative to its list's depth (≥ 1: stale; empty cells are stalest). */
  #staleness(cell: number): number {
    const tag = this.#table[cell + 1] as number
    return tag === EMPTY ? 2 : this.#age(tag) / (this.#depth[tag & 1] as number)
  }
}
