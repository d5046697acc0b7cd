import type { EvictionPolicy } from '../../eviction/policy.js'

/**
 * *Perfect* LFU — a reference bound for the simulator only, not an L1 policy (its counts grow
 * with every distinct key ever seen). Every request of a key is counted exactly, over the whole
 * trace, never aged; when full, the least-counted resident leaves (ties: the least recently used),
 * and a newcomer is admitted only if it is counted more than that resident. On a stationary
 * workload such as Zipf this is the best any frequency-based policy can learn from the past, so
 * it tells how much of the gap to OPT is knowledge no online policy has (bench/hit-ratios.js
 * prints it beside the Zipf anchor). O(log capacity) per request: a binary heap of slots ordered by
 * (count, last use).
 */
export class PerfectLfuPolicy implements EvictionPolicy {
  readonly name = 'lfu'
  /** Exact request counts by key hash (32-bit hashes: collisions are negligible at trace scale). */
  readonly #counts = new Map<number, number>()
  readonly #hash: Int32Array
  readonly #count: Float64Array
  readonly #lastUse: Float64Array
  readonly #heap: Int32Array
  readonly #pos: Int32Array
  #size = 0
  #clock = 0

  constructor(capacity: number) {
    this.#hash = new Int32Array(capacity + 1)
    this.#count = new Float64Array(capacity + 1)
    this.#lastUse = new Float64Array(capacity + 1)
    this.#heap = new Int32Array(capacity + 1)
    this.#pos = new Int32Array(capacity + 1).fill(-1)
  }

  touch(slot: number): void {
    const hash = this.#hash[slot] as number
    const count = (this.#counts.get(hash) ?? 0) + 1
    this.#counts.set(hash, count)
    this.#count[slot] = count
    this.#lastUse[slot] = ++this.#clock
    this.#siftDown(this.#pos[slot] as number)
  }

  miss(hash: number): void {
    this.#counts.set(hash, (this.#counts.get(hash) ?? 0) + 1)
  }

  insert(slot: number, hash: number): void {
    this.#hash[slot] = hash
    this.#count[slot] = this.#counts.get(hash) ?? 1
    this.#lastUse[slot] = ++this.#clock
    this.#push(slot)
  }

  remove(slot: number): void {
    const pos = this.#pos[slot] as number
    if (pos < 0) return
    this.#pos[slot] = -1
    const last = this.#heap[--this.#size] as number
    if (pos === this.#size) return
    this.#heap[pos] = last
    this.#pos[last] = pos
    this.#siftDown(pos)
    this.#siftUp(this.#pos[last] as number)
  }

  victim(candidate: number): number {
    // The least-counted resident other than the newcomer; the newcomer stays only if counted more.
    this.remove(candidate)
    const least = this.#size > 0 ? (this.#heap[0] as number) : -1
    this.#push(candidate)
    if (least === -1 || (this.#count[candidate] as number) <= (this.#count[least] as number)) return candidate
    return least
  }

  #less(a: number, b: number): boolean {
    const ca = this.#count[a] as number
    const cb = this.#count[b] as number
    return ca < cb || (ca === cb && (this.#lastUse[a] as number) < (this.#lastUse[b] as number))
  }

  #push(slot: number): void {
    this.#heap[this.#size] = slot
    this.#pos[slot] = this.#size++
    this.#siftUp(this.#size - 1)
  }

  #siftUp(i: number): void {
    const heap = this.#heap
    const slot = heap[i] as number
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as number
      if (!this.#less(slot, p)) break
      heap[i] = p
      this.#pos[p] = i
      i = parent
    }
    heap[i] = slot
    this.#pos[slot] = i
  }

  #siftDown(i: number): void {
    const heap = this.#heap
    const n = this.#size
    const slot = heap[i] as number
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && this.#less(heap[child + 1] as number, heap[child] as number)) child++
      const c = heap[child] as number
      if (!this.#less(c, slot)) break
      heap[i] = c
      this.#pos[c] = i
      i = child
    }
    heap[i] = slot
    this.#pos[slot] = i
  }
}
