import { fnv1aInt32, mix32 } from '../base/fnv.js'

/**
 * An eviction policy decides which resident entry leaves when a store is over its bounds. It
 * works on *slots* — small integers the store assigns to entries — so that policies keep their
 * state in typed arrays (no allocation per access) and the simulator can replay traces through
 * the very same code the L1 runs.
 *
 * Protocol, as the L1 store and the simulator drive it:
 * - a read of a resident key → `touch(slot)`; a read of an absent key → `miss(hash)`;
 * - a new key → `insert(slot, hash)` into a free slot, then, while the store is over its bounds,
 *   `victim(candidate)` picks a slot (possibly the candidate itself: admission refused), and the
 *   store evicts it and calls `remove(slot)`;
 * - a delete or an expiry → `remove(slot)`.
 * A policy is sized for `capacity` resident entries; slots range over 0 … capacity (one spare, so
 * a new entry can be inserted before a victim is chosen). Its per-slot arrays start small and grow
 * with the slots inserted, so an empty cache with room for a million entries costs a few kilobytes.
 */
export interface EvictionPolicy {
  readonly name: string
  touch(slot: number): void
  miss(hash: number): void
  insert(slot: number, hash: number): void
  remove(slot: number): void
  victim(candidate: number): number
}

export type PolicyName = 'lru' | 'sieve' | 's3fifo' | 'w-tinylfu'

/** A 32-bit hash of a key (FNV-1a over UTF-16 code units, then a murmur3 finaliser), as a uint32. */
export function hashKey(key: string): number {
  return hashKeyInt32(key) >>> 0
}

/**
 * {@link hashKey}'s bits as an int32, what the L1 store hands its index and its policy: V8 keeps
 * an int32 a small integer, where a uint32 past 2^31 is a heap number — allocated whenever it
 * crosses a call V8 did not inline (half of all keys, on every write: the hash goes to the index
 * and the policy, and an eviction hashes the evicted key again). Policies read the bits (`>>>`,
 * `&`, `Math.imul`), as they already do for the simulator's Int32Array of hashes.
 */
export function hashKeyInt32(key: string): number {
  return mix32(fnv1aInt32(key))
}

type SlotArray = Int32Array | Int8Array | Uint8Array | Uint16Array | Uint32Array | Float64Array

/** Slots a policy or store allocates before its first growth (a few cache lines per array). */
export const INITIAL_SLOTS = 64

/**
 * The next length of a per-slot array that must reach index `slot`: double, but not past `limit`
 * (the slots a full cache uses), so that a full cache pays for exactly what it holds — unless `slot`
 * itself is past the limit (a store bounded by bytes only may use more slots than its estimate).
 */
export function grownLength(length: number, slot: number, limit: number): number {
  return Math.max(slot + 1, Math.min(Math.max(length * 2, INITIAL_SLOTS), limit))
}

/**
 * Returns `array`, or a longer copy (see {@link grownLength}; new cells set to `fill`) when `slot`
 * is past its end. Per-slot arrays start small and grow on insert, never on the hit path.
 */
export function withSlot<T extends SlotArray>(array: T, slot: number, fill: number, limit: number): T {
  if (slot < array.length) return array
  const next = new (array.constructor as new (length: number) => T)(grownLength(array.length, slot, limit))
  next.set(array)
  if (fill !== 0) next.fill(fill, array.length)
  return next
}
