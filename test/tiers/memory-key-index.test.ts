import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hashKey } from '../../dist/eviction/index.js'
import { hashKeyInt32 } from '../../dist/eviction/policy.js'
import { KeyIndex } from '../../dist/tiers/memory/key-index.js'

/** Drives a KeyIndex the way the store does (slots from a free list, keys array grown first) beside a Map. */
function model(slots: number) {
  const index = new KeyIndex(slots)
  const expected = new Map<string, number>()
  const free: number[] = []
  let next = 0
  return {
    index,
    expected,
    add(key: string) {
      if (index.find(key) !== -1) return
      const slot = free.pop() ?? next++
      if (slot >= index.slots) index.growTo(Math.max(64, index.slots * 2, slot + 1))
      index.add(key, hashKey(key), slot)
      expected.set(key, slot)
    },
    remove(key: string) {
      const slot = index.find(key)
      expect(slot).toBe(expected.get(key) ?? -1)
      if (slot === -1) return
      index.remove(slot)
      expected.delete(key)
      free.push(slot)
    },
    check() {
      expect(index.size).toBe(expected.size)
      for (const [key, slot] of expected) expect(index.find(key)).toBe(slot)
      expect([...index.entries()].sort()).toEqual([...expected.keys()].sort())
    },
  }
}

describe('KeyIndex (the L1 key → slot table)', () => {
  it('agrees with a Map through any sequence of adds and removes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 2000 }),
        (ops) => {
          const m = model(200)
          for (const [add, k] of ops) {
            if (add) m.add(`k${k}`)
            else m.remove(`k${k}`)
          }
          m.check()
          for (let k = 0; k <= 300; k++) if (!m.expected.has(`k${k}`)) expect(m.index.find(`k${k}`)).toBe(-1)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('grows past its planned size when a store bounded by bytes holds more entries than it estimated', () => {
    const m = model(16)
    for (let i = 0; i < 5000; i++) m.add(`key:${i}`)
    for (let i = 0; i < 5000; i += 3) m.remove(`key:${i}`)
    m.check()
  })

  it('keeps long runs of colliding buckets consistent under churn (backward-shift deletion)', () => {
    // A table at its full size, kept at capacity while keys come and go: every removal shifts.
    const m = model(1000)
    for (let i = 0; i < 1000; i++) m.add(`a${i}`)
    for (let round = 0; round < 20_000; round++) {
      m.remove(`a${round}`)
      m.add(`a${round + 1000}`)
    }
    m.check()
  })

  it('keeps keys that share one home bucket, farther from it than a bucket can record (saturated distances)', () => {
    // The first table has 128 buckets: a key's home is the top 7 bits of its hash.
    const crowd: string[] = []
    for (let i = 0; crowd.length < 30; i++) if (hashKey(`c${i}`) >>> 25 === 5) crowd.push(`c${i}`)
    const m = model(60)
    for (let i = 0; i < 20; i++) m.add(`other${i}`)
    for (const key of crowd) m.add(key)
    m.check()
    for (let round = 0; round < 200; round++) {
      m.remove(crowd[(round * 7) % crowd.length] as string)
      m.add(`other${20 + (round % 30)}`)
      m.remove(`other${(round * 3) % 50}`)
      m.add(crowd[(round * 11) % crowd.length] as string)
      m.check()
    }
  })

  it('works without distances in its buckets (a store of over 16 million slots: every home from the hash)', () => {
    // The buckets grow with the entries, so planning for 2^24 slots costs nothing here.
    const m = model(1 << 24)
    for (let i = 0; i < 3000; i++) m.add(`w${i}`)
    for (let round = 0; round < 5000; round++) {
      m.remove(`w${round}`)
      m.add(`w${round + 3000}`)
    }
    m.check()
  })

  it('tells apart equal keys built as different strings, and the empty key', () => {
    const m = model(10)
    m.add(['us', 'er:1'].join(''))
    m.add('')
    expect(m.index.find('user:1')).toBe(m.expected.get('user:1'))
    expect(m.index.find('')).toBe(m.expected.get(''))
    m.remove('')
    expect(m.index.find('')).toBe(-1)
    m.check()
  })

  it('gives its memory back on clear', () => {
    const m = model(100)
    for (let i = 0; i < 100; i++) m.add(`k${i}`)
    m.index.clear()
    expect(m.index.size).toBe(0)
    expect(m.index.slots).toBe(0)
    expect(m.index.find('k1')).toBe(-1)
  })
})

describe('hashKey', () => {
  /** The definition: FNV-1a over UTF-16 code units, then murmur3's finaliser (what every stored trace analysis and hit ratio was measured with). */
  function reference(key: string): number {
    let h = 0x811c9dc5
    for (let i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i)
      h = Math.imul(h, 0x01000193)
    }
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    return (h ^ (h >>> 16)) >>> 0
  }

  it('keeps its definition (a faster loop must not move a hash), and hashKeyInt32 carries the same bits', () => {
    const fixed = ['', 'a', 'key:1', 'user:42:profile', 'é', '€uro', '\u{1F600}', 'x'.repeat(300)]
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(...fixed)), (key) => {
        expect(hashKey(key)).toBe(reference(key))
        expect(hashKeyInt32(key)).toBe(reference(key) | 0)
      }),
      { numRuns: 2000 },
    )
  })
})
