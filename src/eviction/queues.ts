import { withSlot } from './policy.js'

const NONE = -1

/**
 * Several intrusive doubly linked FIFO/LRU queues over the same slot space, in typed arrays: a
 * slot is in at most one queue at a time. Shared by the segmented policies (S3-FIFO, W-TinyLFU).
 */
export class SlotQueues {
  #newer: Int32Array
  #older: Int32Array
  /** Queue id of each slot, or -1. */
  queueOf: Int8Array
  readonly #head: Int32Array // newest of each queue
  readonly #tail: Int32Array // oldest of each queue
  readonly sizes: Int32Array

  constructor(slots: number, queues: number) {
    this.#newer = new Int32Array(slots).fill(NONE)
    this.#older = new Int32Array(slots).fill(NONE)
    this.queueOf = new Int8Array(slots).fill(-1)
    this.#head = new Int32Array(queues).fill(NONE)
    this.#tail = new Int32Array(queues).fill(NONE)
    this.sizes = new Int32Array(queues)
  }

  /** The oldest slot of queue `q`, or -1. */
  oldest(q: number): number {
    return this.#tail[q] as number
  }

  /** Appends `slot` as the newest of queue `q`. */
  push(q: number, slot: number): void {
    if (slot >= this.queueOf.length) {
      this.#newer = withSlot(this.#newer, slot, NONE)
      this.#older = withSlot(this.#older, slot, NONE)
      this.queueOf = withSlot(this.queueOf, slot, -1)
    }
    const head = this.#head[q] as number
    this.#older[slot] = head
    this.#newer[slot] = NONE
    if (head !== NONE) this.#newer[head] = slot
    else this.#tail[q] = slot
    this.#head[q] = slot
    this.queueOf[slot] = q
    this.sizes[q] = (this.sizes[q] as number) + 1
  }

  /** Removes `slot` from whatever queue holds it; false if none does. */
  unlink(slot: number): boolean {
    const q = this.queueOf[slot] as number
    if (q < 0) return false
    const newer = this.#newer[slot] as number
    const older = this.#older[slot] as number
    if (newer !== NONE) this.#older[newer] = older
    else this.#head[q] = older
    if (older !== NONE) this.#newer[older] = newer
    else this.#tail[q] = newer
    this.queueOf[slot] = -1
    this.sizes[q] = (this.sizes[q] as number) - 1
    return true
  }

  /** Makes `slot` the newest of queue `q` (moving it from any queue). */
  moveToNewest(q: number, slot: number): void {
    if (this.queueOf[slot] !== q) {
      this.unlink(slot)
      this.push(q, slot)
      return
    }
    // Within one queue (every hit on a window or protected entry): relink only, sizes unchanged.
    const head = this.#head[q] as number
    if (head === slot) return
    const newerArr = this.#newer
    const olderArr = this.#older
    const newer = newerArr[slot] as number // not NONE: slot is not the head
    const older = olderArr[slot] as number
    olderArr[newer] = older
    if (older !== NONE) newerArr[older] = newer
    else this.#tail[q] = newer
    olderArr[slot] = head
    newerArr[slot] = NONE
    newerArr[head] = slot
    this.#head[q] = slot
  }
}
