import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache, type Diagnosis, MemoryRemoteTier } from '../../dist/index.js'
import { MAX_SNAPSHOT_BYTES } from '../../dist/observability/publisher.js'
import { manualClock } from '../helpers/clock.js'

function setup(extra: CacheOptions = {}) {
  const clock = manualClock()
  const cache = createCache({ namespace: 'diag', jitter: 0, clock, l1: { maxEntries: 10_000 }, ...extra })
  return { clock, cache }
}

const kinds = (diagnosis: Diagnosis) => diagnosis.findings.map((f) => f.kind)

/** A deterministic Zipf-like key stream over `n` keys (rank r drawn with weight 1/r). */
function* zipfKeys(n: number, count: number, prefix: string): Generator<string> {
  const weights = Array.from({ length: n }, (_, r) => 1 / (r + 1))
  const total = weights.reduce((a, b) => a + b, 0)
  const cumulative: number[] = []
  let sum = 0
  for (const w of weights) {
    sum += w / total
    cumulative.push(sum)
  }
  let seed = 42
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    const u = seed / 2 ** 31
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cumulative[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    yield `${prefix}:${lo}`
  }
}

describe('diagnose(): explains a low hit ratio with evidence', () => {
  it('finds nothing to blame on a healthy workload', async () => {
    const { cache } = setup()
    for (let i = 0; i < 1000; i++) await cache.getOrSet({ key: `product:${i % 20}`, factory: () => i })
    const diagnosis = await cache.diagnose()
    expect(diagnosis.findings).toEqual([])
    expect(diagnosis.sampledReads).toBe(1000)
  })

  it('ttl-too-short: keys re-read every 10 s with a 1 s TTL', async () => {
    const { clock, cache } = setup({ ttl: '1s' })
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 20; i++) await cache.getOrSet({ key: `price:${i}`, factory: () => i })
      clock.advance(10_000)
    }
    const diagnosis = await cache.diagnose()
    const finding = diagnosis.findings.find((f) => f.kind === 'ttl-too-short')
    expect(finding?.evidence).toMatchObject({
      group: 'price:{n}',
      ttlMs: 1000,
      medianReuseMs: 10_000,
      reReadsAfterTtl: 1,
    })
    expect(finding?.evidence.missesAfterExpiry).toBeGreaterThan(0.9)
    expect(finding?.suggestion).toContain('10.0 s')
  })

  it('evictions-high: an L1 too small for a Zipf working set, with the size that would fix it', async () => {
    const { cache } = setup({ l1: { maxEntries: 50, policy: 'lru' } })
    for (const key of zipfKeys(2000, 20_000, 'item')) await cache.getOrSet({ key, factory: () => 1 })
    const diagnosis = await cache.diagnose()
    const finding = diagnosis.findings.find((f) => f.kind === 'evictions-high')
    expect(finding).toBeDefined()
    const evidence = finding?.evidence as Record<string, number>
    expect(evidence.maxEntries).toBe(50)
    expect(evidence.suggestedMaxEntries).toBeGreaterThan(50)
    expect(evidence.hitRatioSuggested).toBeGreaterThan((evidence.hitRatioNow as number) + 0.1)
    // The replay at the current size predicts what the cache measured on the same reads.
    expect(evidence.hitRatioNow).toBeCloseTo(cache.stats().l1HitRatio, 1)
  })

  it('evictions-high with an L2: the share is of the L1 misses (most are L2 hits), never above 100%', async () => {
    const { cache } = setup({ l1: { maxEntries: 50, policy: 'lru' }, l2: { tier: new MemoryRemoteTier() } })
    for (const key of zipfKeys(2000, 20_000, 'item')) await cache.getOrSet({ key, factory: () => 1 })
    const stats = cache.stats()
    // The case that printed 1268%: far more L1 evicted-key misses than misses of both tiers.
    expect(stats.missesAfterEviction).toBeGreaterThan(stats.misses)
    const finding = (await cache.diagnose()).findings.find((f) => f.kind === 'evictions-high')
    const share = finding?.evidence.missesAfterEviction as number
    expect(share).toBeCloseTo(stats.missesAfterEviction / stats.l1Misses, 6)
    expect(share).toBeLessThanOrEqual(1)
    const printed = Number(/^(\d+)% of L1 misses/.exec(finding?.message ?? '')?.[1])
    expect(printed).toBe(Math.round(share * 100))
  })

  it('cardinality-explosion: a timestamp in the key', async () => {
    const { clock, cache } = setup()
    for (let i = 0; i < 300; i++) {
      clock.advance(7)
      await cache.getOrSet({ key: `report:user-7:at-${Date.UTC(2026, 0, 1) + i * 7}`, factory: () => i })
    }
    const diagnosis = await cache.diagnose()
    const finding = diagnosis.findings.find((f) => f.kind === 'cardinality-explosion')
    expect(finding?.evidence).toMatchObject({
      group: 'report:user-{n}:at-{n}',
      distinctKeys: 300,
      reads: 300,
    })
  })

  it('near-duplicate-keys: the same data under keys built two ways', async () => {
    const { cache } = setup()
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 30; i++) {
        await cache.getOrSet({ key: `User:${i}`, factory: () => i })
        await cache.getOrSet({ key: `user:${i}`, factory: () => i })
      }
    }
    const diagnosis = await cache.diagnose()
    const finding = diagnosis.findings.find((f) => f.kind === 'near-duplicate-keys')
    expect(finding?.evidence.nearDuplicates).toBe(30)
    expect(finding?.message).toContain('User:{n} ~ user:{n}')
  })

  it('one-hit-wonders: most reads are of keys never read again', async () => {
    const { cache } = setup()
    for (let i = 0; i < 400; i++) {
      await cache.getOrSet({ key: `search:${i}`, factory: () => i })
      await cache.getOrSet({ key: `home:${i % 3}`, factory: () => i })
    }
    const diagnosis = await cache.diagnose()
    expect(kinds(diagnosis)).toContain('one-hit-wonders')
    const finding = diagnosis.findings.find((f) => f.kind === 'one-hit-wonders')
    expect(finding?.evidence).toMatchObject({ sampledReads: 800, readOnce: 400, shareOfReads: 0.5 })
  })

  it('never puts a raw key in a finding', async () => {
    const { cache } = setup({ l1: { maxEntries: 20, policy: 'lru' }, l2: { tier: new MemoryRemoteTier() } })
    for (const key of zipfKeys(500, 3000, 'secret-token-abc')) await cache.getOrSet({ key, factory: () => 1 })
    for (let i = 0; i < 200; i++)
      await cache.getOrSet({ key: `session:0d4c2a9e7b1f4c3a9e8d7c6b5a4f3e2${i % 10}`, factory: () => i })
    const text = JSON.stringify(await cache.diagnose())
    expect(text).not.toMatch(/secret-token-abc:\d/)
    expect(text).not.toContain('0d4c2a9e7b1f4c3a9e8d7c6b5a4f3e2')
  })

  it('stays small whatever keys it sees: 1,300 exploding key groups give a few findings, and the published snapshot fits its 256 KiB', async () => {
    // Keys a client chooses (a path segment in the key): each word its own group of 50 distinct
    // keys. One finding per group made a 590 KB diagnosis, so the instance's snapshot was too
    // large to publish and it vanished from the dashboard and `stratacache diagnose`.
    const { cache } = setup()
    const word = (n: number) => {
      let text = ''
      do {
        text += String.fromCharCode(97 + (n % 26))
        n = Math.floor(n / 26)
      } while (n > 0)
      return text
    }
    for (let group = 0; group < 1300; group++) {
      for (let i = 0; i < 50; i++) await cache.get(`page:${word(group)}:${i}`)
    }
    const diagnosis = await cache.diagnose()
    const explosions = diagnosis.findings.filter((f) => f.kind === 'cardinality-explosion')
    expect(explosions.length).toBeGreaterThan(0)
    expect(explosions.length).toBeLessThanOrEqual(10)
    expect(explosions[0]?.evidence.groupsWithFinding).toBe(1300)
    const published = Buffer.byteLength(JSON.stringify({ ...cache.snapshot(), diagnosis }))
    expect(published).toBeLessThanOrEqual(MAX_SNAPSHOT_BYTES)
  })
})
