/**
 * Two bounded histories of recently evicted keys ("ghosts"), by hash, as ARC keeps them: list 0
 * and list 1 each remember their last `depth` evictions. A ghost is one Int32 cell — 22 bits of
 * the key's hash, the list, a used bit and an 8-bit *stamp* (when it was added, in sixteenths of
 * its list's depth) — in a table of 4-way buckets (16 bytes, one cache line), about one cell per
 * ghost the lists can hold. An insertion overwrites the stalest way, so a ghost may be forgotten
 * early (never wrongly remembered beyond its depth, give or take a sixteenth): an approximation
 * that needs no deletion, no allocation and O(1) time per operation. Stamps wrap after 16 depths:
 * long enough that a ghost that old has been overwritten (with 5-bit stamps, wrapping after 4
 * depths, a loop of twice the capacity met its own ghosts again as fresh ones).
 *
 * A ghost's bucket is its hash scaled to the number of buckets (no power-of-two rounding). The
 * table grows with the evictions: it starts small and doubles (rehashing its cells: each holds the
 * hash bits that pick its bucket) until it has a cell per ghost the two depths allow, so a cache
 * that never evicts pays almost nothing for it.
 */
const HASH_BITS = 22
const HASH_MASK = (1 << HASH_BITS) - 1
const KEY_SHIFT = 10
const LIST_BIT = 1 << 9
const USED_BIT = 1 << 8
const STAMP_MASK = 255
/** Stamps count sixteenths of a list's depth; they wrap after 256 (sixteen depths). */
const STAMPS_PER_DEPTH = 16
const WAYS = 4
const INITIAL_CELLS = 256

export class GhostLists {
  #table: Int32Array
  #buckets: number
  readonly #cells: number
  /** Additions since the table last grew: it doubles when they reach its size. */
  #added = 0
  /** Per list: evictions per stamp, stamps a ghost stays fresh. */
  readonly #unit: Int32Array
  readonly #limit: Int32Array
  /** Per list: the limit of the depth given to the constructor, which {@link setDepths} may not pass. */
  readonly #maxLimit: Int32Array
  /**
   * Per list: the current stamp (evictions so far ÷ the list's unit, kept incrementally: no
   * division per eviction) and the evictions since it last advanced.
   */
  readonly #stamp = new Int32Array(2)
  readonly #sinceStamp = new Int32Array(2)

  /** `depth0` and `depth1`: how many evictions each list remembers (at most, once {@link setDepths} moves them). */
  constructor(depth0: number, depth1: number) {
    const first = Math.max(1, depth0)
    const second = Math.max(1, depth1)
    this.#unit = Int32Array.of(Math.ceil(first / STAMPS_PER_DEPTH), Math.ceil(second / STAMPS_PER_DEPTH))
    this.#limit = Int32Array.of(
      Math.ceil(first / (this.#unit[0] as number)),
      Math.ceil(second / (this.#unit[1] as number)),
    )
    this.#maxLimit = this.#limit.slice()
    this.#cells = Math.ceil((first + second) / WAYS) * WAYS
    this.#table = new Int32Array(Math.min(this.#cells, INITIAL_CELLS))
    this.#buckets = this.#table.length / WAYS
  }

  /**
   * Moves how deep each list remembers, in evictions of that list, up to the depths given to the
   * constructor, in sixteenths of those (a ghost's age is counted in stamps): ghosts older than the
   * new depth are no longer fresh, and the table's stalest-first overwriting follows the new depths.
   */
  setDepths(depth0: number, depth1: number): void {
    const limit = this.#limit
    const unit = this.#unit
    const max = this.#maxLimit
    limit[0] = Math.max(1, Math.min(max[0] as number, Math.ceil(depth0 / (unit[0] as number))))
    limit[1] = Math.max(1, Math.min(max[1] as number, Math.ceil(depth1 / (unit[1] as number))))
  }

  /** Remembers `hash` (its low 22 bits) as evicted from `list`. */
  add(list: number, hash: number): void {
    const since = (this.#sinceStamp[list] as number) + 1
    if (since === this.#unit[list]) {
      this.#sinceStamp[list] = 0
      this.#stamp[list] = ((this.#stamp[list] as number) + 1) & STAMP_MASK
    } else this.#sinceStamp[list] = since
    const stamp = this.#stamp[list] as number
    if (++this.#added >= this.#table.length && this.#table.length < this.#cells) this.#grow()
    this.#place(
      this.#table,
      this.#buckets,
      ((hash & HASH_MASK) << KEY_SHIFT) | (list === 0 ? 0 : LIST_BIT) | USED_BIT | stamp,
    )
  }

  /**
   * Whether `hash` is a fresh ghost: 0 or 1 for the list that remembers it (and forgets it, so it
   * counts once), −1 otherwise.
   */
  take(hash: number): number {
    const t = this.#table
    const key = hash & HASH_MASK
    const base = bucketOf(key, this.#buckets) * WAYS
    for (let way = base; way < base + WAYS; way++) {
      const cell = t[way] as number
      if ((cell & USED_BIT) === 0 || cell >>> KEY_SHIFT !== key) continue
      t[way] = 0
      const list = cell & LIST_BIT ? 1 : 0
      return this.#age(cell) < (this.#limit[list] as number) ? list : -1
    }
    return -1
  }

  /** Writes `cell` into its bucket: over the same hash, else an empty way, else the stalest. */
  #place(t: Int32Array, buckets: number, cell: number): void {
    const key = cell >>> KEY_SHIFT
    const base = bucketOf(key, buckets) * WAYS
    // The stalest way: the largest age ÷ its list's limit, compared by cross-multiplying (exact
    // integers, no division; the first of equals wins).
    let way = -1
    let stalestAge = 0
    let stalestLimit = 1
    for (let w = base; w < base + WAYS; w++) {
      const other = t[w] as number
      if ((other & USED_BIT) === 0 || other >>> KEY_SHIFT === key) {
        way = w
        break
      }
      const list = other & LIST_BIT ? 1 : 0
      const age = ((this.#stamp[list] as number) - (other & STAMP_MASK)) & STAMP_MASK
      const limit = this.#limit[list] as number
      if (way === -1 || age * stalestLimit > stalestAge * limit) {
        stalestAge = age
        stalestLimit = limit
        way = w
      }
    }
    t[way] = cell
  }

  /** How many stamps of its list ago the ghost in `cell` was added. */
  #age(cell: number): number {
    return ((this.#stamp[cell & LIST_BIT ? 1 : 0] as number) - (cell & STAMP_MASK)) & STAMP_MASK
  }

  #grow(): void {
    const old = this.#table
    const table = new Int32Array(Math.min(old.length * 2, this.#cells))
    const buckets = table.length / WAYS
    for (const cell of old) if (cell & USED_BIT) this.#place(table, buckets, cell)
    this.#table = table
    this.#buckets = buckets
    this.#added = 0
  }
}

/** The bucket of a 22-bit `key`: the key, remixed, scaled to the number of buckets. */
function bucketOf(key: number, buckets: number): number {
  return Math.floor(((Math.imul(key, 0x9e3779b1) >>> 7) * buckets) / 33554432)
}
