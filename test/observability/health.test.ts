import { describe, expect, it } from 'vitest'
import {
  type CacheOptions,
  createCache,
  MemoryRemoteTier,
  type RemoteEntry,
  type RemoteTier,
} from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'

const WINDOW = 10_000

function setup(extra: CacheOptions = {}) {
  const clock = manualClock()
  const cache = createCache({
    namespace: 'health',
    jitter: 0,
    clock,
    ttl: '1h',
    observability: { window: WINDOW },
    ...extra,
  })
  return { clock, cache }
}

const names = (health: { alerts: readonly { name: string }[] }) => health.alerts.map((a) => a.name)

/** An L2 whose reads take `delayMs` of real time while `slow` is on, and fail while `failing` is (a chaos wrapper). */
class ChaosTier implements RemoteTier {
  readonly name = 'chaos'
  slow = false
  failing = false
  constructor(
    readonly inner: MemoryRemoteTier,
    readonly delayMs: number,
  ) {}
  async get(key: string) {
    if (this.failing) throw new Error('connection refused')
    if (this.slow) await new Promise((resolve) => setTimeout(resolve, this.delayMs))
    return this.inner.get(key)
  }
  getMany(keys: readonly string[]) {
    return this.inner.getMany(keys)
  }
  set(key: string, value: Uint8Array, ttlMs: number) {
    return this.inner.set(key, value, ttlMs)
  }
  setMany(entries: readonly RemoteEntry[]) {
    return this.inner.setMany(entries)
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys)
  }
  deleteByPrefix(prefix: string, pattern?: string) {
    return this.inner.deleteByPrefix(prefix, pattern)
  }
  ping() {
    return this.inner.ping()
  }
  close() {
    return this.inner.close()
  }
}

describe('health(): alerts fire under their condition and clear when it ends', () => {
  it('is healthy with no traffic', async () => {
    const { cache } = setup()
    const health = await cache.health()
    expect(health.status).toBe('healthy')
    expect(health.alerts).toEqual([])
    expect(health.window.hitRatio).toBe(1)
  })

  it('low-hit-ratio: fires on a workload of distinct keys, clears once a hitting workload fills the window', async () => {
    // (latency is not this test's subject: a loaded machine may take 5 ms for a first call)
    const { clock, cache } = setup({ observability: { window: WINDOW, alerts: { p99Above: 10 } } })
    for (let i = 0; i < 200; i++) await cache.getOrSet({ key: `once:${i}`, factory: () => i })
    clock.advance(1000)
    const bad = await cache.health()
    expect(names(bad)).toEqual(['low-hit-ratio'])
    expect(bad.status).toBe('degraded')
    expect(bad.window.hitRatio).toBe(0)
    expect(bad.alerts[0]?.threshold).toBe(0.7)
    const since = bad.alerts[0]?.since

    clock.advance(1000)
    for (let i = 0; i < 50; i++) await cache.getOrSet({ key: 'hot', factory: () => 1 })
    // Still inside the window: still firing, with the time it started.
    const still = await cache.health()
    expect(names(still)).toEqual(['low-hit-ratio'])
    expect(still.alerts[0]?.since).toBe(since)

    clock.advance(WINDOW + 1)
    for (let i = 0; i < 200; i++) await cache.getOrSet({ key: 'hot', factory: () => 1 })
    const good = await cache.health()
    expect(good.alerts).toEqual([])
    expect(good.status).toBe('healthy')
    expect(good.window.hitRatio).toBe(1)
  })

  it('does not judge the hit ratio on fewer reads than alerts.minReads', async () => {
    const { clock, cache } = setup({ observability: { window: WINDOW, alerts: { p99Above: 10 } } })
    for (let i = 0; i < 99; i++) await cache.getOrSet({ key: `once:${i}`, factory: () => i })
    clock.advance(1000)
    expect(names(await cache.health())).toEqual([])
  })

  it('evictions-high and memory-high (L1): fire while a small L1 churns, clear when it stops', async () => {
    const { clock, cache } = setup({
      l1: { maxEntries: 10 },
      observability: { window: WINDOW, alerts: { p99Above: 10 } },
    })
    for (let i = 0; i < 500; i++) await cache.set(`k:${i}`, i)
    clock.advance(1000)
    const churning = await cache.health()
    expect(names(churning)).toEqual(['memory-high', 'evictions-high'])
    expect(churning.window.evictionsPerSecond).toBe(490)
    expect(churning.l1).toEqual({
      entries: 10,
      bytes: expect.any(Number),
      maxEntries: 10,
      maxBytes: Infinity,
      usage: 1,
    })

    clock.advance(WINDOW + 1)
    await cache.health()
    clock.advance(1000)
    const calm = await cache.health()
    expect(calm.alerts).toEqual([])
    // Full but not evicting: that is what an L1 is for.
    expect(calm.l1?.usage).toBe(1)
  })

  it('honours configured thresholds', async () => {
    const { clock, cache } = setup({
      l1: { maxEntries: 10 },
      observability: {
        window: WINDOW,
        alerts: { evictionsPerSecondAbove: 1000, memoryAbove: 1, p99Above: 10 },
      },
    })
    for (let i = 0; i < 500; i++) await cache.set(`k:${i}`, i)
    clock.advance(1000)
    expect(names(await cache.health())).toEqual([])
  })

  it('latency-high: fires while the L2 is slow, clears once fast reads fill the window', async () => {
    const clock = manualClock()
    const tier = new ChaosTier(new MemoryRemoteTier({ clock }), 20)
    const cache = createCache({
      namespace: 'health',
      clock,
      l1: false,
      l2: { tier },
      lock: false,
      observability: { window: WINDOW },
    })
    await cache.set('k', 1)
    tier.slow = true
    for (let i = 0; i < 20; i++) await cache.getOrSet({ key: 'k', factory: () => 1 })
    const slow = await cache.health()
    expect(names(slow)).toContain('latency-high')
    expect(slow.window.p99).toBeGreaterThan(0.015)

    tier.slow = false
    clock.advance(WINDOW + 1)
    await cache.health()
    for (let i = 0; i < 200; i++) await cache.getOrSet({ key: 'k', factory: () => 1 })
    const fast = await cache.health()
    expect(names(fast)).not.toContain('latency-high')
    expect(fast.window.p99).toBeLessThan(0.005)
    await cache.close()
  })

  it('l2-unavailable: fires while the breaker is open; the status is unhealthy when there is no L1 to fall back on', async () => {
    const clock = manualClock()
    const tier = new ChaosTier(new MemoryRemoteTier({ clock }), 0)
    const cache = createCache({
      namespace: 'health',
      clock,
      l1: false,
      l2: { tier, breaker: { threshold: 1, breakDuration: '1h' } },
      lock: false,
    })
    tier.failing = true
    await cache.get('k')
    const down = await cache.health()
    expect(names(down)).toContain('l2-unavailable')
    expect(down.l2?.breaker).toBe('open')
    expect(down.status).toBe('unhealthy')
    await cache.close()
  })

  it('is unhealthy once closed', async () => {
    const { cache } = setup()
    await cache.close()
    expect((await cache.health()).status).toBe('unhealthy')
  })

  it('rejects unknown thresholds and out-of-range values at construction', () => {
    expect(() => createCache({ observability: { alerts: { hitRatio: 0.5 } as never } })).toThrow(
      /hitRatioBelow/,
    )
    expect(() => createCache({ observability: { alerts: { hitRatioBelow: 2 } } })).toThrow(/hitRatioBelow/)
    expect(() => createCache({ observability: { window: -1 } })).toThrow(/window/)
  })
})
