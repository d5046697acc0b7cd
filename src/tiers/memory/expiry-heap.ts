/** What the heap needs of an entry: its expiry and a slot for its own position. */
export interface Expiring {
  expiresAt: number
  heapIndex: number
}

/**
 * A binary min-heap of entries by expiry, so that the L1 reclaims expired entries before it
 * evicts live ones. O(log n) on writes and deletes; the hit path never touches it (except to move
 * a sliding entry). Entries that never expire are not in it (`heapIndex` -1).
 */
export class ExpiryHeap<E extends Expiring> {
  readonly #items: E[] = []

  get size(): number {
    return this.#items.length
  }

  /** The entry that expires first, if any. */
  peek(): E | undefined {
    return this.#items[0]
  }

  add(entry: E): void {
    if (entry.expiresAt === Number.POSITIVE_INFINITY) {
      entry.heapIndex = -1
      return
    }
    entry.heapIndex = this.#items.length
    this.#items.push(entry)
    this.#up(entry.heapIndex)
  }

  remove(entry: E): void {
    const i = entry.heapIndex
    if (i < 0) return
    entry.heapIndex = -1
    const last = this.#items.pop() as E
    if (i === this.#items.length) return
    this.#items[i] = last
    last.heapIndex = i
    this.#down(i)
    this.#up(last.heapIndex)
  }

  /** Re-positions `entry` after its expiry changed. */
  update(entry: E): void {
    if (entry.heapIndex < 0) this.add(entry)
    else if (entry.expiresAt === Number.POSITIVE_INFINITY) this.remove(entry)
    else {
      this.#down(entry.heapIndex)
      this.#up(entry.heapIndex)
    }
  }

  clear(): void {
    for (const entry of this.#items) entry.heapIndex = -1
    this.#items.length = 0
  }

  #up(i: number): void {
    const items = this.#items
    const entry = items[i] as E
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent] as E
      if (p.expiresAt <= entry.expiresAt) break
      items[i] = p
      p.heapIndex = i
      i = parent
    }
    items[i] = entry
    entry.heapIndex = i
  }

  #down(i: number): void {
    const items = this.#items
    const n = items.length
    const entry = items[i] as E
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && (items[right] as E).expiresAt < (items[child] as E).expiresAt) child = right
      const c = items[child] as E
      if (c.expiresAt >= entry.expiresAt) break
      items[i] = c
      c.heapIndex = i
      i = child
    }
    items[i] = entry
    entry.heapIndex = i
  }
}
