/**
 * FNV-1a over a string's UTF-16 code units, as a uint32: stable across processes and versions
 * (write-behind partitions depend on it). The offset basis is written as an int32 (0x811c9dc5 | 0):
 * written as 0x811c9dc5, a number past 2^31, it made the loop's `h` a float64 in V8's optimized
 * code, converted to int32 and back on every character. Same bits.
 */
export function fnv1a(text: string): number {
  let h = -2128831035
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
