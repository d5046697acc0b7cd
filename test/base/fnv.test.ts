import { describe, expect, it } from 'vitest'
import { fnv1a } from '../../dist/base/fnv.js'
import { partitionOf } from '../../dist/write/log.js'

/** FNV-1a as first written here (the basis as a uint32 literal): the bits every version must keep. */
function reference(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

describe('fnv1a', () => {
  it('is FNV-1a 32 (the published test vectors, ASCII)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5)
    expect(fnv1a('a')).toBe(0xe40c292c)
    expect(fnv1a('foobar')).toBe(0xbf9cf968)
  })

  it('has the reference bits on keys of every length, UTF-16 included, so write-behind partitions stay put', () => {
    const keys = Array.from(
      { length: 2000 },
      (_, i) => `${'k'.repeat(i % 37)}:${i}:${String.fromCharCode(0x4e00 + i)}`,
    )
    for (const key of keys) {
      expect(fnv1a(key)).toBe(reference(key))
      expect(partitionOf(key, 7)).toBe(reference(key) % 7)
    }
  })
})
