import { LogHistogram } from '../sketch/log-histogram.js'
import { bucketOfDistance, SIZE_GRID } from './grid.js'

const TWO_32 = 4294967296

interface Entry {
  readonly key: string
  readonly hash: number
  readonly id: number
  stamp: number
  count: number
  lastTime: number
}

export interface ReuseProfilerOptions {
  /**
   * Most keys tracked (fixed-size SHARDS): beyond it the key with the largest hash is dropped and
   * the sampling threshold lowered to it. Infinity (the default) with `rate` 1 is exact.
   */
  readonly maxKeys?: number
  /** Initial sampling rate (fixed-rate SHARDS when `maxKeys` is Infinity). Default 1. */
  readonly rate?: number
}

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
  readonly #entries = new Map<string, Entry>()
  /** Max-heap of entries by hash, for fixed-size eviction (unused when maxKeys is Infinity). */
  readonly #heap: Entry[] = []
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

  constructor(options: ReuseProfilerOptions = {}) {
    this.#maxKeys = options.maxKeys ?? Number.POSITIVE_INFINITY
    const rate = options.rate ?? 1
    if (!(rate > 0 && rate <= 1)) throw new RangeError(`A sampling rate must be in (0, 1]; got ${rate}.`)
    this.#threshold = rate * TWO_32
    this.#tree = new Int32Array(
      Math.min(1 << 16, Number.isFinite(this.#maxKeys) ? 4 * this.#maxKeys + 16 : 1 << 16) + 1,
    )
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
    return this.#entries.size
  }

  /**
   * One reference to `key` (`hash` its uniform 32-bit hash) at `time` ms (NaN if unknown). Returns
   * the key's sample id (stable while it is tracked), or -1 when the key is not sampled.
   */
  access(key: string, hash: number, time: number): number {
    const rate = this.#threshold / TWO_32
    this.references++
    this.#expected += rate
    if (hash >= this.#threshold) return -1
    this.sampledReferences++
    this.#sampled++
    let entry = this.#entries.get(key)
    if (entry !== undefined) {
      const distance = this.#live() - this.#prefix(entry.stamp)
      const scaled = distance / rate
      const bucket = bucketOfDistance(scaled)
      this.#histogram[bucket] = (this.#histogram[bucket] as number) + 1
      this.reuseDistance.add(scaled, 1 / rate)
      if (time >= entry.lastTime) this.interArrivalMs.add(time - entry.lastTime, 1 / rate)
      this.#update(entry.stamp, -1)
      entry.stamp = this.#stamp()
      this.#update(entry.stamp, 1)
      entry.count++
      entry.lastTime = time
      return entry.id
    }
    this.#cold++
    entry = { key, hash, id: this.#nextId++, stamp: 0, count: 1, lastTime: time }
    entry.stamp = this.#stamp()
    this.#update(entry.stamp, 1)
    this.#entries.set(key, entry)
    this.#liveCount++
    if (Number.isFinite(this.#maxKeys)) {
      this.#heapPush(entry)
      while (this.#entries.size > this.#maxKeys) this.#evictLargest()
    }
    return entry.id
  }

  /**
   * Lowers the rate until at most `keys` keys are tracked (the caller's retained sample must then
   * drop events whose hash is at or above {@link threshold}).
   */
  shrinkTo(keys: number): void {
    if (!Number.isFinite(this.#maxKeys)) {
      // Fixed-rate profilers have no heap: build one (rare: only when a cap is hit).
      for (const entry of this.#entries.values()) this.#heapPush(entry)
    }
    while (this.#entries.size > keys && this.#heap.length > 0) this.#evictLargest()
  }

  /** Access counts of the tracked keys (a uniform sample of the keys when R < 1), in no order. */
  sampleCounts(): number[] {
    return Array.from(this.#entries.values(), (entry) => entry.count)
  }

  curve(): MissRatioCurve {
    const rate = this.rate
    const distinct = this.#entries.size / rate
    const adjust = this.#expected - this.#sampled
    const total = this.#expected
    const sizes: number[] = []
    const hitRatios: number[] = []
    let cumulative = adjust
    const reuses = this.#sampled - this.#cold
    for (let k = 0; k < SIZE_GRID.length; k++) {
      cumulative += this.#histogram[k] as number
      const size = SIZE_GRID[k] as number
      sizes.push(size)
      hitRatios.push(total <= 0 ? 0 : Math.min(1, Math.max(0, cumulative / total)))
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

  /** Renumbers live entries 1…n in stamp order, doubling the tree if it is over half full. */
  #compact(): void {
    const entries = Array.from(this.#entries.values()).sort((a, b) => a.stamp - b.stamp)
    let length = this.#tree.length
    if (entries.length + 1 > (length - 1) / 2) length = 2 * (length - 1) + 1
    const tree = new Int32Array(length)
    entries.forEach((entry, i) => {
      entry.stamp = i + 1
      tree[i + 1] = 1
    })
    // Linear-time build: push each node's sum to its parent.
    for (let i = 1; i < length; i++) {
      const parent = i + (i & -i)
      if (parent < length) tree[parent] = (tree[parent] as number) + (tree[i] as number)
    }
    this.#tree = tree
    this.#now = entries.length + 1
  }

  // ——— fixed-size eviction ———

  #evictLargest(): void {
    const top = this.#heapPop()
    if (top === undefined) return
    if (this.#entries.get(top.key) !== top) return
    const oldRate = this.rate
    this.#entries.delete(top.key)
    this.#update(top.stamp, -1)
    this.#liveCount--
    if (top.hash < this.#threshold) {
      this.#threshold = top.hash
      const ratio = this.rate / oldRate
      for (let i = 0; i < this.#histogram.length; i++)
        this.#histogram[i] = (this.#histogram[i] as number) * ratio
      this.#sampled *= ratio
      this.#expected *= ratio
      this.#cold *= ratio
    }
    // The evicted key's own past references stay in the histogram: rescaling already accounts for
    // the share of sampled keys that leave (SHARDS keeps them too).
    while (this.#heap.length > 0 && (this.#heap[0] as Entry).hash >= this.#threshold) {
      const next = this.#heapPop() as Entry
      if (this.#entries.get(next.key) === next) {
        this.#entries.delete(next.key)
        this.#update(next.stamp, -1)
        this.#liveCount--
      }
    }
  }

  #heapPush(entry: Entry): void {
    const heap = this.#heap
    heap.push(entry)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((heap[parent] as Entry).hash >= entry.hash) break
      heap[i] = heap[parent] as Entry
      i = parent
    }
    heap[i] = entry
  }

  #heapPop(): Entry | undefined {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    let i = 0
    const n = heap.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && (heap[r] as Entry).hash > (heap[l] as Entry).hash ? r : l
      if ((heap[child] as Entry).hash <= last.hash) break
      heap[i] = heap[child] as Entry
      i = child
    }
    heap[i] = last
    return top
  }
}
