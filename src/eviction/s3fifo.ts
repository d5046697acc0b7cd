import { type EvictionPolicy, withSlot } from './policy.js'
import { SlotQueues } from './queues.js'

const SMALL = 0
const MAIN = 1
const MAX_FREQ = 3

/**
 * S3-FIFO (Yang et al., SOSP 2023): a small FIFO (10%) that filters one-hit wonders, a main FIFO
 * (90%) with lazy reinsertion, and a ghost queue of keys recently evicted from the small one. A
 * hit only bumps a 2-bit counter. New keys enter the small queue — or the main one if the ghost
 * remembers them; leaving the small queue, an entry read again moves to main, others are ghosted.
 */
export class S3FifoPolicy implements EvictionPolicy {
  readonly name = 's3fifo' as const
  readonly #queues: SlotQueues
  #freq: Uint8Array
  #hash: Int32Array
  readonly #smallTarget: number
  readonly #ghost: GhostQueue

  constructor(capacity: number, smallShare = 0.1) {
    this.#queues = new SlotQueues(capacity + 1, 2)
    this.#freq = new Uint8Array(capacity + 1)
    this.#hash = new Int32Array(capacity + 1)
    this.#smallTarget = Math.max(1, Math.round(capacity * smallShare))
    this.#ghost = new GhostQueue(capacity - this.#smallTarget)
  }

  touch(slot: number): void {
    const f = this.#freq[slot] as number
    if (f < MAX_FREQ) this.#freq[slot] = f + 1
  }

  miss(_hash: number): void {}

  insert(slot: number, hash: number): void {
    this.#freq = withSlot(this.#freq, slot, 0)
    this.#hash = withSlot(this.#hash, slot, 0)
    this.#freq[slot] = 0
    this.#hash[slot] = hash
    this.#queues.push(this.#ghost.take(hash) ? MAIN : SMALL, slot)
  }

  remove(slot: number): void {
    this.#queues.unlink(slot)
  }

  victim(candidate: number): number {
    const queues = this.#queues
    for (;;) {
      const small = queues.sizes[SMALL] as number
      if (small > this.#smallTarget || (queues.sizes[MAIN] as number) === 0) {
        const oldest = queues.oldest(SMALL)
        if (oldest === candidate && small === 1 && queues.sizes[MAIN] === 0) return candidate
        if ((this.#freq[oldest] as number) > 0) {
          this.#freq[oldest] = 0
          queues.moveToNewest(MAIN, oldest)
          continue
        }
        this.#ghost.add(this.#hash[oldest] as number)
        return oldest
      }
      const oldest = queues.oldest(MAIN)
      const f = this.#freq[oldest] as number
      if (f > 0) {
        this.#freq[oldest] = f - 1
        queues.moveToNewest(MAIN, oldest)
        continue
      }
      return oldest
    }
  }
}

/** Remembers the last `capacity` hashes added (a FIFO ring plus a count per hash). */
class GhostQueue {
  readonly #ring: Int32Array
  readonly #present = new Map<number, number>()
  #next = 0
  #size = 0

  constructor(capacity: number) {
    this.#ring = new Int32Array(Math.max(1, capacity))
  }

  add(hash: number): void {
    if (this.#size === this.#ring.length) {
      const old = this.#ring[this.#next] as number
      const count = (this.#present.get(old) ?? 1) - 1
      if (count === 0) this.#present.delete(old)
      else this.#present.set(old, count)
    } else this.#size++
    this.#ring[this.#next] = hash
    this.#next = (this.#next + 1) % this.#ring.length
    this.#present.set(hash, (this.#present.get(hash) ?? 0) + 1)
  }

  /** True if `hash` was ghosted (and forgets it: the key is back). */
  take(hash: number): boolean {
    const count = this.#present.get(hash)
    if (count === undefined) return false
    // The ring slot stays; the count keeps its later expiry consistent.
    if (count === 1) this.#present.delete(hash)
    else this.#present.set(hash, count - 1)
    return true
  }
}
