import { type EvictionPolicy, INITIAL_SLOTS, withSlot } from './policy.js'

const NONE = -1

/** Least recently used: a doubly linked list in two Int32Arrays; a hit moves the slot to the head. */
export class LruPolicy implements EvictionPolicy {
  readonly name = 'lru' as const
  readonly #slots: number
  #prev: Int32Array
  #next: Int32Array
  #head = NONE // most recent
  #tail = NONE // least recent

  constructor(capacity: number) {
    this.#slots = capacity + 1
    this.#prev = new Int32Array(Math.min(this.#slots, INITIAL_SLOTS)).fill(NONE)
    this.#next = new Int32Array(Math.min(this.#slots, INITIAL_SLOTS)).fill(NONE)
  }

  touch(slot: number): void {
    if (this.#head === slot) return
    this.#unlink(slot)
    this.#pushHead(slot)
  }

  miss(_hash: number): void {}

  insert(slot: number, _hash: number): void {
    this.#prev = withSlot(this.#prev, slot, NONE, this.#slots)
    this.#next = withSlot(this.#next, slot, NONE, this.#slots)
    this.#pushHead(slot)
  }

  remove(slot: number): void {
    this.#unlink(slot)
  }

  victim(_candidate: number): number {
    return this.#tail
  }

  #pushHead(slot: number): void {
    this.#prev[slot] = NONE
    this.#next[slot] = this.#head
    if (this.#head !== NONE) this.#prev[this.#head] = slot
    this.#head = slot
    if (this.#tail === NONE) this.#tail = slot
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot] as number
    const next = this.#next[slot] as number
    if (prev === NONE && this.#head !== slot) return // not resident
    if (prev !== NONE) this.#next[prev] = next
    else this.#head = next
    if (next !== NONE) this.#prev[next] = prev
    else this.#tail = prev
    this.#prev[slot] = NONE
    this.#next[slot] = NONE
  }
}
