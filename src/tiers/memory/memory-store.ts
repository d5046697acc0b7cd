import { createPolicy, type EvictionPolicy, hashKey, type PolicyName } from '../../eviction/index.js'
import { withSlot } from '../../eviction/policy.js'

/** What {@link MemoryStore.get} returns for an absent or expired key (values may be `null`). */
export const MISS: unique symbol = Symbol('l1-miss')
/**
 * What {@link MemoryStore.lookup} returns for an entry the caller must look at before serving:
 * stale (past its fresh time, within grace) or inside its early-refresh window.
 */
export const ATTENTION: unique symbol = Symbol('l1-attention')

/** Per-entry flags. */
export const CLONE_ON_READ = 1
const SLIDING = 2
/** The entry outlives its fresh time (grace): its fresh time is in `#freshUntil`. */
const GRACE = 4
/** The entry's refresh window opens at `softAt` deterministically (eager refresh), not by XFetch. */
export const EAGER = 8
/** The entry is in the expiry heap (internal: entries without expiry never touch the heap's arrays). */
const IN_HEAP = 16

/*
 * Per-slot numbers, interleaved in one Float64Array (see #meta): what the hit path reads and what an
 * eviction clears share one cache line per slot.
 */
const STRIDE = 4
/** From this time on a hit takes the slow path (refresh window, staleness); ≤ fresh time ≤ expiry. */
const SOFT_AT = 0
/** Physical expiry: fresh time plus grace. */
const EXPIRES_AT = 1
/** Serialized size. */
const SIZE = 2
const FLAGS = 3

/** What {@link MemoryStore.inspect} reports; one object reused by every call (no allocation). */
export interface EntryView {
  value: unknown
  /** End of freshness (the TTL). */
  freshUntil: number
  /** When the entry's refresh window opened (≤ freshUntil). */
  softAt: number
  /** Physical expiry: fresh time plus grace. */
  expiresAt: number
  flags: number
}

export interface MemoryStoreOptions {
  maxEntries: number
  maxBytes: number
  policy: PolicyName
}

/** Per-entry details that are rare enough to live outside the arrays. */
interface Sliding {
  slideMs: number
  maxExpiresAt: number
}

/** A store bounded by bytes only sizes its arrays and policy as if entries averaged this many bytes. */
const ASSUMED_ENTRY_BYTES = 256
const NONE = -1

/**
 * The L1: an in-process store of live values, bounded by entries and by bytes.
 *
 * Layout: a `Map` from key to a small integer *slot*; per slot, the key and the value in two
 * arrays, and soft time, expiry, size and flags side by side in one Float64Array — no object per
 * entry, so the hit path is one Map lookup and reads from two cache lines (plus the policy's one),
 * and memory per entry stays close to lru-cache's. Evicting a long-untouched entry likewise costs a
 * few cache misses rather than one per field. Which entry leaves when the
 * store is full is the {@link EvictionPolicy}'s choice (docs/eviction.md); expired entries are
 * always reclaimed first, soonest expiry first, through a binary heap of slots.
 */
export class MemoryStore {
  readonly #index = new Map<string, number>()
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #policyName: PolicyName
  readonly #capacity: number
  #policy: EvictionPolicy
  // Keys and values stay in two arrays: interleaved, one array of 2 × slots grows in steps that
  // left ~3 more heap bytes per entry of slack at 1M entries, for one cache line less per eviction.
  #keys: (string | undefined)[] = []
  #values: unknown[] = []
  /** SOFT_AT, EXPIRES_AT, SIZE, FLAGS per slot (STRIDE numbers). */
  #meta: Float64Array
  /** Fresh times of the entries kept past them (grace); for the others it is #expiresAt. */
  readonly #freshUntil = new Map<number, number>()
  readonly #view: EntryView = { value: undefined, freshUntil: 0, softAt: 0, expiresAt: 0, flags: 0 }
  /** Tags of the entries that have any (most have none: a Map costs nothing for them). */
  readonly #tags = new Map<number, readonly string[]>()
  /** Slots by tag: invalidating a tag touches only its entries. */
  readonly #byTag = new Map<string, Set<number>>()
  readonly #sliding = new Map<number, Sliding>()
  #free: number[] = []
  #nextSlot = 0
  // expiry heap: slots ordered by expiry; #heapPos[slot] = index in #heap, or NONE (only entries
  // flagged IN_HEAP have a position)
  #heap: Int32Array
  #heapPos: Int32Array
  #heapSize = 0
  #bytes = 0
  evictions = 0
  expirations = 0
  /**
   * Told of every entry the store drops by itself: evicted to stay within its bounds ('capacity')
   * or reclaimed after its expiry ('expired'). Not called for deletes and clears.
   */
  onRemoved: ((key: string, cause: 'capacity' | 'expired') => void) | undefined = undefined

