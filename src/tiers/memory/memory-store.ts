import { createPolicy, type EvictionPolicy, type PolicyName } from '../../eviction/index.js'
import { grownLength, hashKeyInt32, withSlot } from '../../eviction/policy.js'
import { KeyIndex } from './key-index.js'

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
/** The flags a hit must look at (see #special). */
const SPECIAL = CLONE_ON_READ | SLIDING
/** The entry is in the expiry heap (internal: entries without expiry never touch the heap's arrays). */
const IN_HEAP = 16

/** Sizes from this value up are kept in a Map (rare: 64 KB and larger entries). */
const LARGE_SIZE = 0xffff
const NO_TIMES = new Float64Array(0)

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
  /**
   * Set by a tier that cannot vouch the value is still current (the L1 while the bus is silent:
   * another instance may have changed it unheard): it is then served only by the fail-safe rules.
   */
  unverified?: boolean
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
 * Layout: a {@link KeyIndex} (an open-addressing table of Int32 buckets, ~6 bytes per entry where
 * a `Map` costs ~30–37) from key to a small integer *slot*; per slot, the key and the value side
 * by side in the index's one array (one cache line per hit), flags (1 byte) and size (2 bytes; larger sizes in a Map) in typed arrays, and — once any
 * entry has an expiry — the expiry (8 bytes) and the expiry heap's two Int32 cells. The soft time
 * (when a hit must take the slow path) shares the expiry's array until some entry's differs from
 * its expiry (early refresh, grace, tag invalidation); only then does it get an array of its own.
 * No object per entry: the hit path is one hash of the key, a probe (a bucket, then the key and
 * value's cache line) and the policy's cell — the flags only while some entry clones or slides, the
 * soft time only once the soonest expiry is due (see #dueFrom) — and an entry costs less than in
 * lru-cache. Every array starts small and doubles
 * up to the capacity as slots are used, so room for a million entries holding a thousand costs
 * what a thousand cost; nothing shrinks except on {@link clear}.
 *
 * Which entry leaves when the store is full is the {@link EvictionPolicy}'s choice
 * (docs/eviction.md); expired entries are always reclaimed first, soonest expiry first, through a
 * binary heap of slots.
 */
export class MemoryStore {
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #policyName: PolicyName
  readonly #capacity: number
  /** Slots a full store uses (capacity + 1: a new entry is inserted before its victim leaves). */
  readonly #slots: number
  #policy: EvictionPolicy
  /** Key → slot, and the key of each slot. */
  #index: KeyIndex
  /** Length of the per-slot arrays (they grow together; see #allocate). */
  #length = 0
  #flags = new Uint8Array(0)
  #sizes = new Uint16Array(0)
  /** Sizes of {@link LARGE_SIZE} bytes and more, by slot. */
  readonly #largeSizes = new Map<number, number>()
  /** Physical expiry per slot (fresh time plus grace); empty until an entry has one. */
  #expiry = NO_TIMES
  /** From this time on a hit takes the slow path (≤ fresh time ≤ expiry); the expiry's array until one differs. */
  #soft = NO_TIMES
  /** Fresh times of the entries kept past them (grace); for the others it is the expiry. */
  readonly #freshUntil = new Map<number, number>()
  readonly #view: EntryView = { value: undefined, freshUntil: 0, softAt: 0, expiresAt: 0, flags: 0 }
  /** Tags of the entries that have any (most have none: a Map costs nothing for them). */
  readonly #tags = new Map<number, readonly string[]>()
  /** Slots by tag: invalidating a tag touches only its entries. */
  readonly #byTag = new Map<string, Set<number>>()
  readonly #sliding = new Map<number, Sliding>()
  /**
   * Entries flagged CLONE_ON_READ or SLIDING: while there are none (the usual case), a hit returns
   * the value without reading the entry's flags — one random read less per hit in a large store.
   */
  #special = 0
  #free: number[] = []
  #nextSlot = 0
  // expiry heap: slots ordered by expiry; #heapPos[slot] = index in #heap, or NONE (only entries
  // flagged IN_HEAP have a position). Empty, like the expiries, until an entry has an expiry.
  #heap = new Int32Array(0)
  #heapPos = new Int32Array(0)
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
    this.#slots = this.#capacity + 1
    this.#policy = createPolicy(this.#policyName, this.#capacity)
    this.#index = new KeyIndex(this.#slots)
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
    const slot = this.#index.find(key)
    if (slot === NONE) return MISS
    if (this.#dueFrom() <= now) {
      const soft = this.#soft
      if (slot < soft.length && (soft[slot] as number) <= now && !this.#freshAt(slot, now)) return MISS
    }
    return this.#hit(slot, now)
  }

  /**
   * Like {@link get}, but an entry that is stale (within grace) or inside its refresh window
   * answers {@link ATTENTION}: the caller then reads it with {@link inspect} and decides. The hit
   * path is the same single comparison as `get`'s.
   */
  lookup(key: string, now: number): unknown {
    const slot = this.#index.find(key)
    if (slot === NONE) return MISS
    const soft = this.#soft
    if (this.#dueFrom() <= now && slot < soft.length && (soft[slot] as number) <= now) {
      if ((this.#expiry[slot] as number) <= now) {
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
    const slot = this.#index.find(key)
    if (slot === NONE) return undefined
    const expiresAt = this.#expiryAt(slot)
    if (expiresAt <= now) {
      this.#expire(slot)
      return undefined
    }
    const view = this.#view
    view.flags = (this.#flags[slot] as number) & ~IN_HEAP
    view.expiresAt = expiresAt
    view.softAt = this.#softAt(slot)
    view.freshUntil = view.flags & GRACE ? (this.#freshUntil.get(slot) as number) : expiresAt
    view.value = this.#hit(slot, now)
    return view
  }

  /**
   * After a failed refresh: no new refresh before `until`, and a stale entry counts as fresh until
   * then (fail-safe backoff) — never past its grace, and never less fresh than it was.
   */
  refreshUntil(key: string, until: number): boolean {
    const slot = this.#index.find(key)
    if (slot === NONE) return false
    const expiresAt = this.#expiryAt(slot)
    const bounded = Math.min(until, expiresAt)
    const soft = this.#softAt(slot)
    if ((this.#flags[slot] as number) & GRACE) {
      const freshUntil = Math.max(this.#freshUntil.get(slot) as number, bounded)
      this.#freshUntil.set(slot, freshUntil)
      this.#setTimes(slot, Math.max(soft, Math.min(bounded, freshUntil)), expiresAt)
    } else this.#setTimes(slot, Math.max(soft, bounded), expiresAt)
    return true
  }

  /**
   * No entry's soft time is earlier than this: until then a hit reads no per-entry time (in a large
   * store, a random read saved per hit). While the soft times share the expiries' array (no entry
   * refreshes early, has grace or was invalidated by tag), it is the soonest expiry, the expiry
   * heap's root — every entry with a finite expiry is in the heap, and its soft time is its expiry.
   * Otherwise −∞: each hit reads its own soft time.
   */
  #dueFrom(): number {
    if (this.#soft !== this.#expiry) return Number.NEGATIVE_INFINITY
    return this.#heapSize === 0 ? Number.POSITIVE_INFINITY : (this.#expiry[this.#heap[0] as number] as number)
  }

  /** Whether the entry in `slot` (past its soft time) is still fresh; removes it when expired. */
  #freshAt(slot: number, now: number): boolean {
    if ((this.#expiry[slot] as number) <= now) {
      this.#expire(slot)
      return false
    }
    return (this.#flags[slot] as number) & GRACE ? (this.#freshUntil.get(slot) as number) > now : true
  }

  #hit(slot: number, now: number): unknown {
    this.#policy.touch(slot)
    if (this.#special === 0) return this.#index.pairs[(slot << 1) + 1]
    const flags = this.#flags[slot] as number
    // Grace and eager-refresh entries read like plain ones: only cloning and sliding cost more.
    if ((flags & (CLONE_ON_READ | SLIDING)) === 0) return this.#index.pairs[(slot << 1) + 1]
    if (flags & SLIDING) {
      const sliding = this.#sliding.get(slot) as Sliding
      const expiresAt = Math.min(now + sliding.slideMs, sliding.maxExpiresAt)
      this.#setTimes(slot, expiresAt, expiresAt)
      this.#heapFix(slot)
    }
    const value = this.#index.valueAt(slot)
    return flags & CLONE_ON_READ ? structuredClone(value) : value
  }

  /** Whether `key` is stored (expired or not), without touching it. */
  has(key: string): boolean {
    return this.#index.find(key) !== NONE
  }

  /** The stored size of `key`, or undefined. */
  sizeOf(key: string): number | undefined {
    const slot = this.#index.find(key)
    return slot === NONE ? undefined : this.#sizeAt(slot)
  }

  /** The logical expiry of `key`, or undefined. */
  expiryOf(key: string): number | undefined {
    const slot = this.#index.find(key)
    return slot === NONE ? undefined : this.#expiryAt(slot)
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
    const hash = hashKeyInt32(key)
    let slot = this.#index.findHashed(key, hash)
    if (size > this.#maxBytes) {
      // Larger than the whole budget: never cacheable here, and the old value is outdated.
      if (slot !== NONE) this.#remove(slot)
      return
    }
    // An overwrite keeps its place in the expiry heap (the heap is fixed below); a new slot has none.
    let entryFlags = flags
    if (slot !== NONE) {
      this.#bytes -= this.#sizeAt(slot)
      entryFlags |= (this.#flags[slot] as number) & IN_HEAP
      this.#policy.touch(slot)
    } else {
      slot = this.#allocate()
      this.#policy.miss(hash)
      this.#policy.insert(slot, hash)
      if (this.#refused(key, slot, size, now)) return
      this.#index.add(key, hash, slot)
    }
    this.#index.setValue(slot, value)
    this.#setTimes(slot, Math.min(softAt, freshUntil, expiresAt), expiresAt)
    this.#setSize(slot, size)
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
    if (((this.#flags[slot] as number) & SPECIAL) !== 0) this.#special-- // (a new slot's flags are 0)
    if (slideMs > 0) entryFlags |= SLIDING
    if ((entryFlags & SPECIAL) !== 0) this.#special++
    if (slideMs > 0) {
      this.#flags[slot] = entryFlags
      this.#sliding.set(slot, { slideMs, maxExpiresAt })
    } else {
      this.#flags[slot] = entryFlags
      if (this.#sliding.size > 0) this.#sliding.delete(slot)
    }
    this.#bytes += size
    this.#heapFix(slot)
    while (this.#index.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      if (this.#heapSize > 0 && (this.#expiry[this.#heap[0] as number] as number) <= now) {
        this.#expire(this.#heap[0] as number)
        continue
      }
      const victim = this.#policy.victim(slot)
      const evicted = this.#index.keyAt(victim)
      if (evicted === undefined) break // a policy bug must not loop forever
      this.#remove(victim)
      this.evictions++
      this.onRemoved?.(evicted, 'capacity')
    }
  }

  /**
   * A new entry in a full store: the policy picks its victim before the entry is written, so that
   * when the newcomer itself is refused (TinyLFU's usual verdict on a key seen once) nothing is
   * indexed, written and taken back; another victim leaves now, and the write goes on. Not when an
   * expired entry is due for reclaiming or the bytes bound needs more room: {@link set}'s loop
   * handles those. Returns whether the newcomer was refused (already counted and reported).
   */
  #refused(key: string, slot: number, size: number, now: number): boolean {
    if (this.#index.size < this.#maxEntries || this.#bytes + size > this.#maxBytes) return false
    if (this.#heapSize > 0 && (this.#expiry[this.#heap[0] as number] as number) <= now) return false
    const victim = this.#policy.victim(slot)
    if (victim === slot) {
      this.#policy.remove(slot)
      this.#free.push(slot)
      this.evictions++
      this.onRemoved?.(key, 'capacity')
      return true
    }
    const evicted = this.#index.keyAt(victim)
    if (evicted === undefined) return false // a policy bug: set's loop stops on it
    this.#remove(victim)
    this.evictions++
    this.onRemoved?.(evicted, 'capacity')
    return false
  }

  delete(key: string): boolean {
    const slot = this.#index.find(key)
    if (slot === NONE) return false
    this.#remove(slot)
    return true
  }

  /** Drops every entry and gives the memory back: the arrays start small again. */
  clear(): void {
    this.#index.clear()
    this.#length = 0
    this.#flags = new Uint8Array(0)
    this.#sizes = new Uint16Array(0)
    this.#largeSizes.clear()
    this.#expiry = NO_TIMES
    this.#soft = NO_TIMES
    this.#heap = new Int32Array(0)
    this.#heapPos = new Int32Array(0)
    this.#heapSize = 0
    this.#tags.clear()
    this.#byTag.clear()
    this.#sliding.clear()
    this.#freshUntil.clear()
    this.#special = 0
    this.#free = []
    this.#nextSlot = 0
    this.#bytes = 0
    this.#policy = createPolicy(this.#policyName, this.#capacity)
  }

  /** The tags of `key`'s entry, or undefined when absent. */
  tagsOf(key: string): readonly string[] | undefined {
    const slot = this.#index.find(key)
    return slot === NONE ? undefined : (this.#tags.get(slot) ?? [])
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
    // An entry kept for grace stays under each of its tags: count it once, not once per tag.
    const seen = tags.length > 1 ? new Set<number>() : undefined
    for (const tag of tags) {
      const slots = this.#byTag.get(tag)
      if (slots === undefined) continue
      for (const slot of [...slots]) {
        if (seen !== undefined) {
          if (seen.has(slot)) continue
          seen.add(slot)
        }
        if ((this.#flags[slot] as number) & GRACE) {
          this.#freshUntil.set(slot, Math.min(this.#freshUntil.get(slot) as number, now))
          this.#setTimes(slot, Math.min(this.#softAt(slot), now), this.#expiryAt(slot))
        } else this.#remove(slot)
        expired++
      }
    }
    return expired
  }

  keys(): IterableIterator<string> {
    return this.#index.entries()
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

  // ---- per-slot arrays ----

  #allocate(): number {
    const reused = this.#free.pop()
    if (reused !== undefined) return reused
    const slot = this.#nextSlot++
    if (slot >= this.#length) this.#grow(slot)
    return slot
  }

  /** Grows every per-slot array to reach `slot` (doubling, up to the slots a full store uses). */
  #grow(slot: number): void {
    const length = grownLength(this.#length, slot, this.#slots)
    this.#index.growTo(length)
    this.#flags = withSlot(this.#flags, length - 1, 0, length)
    this.#sizes = withSlot(this.#sizes, length - 1, 0, length)
    if (this.#expiry !== NO_TIMES) this.#growTimes(length)
    this.#length = length
  }

  /** Grows (or first allocates) the expiries, soft times and heap cells to `length` slots. */
  #growTimes(length: number): void {
    const aliased = this.#soft === this.#expiry
    this.#expiry = withSlot(this.#expiry, length - 1, Number.POSITIVE_INFINITY, length)
    this.#soft = aliased ? this.#expiry : withSlot(this.#soft, length - 1, Number.POSITIVE_INFINITY, length)
    this.#heap = withSlot(this.#heap, length - 1, 0, length)
    this.#heapPos = withSlot(this.#heapPos, length - 1, NONE, length)
  }

  #expiryAt(slot: number): number {
    return slot < this.#expiry.length ? (this.#expiry[slot] as number) : Number.POSITIVE_INFINITY
  }

  #softAt(slot: number): number {
    return slot < this.#soft.length ? (this.#soft[slot] as number) : Number.POSITIVE_INFINITY
  }

  /** Records an entry's soft time and expiry, allocating or splitting the time arrays when needed. */
  #setTimes(slot: number, soft: number, expiresAt: number): void {
    if (this.#expiry === NO_TIMES) {
      if (expiresAt === Number.POSITIVE_INFINITY && soft === Number.POSITIVE_INFINITY) return
      this.#growTimes(this.#length)
    }
    if (soft !== expiresAt && this.#soft === this.#expiry) this.#soft = this.#expiry.slice()
    this.#expiry[slot] = expiresAt
    this.#soft[slot] = soft
  }

  #sizeAt(slot: number): number {
    const size = this.#sizes[slot] as number
    return size === LARGE_SIZE ? (this.#largeSizes.get(slot) as number) : size
  }

  #setSize(slot: number, size: number): void {
    if (this.#sizes[slot] === LARGE_SIZE) this.#largeSizes.delete(slot)
    if (size >= LARGE_SIZE || !Number.isInteger(size) || size < 0) {
      this.#sizes[slot] = LARGE_SIZE
      this.#largeSizes.set(slot, size)
    } else this.#sizes[slot] = size
  }

  /** Removes an expired entry, counted and reported as such. */
  #expire(slot: number): void {
    const key = this.#index.keyAt(slot)
    if (key === undefined) return
    this.#remove(slot)
    this.expirations++
    this.onRemoved?.(key, 'expired')
  }

  #remove(slot: number): void {
    if (this.#index.keyAt(slot) === undefined) return
    this.#index.remove(slot)
    if (this.#tags.size > 0) this.#untag(slot)
    const flags = this.#flags[slot] as number
    if ((flags & SPECIAL) !== 0) this.#special--
    if (flags & SLIDING) this.#sliding.delete(slot)
    if (flags & GRACE) this.#freshUntil.delete(slot)
    if (flags & IN_HEAP) this.#heapRemove(slot)
    this.#flags[slot] = 0
    this.#bytes -= this.#sizeAt(slot)
    if (this.#sizes[slot] === LARGE_SIZE) this.#largeSizes.delete(slot)
    this.#sizes[slot] = 0
    this.#policy.remove(slot)
    this.#free.push(slot)
  }

  // ---- expiry heap (entries that never expire are kept out of it) ----

  /** Puts `slot` where its expiry belongs (adding or removing it as needed). */
  #heapFix(slot: number): void {
    const flags = this.#flags[slot] as number
    if (this.#expiryAt(slot) === Number.POSITIVE_INFINITY) {
      if (flags & IN_HEAP) this.#heapRemove(slot)
      return
    }
    const pos = this.#heapPos[slot] as number
    if ((flags & IN_HEAP) === 0) {
      this.#flags[slot] = flags | IN_HEAP
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
    this.#flags[slot] = (this.#flags[slot] as number) & ~IN_HEAP
    const last = this.#heap[--this.#heapSize] as number
    if (pos === this.#heapSize) return
    this.#heap[pos] = last
    this.#heapPos[last] = pos
    this.#siftDown(pos)
    this.#siftUp(this.#heapPos[last] as number)
  }

  #siftUp(i: number): void {
    const heap = this.#heap
    const expiry = this.#expiry
    const slot = heap[i] as number
    const expires = expiry[slot] as number
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as number
      if ((expiry[p] as number) <= expires) break
      heap[i] = p
      this.#heapPos[p] = i
      i = parent
    }
    heap[i] = slot
    this.#heapPos[slot] = i
  }

  #siftDown(i: number): void {
    const heap = this.#heap
    const expiry = this.#expiry
    const n = this.#heapSize
    const slot = heap[i] as number
    const expires = expiry[slot] as number
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (
        right < n &&
        (expiry[heap[right] as number] as number) < (expiry[heap[child] as number] as number)
      ) {
        child = right
      }
      const c = heap[child] as number
      if ((expiry[c] as number) >= expires) break
      heap[i] = c
      this.#heapPos[c] = i
      i = child
    }
    heap[i] = slot
    this.#heapPos[slot] = i
  }
}
