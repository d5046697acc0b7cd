/**
 * FNV-1a over a string's UTF-16 code units, as an int32: the one FNV loop (the L1's key hash
 * finalises it, see `hashKeyInt32`). The offset basis is written as an int32 (0x811c9dc5 | 0):
 * written as 0x811c9dc5, a number past 2^31, it made the loop's `h` a float64 in V8's optimized
 * code, converted to int32 and back on every character. An int32 stays a small integer across
 * calls V8 does not inline, where a uint32 past 2^31 is an allocated heap number.
 */
export function fnv1aInt32(text: string): number {
  // Literals: the same loop reading exported module constants measured ~50% slower per hash.
  let h = -2128831035
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h
}

/** murmur3's 32-bit finaliser, as an int32: what turns {@link fnv1aInt32} into the L1's key hash. */
export function mix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** {@link fnv1aInt32} as a uint32: stable across processes and versions (write-behind partitions depend on it). */
export function fnv1a(text: string): number {
  return fnv1aInt32(text) >>> 0
}
