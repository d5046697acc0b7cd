import type { EvictionPolicy } from '../eviction/policy.js'

const EMPTY = 0
const GOLDEN = 0x9e3779b1

/**
 * A cache of `capacity` unit-size entries driven by an {@link EvictionPolicy}, exactly as the L1
 * store drives it (see the protocol in src/eviction/policy.ts), but holding no values: keys are
 * dense integer ids (the simulator numbers a trace's keys as it reads them) and the index from id
 * to slot is an open-addressing table in an Int32Array (linear probing, load ≤ 1/2, backward-shift
 * deletion), so memory is O(capacity) and the per-request path allocates nothing.
 */
export class SimulatedCache {
  readonly policy: EvictionPolicy
  readonly capacity: number
  hits = 0
  misses = 0
  /** Time spent in {@link replay}, for reports. */
  elapsedMs = 0
  readonly #table: Int32Array // slot + 1, or EMPTY
  readonly #shift: number
  readonly #mask: number
  readonly #slotId: Int32Array // the id held by each slot
  readonly #free: Int32Array // a stack of free slots
  #freeTop: number
  #size = 0

  constructor(policy: EvictionPolicy, capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`A capacity must be an integer ≥ 1; got ${capacity}.`)
    this.policy = policy
    this.capacity = capacity
    const bits = Math.max(4, Math.ceil(Math.log2(2 * (capacity + 1))))
    this.#table = new Int32Array(1 << bits)
    this.#shift = 32 - bits
    this.#mask = (1 << bits) - 1
    this.#slotId = new Int32Array(capacity + 1).fill(-1)
    this.#free = new Int32Array(capacity + 1)
    for (let i = 0; i <= capacity; i++) this.#free[i] = capacity - i // pops 0, 1, 2, …
    this.#freeTop = capacity + 1
  }

  /** Resident entries. */
  get size(): number {
    return this.#size
  }

  /** Whether `id` is resident (for tests). */
  has(id: number): boolean {
    return this.#find(id) >= 0
  }

  /**
   * Replays requests `ids[from, to)`: `hashes[id]` is the key's 32-bit hash, handed to the policy.
   * The one hot loop of the simulator: keep it free of allocation and of calls it does not need.
   */
  replay(ids: Int32Array, from: number, to: number, hashes: Int32Array): void {
    const started = performance.now()
    const policy = this.policy
    const capacity = this.capacity
    const table = this.#table
    const mask = this.#mask
    const shift = this.#shift
    const slotId = this.#slotId
    const free = this.#free
    let hits = 0
    for (let i = from; i < to; i++) {
      const id = ids[i] as number
      let pos = Math.imul(id, GOLDEN) >>> shift
      let entry = table[pos] as number
      while (entry !== EMPTY && slotId[entry - 1] !== id) {
        pos = (pos + 1) & mask
        entry = table[pos] as number
      }
      if (entry !== EMPTY) {
        hits++
        policy.touch(entry - 1)
        continue
      }
      const hash = hashes[id] as number
      policy.miss(hash)
      const slot = free[--this.#freeTop] as number
      table[pos] = slot + 1
      slotId[slot] = id
      policy.insert(slot, hash)
      if (++this.#size > capacity) {
        do {
          const victim = policy.victim(slot)
          this.#evict(victim)
          policy.remove(victim)
        } while (this.#size > capacity)
      }
    }
    this.hits += hits
    this.misses += to - from - hits
    this.elapsedMs += performance.now() - started
  }

  #find(id: number): number {
    let pos = Math.imul(id, GOLDEN) >>> this.#shift
    for (let entry = this.#table[pos] as number; entry !== EMPTY; entry = this.#table[pos] as number) {
      if (this.#slotId[entry - 1] === id) return pos
      pos = (pos + 1) & this.#mask
    }
    return -1
  }

  #evict(slot: number): void {
    const id =
      Number.isInteger(slot) && slot >= 0 && slot <= this.capacity ? (this.#slotId[slot] as number) : -1
    const pos = id < 0 ? -1 : this.#find(id)
    if (pos < 0 || this.#table[pos] !== slot + 1) {
      throw new Error(`${this.policy.name} chose slot ${slot} as its victim, but that slot holds no entry.`)
    }
    this.#deleteAt(pos)
    this.#slotId[slot] = -1
    this.#free[this.#freeTop++] = slot
    this.#size--
  }

  /** Linear-probing deletion by backward shift: no tombstones, probe sequences stay short. */
  #deleteAt(hole: number): void {
    const table = this.#table
    const mask = this.#mask
    let i = hole
    let j = hole
    table[i] = EMPTY
    for (;;) {
      j = (j + 1) & mask
      const entry = table[j] as number
      if (entry === EMPTY) return
      const home = Math.imul(this.#slotId[entry - 1] as number, GOLDEN) >>> this.#shift
      // The entry at j may stay unless its home lies cyclically outside (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j
      if (stays) continue
      table[i] = entry
      table[j] = EMPTY
      i = j
    }
  }
}
