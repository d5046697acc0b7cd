import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache, MemoryRemoteTier, type RemoteInfo } from '../../src/index.js'
import { manualClock } from '../helpers/clock.js'

/**
 * What the report tells of the L2 from its INFO answers (src/core/report.ts): when figures were
 * read, and what is known before anything was asked.
 */
const open: Cache[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()))
})

/** A tier that answers INFO with one and the same object (a tier may memoize its answer), or fails. */
class InfoTier extends MemoryRemoteTier {
  readonly figures: RemoteInfo = {
    usedMemory: 1000,
    maxMemory: 100_000,
    maxMemoryPolicy: 'allkeys-lfu',
    evictedKeys: 0,
  }
  failing = false
  async info(): Promise<RemoteInfo> {
    if (this.failing) throw new Error('INFO failed')
    return this.figures
  }
}

function cacheOver(tier: MemoryRemoteTier) {
  const clock = manualClock()
  const cache = createCache({ namespace: 'report', clock, l2: { tier } })
  open.push(cache)
  return { clock, cache }
}

describe('Redis figures carry when they were read', () => {
  it('the same figures answered again are as old as their last answer, not their first', async () => {
    const tier = new InfoTier()
    const { clock, cache } = cacheOver(tier)
    const first = await cache.health()
    expect(first.l2?.memory?.readAt).toBe(clock())
    // 5 s later (past 3 times the 1 s floor of the cadence), the tier answers again, same object.
    clock.advance(5000)
    const again = await cache.health()
    expect(again.l2?.memory).toEqual({
      readAt: clock(),
      usedBytes: 1000,
      maxBytes: 100_000,
      policy: 'allkeys-lfu',
      usage: 0.01,
      evictedKeysPerSecond: 0,
    })
    expect(cache.snapshot().health.l2?.memory?.readAt).toBe(clock())
  })
})

describe('what the L2 is said to be before anything confirmed it', () => {
  it('snapshot() before any health() does not say connected; the first INFO answered does', async () => {
    const { cache } = cacheOver(new InfoTier())
    const before = cache.snapshot().health
    expect(before.l2?.connected).toBe(false)
    // Nothing failed either: no alert, no error, no figures.
    expect(before.alerts).toEqual([])
    expect(before.status).toBe('healthy')
    expect(before.l2?.memory).toBeUndefined()
    expect(before.l2?.error).toBeUndefined()

    const health = await cache.health()
    expect(health.l2?.connected).toBe(true)
    expect(cache.snapshot().health.l2?.connected).toBe(true)
  })

  it('an INFO that fails says not connected, with l2-unavailable', async () => {
    const tier = new InfoTier()
    tier.failing = true
    const { cache } = cacheOver(tier)
    const health = await cache.health()
    expect(health.l2?.connected).toBe(false)
    expect(health.alerts.map((a) => a.name)).toEqual(['l2-unavailable'])
  })

  it('a tier without INFO is judged by its breaker alone: connected from the start', async () => {
    const { cache } = cacheOver(new MemoryRemoteTier())
    expect(cache.snapshot().health.l2?.connected).toBe(true)
    expect((await cache.health()).l2?.connected).toBe(true)
  })
})

describe('diagnose() before anything confirmed Redis', () => {
  it('does not say Redis does not answer when it was never asked (a closed cache asks nothing)', async () => {
    const { cache } = cacheOver(new InfoTier())
    await cache.close()
    const diagnosis = await cache.diagnose()
    expect(diagnosis.findings.map((f) => f.kind)).not.toContain('l2-unavailable')
  })

  it('says so when Redis did not answer', async () => {
    const tier = new InfoTier()
    tier.failing = true
    const { cache } = cacheOver(tier)
    const diagnosis = await cache.diagnose()
    expect(diagnosis.findings.map((f) => f.kind)).toContain('l2-unavailable')
  })
})
