import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { computeNextUses, denseIds, optHitCounts, optHits } from '../../dist/simulation/opt.js'

const chars = (s: string): string[] => s.split('')

/** Bélády by brute force over the resident set: O(n × capacity) per request, obviously right. */
function naiveOpt(keys: readonly (string | number)[], capacity: number): number {
  const cache = new Set<string | number>()
  let hits = 0
  const nextUse = (key: string | number, after: number): number => {
    for (let j = after + 1; j < keys.length; j++) if (keys[j] === key) return j
    return Number.POSITIVE_INFINITY
  }
  keys.forEach((key, i) => {
    if (cache.has(key)) {
      hits++
      return
    }
    if (cache.size < capacity) {
      cache.add(key)
      return
    }
    let farthest: string | number = key
    let farthestUse = nextUse(key, i)
    for (const resident of cache) {
      const use = nextUse(resident, i)
      if (use > farthestUse) {
        farthest = resident
        farthestUse = use
      }
    }
    if (farthest !== key) {
      cache.delete(farthest)
      cache.add(key)
    }
  })
  return hits
}

/** The true optimum by exhaustive search over every admission/eviction choice (tiny traces only). */
function exhaustiveOpt(keys: readonly number[], capacity: number): number {
  const memo = new Map<string, number>()
  const best = (i: number, cache: readonly number[]): number => {
    if (i === keys.length) return 0
    const id = `${i}|${cache.join(',')}`
    const known = memo.get(id)
    if (known !== undefined) return known
    const key = keys[i] as number
    let result: number
    if (cache.includes(key)) {
      result = 1 + best(i + 1, cache)
    } else {
      result = best(i + 1, cache) // not cached
      if (cache.length < capacity) {
        result = Math.max(
          result,
          best(
            i + 1,
            [...cache, key].sort((a, b) => a - b),
          ),
        )
      } else {
        for (const victim of cache) {
          const next = [...cache.filter((k) => k !== victim), key].sort((a, b) => a - b)
          result = Math.max(result, best(i + 1, next))
        }
      }
    }
    memo.set(id, result)
    return result
  }
  return best(0, [])
}

describe('OPT (Bélády)', () => {
  it('a b c a b d a b c — computed by hand', () => {
    const trace = chars('abcabdabc')
    // capacity 2: a, b cached; c (next use 8) is used last → not cached; a, b hit; d (never again)
    // not cached; a, b hit; c misses: 4 hits. (LRU: 0 hits.)
    expect(optHits(trace, 2)).toBe(4)
    // capacity 1: a stays (its next uses 3, 6 come before b's and c's): hits at 3 and 6.
    expect(optHits(trace, 1)).toBe(2)
    // capacity 3: a, b, c cached; d is never used again → not cached: every later request hits.
    expect(optHits(trace, 3)).toBe(5)
    // capacity ≥ distinct keys: only the 4 cold misses.
    expect(optHits(trace, 4)).toBe(5)
    expect(optHits(trace, 100)).toBe(5)
  })

  it('the textbook reference string 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1', () => {
    const trace = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    // Demand-paging MIN with 3 frames has 9 faults (11 hits); free to skip caching, 12 hits:
    // at request 17 (7, never used again) OPT keeps 0 and 1 instead of loading 7.
    expect(optHits(trace, 3)).toBe(exhaustiveOpt(trace, 3))
    expect(optHits(trace, 3)).toBe(12)
    expect(optHits(trace, 4)).toBe(exhaustiveOpt(trace, 4))
  })

  it('computes next uses in one backward pass', () => {
    const { ids, distinct } = denseIds(chars('abcabdabc'))
    expect([...ids]).toEqual([0, 1, 2, 0, 1, 3, 0, 1, 2])
    expect(distinct).toBe(4)
    expect([...computeNextUses(ids)]).toEqual([3, 4, 8, 6, 7, -1, -1, -1, -1])
  })

  it('an empty trace has no hits', () => {
    expect(optHitCounts(new Int32Array(0), 0, 0, [1, 10])).toEqual([0, 0])
  })

  it('is the optimum: equals an exhaustive search on random tiny traces', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        (trace, capacity) => optHits(trace, capacity) === exhaustiveOpt(trace, capacity),
      ),
      { numRuns: 300 },
    )
  })

  it('equals a naive O(n × capacity) Bélády on random traces, the heap compaction included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 0, maxLength: 400 }),
        fc.integer({ min: 1, max: 25 }),
        (trace, capacity) => optHits(trace, capacity) === naiveOpt(trace, capacity),
      ),
      { numRuns: 200 },
    )
  })

  it('shares one next-use pass across capacities', () => {
    const trace = Array.from({ length: 5000 }, (_, i) => (i * i + 3 * i) % 701)
    const { ids, distinct } = denseIds(trace)
    const capacities = [1, 10, 100, 700, 1000]
    expect(optHitCounts(ids, ids.length, distinct, capacities)).toEqual(
      capacities.map((c) => naiveOpt(trace, c)),
    )
  })
})
