import { hashKey } from '../eviction/policy.js'

/** A key read from a trace or generated: numbers wherever the format allows (they are much faster). */
export type TraceKey = number | string

const TWO_32 = 4294967296

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * A 32-bit hash of a numeric key without converting it to a string: murmur3's finaliser over an
 * int32, over both 32-bit halves of any other safe integer, and {@link hashKey} of its decimal
 * text for anything else (fractions, huge values).
 */
export function hashNumber(n: number): number {
  if ((n | 0) === n) return fmix32(n)
  if (Number.isSafeInteger(n)) {
    const lo = n >>> 0
    const hi = Math.floor(n / TWO_32) | 0
    return fmix32(lo ^ fmix32(hi ^ 0x5bd1e995))
  }
  return hashKey(String(n))
}

/** The hash the simulator hands to policies: {@link hashNumber} for numbers, {@link hashKey} for strings. */
export function hashTraceKey(key: TraceKey): number {
  return typeof key === 'number' ? hashNumber(key) : hashKey(key)
}
