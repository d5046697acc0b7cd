import { createPolicy, type EvictionPolicy, hashKey, type PolicyName } from '../../eviction/index.js'
import { ExpiryHeap } from './expiry-heap.js'

/** One L1 entry: the live value and what the cache needs to serve it. */
export interface L1Entry {
  readonly key: string
  value: unknown
  createdAt: number
  /** Logical expiry (ms since epoch); Infinity = never. */
  expiresAt: number
  /** For sliding entries: how far each hit pushes `expiresAt` (0 = not sliding)… */
  slideMs: number
  /** …and the hard cap it never passes. */
  maxExpiresAt: number
  /** Weight in bytes (the serialized size). */
  size: number
  tags: readonly string[]
  /** True when freezing could not protect the value (Map, Set, Date, typed arrays): reads clone it. */
  cloneOnRead: boolean
  /** Owned by the store: the entry's slot in the eviction policy, and its place in the expiry heap. */
  slot: number
  heapIndex: number
}

export interface MemoryStoreOptions {
  maxEntries: number
  maxBytes: number
  policy: PolicyName
}

/** A store bounded by bytes only sizes its policy as if entries averaged this many bytes. */
const ASSUMED_ENTRY_BYTES = 256

/**
 * The L1: an in-process map of live values, bounded by entries and by bytes. Which entry leaves
 * when it is full is the {@link EvictionPolicy}'s choice (docs/eviction.md); expired entries are
 * always reclaimed first, oldest expiry first.
 */
export class MemoryStore {
  readonly #map = new Map<string, L1Entry>()
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #policyName: PolicyName
  readonly #capacity: number
  #policy: EvictionPolicy
  #bySlot: (L1Entry | undefined)[] = []
  #freeSlots: number[] = []
  readonly #expiries = new ExpiryHeap<L1Entry>()
  #bytes = 0
  evictions = 0
  expirations = 0

  constructor(options: MemoryStoreOptions) {
    this.#maxEntries = options.maxEntries
    this.#maxBytes = options.maxBytes
    this.#policyName = options.policy
    this.#capacity = Number.isFinite(options.maxEntries)
      ? options.maxEntries
      : Math.min(Math.max(16, Math.ceil(options.maxBytes / ASSUMED_ENTRY_BYTES)), 1 << 22)
    this.#policy = createPolicy(this.#policyName, this.#capacity)
  }

  get size(): number {
    return this.#map.size
  }

  get bytes(): number {
    return this.#bytes
  }

  get policy(): PolicyName {
    return this.#policyName
  }

  /** The live entry for `key`, or undefined (an expired entry is removed). Counts as a hit for eviction. */
  get(key: string, now: number): L1Entry | undefined {
    const entry = this.#map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.#remove(entry)
      this.expirations++
      return undefined
    }
    this.#policy.touch(entry.slot)
    return entry
  }

  /** Like {@link get} but without expiry or eviction bookkeeping (for maintenance and tests). */
  peek(key: string): L1Entry | undefined {
    return this.#map.get(key)
  }

  /** Moves an entry's expiry (sliding expiration). */
  extend(entry: L1Entry, expiresAt: number): void {
    entry.expiresAt = expiresAt
    if (this.#map.get(entry.key) === entry) this.#expiries.update(entry)
  }

  /** Inserts or replaces `entry`, then evicts (expired entries first) until within bounds. */
  set(entry: L1Entry, now: number): void {
    const previous = this.#map.get(entry.key)
    if (entry.size > this.#maxBytes) {
      // Larger than the whole budget: never cacheable here, and the old value is outdated.
      if (previous !== undefined) this.#remove(previous)
      return
    }
    if (previous !== undefined) {
      entry.slot = previous.slot
      this.#expiries.remove(previous)
      this.#bytes -= previous.size
      this.#policy.touch(entry.slot)
    } else {
      entry.slot = this.#freeSlots.pop() ?? this.#bySlot.length
      const hash = hashKey(entry.key)
      this.#policy.miss(hash)
      this.#policy.insert(entry.slot, hash)
    }
    this.#map.set(entry.key, entry)
    this.#bySlot[entry.slot] = entry
    this.#bytes += entry.size
    this.#expiries.add(entry)
    while (this.#map.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const soonest = this.#expiries.peek()
      if (soonest !== undefined && soonest.expiresAt <= now) {
        this.#remove(soonest)
        this.expirations++
        continue
      }
      const victim = this.#bySlot[this.#policy.victim(entry.slot)]
      if (victim === undefined) break // a policy bug must not loop forever
      this.#remove(victim)
      this.evictions++
    }
  }

  delete(key: string): boolean {
    const entry = this.#map.get(key)
    if (entry === undefined) return false
    this.#remove(entry)
    return true
  }

  clear(): void {
    this.#map.clear()
    this.#bySlot = []
    this.#freeSlots = []
    this.#expiries.clear()
    this.#bytes = 0
    this.#policy = createPolicy(this.#policyName, this.#capacity)
  }

  keys(): IterableIterator<string> {
    return this.#map.keys()
  }

  #remove(entry: L1Entry): void {
    if (this.#map.get(entry.key) !== entry) return
    this.#map.delete(entry.key)
    this.#bySlot[entry.slot] = undefined
    this.#freeSlots.push(entry.slot)
    this.#policy.remove(entry.slot)
    this.#expiries.remove(entry)
    this.#bytes -= entry.size
  }
}
