import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { describe, expect, it, vi } from 'vitest'
import {
  type CacheOptions,
  createCache,
  EVENT_CHANNEL_NAME,
  type EventMessage,
  MemoryRemoteTier,
  OPERATION_CHANNEL_NAME,
  type OperationContext,
} from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'

function setup(extra: CacheOptions = {}) {
  const clock = manualClock()
  const tier = new MemoryRemoteTier({ clock })
  const cache = createCache({
    namespace: 'obs',
    jitter: 0,
    clock,
    ttl: 1000,
    l1: { maxEntries: 2, policy: 'lru' },
    l2: { tier },
    lock: false,
    ...extra,
  })
  return { clock, tier, cache }
}

describe('stats(): exact counters for a scripted sequence', () => {
  it('counts hits per tier, misses, evictions by cause, stale served and factory errors exactly', async () => {
    const { clock, cache } = setup({ grace: '10s' })
    const load = (key: string) => cache.getOrSet({ key, factory: () => `v-${key}` })

    await load('a') // miss: L1 and L2 miss, factory runs, both tiers written
    await load('a') // L1 hit
    await load('b') // miss
    await load('c') // miss; the L1 holds 2: LRU evicts 'a'
    await load('a') // L1 miss of an evicted key → L2 hit, back into the L1 (evicts 'b')
    clock.advance(1001)
    // 'c' and 'a' are past their TTL but within grace in the L1: stale served, refreshed in the background.
    await expect(load('c')).resolves.toBe('v-c')
    await vi.waitFor(() => expect(cache.stats().inFlight).toBe(0))
    await expect(
      cache.getOrSet({ key: 'd', factory: () => Promise.reject(new Error('origin down')) }),
    ).rejects.toThrow('origin down')
    await expect(cache.get('nothing')).resolves.toBeUndefined()

    const s = cache.stats()
    expect({
      l1Hits: s.l1Hits,
      l1Misses: s.l1Misses,
      l2Hits: s.l2Hits,
      l2Misses: s.l2Misses,
      misses: s.misses,
      staleServed: s.staleServed,
      factoryCalls: s.factoryCalls,
      factoryErrors: s.factoryErrors,
      l1Evictions: s.l1Evictions,
      missesAfterEviction: s.missesAfterEviction,
    }).toEqual({
      // 'a' once; the stale read of 'c' counts as a stale serve, not a hit.
      l1Hits: 1,
      // a, b, c, a (evicted), d, nothing
      l1Misses: 6,
      l2Hits: 1,
      // a, b, c, d, nothing (the refresh of 'c' finds a stale copy there: neither a hit nor a miss)
      l2Misses: 5,
      // a, b, c, d, nothing
      misses: 5,
      staleServed: 1,
      // a, b, c, the refresh of c, d
      factoryCalls: 5,
      factoryErrors: 1,
      // c evicts a; a evicts b; the refreshed c is an overwrite
      l1Evictions: 2,
      missesAfterEviction: 1,
    })
    expect(s.l1HitRatio).toBeCloseTo(1 / 7, 10)
    expect(s.l2HitRatio).toBeCloseTo(1 / 6, 10)
    expect(s.hitRatio).toBeCloseTo(2 / 7, 10)
  })

  it('counts an expired L1 entry that is read again as a miss after expiry', async () => {
    const { clock, cache } = setup({ l2: false })
    await cache.getOrSet({ key: 'k', factory: () => 1 })
    clock.advance(1001)
    await cache.getOrSet({ key: 'k', factory: () => 2 })
    const s = cache.stats()
    expect(s.l1Expirations).toBe(1)
    expect(s.missesAfterExpiry).toBe(1)
    expect(s.misses).toBe(2)
  })

  it('records latency per operation and tier, with L1 hits sampled one in hitSampling', async () => {
    const { cache } = setup({ observability: { hitSampling: 4 } })
    await cache.getOrSet({ key: 'k', factory: () => 1 })
    for (let i = 0; i < 40; i++) await cache.getOrSet({ key: 'k', factory: () => 1 })
    const series = cache.snapshot().latency
    const l1 = series.find((s) => s.operation === 'getOrSet' && s.tier === 'l1')
    const origin = series.find((s) => s.operation === 'getOrSet' && s.tier === 'origin')
    const factory = series.find((s) => s.operation === 'factory')
    // 41 calls: the 4th, 8th, … are timed (10 samples), each standing for 4 hits.
    expect(l1?.histogram.count).toBe(40)
    expect(origin?.histogram.count).toBe(1)
    expect(factory?.histogram.count).toBe(1)
    expect(l1?.histogram.counts.reduce((a, b) => a + b, 0)).toBe(40)
    expect(l1?.histogram.counts.length).toBe((l1?.histogram.bounds.length ?? 0) + 1)
    expect(l1?.p99).toBeGreaterThan(0)
  })

  it("times a write from its start: a set's synchronous part (encoding the value) is in its latency", async () => {
    const { cache } = setup({ l1: { maxEntries: 10 }, maxValueBytes: 64_000_000 })
    // Large enough that encoding it is most of the call (tens of ms), none of it awaited.
    const value = Array.from({ length: 200_000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] }))
    const started = performance.now()
    await cache.set('big', value)
    const elapsed = (performance.now() - started) / 1000
    const set = cache.snapshot().latency.find((s) => s.operation === 'set' && s.tier === 'all')
    expect(set?.histogram.count).toBe(1)
    expect(set?.histogram.sum).toBeGreaterThan(elapsed * 0.5)
  })

  it('keeps no latency histograms and no recent reads with observability: false (counters stay)', async () => {
    const { cache } = setup({ observability: false })
    for (let i = 0; i < 10; i++) await cache.getOrSet({ key: 'k', factory: () => 1 })
    const snapshot = cache.snapshot()
    expect(snapshot.latency).toEqual([])
    expect(snapshot.hotKeyGroups).toEqual([])
    expect(snapshot.stats.l1Hits).toBe(9)
  })

  it('reports the hottest key groups with their ids replaced, never a raw key', async () => {
    const { cache } = setup({ l1: { maxEntries: 1000 } })
    for (let i = 0; i < 30; i++) await cache.getOrSet({ key: `product:${i % 10}`, factory: () => i })
    for (let i = 0; i < 10; i++) await cache.getOrSet({ key: `user:${1000 + i}:cart`, factory: () => i })
    const groups = cache.snapshot().hotKeyGroups
    expect(groups).toEqual([
      { group: 'product:{n}', count: 30, share: 0.75 },
      { group: 'user:{n}:cart', count: 10, share: 0.25 },
    ])
  })
})

