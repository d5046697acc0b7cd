import { type EvictionPolicy, INITIAL_SLOTS, withSlot } from './policy.js'

const NONE = -1
/** The `older` link of a slot that is not resident (no valid link is below NONE). */
const ABSENT = -2

/**
 * SIEVE (Zhang et al., NSDI 2024): one FIFO queue and a hand. A hit only sets a bit — the cheapest
 * hit path of all policies — and the hand, moving from the oldest entry toward the newest, evicts
 * the first entry whose bit is clear, clearing bits as it passes. Nine bytes per slot: two links
 * and the bit (a slot out of the queue is marked in its `older` link, not in an array of its own).
 */
export class SievePolicy implements EvictionPolicy {
  readonly name = 'sieve' as const
  readonly #slots: number
  #newer: Int32Array
  #older: Int32Array
  #visited: Uint8Array
  #head = NONE // newest
  #tail = NONE // oldest
  #hand = NONE

  constructor(capacity: number) {
    this.#slots = capacity + 1
    const initial = Math.min(this.#slots, INITIAL_SLOTS)
    this.#newer = new Int32Array(initial).fill(NONE)
    this.#older = new Int32Array(initial).fill(ABSENT)
    this.#visited = new Uint8Array(initial)
  }

  touch(slot: number): void {
    this.#visited[slot] = 1
  }

  miss(_hash: number): void {}

  insert(slot: number, _hash: number): void {
    this.#newer = withSlot(this.#newer, slot, NONE, this.#slots)
    this.#older = withSlot(this.#older, slot, ABSENT, this.#slots)
    this.#visited = withSlot(this.#visited, slot, 0, this.#slots)
    this.#visited[slot] = 0
    this.#older[slot] = this.#head
    this.#newer[slot] = NONE
    if (this.#head !== NONE) this.#newer[this.#head] = slot
    this.#head = slot
    if (this.#tail === NONE) this.#tail = slot
  }

  remove(slot: number): void {
    const older = this.#older[slot]
    if (older === undefined || older === ABSENT) return
    this.#older[slot] = ABSENT
    const newer = this.#newer[slot] as number
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
