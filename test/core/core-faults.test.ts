/**
 * Faults and bad input at the cache core's entry points (docs/architecture.md, "The parts of the
 * core"): each test pins a defect found by a fault hunt — a wrong value served, a refused call
 * that had already changed something, a valid caller failed by another's bad input.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache, MemoryRemoteTier } from '../../dist/index.js'

const caches: Cache[] = []
function open(options: CacheOptions): Cache {
  const cache = createCache(options)
  caches.push(cache)
  return cache
}
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

describe('set with a TTL of 0', () => {
  it('removes the L2 copy of the old value: no instance reads it back afterwards', async () => {
    const tier = new MemoryRemoteTier()
    const writer = open({ namespace: 'n', l2: { tier } })
    await writer.set('k', 'v1')
    await writer.set('k', 'v2', { ttl: 0 })
    // An instance that starts now (or one whose bus reconnected and forgot what it heard) reads the L2.
    const later = open({ namespace: 'n', l2: { tier } })
    expect(await later.get('k')).toBeUndefined()
    expect(await writer.get('k', { skipL1: true })).toBeUndefined()
  })
})
