/**
 * The events kept for the replays, in log order: the reads of the sampled keys (the overall
 * profiler's spatial sample) and the writes that may invalidate them. Struct-of-arrays, grown by
 * doubling up to a cap; beyond it the caller lowers the sampling rate and calls {@link compact}.
 */

/** One column set, as the replays read it (views valid until the next event). */
export interface RetainedEvents {
  /** Reads: the key's sample id (≥ 0). Writes: -1. */
  readonly ids: Int32Array
  /** Reads: the key's 32-bit hash. Writes: the entity's hash, 0 for a write that names none (bulk, insert). */
  readonly hashes: Uint32Array
  /** Reads: the signature's index. Writes: the type's index. */
  readonly codes: Uint16Array
  /** Reads: the entity's hash (0 for a list). Writes: unused (0). */
  readonly entities: Uint32Array
  /** ms since the epoch, NaN when the log has no time. */
  readonly times: Float64Array
  readonly length: number
  /** The sampling rate the reads represent (1 = every read). */
  readonly rate: number
}

const WRITE = -1

export class RetainedLog {
  #ids: Int32Array
  #hashes: Uint32Array
  #codes: Uint16Array
  #entities: Uint32Array
  #times: Float64Array
  #length = 0
  readonly #cap: number

  constructor(cap: number) {
    this.#cap = cap
    const initial = Math.min(1 << 16, cap)
    this.#ids = new Int32Array(initial)
    this.#hashes = new Uint32Array(initial)
    this.#codes = new Uint16Array(initial)
    this.#entities = new Uint32Array(initial)
    this.#times = new Float64Array(initial)
  }

  get length(): number {
    return this.#length
  }

  /** Whether the next push needs room the cap does not allow (the caller compacts first). */
  get full(): boolean {
    return this.#length === this.#ids.length && this.#length >= this.#cap
  }

  read(id: number, keyHash: number, signature: number, entityHash: number, time: number): void {
    const i = this.#slot()
    this.#ids[i] = id
    this.#hashes[i] = keyHash
    this.#codes[i] = signature
    this.#entities[i] = entityHash
    this.#times[i] = time
  }

  write(type: number, entityHash: number, time: number): void {
    const i = this.#slot()
    this.#ids[i] = WRITE
    this.#hashes[i] = entityHash
    this.#codes[i] = type
    this.#entities[i] = 0
    this.#times[i] = time
  }

  /**
   * Keeps the reads of keys still sampled (hash below `threshold`) and the writes that can still
   * matter: to an entity a kept read names, or to a type `typeOfSignature` says lists are read of
   * (a list is invalidated by any write to its type).
   */
  compact(threshold: number, typeOfSignature: (signature: number) => number): void {
    const entities = new Set<number>()
    const listTypes = new Set<number>()
    for (let i = 0; i < this.#length; i++) {
      if (this.#ids[i] === WRITE || (this.#hashes[i] as number) >= threshold) continue
      const type = typeOfSignature(this.#codes[i] as number)
      const entity = this.#entities[i] as number
      if (entity === 0) listTypes.add(type)
      else entities.add(type * 4294967296 + entity)
    }
    let j = 0
    for (let i = 0; i < this.#length; i++) {
      const hash = this.#hashes[i] as number
      const code = this.#codes[i] as number
      const keep =
        this.#ids[i] === WRITE
          ? listTypes.has(code) || (hash !== 0 && entities.has(code * 4294967296 + hash))
          : hash < threshold
      if (!keep) continue
      this.#ids[j] = this.#ids[i] as number
      this.#hashes[j] = hash
      this.#codes[j] = code
      this.#entities[j] = this.#entities[i] as number
      this.#times[j] = this.#times[i] as number
      j++
    }
    this.#length = j
  }

  view(rate: number): RetainedEvents {
    const n = this.#length
    return {
      ids: this.#ids.subarray(0, n),
      hashes: this.#hashes.subarray(0, n),
      codes: this.#codes.subarray(0, n),
      entities: this.#entities.subarray(0, n),
      times: this.#times.subarray(0, n),
      length: n,
      rate,
    }
  }

  #slot(): number {
    if (this.#length === this.#ids.length) this.#grow()
    return this.#length++
  }

  #grow(): void {
    const length = Math.min(this.#cap, this.#ids.length * 2)
    if (length <= this.#ids.length) throw new RangeError('RetainedLog is full: compact it first.')
    const grow = <T extends Int32Array | Uint32Array | Uint16Array | Float64Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      const b = make(length)
      b.set(a)
      return b
    }
    this.#ids = grow(this.#ids, (n) => new Int32Array(n))
    this.#hashes = grow(this.#hashes, (n) => new Uint32Array(n))
    this.#codes = grow(this.#codes, (n) => new Uint16Array(n))
    this.#entities = grow(this.#entities, (n) => new Uint32Array(n))
    this.#times = grow(this.#times, (n) => new Float64Array(n))
  }
}

/** A log that goes back in time by more than this between two events is out of order (not mere jitter). */
export const BACKWARD_JUMP_MS = 60_000

export interface TimeOrdered {
  /** The events sorted by time (the same object when they already were). */
  readonly events: RetainedEvents
  /** Times an event is dated more than {@link BACKWARD_JUMP_MS} before the one kept before it. */
  readonly backwardJumps: number
  /** The largest of those steps back, ms (0 without any). */
  readonly largestJumpMs: number
}

/**
 * The events in time order. A log that is not (rotated files concatenated newest first, several
 * servers' logs appended) was replayed as it came: the clock went back, and what was stored at the
 * later times stayed fresh through the earlier ones, so the prediction was too high. Sorted stably;
 * an event without a usable time (NaN, or outside `within`: an outlier) keeps the time of the one
 * before it, so it stays where it was among its neighbours.
 */
export function inTimeOrder(events: RetainedEvents, within: (time: number) => boolean): TimeOrdered {
  const n = events.length
  const keys = new Float64Array(n)
  let previous = Number.NEGATIVE_INFINITY
  let sorted = true
  let backwardJumps = 0
  let largestJumpMs = 0
  for (let i = 0; i < n; i++) {
    const time = events.times[i] as number
    if (!Number.isNaN(time) && within(time)) {
      if (time < previous) {
        sorted = false
        if (previous - time > BACKWARD_JUMP_MS) {
          backwardJumps++
          largestJumpMs = Math.max(largestJumpMs, previous - time)
        }
      }
      previous = time
    }
    keys[i] = previous
  }
  if (sorted) return { events, backwardJumps, largestJumpMs }
  // Array.prototype.sort is stable: events of the same time keep the log's order.
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (keys[a] as number) - (keys[b] as number),
  )
  const pick = <T extends Int32Array | Uint32Array | Uint16Array | Float64Array>(
    column: T,
    make: (n: number) => T,
  ): T => {
    const out = make(n)
    for (let i = 0; i < n; i++) out[i] = column[order[i] as number] as number
    return out
  }
  return {
    events: {
      ids: pick(events.ids, (k) => new Int32Array(k)),
      hashes: pick(events.hashes, (k) => new Uint32Array(k)),
      codes: pick(events.codes, (k) => new Uint16Array(k)),
      entities: pick(events.entities, (k) => new Uint32Array(k)),
      times: pick(events.times, (k) => new Float64Array(k)),
      length: n,
      rate: events.rate,
    },
    backwardJumps,
    largestJumpMs,
  }
}