  constructor(options: MemoryStoreOptions) {
    this.#maxEntries = options.maxEntries
    this.#maxBytes = options.maxBytes
    this.#policyName = options.policy
    this.#capacity = Number.isFinite(options.maxEntries)
      ? options.maxEntries
      : Math.min(Math.max(16, Math.ceil(options.maxBytes / ASSUMED_ENTRY_BYTES)), 1 << 22)
    this.#policy = createPolicy(this.#policyName, this.#capacity)
    const initial = Math.min(this.#capacity + 1, 1024)
    this.#meta = new Float64Array(initial * STRIDE)
    this.#heap = new Int32Array(initial)
    this.#heapPos = new Int32Array(initial).fill(NONE)
  }

  get size(): number {
    return this.#index.size
  }

  get bytes(): number {
    return this.#bytes
  }

  get policy(): PolicyName {
    return this.#policyName
  }

  /**
   * The fresh value for `key`, or {@link MISS} (an expired entry is removed; a stale one, within
   * grace, is kept for {@link lookup}). A hit counts for eviction, slides a sliding entry's
   * expiry, and clones a value that freezing could not protect.
   */
  get(key: string, now: number): unknown {
    const slot = this.#index.get(key)
    if (slot === undefined) return MISS
    if ((this.#meta[slot * STRIDE + SOFT_AT] as number) <= now && !this.#freshAt(slot, now)) return MISS
    return this.#hit(slot, now)
  }

  /**
   * Like {@link get}, but an entry that is stale (within grace) or inside its refresh window
   * answers {@link ATTENTION}: the caller then reads it with {@link inspect} and decides. The hit
   * path is the same single comparison as `get`'s.
   */
  lookup(key: string, now: number): unknown {
    const slot = this.#index.get(key)
    if (slot === undefined) return MISS
    if ((this.#meta[slot * STRIDE + SOFT_AT] as number) <= now) {
      if ((this.#meta[slot * STRIDE + EXPIRES_AT] as number) <= now) {
        this.#expire(slot)
        return MISS
      }
      return ATTENTION
    }
    return this.#hit(slot, now)
  }

  /**
   * The entry behind an {@link ATTENTION}: its value (counted as a hit) and times, or undefined
   * when it is gone. The returned object is reused by the next call.
   */
  inspect(key: string, now: number): EntryView | undefined {
    const slot = this.#index.get(key)
    if (slot === undefined) return undefined
    const expiresAt = this.#meta[slot * STRIDE + EXPIRES_AT] as number
    if (expiresAt <= now) {
      this.#expire(slot)
      return undefined
    }
    const view = this.#view
    view.flags = (this.#meta[slot * STRIDE + FLAGS] as number) & ~IN_HEAP
    view.expiresAt = expiresAt
    view.softAt = this.#meta[slot * STRIDE + SOFT_AT] as number
    view.freshUntil = view.flags & GRACE ? (this.#freshUntil.get(slot) as number) : expiresAt
    view.value = this.#hit(slot, now)
    return view
  }

  /**
   * After a failed refresh: no new refresh before `until`, and a stale entry counts as fresh until
   * then (fail-safe backoff) — never past its grace, and never less fresh than it was.
   */
  refreshUntil(key: string, until: number): boolean {
    const slot = this.#index.get(key)
    if (slot === undefined) return false
    const bounded = Math.min(until, this.#meta[slot * STRIDE + EXPIRES_AT] as number)
    if ((this.#meta[slot * STRIDE + FLAGS] as number) & GRACE) {
      const freshUntil = Math.max(this.#freshUntil.get(slot) as number, bounded)
      this.#freshUntil.set(slot, freshUntil)
      this.#meta[slot * STRIDE + SOFT_AT] = Math.max(
        this.#meta[slot * STRIDE + SOFT_AT] as number,
        Math.min(bounded, freshUntil),
      )
    } else
      this.#meta[slot * STRIDE + SOFT_AT] = Math.max(this.#meta[slot * STRIDE + SOFT_AT] as number, bounded)
    return true
  }

  /** Whether the entry in `slot` (past its soft time) is still fresh; removes it when expired. */
  #freshAt(slot: number, now: number): boolean {
    const expiresAt = this.#meta[slot * STRIDE + EXPIRES_AT] as number
    if (expiresAt <= now) {
      this.#expire(slot)
      return false
    }
    return (this.#meta[slot * STRIDE + FLAGS] as number) & GRACE
      ? (this.#freshUntil.get(slot) as number) > now
      : true
  }

  #hit(slot: number, now: number): unknown {
    this.#policy.touch(slot)
    const flags = this.#meta[slot * STRIDE + FLAGS] as number
    // Grace and eager-refresh entries read like plain ones: only cloning and sliding cost more.
    if ((flags & (CLONE_ON_READ | SLIDING)) === 0) return this.#values[slot]
    if (flags & SLIDING) {
      const sliding = this.#sliding.get(slot) as Sliding
      const expiresAt = Math.min(now + sliding.slideMs, sliding.maxExpiresAt)
      this.#meta[slot * STRIDE + EXPIRES_AT] = expiresAt
      this.#meta[slot * STRIDE + SOFT_AT] = expiresAt
      this.#heapFix(slot)
    }
    return flags & CLONE_ON_READ ? structuredClone(this.#values[slot]) : this.#values[slot]
  }

  /** Whether `key` is stored (expired or not), without touching it. */
  has(key: string): boolean {
    return this.#index.has(key)
  }

  /** The stored size of `key`, or undefined. */
  sizeOf(key: string): number | undefined {
    const slot = this.#index.get(key)
    return slot === undefined ? undefined : this.#meta[slot * STRIDE + SIZE]
  }

  /** The logical expiry of `key`, or undefined. */
  expiryOf(key: string): number | undefined {
    const slot = this.#index.get(key)
    return slot === undefined ? undefined : this.#meta[slot * STRIDE + EXPIRES_AT]
  }

  /**
   * Inserts or replaces an entry, then evicts (expired entries first) until within bounds.
   * `slideMs` > 0 makes each hit push the expiry out by that much, never past `maxExpiresAt`.
   * `freshUntil` < `expiresAt` keeps the entry, stale, for grace; from `softAt` on, {@link lookup}
   * asks the caller's attention (refresh window).
   */
  set(
    key: string,
    value: unknown,
    expiresAt: number,
    size: number,
    flags: number,
    tags: readonly string[],
    now: number,
    slideMs = 0,
    maxExpiresAt = expiresAt,
    freshUntil = expiresAt,
    softAt = freshUntil,
  ): void {
    let slot = this.#index.get(key)
    if (size > this.#maxBytes) {
      // Larger than the whole budget: never cacheable here, and the old value is outdated.
      if (slot !== undefined) this.#remove(slot)
      return
    }
    // An overwrite keeps its place in the expiry heap (the heap is fixed below); a new slot has none.
    let entryFlags = flags
    if (slot !== undefined) {
      const at = slot * STRIDE
      this.#bytes -= this.#meta[at + SIZE] as number
      entryFlags |= (this.#meta[at + FLAGS] as number) & IN_HEAP
      this.#policy.touch(slot)
    } else {
      slot = this.#allocate()
      this.#index.set(key, slot)
      this.#keys[slot] = key
      const hash = hashKey(key)
      this.#policy.miss(hash)
      this.#policy.insert(slot, hash)
    }
    this.#values[slot] = value
    const meta = this.#meta
    const at = slot * STRIDE
    meta[at + EXPIRES_AT] = expiresAt
    meta[at + SOFT_AT] = Math.min(softAt, freshUntil, expiresAt)
    meta[at + SIZE] = size
    if (freshUntil < expiresAt) {
      entryFlags |= GRACE
      this.#freshUntil.set(slot, freshUntil)
    } else if (this.#freshUntil.size > 0) this.#freshUntil.delete(slot)
    if (this.#tags.size > 0) this.#untag(slot)
    if (tags.length > 0) {
      this.#tags.set(slot, tags)
      for (const tag of tags) {
        let slots = this.#byTag.get(tag)
        if (slots === undefined) {
          slots = new Set()
          this.#byTag.set(tag, slots)
        }
        slots.add(slot)
      }
    }
    if (slideMs > 0) {
      meta[at + FLAGS] = entryFlags | SLIDING
      this.#sliding.set(slot, { slideMs, maxExpiresAt })
    } else {
      meta[at + FLAGS] = entryFlags
      if (this.#sliding.size > 0) this.#sliding.delete(slot)
    }
    this.#bytes += size
    this.#heapFix(slot)
    while (this.#index.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      if (
        this.#heapSize > 0 &&
        (this.#meta[(this.#heap[0] as number) * STRIDE + EXPIRES_AT] as number) <= now
      ) {
        this.#expire(this.#heap[0] as number)
        continue
      }
      const victim = this.#policy.victim(slot)
      const evicted = this.#keys[victim]
      if (evicted === undefined) break // a policy bug must not loop forever
      this.#remove(victim)
      this.evictions++
      this.onRemoved?.(evicted, 'capacity')
    }
  }

  delete(key: string): boolean {
    const slot = this.#index.get(key)
    if (slot === undefined) return false
    this.#remove(slot)
    return true
  }

  clear(): void {
    this.#index.clear()
    this.#keys = []
    this.#values = []
    this.#tags.clear()
    this.#byTag.clear()
    this.#sliding.clear()
    this.#freshUntil.clear()
    this.#free = []
    this.#nextSlot = 0
    this.#heapSize = 0
    this.#heapPos.fill(NONE)
    this.#meta.fill(0) // no IN_HEAP flags left behind
    this.#bytes = 0
    this.#policy = createPolicy(this.#policyName, this.#capacity)
  }

  /** The tags of `key`'s entry, or undefined when absent. */
  tagsOf(key: string): readonly string[] | undefined {
    const slot = this.#index.get(key)
    return slot === undefined ? undefined : (this.#tags.get(slot) ?? [])
  }

  /** Removes every entry carrying any of `tags`; returns how many. O(entries with those tags). */
  deleteTagged(tags: readonly string[]): number {
    let removed = 0
    for (const tag of tags) {
      const slots = this.#byTag.get(tag)
      if (slots === undefined) continue
      for (const slot of [...slots]) {
        this.#remove(slot)
        removed++
      }
    }
    return removed
  }

  /**
   * Marks every entry carrying any of `tags` stale as of `now`: no longer served as fresh, still
   * there for grace and fail-safe (entries without grace are removed). Returns how many.
   */
  expireTagged(tags: readonly string[], now: number): number {
    let expired = 0
    for (const tag of tags) {
      const slots = this.#byTag.get(tag)
      if (slots === undefined) continue
      for (const slot of [...slots]) {
        if ((this.#meta[slot * STRIDE + FLAGS] as number) & GRACE) {
          this.#freshUntil.set(slot, Math.min(this.#freshUntil.get(slot) as number, now))
          this.#meta[slot * STRIDE + SOFT_AT] = Math.min(this.#meta[slot * STRIDE + SOFT_AT] as number, now)
        } else this.#remove(slot)
        expired++
      }
    }
    return expired
  }

  keys(): IterableIterator<string> {
    return this.#index.keys()
  }

  #untag(slot: number): void {
    const tags = this.#tags.get(slot)
    if (tags === undefined) return
    this.#tags.delete(slot)
    for (const tag of tags) {
      const slots = this.#byTag.get(tag)
      if (slots === undefined) continue
      slots.delete(slot)
      if (slots.size === 0) this.#byTag.delete(tag)
    }
  }

  #allocate(): number {
    const reused = this.#free.pop()
    if (reused !== undefined) return reused
    const slot = this.#nextSlot++
    if (slot >= this.#heapPos.length) {
      this.#meta = withSlot(this.#meta, slot * STRIDE + STRIDE - 1, 0)
      this.#heap = withSlot(this.#heap, slot, 0)
      this.#heapPos = withSlot(this.#heapPos, slot, NONE)
    }
    return slot
  }

  /** Removes an expired entry, counted and reported as such. */
  #expire(slot: number): void {
    const key = this.#keys[slot]
    if (key === undefined) return
    this.#remove(slot)
    this.expirations++
    this.onRemoved?.(key, 'expired')
  }

  #remove(slot: number): void {
    const key = this.#keys[slot]
    if (key === undefined) return
    this.#index.delete(key)
    this.#keys[slot] = undefined
    this.#values[slot] = undefined
    if (this.#tags.size > 0) this.#untag(slot)
    const at = slot * STRIDE
    const flags = this.#meta[at + FLAGS] as number
    if (flags & SLIDING) this.#sliding.delete(slot)
    if (flags & GRACE) this.#freshUntil.delete(slot)
    if (flags & IN_HEAP) this.#heapRemove(slot)
    this.#meta[at + FLAGS] = 0
    this.#bytes -= this.#meta[at + SIZE] as number
    this.#policy.remove(slot)
    this.#free.push(slot)
  }

  // ---- expiry heap (entries that never expire are kept out of it) ----

  /** Puts `slot` where its expiry belongs (adding or removing it as needed). */
  #heapFix(slot: number): void {
    const at = slot * STRIDE
    const expires = this.#meta[at + EXPIRES_AT] as number
    const flags = this.#meta[at + FLAGS] as number
    if (expires === Number.POSITIVE_INFINITY) {
      if (flags & IN_HEAP) this.#heapRemove(slot)
      return
    }
    const pos = this.#heapPos[slot] as number
    if ((flags & IN_HEAP) === 0) {
      this.#meta[at + FLAGS] = flags | IN_HEAP
      this.#heap[this.#heapSize] = slot
      this.#heapPos[slot] = this.#heapSize++
      this.#siftUp(this.#heapSize - 1)
    } else {
      this.#siftDown(pos)
      this.#siftUp(this.#heapPos[slot] as number)
    }
  }

  #heapRemove(slot: number): void {
    const pos = this.#heapPos[slot] as number
    if (pos === NONE) return
    this.#heapPos[slot] = NONE
    const at = slot * STRIDE + FLAGS
    this.#meta[at] = (this.#meta[at] as number) & ~IN_HEAP
    const last = this.#heap[--this.#heapSize] as number
    if (pos === this.#heapSize) return
    this.#heap[pos] = last
    this.#heapPos[last] = pos
    this.#siftDown(pos)
    this.#siftUp(this.#heapPos[last] as number)
  }

  #siftUp(i: number): void {
    const heap = this.#heap
    const slot = heap[i] as number
    const expires = this.#meta[slot * STRIDE + EXPIRES_AT] as number
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as number
      if ((this.#meta[p * STRIDE + EXPIRES_AT] as number) <= expires) break
      heap[i] = p
      this.#heapPos[p] = i
      i = parent
    }
    heap[i] = slot
    this.#heapPos[slot] = i
  }

  #siftDown(i: number): void {
    const heap = this.#heap
    const meta = this.#meta
    const n = this.#heapSize
    const slot = heap[i] as number
    const expires = this.#meta[slot * STRIDE + EXPIRES_AT] as number
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (
        right < n &&
        (meta[(heap[right] as number) * STRIDE + EXPIRES_AT] as number) <
          (meta[(heap[child] as number) * STRIDE + EXPIRES_AT] as number)
      ) {
        child = right
      }
      const c = heap[child] as number
      if ((this.#meta[c * STRIDE + EXPIRES_AT] as number) >= expires) break
      heap[i] = c
      this.#heapPos[c] = i
      i = child
    }
    heap[i] = slot
    this.#heapPos[slot] = i
  }
}
