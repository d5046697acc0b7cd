import { describe, expect, it } from 'vitest'
import { Random } from '../../dist/simulation/random.js'
import {
  describeSyntheticSpec,
  parseSyntheticSpec,
  syntheticBatches,
  syntheticKeys,
} from '../../dist/simulation/synthetic.js'
import { fnv64Mod, ScrambledZipfianGenerator, ZipfianGenerator, zeta } from '../../dist/simulation/zipf.js'

const take = (spec: string, seed: number, count = Number.POSITIVE_INFINITY): number[] => {
  const out: number[] = []
  for (const key of syntheticKeys(spec, seed)) {
    if (out.length >= count) break
    out.push(key)
  }
  return out
}

describe('Random', () => {
  it('is deterministic for a seed, and different seeds give different streams', () => {
    const a = new Random(42)
    const b = new Random(42)
    const c = new Random(43)
    const xs = Array.from({ length: 100 }, () => a.nextUint32())
    expect(Array.from({ length: 100 }, () => b.nextUint32())).toEqual(xs)
    expect(Array.from({ length: 100 }, () => c.nextUint32())).not.toEqual(xs)
    expect(new Random(2 ** 40 + 42).nextUint32()).not.toBe(new Random(42).nextUint32())
  })

  it('draws doubles in [0, 1) and integers in [0, n), roughly uniformly', () => {
    const r = new Random(1)
    const counts = new Array<number>(10).fill(0)
    let outOfRange = 0
    for (let i = 0; i < 100_000; i++) {
      const u = r.next()
      if (!(u >= 0 && u < 1)) outOfRange++
      const k = r.nextInt(10)
      counts[k] = (counts[k] as number) + 1
    }
    expect(outOfRange).toBe(0)
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500)
  })
})

describe('YCSB Zipfian generator', () => {
  it.each([0.6, 0.8, 0.99, 1, 1.2])('α = %s: rank frequencies follow 1 / (rank + 1)^α', (alpha) => {
    const n = 1000
    const draws = 400_000
    const zipf = new ZipfianGenerator(n, alpha)
    const random = new Random(7)
    const counts = new Float64Array(n)
    let bad = 0
    for (let i = 0; i < draws; i++) {
      const rank = zipf.next(random)
      if (!(rank >= 0 && rank < n && Number.isInteger(rank))) bad++
      counts[rank] = (counts[rank] as number) + 1
    }
    expect(bad).toBe(0)
    const z = zeta(n, alpha)
    const p = (rank: number): number => 1 / (rank + 1) ** alpha / z
    // Ranks 0 and 1 are exact in YCSB's algorithm; the rest use a continuous approximation.
    expect((counts[0] as number) / draws).toBeCloseTo(p(0), 2)
    expect(Math.abs((counts[0] as number) / draws / p(0) - 1)).toBeLessThan(0.03)
    expect(Math.abs((counts[1] as number) / draws / p(1) - 1)).toBeLessThan(0.05)
    let head = 0
    let expected = 0
    for (let r = 0; r < 100; r++) {
      head += counts[r] as number
      expected += p(r)
    }
    expect(Math.abs(head / draws / expected - 1)).toBeLessThan(0.03)
  })

  it('α = 0 is uniform; n = 1 and n = 2 work', () => {
    const random = new Random(3)
    const uniform = new ZipfianGenerator(4, 0)
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 40_000; i++) {
      const rank = uniform.next(random)
      counts[rank] = (counts[rank] as number) + 1
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500)
    expect(new ZipfianGenerator(1, 0.99).next(random)).toBe(0)
    const two = new ZipfianGenerator(2, 1)
    const ones = Array.from({ length: 30_000 }, () => two.next(random)).filter((r) => r === 1).length
    expect(ones / 30_000).toBeCloseTo(1 / 3, 1) // P(1) = 0.5 / 1.5
  })

  it('scrambles with YCSB’s fnvhash64(rank) % n (checked against BigInt)', () => {
    const fnvReference = (value: bigint, n: bigint): bigint => {
      let hash = 0xcbf29ce484222325n
      for (let i = 0; i < 8; i++) {
        hash ^= value & 0xffn
        value >>= 8n
        hash = (hash * 1099511628211n) & 0xffffffffffffffffn
      }
      const signed = hash >= 2n ** 63n ? hash - 2n ** 64n : hash
      return (signed < 0n ? -signed : signed) % n
    }
    const random = new Random(11)
    const mismatches: string[] = []
    for (let i = 0; i < 2000; i++) {
      const value = i < 1000 ? i : random.nextInt(2 ** 53)
      const n = i % 3 === 0 ? 2 ** 31 : 1 + random.nextInt(2 ** 31)
      const expected = Number(fnvReference(BigInt(value), BigInt(n)))
      if (fnv64Mod(value, n) !== expected) mismatches.push(`${value} % ${n}`)
    }
    expect(mismatches).toEqual([])
    const scrambled = new ScrambledZipfianGenerator(1000, 0.99)
    const key = scrambled.next(new Random(5))
    expect(key >= 0 && key < 1000).toBe(true)
  })
})

