import { describe, expect, it } from 'vitest'
import { ReuseProfiler } from '../../dist/analysis/mrc/reuse-profiler.js'
import { hashKey } from '../../dist/eviction/policy.js'
import { Random } from '../../dist/simulation/random.js'
import { ScrambledZipfianGenerator } from '../../dist/simulation/zipf.js'

/** A 1M-event log over 200k keys (Zipf 0.9), as key strings with their hashes. */
function log(events: number): { keys: string[]; hashes: Uint32Array } {
  const random = new Random(3)
  const zipf = new ScrambledZipfianGenerator(200_000, 0.9)
  const keys: string[] = []
  const hashes = new Uint32Array(events)
  for (let i = 0; i < events; i++) {
    const key = `item:${zipf.next(random)}`
    keys.push(key)
    hashes[i] = hashKey(key)
  }
  return { keys, hashes }
}

function naiveLru(keys: string[], capacity: number): number {
  const lru = new Map<string, true>()
  let hits = 0
  for (const key of keys) {
    if (lru.delete(key)) hits++
    else if (lru.size >= capacity) lru.delete(lru.keys().next().value as string)
    lru.set(key, true)
  }
  return hits / keys.length
}

describe('miss-ratio curves: exact stack distances and SHARDS', () => {
  it('the exact curve equals an LRU simulation at every size', () => {
    const { keys, hashes } = log(30_000)
    const profiler = new ReuseProfiler()
    for (const [i, key] of keys.entries()) profiler.access(key, hashes[i] as number, i)
    const curve = profiler.curve()
    for (const size of [1, 10, 100, 1000, 5000]) {
      const at = curve.sizes.indexOf(curve.sizes.find((s) => s >= size) as number)
      expect(curve.hitRatios[at]).toBeCloseTo(naiveLru(keys, curve.sizes[at] as number), 10)
    }
  })

  it('on a 1M-event log SHARDS (R = 0.01) is within 1 point (MAE) of the exact curve, doing ≥ 10× less work', () => {
    const { keys, hashes } = log(1_000_000)
    const exact = new ReuseProfiler()
    const shards = new ReuseProfiler({ rate: 0.01 })
    for (let i = 0; i < keys.length; i++) {
      exact.access(keys[i] as string, hashes[i] as number, i)
      shards.access(keys[i] as string, hashes[i] as number, i)
    }
    const e = exact.curve()
    const s = shards.curve()
    const at = (curve: typeof e, size: number): number => {
      let r = 0
      curve.sizes.forEach((z, i) => {
        if (z <= size) r = curve.hitRatios[i] as number
      })
      return r
    }
    // As in the SHARDS paper: the mean absolute error over cache sizes evenly spaced up to the
    // key count (here 100 of them). bench/analyze.js also prints it on a log-spaced grid, where
    // small caches — most sensitive to which hot keys land in the sample — weigh more.
    const sizes = Array.from({ length: 100 }, (_, i) => Math.round(((i + 1) * e.distinctKeys) / 100))
    const mae = sizes.reduce((sum, size) => sum + Math.abs(at(e, size) - at(s, size)), 0) / sizes.length
    expect(mae).toBeLessThan(0.01)
    // Work: stack-distance operations (the exact run does one per reference).
    expect(exact.sampledReferences / shards.sampledReferences).toBeGreaterThanOrEqual(10)
    expect(Math.abs(s.distinctKeys - e.distinctKeys) / e.distinctKeys).toBeLessThan(0.1)
  })

  it('on the grid users read (100 log-spaced sizes) SHARDS at R = 0.01 with reuse times below 32/R is within 1.5 points (MAE) of exact, in ≥ 10× less CPU time', () => {
    const { keys, hashes } = log(1_000_000)
    const exact = () => new ReuseProfiler()
    const sampled = () => new ReuseProfiler({ rate: 0.01, reuseTimeBits: 15 })
    /** CPU time (user + system, ms) of one full pass, and the curve it gives. */
    const run = (make: () => InstanceType<typeof ReuseProfiler>, events = keys.length) => {
      const profiler = make()
      const started = process.cpuUsage()
      for (let i = 0; i < events; i++) profiler.access(keys[i] as string, hashes[i] as number, i)
      const curve = profiler.curve()
      const used = process.cpuUsage(started)
      return { ms: (used.user + used.system) / 1000, curve }
    }
    // Warm both paths up (JIT), then three rounds, the order rotated; medians compared.
    run(exact, 100_000)
    run(sampled, 100_000)
    const exactRuns: ReturnType<typeof run>[] = []
    const sampledRuns: ReturnType<typeof run>[] = []
    for (let round = 0; round < 3; round++) {
      if (round % 2 === 0) {
        exactRuns.push(run(exact))
        sampledRuns.push(run(sampled))
      } else {
        sampledRuns.push(run(sampled))
        exactRuns.push(run(exact))
      }
    }
    const median = (runs: ReturnType<typeof run>[]) =>
      [...runs.map((r) => r.ms)].sort((a, b) => a - b)[1] as number
    const e = (exactRuns[0] as ReturnType<typeof run>).curve
    const s = (sampledRuns[0] as ReturnType<typeof run>).curve
    expect(s.rate).toBe(0.01)
    const at = (curve: typeof e, size: number): number => {
      let r = 0
      curve.sizes.forEach((z, i) => {
        if (z <= size) r = curve.hitRatios[i] as number
      })
      return r
    }
    const sizes = Array.from({ length: 100 }, (_, i) =>
      Math.max(1, Math.round(Math.exp((i * Math.log(e.distinctKeys)) / 99))),
    )
    const mae = sizes.reduce((sum, size) => sum + Math.abs(at(e, size) - at(s, size)), 0) / sizes.length
    expect(mae).toBeLessThan(0.015)
    expect(median(exactRuns) / median(sampledRuns)).toBeGreaterThanOrEqual(10)
  }, 120_000)

  it('fixed-size SHARDS keeps at most maxKeys keys and stays within 2 points', () => {
    const { keys, hashes } = log(200_000)
    const exact = new ReuseProfiler()
    const bounded = new ReuseProfiler({ maxKeys: 2000 })
    for (let i = 0; i < keys.length; i++) {
      exact.access(keys[i] as string, hashes[i] as number, i)
      bounded.access(keys[i] as string, hashes[i] as number, i)
    }
    expect(bounded.trackedKeys).toBeLessThanOrEqual(2000)
    const e = exact.curve()
    const b = bounded.curve()
    const errors = e.sizes
      .filter((size) => size >= 200 && size <= b.sizes[b.sizes.length - 1]!)
      .map((size) =>
        Math.abs((e.hitRatios[e.sizes.indexOf(size)] as number) - (b.hitRatios[b.sizes.indexOf(size)] ?? 0)),
      )
    expect(errors.reduce((a, x) => a + x, 0) / errors.length).toBeLessThan(0.02)
  })
})
