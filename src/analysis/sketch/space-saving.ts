import { detach } from '../detach.js'

/**
 * The k most frequent items of a stream (Metwally et al., "Space-Saving", 2005): k counters; an
 * item not tracked replaces the smallest counter and inherits its count as its error. Any item
 * with true frequency above n/k is tracked, and each count overestimates by at most its `error`.
 * A min-heap finds the smallest counter in O(log k). Items kept are copied (detach): callers may
 * pass slices of a large string.
 */
/** One counter: `pos` is its place in the heap (updated in place: no Map write per heap swap). */
interface Counter {
  item: string
  count: number
  error: number
  pos: number
}

export class SpaceSaving {
  readonly capacity: number
  readonly #index = new Map<string, Counter>()
  /** Min-heap by count. */
  readonly #heap: Counter[] = []

  constructor(capacity: number) {
    this.capacity = capacity
  }

  /**
   * Filtered Space-Saving: counts `item` if it is tracked; otherwise it enters only when
   * `estimate` (a count-min estimate of its frequency so far) beats the smallest counter, which it
   * then replaces with that estimate. Rare keys — most of a large key space — cost one Map lookup.
   */
  offer(item: string, estimate: number): void {
    const counter = this.#index.get(item)
    if (counter !== undefined) {
      counter.count += 1
      this.#siftDown(counter.pos)
      return
    }
    const heap = this.#heap
    const size = heap.length
    if (size < this.capacity) {
      const kept = detach(item)
      const added: Counter = { item: kept, count: estimate, error: estimate - 1, pos: size }
      heap.push(added)
      this.#index.set(kept, added)
      this.#siftUp(size)
      return
    }
    const min = heap[0] as Counter
    if (estimate <= min.count) return
    this.#index.delete(min.item)
    min.item = detach(item)
    this.#index.set(min.item, min)
    min.error = estimate - 1
    min.count = estimate
    this.#siftDown(0)
  }

  add(item: string, weight = 1): void {
    const counter = this.#index.get(item)
    if (counter !== undefined) {
      counter.count += weight
      this.#siftDown(counter.pos)
      return
    }
    const heap = this.#heap
    const size = heap.length
    if (size < this.capacity) {
      const kept = detach(item)
      const added: Counter = { item: kept, count: weight, error: 0, pos: size }
      heap.push(added)
      this.#index.set(kept, added)
      this.#siftUp(size)
      return
    }
    const min = heap[0] as Counter
    this.#index.delete(min.item)
    min.item = detach(item)
    this.#index.set(min.item, min)
    min.error = min.count
    min.count = min.count + weight
    this.#siftDown(0)
  }

  /** Tracked items, most frequent first: `count` overestimates the truth by at most `error`. */
  top(limit = this.capacity): { item: string; count: number; error: number }[] {
    return this.#heap
      .map(({ item, count, error }) => ({ item, count, error }))
      .sort((a, b) => b.count - a.count)
      .slice(0, limit)
  }

  #swap(i: number, j: number): void {
    const heap = this.#heap
    const a = heap[i] as Counter
    const b = heap[j] as Counter
    heap[i] = b
    heap[j] = a
    b.pos = i
    a.pos = j
  }

  #siftUp(i: number): void {
    const heap = this.#heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((heap[parent] as Counter).count <= (heap[i] as Counter).count) return
      this.#swap(i, parent)
      i = parent
    }
  }

  #siftDown(i: number): void {
    const heap = this.#heap
    const n = heap.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      if (l < n && (heap[l] as Counter).count < (heap[smallest] as Counter).count) smallest = l
      if (r < n && (heap[r] as Counter).count < (heap[smallest] as Counter).count) smallest = r
      if (smallest === i) return
      this.#swap(i, smallest)
      i = smallest
    }
  }
}
