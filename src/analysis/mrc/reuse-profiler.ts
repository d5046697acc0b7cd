import { detach } from '../detach.js'
import { LogHistogram } from '../sketch/log-histogram.js'
import { bucketOfDistance, SIZE_GRID } from './grid.js'
import { ReuseTimes } from './reuse-times.js'

const TWO_32 = 4294967296

export interface ReuseProfilerOptions {
  /**
   * Most keys tracked (fixed-size SHARDS): beyond it the key with the largest hash is dropped and
   * the sampling threshold lowered to it. Infinity (the default) with `rate` 1 is exact.
   */
  readonly maxKeys?: number
  /** Initial sampling rate (fixed-rate SHARDS when `maxKeys` is Infinity). Default 1. */
  readonly rate?: number
  /**
   * log2 of the slots of a table of recent reuse times kept over every reference, which gives the
   * curve below {@link SMALL_CACHE_DISTANCE} / R entries when the keys are sampled (see
   * {@link ReuseTimes}). 0: off (SHARDS alone). Default 0.
   */
  readonly reuseTimeBits?: number
}

/**
 * Below this many sampled entries (a cache of this / R entries) the sampled stack distances are
 * too coarse and too dependent on which hot keys the sample holds: the reuse-time model is used.
 */
export const SMALL_CACHE_DISTANCE = 32

/** Share of keys whose reuse times are measured (their reads are a uniform sample of the reads). */
const REUSE_TIME_RATE = 0.25

export interface MissRatioCurve {
  /** Cache sizes in entries (grid points up to the distinct keys). */
  readonly sizes: readonly number[]
  /** LRU hit ratio at each size. */
  readonly hitRatios: readonly number[]
  /** Hit ratio of an unbounded cache: every re-reference hits. */
  readonly maxHitRatio: number
  /** 1 when computed exactly; else the final SHARDS sampling rate. */
  readonly rate: number
  readonly references: number
  /** Distinct keys (estimated from the sample when rate < 1). */
  readonly distinctKeys: number
}

/**
 * LRU stack distances, exactly (Mattson et al. 1970, in O(log n) per reference: a Fenwick tree
 * over access stamps counts the distinct keys touched since a key's previous access) or on a
 * spatial sample of the keys (SHARDS, Waldspurger et al., FAST 2015): a key is tracked when
 * hash(key) < T, every distance is scaled by 1/R (R = T / 2^32), and the histogram is corrected
 * by the difference between expected and actual sample counts (SHARDS-adj). With `maxKeys`, T is
 * lowered whenever more keys would be tracked (fixed-size SHARDS: memory is O(maxKeys) whatever
 * the log), and the histogram rescaled by R_new / R_old.
 *
 * The tree's stamps are renumbered when they run out (compaction), so it stays O(live keys) too.
 */
export class ReuseProfiler {
  readonly #maxKeys: number
  #threshold: number
  /**
   * The tracked keys, struct-of-arrays in slots (a freed slot is reused), found through an
   * open-addressing table of slot + 1 probed by hash: a sampled reference touches a few typed
   * arrays instead of a Map's buckets, an entry object and its key.
   */
  #keys: string[] = []
  #hashes = new Float64Array(0)
  #ids = new Float64Array(0)
  #stamps = new Int32Array(0)
  #counts = new Float64Array(0)
  #lastTimes = new Float64Array(0)
  #free: number[] = []
  #slotsUsed = 0
  #table = new Int32Array(0)
  #tableMask = 0
  #tableBits = 0
  #size = 0
  /** Max-heap by hash of (hash, slot, id), for fixed-size eviction (unused when maxKeys is Infinity). */
  #heapHashes = new Float64Array(0)
  #heapSlots = new Int32Array(0)
  #heapIds = new Float64Array(0)
  #heapLength = 0
  #tree: Int32Array
  #now = 1
  #nextId = 0
  readonly #histogram = new Float64Array(SIZE_GRID.length + 1)
  /** Weighted references that were sampled (hits + cold misses), rescaled with R. */
  #sampled = 0
  /** Σ R over all references: what #sampled would be with a perfectly even sample. */
  #expected = 0
  #cold = 0
  /** Work done on sampled references (tree operations), for comparisons with the exact run. */
  sampledReferences = 0
  references = 0
  readonly interArrivalMs = new LogHistogram()
  readonly reuseDistance = new LogHistogram()
  readonly #reuseTimes: ReuseTimes | undefined

