import { type EvictionPolicy, INITIAL_SLOTS, withSlot } from '../eviction/policy.js'

const EMPTY = 0
const GOLDEN = 0x9e3779b1

/**
 * A cache of `capacity` unit-size entries driven by an {@link EvictionPolicy}, exactly as the L1
 * store drives it (see the protocol in src/eviction/policy.ts), but holding no values: keys are
 * dense integer ids (the simulator numbers a trace's keys as it reads them) and the index from id
 * to slot is an open-addressing table in an Int32Array (linear probing, load ≤ 1/2, backward-shift
 * deletion). Every array starts small and doubles as entries arrive, so memory is O(entries held)
 * — a capacity past the trace's distinct keys (`--sizes 1073741824` on a small trace) costs what
 * the trace fills, not gigabytes up front — and the per-request path allocates only on growth.
 */
export class SimulatedCache {
  readonly policy: EvictionPolicy
  readonly capacity: number
  hits = 0
  misses = 0
  /** Time spent in {@link replay}, for reports. */
  elapsedMs = 0
  #table: Int32Array // slot + 1, or EMPTY
  #shift: number
  #mask: number
  /** The table's length once it holds `capacity + 1` entries at load ≤ 1/2: it never grows past it. */
  readonly #maxTable: number
  #slotId: Int32Array // the id held by each slot
  #free: Int32Array // a stack of slots freed by evictions
  #freeTop = 0
  /** Slots handed out so far: slots below it are in use or on the free stack. */
  #used = 0
  #size = 0

  constructor(policy: EvictionPolicy, capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`A capacity must be an integer ≥ 1; got ${capacity}.`)
    this.policy = policy
    this.capacity = capacity
    const maxBits = Math.max(4, Math.ceil(Math.log2(2 * (capacity + 1))))
    this.#maxTable = 2 ** maxBits
    const bits = Math.min(maxBits, Math.log2(2 * INITIAL_SLOTS))
    this.#table = new Int32Array(1 << bits)
    this.#shift = 32 - bits
    this.#mask = (1 << bits) - 1
    const slots = Math.min(capacity + 1, INITIAL_SLOTS)
    this.#slotId = new Int32Array(slots).fill(-1)
    this.#free = new Int32Array(slots)
  }

  /** Resident entries. */
  get size(): number {
    return this.#size
  }

  /** Bytes of the typed arrays this cache holds now (its policy's not counted), for tests. */
  get allocatedBytes(): number {
    return this.#table.byteLength + this.#slotId.byteLength + this.#free.byteLength
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
    let table = this.#table
    let mask = this.#mask
    let shift = this.#shift
    let slotId = this.#slotId
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
      if (2 * (this.#size + 1) > table.length && table.length < this.#maxTable) {
        // Rare (log2 of the entries held): the locals follow the new table.
        this.#growTable()
        table = this.#table
        mask = this.#mask
        shift = this.#shift
        pos = Math.imul(id, GOLDEN) >>> shift
        while (table[pos] !== EMPTY) pos = (pos + 1) & mask
      }
      const slot = this.#takeSlot()
      slotId = this.#slotId // grown by #takeSlot, rarely
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

  /**
   * A free slot: the last one an eviction freed, else the next never used — the order the slots
   * came in when they were all allocated up front (0, 1, 2, …, then freed ones first), so the
   * policies see the same slots and the results do not depend on how memory grows.
   */
  #takeSlot(): number {
    if (this.#freeTop > 0) return this.#free[--this.#freeTop] as number
    const slot = this.#used++
    this.#slotId = withSlot(this.#slotId, slot, -1, this.capacity + 1)
    this.#free = withSlot(this.#free, slot, 0, this.capacity + 1)
    return slot
  }

  /** Doubles the index and re-inserts every entry (no tombstones to skip: deletion shifts back). */
  #growTable(): void {
    const old = this.#table
    const bits = 33 - this.#shift
    const table = new Int32Array(1 << bits)
    const shift = 32 - bits
    const mask = (1 << bits) - 1
    for (let i = 0; i < old.length; i++) {
      const entry = old[i] as number
      if (entry === EMPTY) continue
      let pos = Math.imul(this.#slotId[entry - 1] as number, GOLDEN) >>> shift
      while (table[pos] !== EMPTY) pos = (pos + 1) & mask
      table[pos] = entry
    }
    this.#table = table
    this.#shift = shift
    this.#mask = mask
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
    const id = Number.isInteger(slot) && slot >= 0 && slot < this.#used ? (this.#slotId[slot] as number) : -1
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
