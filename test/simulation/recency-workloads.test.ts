import { describe, expect, it } from 'vitest'
import { parseSyntheticSpec, syntheticKeys } from '../../dist/simulation/synthetic.js'

const take = (spec: string, seed = 1): number[] => [...syntheticKeys(spec, seed)]

/** For each request, how many requests ago its key was last requested (Infinity: first time). */
function reuseDistances(keys: readonly number[]): number[] {
  const last = new Map<number, number>()
  return keys.map((key, i) => {
    const before = last.get(key)
    last.set(key, i)
    return before === undefined ? Number.POSITIVE_INFINITY : i - before
  })
}

describe('recency workloads', () => {
  it('parse with their defaults, and explain bad parameters', () => {
    expect(parseSyntheticSpec('recent').params).toEqual({
      fresh: 0.3,
      reach: 100_000,
      requests: 1_000_000,
      theta: 1,
    })
    expect(parseSyntheticSpec('drift:1000').params).toMatchObject({
      ws: 1000,
      rate: 0.1,
      requests: 100_000,
      n: 10_000,
    })
    expect(parseSyntheticSpec('arc-mix:0.9:1e4').params).toMatchObject({
      phase: 20_000,
      scan: 500,
      'recent-share': 0.8,
    })
    expect(() => parseSyntheticSpec('recent:1.5')).toThrow(/fresh must be a fraction/)
    expect(() => parseSyntheticSpec('drift:100:200')).toThrow(/rate must be above 0 and at most ws/)
    expect(() => parseSyntheticSpec('lirs-mix:10:0.8:100:loop-share=0.7:recent-share=0.5')).toThrow(
      /add up to at most 1/,
    )
    expect(() => parseSyntheticSpec('recent:theta=4')).toThrow(/theta must be from 0 to 3/)
  })

  it('are the same for the same seed and differ across seeds', () => {
    for (const spec of [
      'recent:0.3:1000:5000',
      'drift:100:0.1:5000',
      'phases:0.9:1000',
      'lirs-mix:50:0.8:500',
      'arc-mix:0.9:500',
    ]) {
      const keys = take(spec, 3)
      expect(keys).toHaveLength(parseSyntheticSpec(spec).requests)
      expect(take(spec, 3)).toEqual(keys)
      expect(take(spec, 4)).not.toEqual(keys)
    }
  })

  it('recent: `fresh` of the requests are new keys, the rest re-read a key seen at most `reach` requests ago', () => {
    const keys = take('recent:0.3:2000:50000')
    const distances = reuseDistances(keys)
    const firsts = distances.filter((d) => d === Number.POSITIVE_INFINITY).length
    expect(firsts / keys.length).toBeGreaterThan(0.28)
    expect(firsts / keys.length).toBeLessThan(0.32)
    expect(Math.max(...distances.filter(Number.isFinite))).toBeLessThanOrEqual(2000)
  })

  it('recent: theta sets how far back re-reads go (log-uniform at 1, uniform at 0)', () => {
    const median = (spec: string): number => {
      const d = reuseDistances(take(spec))
        .filter(Number.isFinite)
        .sort((a, b) => a - b)
      return d[Math.floor(d.length / 2)] as number
    }
    // Log-uniform over [1, 10^4] has its median near 100; uniform, near 5,000 before the re-reads
    // of a key read again since shorten the distance to its *last* request (measured: ~1,700).
    expect(median('recent:0.3:10000:100000:theta=1')).toBeLessThan(300)
    expect(median('recent:0.3:10000:100000:theta=0')).toBeGreaterThan(1000)
  })

  it('drift: the working set moves on and old keys are never read again', () => {
    const keys = take('drift:1000:0.5:20000:1:10')
    // share = 1: every key is n + head + offset, with head = ⌊t × rate⌋.
    const outside = keys.filter((key, t) => {
      const head = Math.floor(t * 0.5)
      return key - 10 < head || key - 10 >= head + 1000
    })
    expect(outside).toEqual([])
    // 11,000 keys pass through the working set, each hot for ws / rate = 2,000 requests: read about
    // twice, never by e^−2 ≈ 14% of them.
    expect(new Set(keys).size).toBeGreaterThan(8_500)
  })

  it('phases: Zipf keys (below n) only in the odd phases, re-reads and fresh keys in the even ones', () => {
    const keys = take('phases:0.9:1000:phase=500:requests=2000')
    const zipfShare = (from: number) => keys.slice(from, from + 500).filter((k) => k < 1000).length / 500
    expect(zipfShare(0)).toBe(0)
    expect(zipfShare(500)).toBe(1)
    expect(zipfShare(1000)).toBe(0)
    expect(zipfShare(1500)).toBe(1)
  })

  it('lirs-mix: the loop part visits its keys in order, about `loop-share` of the requests', () => {
    const keys = take('lirs-mix:100:0.8:1000:requests=20000')
    const loop = keys.filter((k) => k >= 1000 && k < 1100)
    expect(loop.length / keys.length).toBeGreaterThan(0.28)
    expect(loop.length / keys.length).toBeLessThan(0.32)
    expect(loop).toEqual(loop.map((_, i) => 1000 + (i % 100)))
  })

  it('arc-mix: scans of `scan` consecutive never-seen keys come through every phase / 4 requests', () => {
    const keys = take('arc-mix:0.9:1000:requests=4000:phase=2000:scan=50')
    const seen = new Set<number>()
    let runs = 0
    for (let i = 0; i < keys.length; i++) {
      if (
        keys[i] === (keys[i - 1] as number) + 1 &&
        !seen.has(keys[i] as number) &&
        keys[i + 1] === (keys[i] as number) + 1
      ) {
        let end = i
        while (keys[end + 1] === (keys[end] as number) + 1) end++
        if (end - i + 2 >= 50) runs++
        i = end
      }
      seen.add(keys[i] as number)
    }
    expect(runs).toBe(Math.floor(4000 / 550)) // a scan after every 500 requests (phase / 4) of the mix
  })
})