  constructor(options: ReuseProfilerOptions = {}) {
    this.#maxKeys = options.maxKeys ?? Number.POSITIVE_INFINITY
    const bits = options.reuseTimeBits ?? 0
    this.#reuseTimes = bits > 0 ? new ReuseTimes(bits, REUSE_TIME_RATE) : undefined
    const rate = options.rate ?? 1
    if (!(rate > 0 && rate <= 1)) throw new RangeError(`A sampling rate must be in (0, 1]; got ${rate}.`)
    this.#threshold = rate * TWO_32
    this.#tree = new Int32Array(
      Math.min(1 << 16, Number.isFinite(this.#maxKeys) ? 4 * this.#maxKeys + 16 : 1 << 16) + 1,
    )
    this.#growSlots(Number.isFinite(this.#maxKeys) ? Math.min(this.#maxKeys + 1, 1 << 16) : 1024)
  }

  /** The current sampling rate R. */
  get rate(): number {
    return this.#threshold / TWO_32
  }

  /** The threshold on 32-bit hashes: a key is sampled when its hash is below it. */
  get threshold(): number {
    return this.#threshold
  }

  get trackedKeys(): number {
    return this.#size
  }

  /**
   * One reference to `key` (`hash` its uniform 32-bit hash) at `time` ms (NaN if unknown). Returns
   * the key's sample id (stable while it is tracked), or -1 when the key is not sampled.
   */
  access(key: string, hash: number, time: number): number {
    const rate = this.#threshold / TWO_32
    this.references++
    this.#expected += rate
    this.#reuseTimes?.access(hash)
    if (hash >= this.#threshold) return -1
    this.sampledReferences++
    this.#sampled++
    let slot = this.#find(key, hash)
    if (slot !== -1) {
      const distance = this.#live() - this.#prefix(this.#stamps[slot] as number)
      const scaled = distance / rate
      const bucket = bucketOfDistance(scaled)
      this.#histogram[bucket] = (this.#histogram[bucket] as number) + 1
      this.reuseDistance.add(scaled, 1 / rate)
      const lastTime = this.#lastTimes[slot] as number
      if (time >= lastTime) this.interArrivalMs.add(time - lastTime, 1 / rate)
      this.#update(this.#stamps[slot] as number, -1)
      const stamp = this.#stamp()
      this.#stamps[slot] = stamp
      this.#update(stamp, 1)
      this.#counts[slot] = (this.#counts[slot] as number) + 1
      this.#lastTimes[slot] = time
      return this.#ids[slot] as number
    }
    this.#cold++
    const id = this.#nextId++
    // Stamped before it is tracked: a compaction here must not see it (nor count it).
    const stamp = this.#stamp()
    slot = this.#insert(key, hash)
    this.#ids[slot] = id
    this.#stamps[slot] = stamp
    this.#counts[slot] = 1
    this.#lastTimes[slot] = time
    this.#update(stamp, 1)
    this.#liveCount++
    if (Number.isFinite(this.#maxKeys)) {
      this.#heapPush(hash, slot, id)
      while (this.#size > this.#maxKeys) this.#evictLargest()
    }
    return id
  }

  /**
   * Lowers the rate until at most `keys` keys are tracked (the caller's retained sample must then
   * drop events whose hash is at or above {@link threshold}).
   */
  shrinkTo(keys: number): void {
    if (!Number.isFinite(this.#maxKeys)) {
      // Fixed-rate profilers have no heap: build one (rare: only when a cap is hit).
      for (const slot of this.#liveSlots())
        this.#heapPush(this.#hashes[slot] as number, slot, this.#ids[slot] as number)
    }
    while (this.#size > keys && this.#heapLength > 0) this.#evictLargest()
  }

  /** Access counts of the tracked keys (a uniform sample of the keys when R < 1), oldest key first. */
  sampleCounts(): number[] {
    return this.#liveSlots().map((slot) => this.#counts[slot] as number)
  }

  curve(): MissRatioCurve {
    const rate = this.rate
    const distinct = this.#size / rate
    const adjust = this.#expected - this.#sampled
    const total = this.#expected
    const sizes: number[] = []
    const hitRatios: number[] = []
    let cumulative = adjust
    const reuses = this.#sampled - this.#cold
    // Small caches from reuse times (when sampled and tracked), larger ones from SHARDS.
    const small =
      rate < 1 && this.#reuseTimes !== undefined
        ? this.#reuseTimes.hitRatios(SIZE_GRID.filter((size) => size < SMALL_CACHE_DISTANCE / rate))
        : []
    for (let k = 0; k < SIZE_GRID.length; k++) {
      cumulative += this.#histogram[k] as number
      const size = SIZE_GRID[k] as number
      sizes.push(size)
      const sharded = total <= 0 ? 0 : Math.min(1, Math.max(0, cumulative / total))
      hitRatios.push(k < small.length ? (small[k] as number) : sharded)
      if (size >= distinct) break
    }
    const maxHitRatio = total <= 0 ? 0 : Math.min(1, Math.max(0, (reuses + adjust) / total))
    return {
      sizes,
      hitRatios,
      maxHitRatio,
      rate,
      references: this.references,
      distinctKeys: Math.round(distinct),
    }
  }

  // ——— Fenwick tree over stamps ———

  #liveCount = 0

  #live(): number {
    return this.#liveCount
  }

  #stamp(): number {
    if (this.#now >= this.#tree.length) this.#compact()
    return this.#now++
  }

  #update(i: number, delta: number): void {
    const tree = this.#tree
    for (; i < tree.length; i += i & -i) tree[i] = (tree[i] as number) + delta
  }

  #prefix(i: number): number {
    const tree = this.#tree
    let sum = 0
    for (; i > 0; i -= i & -i) sum += tree[i] as number
    return sum
  }

  /**
   * Renumbers live entries 1…n in stamp order, doubling the tree if it is over half full. (An
   * entry being re-stamped when this runs still counts at its old place until the next
   * compaction, as it always has: the curves depend on it.)
   */
  #compact(): void {
    let length = this.#tree.length
    if (this.#size + 1 > (length - 1) / 2) length = 2 * (length - 1) + 1
    // Stamps are distinct and below #now: ordering entries by stamp is a pass over them.
    const byStamp = new Int32Array(this.#now)
    for (let slot = 0; slot < this.#slotsUsed; slot++)
      if ((this.#ids[slot] as number) >= 0) byStamp[this.#stamps[slot] as number] = slot + 1
    const tree = new Int32Array(length)
    let n = 0
    for (let stamp = 1; stamp < byStamp.length; stamp++) {
      const slot = (byStamp[stamp] as number) - 1
      if (slot < 0) continue
      n++
      this.#stamps[slot] = n
      tree[n] = 1
    }
    // Linear-time build: push each node's sum to its parent.
    for (let i = 1; i < length; i++) {
      const parent = i + (i & -i)
      if (parent < length) tree[parent] = (tree[parent] as number) + (tree[i] as number)
    }
    this.#tree = tree
    this.#now = n + 1
  }

  // ——— fixed-size eviction ———

  #evictLargest(): void {
    if (this.#heapLength === 0) return
    const hash = this.#heapHashes[0] as number
    const slot = this.#heapSlots[0] as number
    const id = this.#heapIds[0] as number
    this.#heapPop()
    if (this.#ids[slot] !== id) return // no longer tracked (a duplicate from shrinkTo)
    const oldRate = this.rate
    this.#remove(slot)
    if (hash < this.#threshold) {
      this.#threshold = hash
      const ratio = this.rate / oldRate
      for (let i = 0; i < this.#histogram.length; i++)
        this.#histogram[i] = (this.#histogram[i] as number) * ratio
      this.#sampled *= ratio
      this.#expected *= ratio
      this.#cold *= ratio
    }
    // The evicted key's own past references stay in the histogram: rescaling already accounts for
    // the share of sampled keys that leave (SHARDS keeps them too).
    while (this.#heapLength > 0 && (this.#heapHashes[0] as number) >= this.#threshold) {
      const next = this.#heapSlots[0] as number
      const nextId = this.#heapIds[0] as number
      this.#heapPop()
      if (this.#ids[next] === nextId) this.#remove(next)
    }
  }

  /** Stops tracking the key in `slot`. */
  #remove(slot: number): void {
    this.#unindex(slot)
    this.#update(this.#stamps[slot] as number, -1)
    this.#liveCount--
    this.#ids[slot] = -1
    this.#keys[slot] = ''
    this.#free.push(slot)
    this.#size--
  }

  #heapPush(hash: number, slot: number, id: number): void {
    if (this.#heapLength === this.#heapHashes.length) {
      const length = Math.max(16, 2 * this.#heapLength)
      const hashes = new Float64Array(length)
      hashes.set(this.#heapHashes)
      const slots = new Int32Array(length)
      slots.set(this.#heapSlots)
      const ids = new Float64Array(length)
      ids.set(this.#heapIds)
      this.#heapHashes = hashes
      this.#heapSlots = slots
      this.#heapIds = ids
    }
    const hashes = this.#heapHashes
    const slots = this.#heapSlots
    const ids = this.#heapIds
    let i = this.#heapLength++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((hashes[parent] as number) >= hash) break
      hashes[i] = hashes[parent] as number
      slots[i] = slots[parent] as number
      ids[i] = ids[parent] as number
      i = parent
    }
    hashes[i] = hash
    slots[i] = slot
    ids[i] = id
  }

  /** Removes the top (the caller read it first). */
  #heapPop(): void {
    const hashes = this.#heapHashes
    const slots = this.#heapSlots
    const ids = this.#heapIds
    const n = --this.#heapLength
    if (n === 0) return
    const last = hashes[n] as number
    const lastSlot = slots[n] as number
    const lastId = ids[n] as number
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && (hashes[r] as number) > (hashes[l] as number) ? r : l
      if ((hashes[child] as number) <= last) break
      hashes[i] = hashes[child] as number
      slots[i] = slots[child] as number
      ids[i] = ids[child] as number
      i = child
    }
    hashes[i] = last
    slots[i] = lastSlot
    ids[i] = lastId
  }

  // ——— slots and their open-addressing index ———

  /** Live slots, oldest entry (smallest id) first. */
  #liveSlots(): number[] {
    const slots: number[] = []
    for (let slot = 0; slot < this.#slotsUsed; slot++) if ((this.#ids[slot] as number) >= 0) slots.push(slot)
    return slots.sort((a, b) => (this.#ids[a] as number) - (this.#ids[b] as number))
  }

  #home(hash: number): number {
    return Math.imul(hash | 0, 0x9e3779b1) >>> (32 - this.#tableBits)
  }

  /** The slot tracking `key`, or -1. */
  #find(key: string, hash: number): number {
    const table = this.#table
    const mask = this.#tableMask
    for (let i = this.#home(hash); ; i = (i + 1) & mask) {
      const entry = table[i] as number
      if (entry === 0) return -1
      const slot = entry - 1
      if (this.#hashes[slot] === hash && this.#keys[slot] === key) return slot
    }
  }

  /** A slot for a new key, indexed. */
  #insert(key: string, hash: number): number {
    let slot = this.#free.pop()
    if (slot === undefined) {
      if (this.#slotsUsed === this.#hashes.length) this.#growSlots(2 * this.#hashes.length)
      slot = this.#slotsUsed++
    }
    this.#keys[slot] = detach(key) // callers may pass a slice of a large string: keep a copy
    this.#hashes[slot] = hash
    this.#size++
    const mask = this.#tableMask
    let i = this.#home(hash)
    while (this.#table[i] !== 0) i = (i + 1) & mask
    this.#table[i] = slot + 1
    return slot
  }

  /** Removes `slot` from the index (linear probing with backward-shift deletion: no tombstones). */
  #unindex(slot: number): void {
    const table = this.#table
    const mask = this.#tableMask
    let i = this.#home(this.#hashes[slot] as number)
    while (table[i] !== slot + 1) i = (i + 1) & mask
    table[i] = 0
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const moved = (table[j] as number) - 1
      const home = this.#home(this.#hashes[moved] as number)
      // `moved` may fill the hole at i when its home is not cyclically within (i, j].
      const between = i <= j ? home > i && home <= j : home > i || home <= j
      if (!between) {
        table[i] = table[j] as number
        table[j] = 0
        i = j
      }
    }
  }

  /** Room for `capacity` slots; the index stays at most half full. */
  #growSlots(capacity: number): void {
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity)
      b.set(a)
      return b
    }
    this.#hashes = grow(this.#hashes, (n) => new Float64Array(n))
    this.#ids = grow(this.#ids, (n) => new Float64Array(n))
    this.#stamps = grow(this.#stamps, (n) => new Int32Array(n))
    this.#counts = grow(this.#counts, (n) => new Float64Array(n))
    this.#lastTimes = grow(this.#lastTimes, (n) => new Float64Array(n))
    let bits = 4
    while (1 << bits < 2 * capacity) bits++
    if (bits === this.#tableBits) return
    this.#tableBits = bits
    this.#tableMask = (1 << bits) - 1
    this.#table = new Int32Array(1 << bits)
    for (let slot = 0; slot < this.#slotsUsed; slot++) {
      if ((this.#ids[slot] as number) < 0) continue
      let i = this.#home(this.#hashes[slot] as number)
      while (this.#table[i] !== 0) i = (i + 1) & this.#tableMask
      this.#table[i] = slot + 1
    }
  }
}
