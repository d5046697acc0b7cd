import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrequencySketch } from '../../dist/eviction/frequency-sketch.js'
import { GhostLists } from '../../dist/eviction/ghosts.js'
import { hashKey, WTinyLfuPolicy } from '../../dist/eviction/index.js'
import type { WTinyLfuOptions } from '../../dist/eviction/w-tinylfu.js'

describe('FrequencySketch', () => {
  it('counts a lone key exactly, up to the 15 cap', () => {
    const sketch = new FrequencySketch(1000)
    const h = hashKey('k')
    for (let i = 1; i <= 20; i++) {
      sketch.increment(h)
      expect(sketch.frequency(h)).toBe(Math.min(i, 15))
    }
    expect(sketch.add(h, 1)).toBe(false) // saturated
  })

  it('never underestimates before it ages (conservative updates keep count-min an upper bound)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 1500 }), (keys) => {
        const sketch = new FrequencySketch(100) // ages after 2,000 additions: not within this run
        const counts = new Map<number, number>()
        for (const k of keys) {
          sketch.increment(hashKey(`k${k}`))
          counts.set(k, (counts.get(k) ?? 0) + 1)
        }
        for (const [k, n] of counts)
          expect(sketch.frequency(hashKey(`k${k}`))).toBeGreaterThanOrEqual(Math.min(n, 15))
        expect(sketch.epoch).toBe(0)
      }),
      { numRuns: 50 },
    )
  })

  it('add(hash, n) raises the estimate by n, as n increments would', () => {
    const a = new FrequencySketch(64)
    const b = new FrequencySketch(64)
    const h = hashKey('x')
    a.add(h, 5)
    for (let i = 0; i < 5; i++) b.increment(h)
    expect(a.frequency(h)).toBe(5)
    expect(b.frequency(h)).toBe(5)
  })

  it('halves every counter after 20 × capacity additions', () => {
    const sketch = new FrequencySketch(10)
    const hot = hashKey('hot')
    for (let i = 0; i < 12; i++) sketch.increment(hot)
    for (let i = 0; i < 200 - 12; i++) sketch.count()
    expect(sketch.epoch).toBe(1)
    expect(sketch.frequency(hot)).toBe(6)
  })
})

/** Drives a policy the way the L1 store does (a key→slot map, a free list, evict while over capacity). */
function driver(capacity: number, options: WTinyLfuOptions) {
  const policy = new WTinyLfuPolicy(capacity, options)
  const slots = new Map<string, number>()
  const keyOf: (string | undefined)[] = new Array(capacity + 1)
  const free: number[] = []
  for (let s = capacity; s >= 0; s--) free.push(s)
  return {
    policy,
    has: (key: string) => slots.has(key),
    access(key: string): boolean {
      const slot = slots.get(key)
      if (slot !== undefined) {
        policy.touch(slot)
        return true
      }
      const hash = hashKey(key)
      policy.miss(hash)
      const fresh = free.pop() as number
      slots.set(key, fresh)
      keyOf[fresh] = key
      policy.insert(fresh, hash)
      while (slots.size > capacity) {
        const victim = policy.victim(fresh)
        policy.remove(victim)
        slots.delete(keyOf[victim] as string)
        keyOf[victim] = undefined
        free.push(victim)
      }
      return false
    },
  }
}

describe('w-tinylfu window', () => {
  /** Main full of popular keys; `x` is read twice while in the window, then pushed out of it by one-off keys. */
  const scenario = (windowShare: number) => {
    const d = driver(20, { windowShare, adaptive: false })
    for (let round = 0; round < 8; round++) for (let i = 0; i < 20; i++) d.access(`hot${i}`)
    d.access('x')
    d.access('x')
    for (let i = 0; i < 20; i++) d.access(`once${i}`)
    return d.has('x')
  }

  it('with a large window (recency pays), an entry read in the window skips admission', () => {
    expect(scenario(0.5)).toBe(true)
  })

  it('with a small window, the same entry must win admission, and the popular keys keep it out', () => {
    expect(scenario(0.1)).toBe(false)
  })

  it('starts empty and reports its share', () => {
    expect(new WTinyLfuPolicy(100).windowShare).toBe(0)
    expect(new WTinyLfuPolicy(100, { windowShare: 0.3, adaptive: false }).windowShare).toBe(0.3)
  })
})

describe('GhostLists depths', () => {
  /** A ghost of list 0, then 100 later evictions from list 0; is it still fresh with `depth0`? */
  const freshAfter100 = (depth0: number): number => {
    const ghosts = new GhostLists(1024, 1024)
    ghosts.setDepths(depth0, 1024)
    ghosts.add(0, 12345)
    for (let i = 1; i <= 100; i++) ghosts.add(0, Math.imul(i, 0x9e3779b1) >>> 10)
    return ghosts.take(12345)
  }

  it('a ghost within its list depth is fresh, and counts once', () => {
    const ghosts = new GhostLists(1024, 1024)
    ghosts.add(1, 777)
    expect(ghosts.take(777)).toBe(1)
    expect(ghosts.take(777)).toBe(-1)
    expect(freshAfter100(1024)).toBe(0)
  })

  it('setDepths shortens a list: a ghost older than the new depth is no longer fresh', () => {
    // 100 evictions ago is past a depth of 64 (in stamps of 1024 / 16 = 64 evictions).
    expect(freshAfter100(64)).toBe(-1)
    expect(freshAfter100(256)).toBe(0)
  })

  it('setDepths never goes past the depth given to the constructor', () => {
    const ghosts = new GhostLists(64, 64)
    ghosts.setDepths(1_000_000, 1_000_000)
    ghosts.add(0, 4242)
    for (let i = 1; i <= 200; i++) ghosts.add(0, Math.imul(i, 0x9e3779b1) >>> 10)
    expect(ghosts.take(4242)).toBe(-1)
  })
})
