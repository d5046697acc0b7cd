import { type EvictionPolicy, INITIAL_SLOTS, withSlot } from './policy.js'

const NONE = -1
/*
 * The `older` word of a slot: bit 30 the visited bit, bits 0–29 the older slot, or OLDEST (none:
 * the slot is the tail), or ABSENT (the slot is not resident).
 */
const VISITED = 1 << 30
const LINK = VISITED - 1
const OLDEST = LINK
const ABSENT = LINK - 1

/**
 * SIEVE (Zhang et al., NSDI 2024): one FIFO queue and a hand. A hit only sets a bit — the cheapest
 * hit path of all policies — and the hand, moving from the oldest entry toward the newest, evicts
 * the first entry whose bit is clear, clearing bits as it passes. Eight bytes per slot: two links,
 * the bit sharing a word with one of them (as does the mark of a slot that is not resident).
 */
export class SievePolicy implements EvictionPolicy {
  readonly name = 'sieve' as const
  readonly #slots: number
  #newer: Int32Array
  #older: Int32Array
  #head = NONE // newest
  #tail = NONE // oldest
  #hand = NONE

  constructor(capacity: number) {
    this.#slots = capacity + 1
    const initial = Math.min(this.#slots, INITIAL_SLOTS)
    this.#newer = new Int32Array(initial).fill(NONE)
    this.#older = new Int32Array(initial).fill(ABSENT)
  }

  touch(slot: number): void {
    this.#older[slot] = (this.#older[slot] as number) | VISITED
  }

  miss(_hash: number): void {}

  insert(slot: number, _hash: number): void {
    this.#newer = withSlot(this.#newer, slot, NONE, this.#slots)
    this.#older = withSlot(this.#older, slot, ABSENT, this.#slots)
    this.#older[slot] = this.#head === NONE ? OLDEST : this.#head // not visited
    this.#newer[slot] = NONE
    if (this.#head !== NONE) this.#newer[this.#head] = slot
    this.#head = slot
    if (this.#tail === NONE) this.#tail = slot
  }

  remove(slot: number): void {
    const word = this.#older[slot]
    if (word === undefined || (word & LINK) === ABSENT) return
    this.#older[slot] = ABSENT
    const link = word & LINK
    const older = link === OLDEST ? NONE : link
    const newer = this.#newer[slot] as number
    if (this.#hand === slot) this.#hand = newer
    if (newer !== NONE) this.#older[newer] = ((this.#older[newer] as number) & VISITED) | link
    else this.#head = older
    if (older !== NONE) this.#newer[older] = newer
    else this.#tail = newer
  }

  victim(candidate: number): number {
    let hand = this.#hand === NONE ? this.#tail : this.#hand
    // The entry just inserted is passed over: SIEVE evicts before inserting.
    while (hand !== NONE) {
      const word = this.#older[hand] as number
      if (hand !== candidate && (word & VISITED) === 0) {
        // The hand never rests on the newcomer: SIEVE evicts before inserting, so the next sweep
        // starts over from the oldest entry rather than at the entry just added.
        const newer = this.#newer[hand] as number
        this.#hand = newer === candidate ? NONE : newer
        return hand
      }
      this.#older[hand] = word & LINK
      hand = this.#newer[hand] as number
      if (hand === NONE) hand = this.#tail
      if (hand === candidate && this.#tail === candidate && this.#head === candidate) return candidate
    }
    return candidate
  }
}
