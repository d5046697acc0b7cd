import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Cache, createCache } from '../../src/index.js'
import { manualClock } from '../helpers/clock.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

/**
 * health()'s counter-derived rates across a restart of a real redis-server this file starts: a
 * restarted Redis counts from 0 again, and its new count may already exceed the old one.
 */
const server = useRedisServer()
const open: Cache[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()))
})
const track = (cache: Cache): Cache => {
  open.push(cache)
  return cache
}
const WINDOW = 60_000

/** Redis' evicted_keys and run_id, read directly. */
async function stats(): Promise<{ evicted: number; run: string }> {
  const info = String(await server().command('INFO'))
  return {
    evicted: Number(/evicted_keys:(\d+)/.exec(info)?.[1]),
    run: String(/run_id:(\w+)/.exec(info)?.[1]),
  }
}

/** Fills Redis past a maxmemory just above its use with `count` 20 KB values (it evicts most). */
async function evict(count: number): Promise<void> {
  await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
  const used = Number(/used_memory:(\d+)/.exec(String(await server().command('INFO', 'memory')))?.[1])
  await server().command('CONFIG', 'SET', 'maxmemory', String(used + 512 * 1024))
  const value = 'x'.repeat(20_000)
  for (let i = 0; i < count; i++) await server().command('SET', `evict:${i}`, value)
}

describe('Redis evictions across a restart whose new count exceeds the old one', () => {
  it('counts every eviction of the new run, not only those beyond the old count', async () => {
    const clock = manualClock()
    const cache = track(
      createCache({
        namespace: uniqueNamespace('restart'),
        clock,
        l1: false,
        l2: { redis: server().url },
        observability: { window: WINDOW },
      }),
    )
    await evict(40)
    const old = await stats()
    expect(old.evicted).toBeGreaterThan(5)
    // The window's first figures: the old run's count.
    expect((await cache.health()).l2?.memory).toBeDefined()

    await server().restart()
    await evict(160)
    const fresh = await stats()
    expect(fresh.run).not.toBe(old.run)
    // The restart's trap: more than before, so the count alone shows no restart.
    expect(fresh.evicted).toBeGreaterThan(old.evicted)

    clock.advance(10_000)
    // The cache's connection comes back on its own: until it does, the figures are unknown.
    await vi.waitFor(async () => expect((await cache.health()).l2?.memory).toBeDefined(), { timeout: 10_000 })
    const health = await cache.health()
    // Over the 10 s since the first figures: every eviction of the new run (Redis may still evict
    // in the background: at most what it says after the call).
    const evicted = Math.round((health.l2?.memory?.evictedKeysPerSecond ?? 0) * 10)
    expect(evicted).toBeGreaterThanOrEqual(fresh.evicted)
    expect(evicted).toBeLessThanOrEqual((await stats()).evicted)
  })
})