describe('events', () => {
  it('emits hit, miss, set (explicit and loaded), delete, evict and expire to cache.on listeners', async () => {
    const { clock, cache } = setup({ l2: false })
    const seen: string[] = []
    cache.on('hit', (e) => seen.push(`hit:${e.key}:${e.tier}`))
    cache.on('miss', (e) => seen.push(`miss:${e.key}`))
    cache.on('set', (e) => seen.push(`set:${e.key}`))
    cache.on('delete', (e) => seen.push(`delete:${e.keys.join(',')}`))
    cache.on('evict', (e) => seen.push(`evict:${e.key}:${e.cause}`))
    cache.on('expire', (e) => seen.push(`expire:${e.key}`))
    await cache.getOrSet({ key: 'a', factory: () => 1 })
    await cache.getOrSet({ key: 'a', factory: () => 1 })
    await cache.set('b', 2)
    await cache.set('c', 3)
    await cache.delete('c')
    clock.advance(1001)
    expect(cache.peek('b')).toBeUndefined()
    expect(seen).toEqual([
      'miss:a',
      'set:a',
      'hit:a:l1',
      'set:b',
      'set:c',
      'evict:a:capacity',
      'delete:c',
      'expire:b',
    ])
  })

  it('publishes every event on the stratacache:event diagnostics channel', async () => {
    const { cache } = setup({ l2: false })
    const messages: EventMessage[] = []
    const listener = (message: unknown) => messages.push(message as EventMessage)
    subscribe(EVENT_CHANNEL_NAME, listener)
    try {
      await cache.set('k', 1)
    } finally {
      unsubscribe(EVENT_CHANNEL_NAME, listener)
    }
    expect(messages).toEqual([
      { cache: 'obs', name: 'set', event: { key: 'k' } },
      // A set replaces the value everywhere: one invalidation of the key, made here (issue 18).
      {
        cache: 'obs',
        name: 'invalidate',
        event: { kind: 'keys', origin: 'local', at: expect.any(Number), keys: ['k'] },
      },
    ])
  })
})

describe('the stratacache:operation tracing channel', () => {
  it('traces each call with the tier that answered, and the error of a failed one', async () => {
    const { cache } = setup()
    const ended: OperationContext[] = []
    const errors: OperationContext[] = []
    const handlers = {
      start() {},
      end() {},
      asyncStart() {},
      asyncEnd(context: unknown) {
        ended.push({ ...(context as OperationContext) })
      },
      error(context: unknown) {
        errors.push({ ...(context as OperationContext) })
      },
    }
    const { tracingChannel } = await import('node:diagnostics_channel')
    const channel = tracingChannel(OPERATION_CHANNEL_NAME)
    channel.subscribe(handlers)
    try {
      await cache.getOrSet({ key: 'k', factory: () => 1 })
      await cache.getOrSet({ key: 'k', factory: () => 1 })
      await cache.get('absent')
      await cache.set('s', 1)
      await cache.invalidateTags(['t'])
      await cache.getOrSet({ key: 'bad', factory: () => Promise.reject(new Error('boom')) }).catch(() => {})
    } finally {
      channel.unsubscribe(handlers)
    }
    expect(ended.map((c) => [c.operation, c.key, c.tier])).toEqual([
      ['getOrSet', 'k', 'origin'],
      ['getOrSet', 'k', 'l1'],
      ['get', 'absent', 'miss'],
      ['set', 's', 'all'],
      ['invalidate', 't', 'all'],
      // diagnostics_channel ends a rejected promise too (after its error event)
      ['getOrSet', 'bad', 'origin'],
    ])
    expect(errors).toHaveLength(1)
    expect(errors[0]?.key).toBe('bad')
    expect(String((errors[0]?.error as Error | undefined)?.message)).toContain('boom')
  })
})
