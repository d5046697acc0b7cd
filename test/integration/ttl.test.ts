import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

describe.each(CLIENTS)('TTLs in a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (options: CacheOptions) =>
    track(createCache({ ...options, l2: { redis: server().url, client } }))

  it('an entry with ttl 150ms is gone from Redis once it expires', async () => {
    const namespace = uniqueNamespace('expire')
    const cache = open({ namespace, jitter: 0 })
    const storageKey = `${namespace}:v1:short`
    await cache.set('short', 'soon gone', { ttl: 150 })
    const pttl = (await server().command('PTTL', storageKey)) as number
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(150)

    const gone = await pollUntil(async () => (await server().command('GET', storageKey)) === null, 2000)
    expect(gone).toBe(true)
    expect(await server().command('PTTL', storageKey)).toBe(-2)
    // Another instance (no L1 copy) finds nothing.
    const other = open({ namespace, jitter: 0 })
    expect(await other.get('short')).toBeUndefined()
  })

  it("with jitter 0 a value's PX in Redis equals its TTL", async () => {
    const namespace = uniqueNamespace('px')
    const cache = open({ namespace, jitter: 0 })
    // PTTL counts down from the write: it may be lower by at most the time from the write to the read.
    let started = performance.now()
    await cache.set('exact', 1, { ttl: '10s' })
    const exact = (await server().command('PTTL', `${namespace}:v1:exact`)) as number
    expect(exact).toBeGreaterThanOrEqual(10_000 - Math.ceil(performance.now() - started) - 1)
    expect(exact).toBeLessThanOrEqual(10_000)
    started = performance.now()
    await cache.getOrSet({ key: 'loaded', ttl: 5000, factory: () => 2 })
    const loaded = (await server().command('PTTL', `${namespace}:v1:loaded`)) as number
    expect(loaded).toBeGreaterThanOrEqual(5000 - Math.ceil(performance.now() - started) - 1)
    expect(loaded).toBeLessThanOrEqual(5000)
  })

  it('with jitter 0.2 the PTTLs of 200 entries written with ttl 10s lie within [8000, 12000] and are spread', async () => {
    const namespace = uniqueNamespace('jitter')
    const cache = open({ namespace, jitter: 0.2 })
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
    const writing = performance.now()
    await Promise.all(keys.map((key) => cache.set(key, key, { ttl: '10s' })))
    const pttls = (await Promise.all(
      keys.map((key) => server().command('PTTL', `${namespace}:v1:${key}`)),
    )) as number[]
    // Redis counts down while we write and read: allow exactly the time that took.
    const elapsed = Math.ceil(performance.now() - writing)
    for (const pttl of pttls) {
      expect(pttl).toBeGreaterThanOrEqual(8000 - elapsed)
      expect(pttl).toBeLessThanOrEqual(12_000)
    }
    const min = Math.min(...pttls)
    const max = Math.max(...pttls)
    // ±20% of 10 s: 200 uniform draws span well over 2 s of the 4 s window.
    expect(max - min).toBeGreaterThan(2000)
    expect(new Set(pttls.map((p) => Math.round(p / 100))).size).toBeGreaterThan(20)
  })

  it("an L2 hit is backfilled into L1 with the entry's remaining TTL, not a fresh one", async () => {
    const namespace = uniqueNamespace('remaining')
    const t0 = Date.now()
    let clockB = t0
    const a = open({ namespace, jitter: 0, clock: () => t0 })
    const b = open({ namespace, jitter: 0, clock: () => clockB })
    await a.set('session', { user: 1 }, { ttl: '10s' })

    clockB = t0 + 6000
    let calls = 0
    const value = await b.getOrSet({
      key: 'session',
      ttl: '10s',
      factory: () => {
        calls++
        return { user: 'reloaded' }
      },
    })
    expect(value).toEqual({ user: 1 })
    expect(calls).toBe(0)
    expect(b.stats().l2Hits).toBe(1)
    expect(b.peek('session')).toEqual({ user: 1 })

    clockB = t0 + 9900
    expect(b.peek('session')).toEqual({ user: 1 })
    clockB = t0 + 10_100 // 6 s + 4.1 s: past A's expiry
    expect(b.peek('session')).toBeUndefined()
  })
})
