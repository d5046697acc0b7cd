import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LruPolicy } from '../../dist/eviction/lru.js'
import type { EvictionPolicy } from '../../dist/eviction/policy.js'
import { optHits } from '../../dist/simulation/opt.js'
import { SimulatedCache } from '../../dist/simulation/sim-cache.js'
import {
  fileTraceSource,
  keysTraceSource,
  parseCacheSize,
  resolveCapacity,
  SIMULATED_POLICIES,
  type SimulationResult,
  simulate,
  syntheticTraceSource,
} from '../../dist/simulation/simulate.js'
import { trace } from './helpers.js'

const pct = (result: SimulationResult, policy: string, size: string): string => {
  const row = result.results.find((r) => r.policy === policy && r.size === size)
  if (row === undefined) throw new Error(`no result for ${policy} @ ${size}`)
  return (row.hitRatio * 100).toFixed(2)
}

const hitsOf = (result: SimulationResult): Record<string, number> =>
  Object.fromEntries(result.results.map((r) => [`${r.policy}@${r.size}`, r.hits]))

/** LRU the obvious way: a Map in recency order. */
function naiveLru(keys: readonly number[], capacity: number): number {
  const cache = new Map<number, true>()
  let hits = 0
  for (const key of keys) {
    if (cache.delete(key)) {
      hits++
    } else if (cache.size === capacity) {
      cache.delete(cache.keys().next().value as number)
    }
    cache.set(key, true)
  }
  return hits
}

describe('correctness anchors on the real traces (README figures)', () => {
  it('LRU replaying arc-OLTP at 1,000 entries gives exactly 32.83%', async () => {
    const result = await simulate(fileTraceSource(trace('arc-OLTP.lis.gz'), 'arc'), {
      policies: ['lru', 'opt'],
      sizes: [250, 1000, 2000],
    })
    expect(result.requests).toBe(914_145)
    expect(result.distinctKeys).toBe(186_880)
    expect(pct(result, 'lru', '1000')).toBe('32.83')
    expect(pct(result, 'lru', '250')).toBe('16.47')
    expect(pct(result, 'lru', '2000')).toBe('42.47')
    expect(pct(result, 'opt', '250')).toBe('38.47')
    expect(pct(result, 'opt', '1000')).toBe('53.62')
    expect(pct(result, 'opt', '2000')).toBe('60.40')
  })

  it('the same 32.83% streaming (no OPT, absolute sizes: the caches are fed as the file is read)', async () => {
    const result = await simulate(fileTraceSource(trace('arc-OLTP.lis.gz'), 'arc'), {
      policies: ['lru'],
      sizes: [1000],
    })
    expect(result.mode).toBe('stream')
    expect(pct(result, 'lru', '1000')).toBe('32.83')
  })

  it('cache2k-web07 @ 1000: LRU 50.41%, OPT 63.59%', async () => {
    const result = await simulate(fileTraceSource(trace('cache2k-web07.trace.gz'), 'cache2k'), {
      policies: ['lru', 'opt'],
      sizes: [1000],
    })
    expect(result.requests).toBe(76_118)
    expect(pct(result, 'lru', '1000')).toBe('50.41')
    expect(pct(result, 'opt', '1000')).toBe('63.59')
  })

  it('cache2k-orm-busy @ 1000 and 5000: LRU 78.78% / 85.46%, OPT 84.14% / 91.40%', async () => {
    const result = await simulate(fileTraceSource(trace('cache2k-orm-busy.trace.gz'), 'cache2k'), {
      policies: ['lru', 'opt'],
      sizes: [1000, 5000],
    })
    expect(result.requests).toBe(5_000_000)
    expect(result.distinctKeys).toBe(76_349)
    expect(pct(result, 'lru', '1000')).toBe('78.78')
    expect(pct(result, 'lru', '5000')).toBe('85.46')
    expect(pct(result, 'opt', '1000')).toBe('84.14')
    expect(pct(result, 'opt', '5000')).toBe('91.40')
  }, 60_000)
})

