import type { TraceKey } from './hash.js'

/**
 * Bélády's clairvoyant optimum (OPT/MIN) for a cache of unit-size entries: on a miss with the cache
 * full, the entry — resident or the one arriving — whose next use is farthest in the future is
 * dropped; an arriving entry that would be dropped is simply not cached (as in the simulator's
 * protocol, where `victim(candidate)` may return the candidate). No policy that sees the same trace
 * one request at a time can hit more often at the same capacity: OPT is the upper bound.
 *
 * Offline, O(n log capacity) time: one backward pass computes every request's next use, then a
 * forward pass per capacity keeps the resident entries in a max-heap keyed by next use, with lazy
 * deletion. Memory: the trace as dense ids (Int32Array) and the next uses (Int32Array), 8 bytes a
 * request, plus O(distinct keys + capacity).
 */

/**
 * For each request i, the index of the next request for the same id, or −1 if there is none.
 * `ids` are dense: 0 ≤ ids[i] < `distinct` (so the "last seen" map is an Int32Array).
 */
export function computeNextUses(ids: Int32Array, length: number = ids.length, distinct?: number): Int32Array {
  let count = distinct
  if (count === undefined) {
    count = 0
    for (let i = 0; i < length; i++) if ((ids[i] as number) >= count) count = (ids[i] as number) + 1
  }
  const next = new Int32Array(length)
  const lastSeen = new Int32Array(count).fill(-1)
  for (let i = length - 1; i >= 0; i--) {
    const id = ids[i] as number
    next[i] = lastSeen[id] as number
    lastSeen[id] = i
  }
  return next
}

/**
 * OPT's hit count on `ids[0, length)` at each capacity (same order as `capacities`), sharing one
 * next-use pass. `distinct`: 1 + the largest id.
 */
export function optHitCounts(
  ids: Int32Array,
  length: number,
  distinct: number,
  capacities: readonly number[],
  nextUses: Int32Array = computeNextUses(ids, length, distinct),
): number[] {
  const residentNext = new Float64Array(distinct)
  return capacities.map((capacity) => optHitsAt(ids, length, nextUses, residentNext, capacity))
}

/**
 * One forward pass. A heap entry is the position of an entry's next use, or `length + id` when it is
 * never used again (larger than every position, and unique): so an entry is the heap value alone,
 * and `residentNext[id]` (−1: not resident) tells a live entry from a stale one.
 */
function optHitsAt(
  ids: Int32Array,
  length: number,
  nextUses: Int32Array,
  residentNext: Float64Array,
  capacity: number,
): number {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError(`OPT needs a capacity ≥ 1; got ${capacity}.`)
  residentNext.fill(-1)
  // Every request pushes at most one value; stale values are compacted away when the heap is full.
  // Sized for what can be resident: never more than the distinct keys (residentNext has one cell
  // each), so a capacity of 2^30 on a small trace does not allocate gigabytes; it grows if needed.
  let heap = new Float64Array(2 * Math.min(capacity, residentNext.length) + 2)
  let size = 0
  let resident = 0
  let hits = 0

  const push = (value: number): void => {
    if (size === heap.length) {
      size = compact(heap, size, ids, length, residentNext)
      if (size === heap.length) {
        const bigger = new Float64Array(heap.length * 2)
        bigger.set(heap)
        heap = bigger
      }
    }
    let i = size++
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as number
      if (p >= value) break
      heap[i] = p
      i = parent
    }
    heap[i] = value
  }

  const pop = (): void => {
    const last = heap[--size] as number
    if (size > 0) siftDown(heap, size, 0, last)
  }

  for (let i = 0; i < length; i++) {
    const id = ids[i] as number
    const nu = nextUses[i] as number
    const value = nu >= 0 ? nu : length + id
    if ((residentNext[id] as number) >= 0) {
      hits++
      residentNext[id] = value
      push(value)
      continue
    }
    if (resident < capacity) {
      resident++
      residentNext[id] = value
      push(value)
      continue
    }
    // Full: find the live entry used farthest in the future.
    let top = heap[0] as number
    while ((residentNext[top < length ? (ids[top] as number) : top - length] as number) !== top) {
      pop()
      top = heap[0] as number
    }
    if (value >= top) continue // the arriving entry is the one used last: do not cache it
    pop()
    residentNext[top < length ? (ids[top] as number) : top - length] = -1
    residentNext[id] = value
    push(value)
  }
  return hits
}

function siftDown(heap: Float64Array, size: number, start: number, value: number): void {
  let i = start
  for (;;) {
    let child = 2 * i + 1
    if (child >= size) break
    const right = child + 1
    if (right < size && (heap[right] as number) > (heap[child] as number)) child = right
    const c = heap[child] as number
    if (c <= value) break
    heap[i] = c
    i = child
  }
  heap[i] = value
}

/** Keeps the live values only and restores the heap order; returns the new size. */
function compact(
  heap: Float64Array,
  size: number,
  ids: Int32Array,
  length: number,
  residentNext: Float64Array,
): number {
  let kept = 0
  for (let i = 0; i < size; i++) {
    const v = heap[i] as number
    if (residentNext[v < length ? (ids[v] as number) : v - length] === v) heap[kept++] = v
  }
  for (let i = (kept >> 1) - 1; i >= 0; i--) siftDown(heap, kept, i, heap[i] as number)
  return kept
}

/** OPT's hit count for a list of keys at one capacity: a convenience for tests and small traces. */
export function optHits(keys: readonly TraceKey[], capacity: number): number {
  const { ids, distinct } = denseIds(keys)
  return optHitCounts(ids, ids.length, distinct, [capacity])[0] as number
}

/** Keys renumbered 0, 1, 2, … in order of first appearance. */
export function denseIds(keys: readonly TraceKey[]): { ids: Int32Array; distinct: number } {
  const index = new Map<TraceKey, number>()
  const ids = new Int32Array(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as TraceKey
    let id = index.get(key)
    if (id === undefined) {
      id = index.size
      index.set(key, id)
    }
    ids[i] = id
  }
  return { ids, distinct: index.size }
}
