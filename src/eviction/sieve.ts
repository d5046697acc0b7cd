import { type EvictionPolicy, withSlot } from './policy.js'

const NONE = -1

/**
 * SIEVE (Zhang et al., NSDI 2024): one FIFO queue and a hand. A hit only sets a bit — the cheapest
 * hit path of all policies — and the hand, moving from the oldest entry toward the newest, evicts
 * the first entry whose bit is clear, clearing bits as it passes.
 */
export class SievePolicy implements EvictionPolicy {
  readonly name = 'sieve' as const
  #newer: Int32Array
  #older: Int32Array
  #visited: Uint8Array
  #resident: Uint8Array
  #head = NONE // newest
  #tail = NONE // oldest
  #hand = NONE

  constructor(capacity: number) {
    this.#newer = new Int32Array(capacity + 1).fill(NONE)
    this.#older = new Int32Array(capacity + 1).fill(NONE)
    this.#visited = new Uint8Array(capacity + 1)
    this.#resident = new Uint8Array(capacity + 1)
  }

  touch(slot: number): void {
    this.#visited[slot] = 1
  }

  miss(_hash: number): void {}

  insert(slot: number, _hash: number): void {
    this.#newer = withSlot(this.#newer, slot, NONE)
    this.#older = withSlot(this.#older, slot, NONE)
    this.#visited = withSlot(this.#visited, slot, 0)
    this.#resident = withSlot(this.#resident, slot, 0)
    this.#visited[slot] = 0
    this.#resident[slot] = 1
    this.#older[slot] = this.#head
    this.#newer[slot] = NONE
    if (this.#head !== NONE) this.#newer[this.#head] = slot
    this.#head = slot
    if (this.#tail === NONE) this.#tail = slot
  }

  remove(slot: number): void {
    if (this.#resident[slot] === 0) return
    this.#resident[slot] = 0
    const newer = this.#newer[slot] as number
    const older = this.#older[slot] as number
    if (this.#hand === slot) this.#hand = newer
    if (newer !== NONE) this.#older[newer] = older
    else this.#head = older
    if (older !== NONE) this.#newer[older] = newer
    else this.#tail = newer
  }

  victim(candidate: number): number {
    let hand = this.#hand === NONE ? this.#tail : this.#hand
    // The entry just inserted is passed over: SIEVE evicts before inserting.
    while (hand !== NONE) {
      if (hand !== candidate && this.#visited[hand] === 0) {
        // The hand never rests on the newcomer: SIEVE evicts before inserting, so the next sweep
        // starts over from the oldest entry rather than at the entry just added.
        const newer = this.#newer[hand] as number
        this.#hand = newer === candidate ? NONE : newer
        return hand
      }
      this.#visited[hand] = 0
      hand = this.#newer[hand] as number
      if (hand === NONE) hand = this.#tail
      if (hand === candidate && this.#tail === candidate && this.#head === candidate) return candidate
    }
    return candidate
  }
}