describe('synthetic workload specs', () => {
  it('parses positional and named parameters, filling defaults', () => {
    const zipf = parseSyntheticSpec('zipf:0.8:1e6')
    expect(zipf).toMatchObject({ kind: 'zipf', requests: 10_000_000, params: { alpha: 0.8, n: 1_000_000 } })
    expect(parseSyntheticSpec('zipf:0.99:100k:2e5').requests).toBe(200_000)
    expect(parseSyntheticSpec('loop:2000').params).toEqual({ n: 2000, requests: 20_000 })
    expect(parseSyntheticSpec('scan-zipf:0.99:1e5').params).toEqual({
      alpha: 0.99,
      n: 100_000,
      requests: 1_000_000,
      scan: 10_000,
      share: 0.2,
    })
    expect(parseSyntheticSpec('scan-zipf:0.99:1e5:scan=5000:share=0.5').params).toMatchObject({
      scan: 5000,
      share: 0.5,
    })
    expect(parseSyntheticSpec('shifting:1000').params).toEqual({
      hot: 1000,
      phase: 10_000,
      requests: 100_000,
      share: 0.9,
      n: 100_000,
    })
    expect(parseSyntheticSpec('cdn:0.8:1e5:onehit=0.5').params).toMatchObject({ onehit: 0.5, requests: 1e6 })
    expect(describeSyntheticSpec(zipf)).toBe('zipf alpha=0.8 n=1,000,000 requests=10,000,000')
  })

  it('explains what is wrong', () => {
    expect(() => parseSyntheticSpec('pareto:1')).toThrow(
      /Unknown synthetic workload 'pareto'.*zipf, scan-zipf/,
    )
    expect(() => parseSyntheticSpec('zipf:0.99')).toThrow(/needs n/)
    expect(() => parseSyntheticSpec('zipf:0.99:1000:1:2')).toThrow(/too many values/)
    expect(() => parseSyntheticSpec('zipf:0.99:1000:scan=3')).toThrow(/no parameter 'scan'/)
    expect(() => parseSyntheticSpec('zipf:0.99:ten')).toThrow(/n must be a number/)
    expect(() => parseSyntheticSpec('loop:2.5')).toThrow(/n must be an integer/)
    expect(() => parseSyntheticSpec('cdn:0.8:100:onehit=2')).toThrow(/onehit must be a fraction/)
    expect(() => parseSyntheticSpec('loop:10:n=20')).toThrow(/given twice/)
  })
})

describe('synthetic workloads', () => {
  it.each([
    'zipf:0.99:1000:5000',
    'scan-zipf:0.8:1000:5000',
    'loop:100:500',
    'shifting:10:100:5000',
    'cdn:0.6:1000:5000',
  ])('%s: the same keys for the same seed, other keys for another seed', (spec) => {
    const a = take(spec, 1)
    expect(a.length).toBe(parseSyntheticSpec(spec).requests)
    expect(take(spec, 1)).toEqual(a)
    if (!spec.startsWith('loop')) expect(take(spec, 2)).not.toEqual(a)
    expect(a.every((key) => Number.isSafeInteger(key) && key >= 0)).toBe(true)
  })

  it('batches add up to the requested count', () => {
    const sizes = [...syntheticBatches('zipf:0.99:1000:150000', 1, 65536)].map((b) => b.length)
    expect(sizes).toEqual([65536, 65536, 18928])
  })

  it('zipf keys stay within n and the popular ones are scattered', () => {
    const keys = take('zipf:0.99:10000:200000', 9)
    const counts = new Map<number, number>()
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
    expect(keys.every((k) => k >= 0 && k < 10_000)).toBe(true)
    const top = [...counts.entries()].sort((x, y) => y[1] - x[1]).slice(0, 10)
    expect((top[0] as [number, number])[1] / keys.length).toBeGreaterThan(0.08) // 1/ζ(10⁴, 0.99) ≈ 0.10
    expect(top.some(([key]) => key > 100)).toBe(true) // scrambled: not the smallest keys
  })

  it('loop repeats 0 … n−1', () => {
    expect(take('loop:4:10', 1)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
  })

  it('scan-zipf interleaves Zipf runs with scans of fresh consecutive keys', () => {
    const keys = take('scan-zipf:0.99:1000:requests=3000:scan=100:share=0.2', 1)
    // gap = 100 × 0.8 / 0.2 = 400 Zipf requests, then 100 scan keys 1000, 1001, …
    expect(keys.slice(0, 400).every((k) => k < 1000)).toBe(true)
    expect(keys.slice(400, 500)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i))
    expect(keys.slice(900, 1000)).toEqual(Array.from({ length: 100 }, (_, i) => 1100 + i))
    expect(keys.filter((k) => k >= 1000).length).toBe(600)
  })

  it('shifting moves the hot set every phase', () => {
    const keys = take('shifting:hot=10:phase=1000:requests=3000:share=0.9:n=1000', 1)
    for (let phase = 0; phase < 3; phase++) {
      const slice = keys.slice(phase * 1000, (phase + 1) * 1000)
      const hot = slice.filter((k) => k >= 1000 + phase * 10 && k < 1000 + (phase + 1) * 10).length
      expect(hot).toBeGreaterThan(850)
      expect(slice.filter((k) => k >= 1000).length).toBe(hot)
    }
  })

  it('cdn sends about `onehit` of the requests to keys seen exactly once', () => {
    const keys = take('cdn:0.8:1000:100000:onehit=0.4', 1)
    const fresh = keys.filter((k) => k >= 1000)
    expect(new Set(fresh).size).toBe(fresh.length)
    expect(Math.abs(fresh.length / keys.length - 0.4)).toBeLessThan(0.01)
  })
})
