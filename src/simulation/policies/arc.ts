import { type EvictionPolicy, INITIAL_SLOTS, withSlot } from '../../eviction/policy.js'
import { SlotQueues } from '../../eviction/queues.js'

const T1 = 0 // seen once recently
const T2 = 1 // seen at least twice

/**
 * ARC (Megiddo & Modha, FAST 2003) — a reference point for the simulator only (it is patented
 * territory historically and needs per-key ghost state, so the L1 does not offer it). Two LRU
 * lists of resident entries (T1: seen once, T2: seen again) and two ghost lists of recently
 * evicted keys (B1, B2); a ghost hit moves the target size `p` of T1 toward the list that would
 * have kept the key.
 */
export class ArcPolicy implements EvictionPolicy {
  readonly name = 'arc'
  readonly #capacity: number
  readonly #queues: SlotQueues
  /** Grown on insert (see withSlot): a cache sized past the trace's distinct keys costs what it holds. */
  #hash: Int32Array
  readonly #b1 = new Map<number, true>()
  readonly #b2 = new Map<number, true>()
  #p = 0
  /** Whether the key being inserted was found in B2 (ARC's REPLACE tie-break). */
  #insertedFromB2 = false

  constructor(capacity: number) {
    this.#capacity = capacity
    this.#queues = new SlotQueues(capacity + 1, 2)
    this.#hash = new Int32Array(Math.min(capacity + 1, INITIAL_SLOTS))
  }

  touch(slot: number): void {
    this.#queues.moveToNewest(T2, slot)
  }

  miss(_hash: number): void {}

  insert(slot: number, hash: number): void {
    this.#hash = withSlot(this.#hash, slot, 0, this.#capacity + 1)
    this.#hash[slot] = hash
    const c = this.#capacity
    const b1 = this.#b1.size
    const b2 = this.#b2.size
    this.#insertedFromB2 = false
    if (this.#b1.delete(hash)) {
      this.#p = Math.min(c, this.#p + Math.max(b2 / b1, 1))
      this.#queues.push(T2, slot)
      return
    }
    if (this.#b2.delete(hash)) {
      this.#p = Math.max(0, this.#p - Math.max(b1 / b2, 1))
      this.#insertedFromB2 = true
      this.#queues.push(T2, slot)
      return
    }
    // A new key: keep |T1| + |B1| ≤ c and the whole directory ≤ 2c, as ARC's case IV does.
    const t1 = this.#queues.sizes[T1] as number
    const t2 = this.#queues.sizes[T2] as number
    if (t1 + b1 >= c) {
      if (b1 > 0) dropOldest(this.#b1)
    } else if (t1 + t2 + b1 + b2 >= 2 * c && b2 > 0) dropOldest(this.#b2)
    this.#queues.push(T1, slot)
  }

  remove(slot: number): void {
    this.#queues.unlink(slot)
  }

  victim(candidate: number): number {
    const queues = this.#queues
    // Sizes as ARC's REPLACE sees them, before the candidate was added.
    const inT1 = queues.queueOf(candidate) === T1 ? 1 : 0
    const t1 = (queues.sizes[T1] as number) - inT1
    let fromT1 = t1 >= 1 && (t1 > this.#p || (this.#insertedFromB2 && t1 === Math.floor(this.#p)))
    if (!fromT1 && (queues.sizes[T2] as number) - (1 - inT1) <= 0) fromT1 = true
    let victim = queues.oldest(fromT1 ? T1 : T2)
    if (victim === candidate) victim = queues.oldest(fromT1 ? T2 : T1)
    if (victim === -1) return candidate
    const ghosts = queues.queueOf(victim) === T1 ? this.#b1 : this.#b2
    ghosts.set(this.#hash[victim] as number, true)
    return victim
  }
}

function dropOldest(ghosts: Map<number, true>): void {
  for (const key of ghosts.keys()) {
    ghosts.delete(key)
    return
  }
}
