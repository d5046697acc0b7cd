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