describe('simulate()', () => {
  it('no policy beats OPT: random small traces at random sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 600 }),
        fc.integer({ min: 1, max: 40 }),
        async (keys, capacity) => {
          const result = await simulate(keysTraceSource(keys), {
            policies: SIMULATED_POLICIES,
            sizes: [capacity],
          })
          const opt = result.results.find((r) => r.policy === 'opt')?.hits as number
          expect(opt).toBe(optHits(keys, capacity))
          for (const r of result.results) expect(r.hits).toBeLessThanOrEqual(opt)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('LRU through the simulated cache equals a naive LRU (the id → slot table, the free list)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -50, max: 300 }), { minLength: 0, maxLength: 2000 }),
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 3 }),
        async (keys, capacities) => {
          const result = await simulate(keysTraceSource(keys), { policies: ['lru'], sizes: capacities })
          expect(result.results.map((r) => r.hits)).toEqual(capacities.map((c) => naiveLru(keys, c)))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('gives the same counts streaming and replaying from memory', async () => {
    const source = syntheticTraceSource('scan-zipf:0.9:5000:60000', 3)
    const policies = SIMULATED_POLICIES.filter((p) => p !== 'opt')
    const streamed = await simulate(source, { policies, sizes: [100, 1000] })
    const replayed = await simulate(source, { policies: [...policies, 'opt'], sizes: [100, 1000] })
    expect(streamed.mode).toBe('stream')
    expect(replayed.mode).toBe('replay')
    const { 'opt@100': _a, 'opt@1000': _b, ...withoutOpt } = hitsOf(replayed)
    expect(hitsOf(streamed)).toEqual(withoutOpt)
  })

  it('mixes string and number keys (42 and "42" are different keys)', async () => {
    const keys = [42, '42', 42, '42', 'a', 'a']
    const result = await simulate(keysTraceSource(keys), { policies: ['lru'], sizes: [2] })
    expect(result.distinctKeys).toBe(3)
    expect(result.results[0]?.hits).toBe(3)
  })

  it('resolves percentage sizes against the distinct keys; honours a limit', async () => {
    const result = await simulate(syntheticTraceSource('loop:2000'), {
      policies: ['lru', 'opt'],
      sizes: ['50%', '100%', 1999, '0.01%'],
      limit: 10_000,
    })
    expect(result.requests).toBe(10_000)
    expect(result.distinctKeys).toBe(2000)
    expect(result.sizes).toEqual([
      { size: '50%', capacity: 1000 },
      { size: '100%', capacity: 2000 },
      { size: '1999', capacity: 1999 },
      { size: '0.01%', capacity: 1 },
    ])
    // A loop one key longer than the cache: LRU always misses; with all keys, only cold misses.
    expect(result.results.map((r) => `${r.policy}@${r.size}=${r.hits}`)).toEqual([
      'lru@50%=0',
      'lru@100%=8000',
      'lru@1999=0',
      'lru@0.01%=0',
      // OPT keeps C keys of the loop for good (it need not cache the others): C hits a pass after the first.
      'opt@50%=4000',
      'opt@100%=8000',
      'opt@1999=7996',
      'opt@0.01%=4',
    ])
    expect(pct(result, 'opt', '1999')).toBe('79.96')
  })

  it('uses the policy factory it is given', async () => {
    const built: string[] = []
    const result = await simulate(keysTraceSource([1, 2, 1, 3, 1]), {
      policies: ['mine'],
      sizes: [2],
      policyFactory: (name, capacity) => {
        built.push(`${name}/${capacity}`)
        return new LruPolicy(capacity)
      },
    })
    expect(built).toContain('mine/2')
    expect(result.results[0]).toMatchObject({ policy: 'mine', capacity: 2, hits: 2, misses: 3 })
  })

  it('refuses unknown policies and bad sizes before reading anything', async () => {
    const source = {
      name: 'never',
      batches: () => {
        throw new Error('read')
      },
    }
    await expect(simulate(source, { policies: ['lfu'], sizes: [10] })).rejects.toThrow(/Unknown policy 'lfu'/)
    await expect(simulate(source, { policies: ['lru'], sizes: ['0%'] })).rejects.toThrow(/percentage/)
    await expect(simulate(source, { policies: [], sizes: [10] })).rejects.toThrow(/at least one policy/)
  })

  it('an empty trace: zero requests, zero hits', async () => {
    const result = await simulate(keysTraceSource([]), { policies: ['lru', 'opt'], sizes: [10, '1%'] })
    expect(result.requests).toBe(0)
    expect(result.results.every((r) => r.hits === 0 && r.hitRatio === 0)).toBe(true)
  })
})

describe('cache sizes', () => {
  it('parses entries and percentages', () => {
    expect(parseCacheSize('1000')).toEqual({ label: '1000', value: 1000, percent: false })
    expect(parseCacheSize('1e4').value).toBe(10_000)
    expect(parseCacheSize('10_000').value).toBe(10_000)
    expect(parseCacheSize('10k').value).toBe(10_000)
    expect(parseCacheSize('0.1%')).toEqual({ label: '0.1%', value: 0.1, percent: true })
    expect(resolveCapacity(parseCacheSize('0.1%'), 186_880)).toBe(187)
    expect(resolveCapacity(parseCacheSize('0.1%'), 10)).toBe(1)
    for (const bad of ['0', '-5', '1.5', 'ten', '150%', '0%', '']) expect(() => parseCacheSize(bad)).toThrow()
  })
})

describe('SimulatedCache', () => {
  it('counts hits and misses and keeps at most `capacity` entries', () => {
    const cache = new SimulatedCache(new LruPolicy(2), 2)
    const ids = Int32Array.from([0, 1, 0, 2, 1, 0])
    cache.replay(ids, 0, ids.length, new Int32Array(3))
    expect([cache.hits, cache.misses, cache.size]).toEqual([1, 5, 2])
    expect([cache.has(0), cache.has(1), cache.has(2)]).toEqual([true, true, false])
  })

  it('sized past the trace, holds only what the trace fills: 2^30 entries hit exactly as a cache of every distinct key', async () => {
    const source = syntheticTraceSource('zipf:0.9:5000:50000', 3)
    const huge = 2 ** 30 // documented as a valid --sizes value
    const before = process.memoryUsage().arrayBuffers
    const result = await simulate(source, { policies: [...SIMULATED_POLICIES], sizes: [huge] })
    // Every policy keeps every key: what such a cache holds is the distinct keys (a few hundred KB
    // over all the policies), not 2^30 slots up front (gigabytes).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20)
    const exact = await simulate(syntheticTraceSource('zipf:0.9:5000:50000', 3), {
      policies: [...SIMULATED_POLICIES],
      sizes: [result.distinctKeys],
    })
    expect(result.results.map((r) => [r.policy, r.hits])).toEqual(
      exact.results.map((r) => [r.policy, r.hits]),
    )
    expect(result.results.every((r) => r.hits === result.requests - result.distinctKeys)).toBe(true)
  })

  it('honours an admission refusal (the victim is the candidate)', () => {
    const refuseNewcomers: EvictionPolicy = {
      name: 'lru',
      touch() {},
      miss() {},
      insert() {},
      remove() {},
      victim: (candidate) => candidate,
    }
    const cache = new SimulatedCache(refuseNewcomers, 1)
    const ids = Int32Array.from([0, 1, 2, 0, 0])
    cache.replay(ids, 0, ids.length, new Int32Array(3))
    expect(cache.hits).toBe(2)
    expect(cache.has(0)).toBe(true)
  })

  it('names a policy that picks an empty slot as its victim', () => {
    const broken: EvictionPolicy = {
      name: 'sieve',
      touch() {},
      miss() {},
      insert() {},
      remove() {},
      victim: () => -1,
    }
    const cache = new SimulatedCache(broken, 1)
    expect(() => cache.replay(Int32Array.from([0, 1]), 0, 2, new Int32Array(2))).toThrow(
      /sieve chose slot -1/,
    )
    const outOfRange = new SimulatedCache({ ...broken, victim: () => 5 }, 1)
    expect(() => outOfRange.replay(Int32Array.from([0, 1]), 0, 2, new Int32Array(2))).toThrow(/chose slot 5/)
  })
})
