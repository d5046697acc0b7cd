/**
 * The k most frequent items of a stream (Metwally et al., "Space-Saving", 2005): k counters; an
 * item not tracked replaces the smallest counter and inherits its count as its error. Any item
 * with true frequency above n/k is tracked, and each count overestimates by at most its `error`.
 * A min-heap finds the smallest counter in O(log k).
 */
export class SpaceSaving {
  readonly capacity: number
  readonly #index = new Map<string, number>() // item → heap position
  readonly #items: string[] = []
  readonly #counts: Float64Array
  readonly #errors: Float64Array

  constructor(capacity: number) {
    this.capacity = capacity
    this.#counts = new Float64Array(capacity)
    this.#errors = new Float64Array(capacity)
  }

  /**
   * Filtered Space-Saving: counts `item` if it is tracked; otherwise it enters only when
   * `estimate` (a count-min estimate of its frequency so far) beats the smallest counter, which it
   * then replaces with that estimate. Rare keys — most of a large key space — cost one Map lookup.
   */
  offer(item: string, estimate: number): void {
    const at = this.#index.get(item)
    if (at !== undefined) {
      this.#counts[at] = (this.#counts[at] as number) + 1
      this.#siftDown(at)
      return
    }
    const size = this.#items.length
    if (size < this.capacity) {
      this.#items.push(item)
      this.#counts[size] = estimate
      this.#errors[size] = estimate - 1
      this.#index.set(item, size)
      this.#siftUp(size)
      return
    }
    const min = this.#counts[0] as number
    if (estimate <= min) return
    this.#index.delete(this.#items[0] as string)
    this.#items[0] = item
    this.#index.set(item, 0)
    this.#errors[0] = estimate - 1
    this.#counts[0] = estimate
    this.#siftDown(0)
  }

  add(item: string, weight = 1): void {
    const at = this.#index.get(item)
    if (at !== undefined) {
      this.#counts[at] = (this.#counts[at] as number) + weight
      this.#siftDown(at)
      return
    }
    const size = this.#items.length
    if (size < this.capacity) {
      this.#items.push(item)
      this.#counts[size] = weight
      this.#errors[size] = 0
      this.#index.set(item, size)
      this.#siftUp(size)
      return
    }
    const min = this.#counts[0] as number
    this.#index.delete(this.#items[0] as string)
    this.#items[0] = item
    this.#index.set(item, 0)
    this.#errors[0] = min
    this.#counts[0] = min + weight
    this.#siftDown(0)
  }

  /** Tracked items, most frequent first: `count` overestimates the truth by at most `error`. */
  top(limit = this.capacity): { item: string; count: number; error: number }[] {
    return this.#items
      .map((item, i) => ({ item, count: this.#counts[i] as number, error: this.#errors[i] as number }))
      .sort((a, b) => b.count - a.count)
      .slice(0, limit)
  }

  #swap(i: number, j: number): void {
    const items = this.#items
    const a = items[i] as string
    const b = items[j] as string
    items[i] = b
    items[j] = a
    this.#index.set(b, i)
    this.#index.set(a, j)
    const c = this.#counts[i] as number
    this.#counts[i] = this.#counts[j] as number
    this.#counts[j] = c
    const e = this.#errors[i] as number
    this.#errors[i] = this.#errors[j] as number
    this.#errors[j] = e
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((this.#counts[parent] as number) <= (this.#counts[i] as number)) return
      this.#swap(i, parent)
      i = parent
    }
  }

  #siftDown(i: number): void {
    const n = this.#items.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      if (l < n && (this.#counts[l] as number) < (this.#counts[smallest] as number)) smallest = l
      if (r < n && (this.#counts[r] as number) < (this.#counts[smallest] as number)) smallest = r
      if (smallest === i) return
      this.#swap(i, smallest)
      i = smallest
    }
  }
}
