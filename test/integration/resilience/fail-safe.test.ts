/**
 * F8/F9 (fail-safe, factory timeouts): when the origin fails, a stale value within grace stands in
 * and the origin is retried at most once per failSafeBackoff; without one, the caller gets a typed
 * error. A hard timeout aborts the factory; a soft timeout serves stale and lets the factory finish.
 */
import { describe, expect, it } from 'vitest'
import {
  type Cache,
  type CacheOptions,
  createCache,
  FactoryError,
  FactoryHardTimeoutError,
  type StrataError,
} from '../../../dist/index.js'
import { closeAfterEach, deferred, pollUntil, timed } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { recordProcessFaults } from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()
/** Scheduling slack on top of a timer (two CI cores, another suite running beside this one). */
const MARGIN_MS = 200
/** A read answered from the L1 (fresh or stale) takes microseconds; this one waited for a load. */
const READ_BOUND_MS = 20

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

describe('fail-safe and factory timeouts over a real Redis L2', () => {
  const track = closeAfterEach()
  const open = (namespace: string, options: CacheOptions = {}) =>
    track(createCache({ namespace, jitter: 0, l2: { redis: server().url, timeout: '500ms' }, ...options }))

  it('when the factory starts throwing, callers keep getting the stale value within grace (0 errors) and the origin is retried at most once per failSafeBackoff', async () => {
    const TTL_MS = 300
    const BACKOFF_MS = 500
    const WINDOW_MS = 3000
    const cache = open(uniqueNamespace('fail-safe'), { grace: '1h', failSafeBackoff: `${BACKOFF_MS}ms` })
    let failing = false
    let version = 1
    const origin = new Error('origin down')
    const calls: { at: number; failed: boolean }[] = []
    const factory = async () => {
      calls.push({ at: performance.now(), failed: failing })
      if (failing) throw origin
      return { v: version }
    }
    const errorEvents: { staleServed: boolean; cause: unknown }[] = []
    cache.on('factory-error', (e) =>
      errorEvents.push({ staleServed: e.staleServed, cause: (e.error as Error).cause }),
    )
    const read = () => cache.getOrSet({ key: 'k', factory, ttl: TTL_MS })

    expect(await read()).toEqual({ v: 1 })
    failing = true
    version = 2
    const failingSince = performance.now()
    let reads = 0
    let errors = 0
    let slowest = 0
    const answers = new Set<string>()
    while (performance.now() - failingSince < WINDOW_MS) {
      const r = await timed(read)
      reads++
      if (r.ok) answers.add(JSON.stringify(r.value))
      else errors++
      slowest = Math.max(slowest, r.ms)
      await delay(2)
    }

    // Every caller got the stale value, at once; none saw the origin's error.
    expect(errors).toBe(0)
    expect([...answers]).toEqual([JSON.stringify({ v: 1 })])
    expect(slowest).toBeLessThan(READ_BOUND_MS)
    // The origin was retried, but no more often than the backoff allows.
    const retries = calls.filter((c) => c.failed)
    expect(retries.length).toBeGreaterThanOrEqual(2)
    expect(retries.length).toBeLessThanOrEqual(Math.ceil(WINDOW_MS / BACKOFF_MS) + 1)
    const gaps = retries.slice(1).map((c, i) => c.at - (retries[i] as { at: number }).at)
    // The cache measures the backoff on its coarse clock (src/base/clock.ts), which can lag real time
    // by a few ms on a busy event loop: 10 ms of slack.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(BACKOFF_MS - 10)
    const stats = cache.stats()
    expect(stats.failSafeServed).toBe(retries.length)
    expect(stats.factoryErrors).toBe(retries.length)
    expect(errorEvents).toHaveLength(retries.length)
    for (const event of errorEvents) expect(event).toEqual({ staleServed: true, cause: origin })
    console.log(
      `[fail-safe] ${reads} reads over ${WINDOW_MS} ms of failures: 0 errors, ${retries.length} origin calls, gaps ${gaps.map((g) => g.toFixed(0)).join('/')} ms (backoff ${BACKOFF_MS}), slowest read ${slowest.toFixed(2)} ms`,
    )

    // The origin recovers: the next retry (within one backoff) stores its value.
    failing = false
    const recovered = await pollUntil(async () => (await read()).v === 2, BACKOFF_MS + MARGIN_MS)
    expect(recovered).toBe(true)
    expect(faults()).toEqual([])
  })

  it('without a stale value, the error reaches every caller typed: E_FACTORY with the thrown error as cause (or the ctx.fail reason)', async () => {
    const namespace = uniqueNamespace('no-stale')
    const cache = open(namespace)
    const boom = new Error('origin down')
    let calls = 0
    const factory = async () => {
      calls++
      await delay(20)
      throw boom
    }
    const settled = await Promise.all(
      Array.from({ length: 20 }, () =>
        cache.getOrSet({ key: 'cold', factory }).then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    )
    expect(calls).toBe(1)
    for (const error of settled) {
      expect(error).toBeInstanceOf(FactoryError)
      expect(error).toMatchObject({ code: 'E_FACTORY', key: 'cold', cause: boom })
    }
    // Nothing was cached: not the error, not a placeholder.
    expect(await server().command('EXISTS', `${namespace}:v1:cold`)).toBe(0)

    const declined = await cache
      .getOrSet({ key: 'declined', factory: (ctx) => ctx.fail('upstream 503') })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(declined).toMatchObject({ code: 'E_FACTORY', cause: 'upstream 503' })
    expect(faults()).toEqual([])
  })

  it('a value past its grace does not stand in: the factory’s error propagates as E_FACTORY', async () => {
    const TTL_MS = 100
    const GRACE_MS = 200
    const cache = open(uniqueNamespace('past-grace'), { grace: `${GRACE_MS}ms`, failSafeBackoff: '1s' })
    expect(await cache.getOrSet({ key: 'k', factory: () => 'old', ttl: TTL_MS })).toBe('old')
    // The scenario: the value ages past its TTL and its grace (in the L1 and in Redis).
    await delay(TTL_MS + GRACE_MS + 50)
    const boom = new Error('origin down')
    const r = await timed(() =>
      cache.getOrSet({
        key: 'k',
        factory: () => {
          throw boom
        },
        ttl: TTL_MS,
      }),
    )
    expect(r.ok).toBe(false)
    expect(r.error).toMatchObject({ code: 'E_FACTORY', cause: boom })
    expect(cache.stats().failSafeServed).toBe(0)
    expect(faults()).toEqual([])
  })

  it('a hard timeout rejects with E_FACTORY_HARD_TIMEOUT after ~hard, aborts ctx.signal, caches nothing and frees the key’s lock', async () => {
    const HARD_MS = 200
    const namespace = uniqueNamespace('hard')
    const cache = open(namespace, { lock: { ttl: '5s' } })
    const timeouts: string[] = []
    cache.on('factory-timeout', (e) => timeouts.push(e.kind))
    let signal: AbortSignal | undefined
    const aborted = deferred<number>()
    const start = performance.now()
    const r = await timed(() =>
      cache.getOrSet({
        key: 'slow',
        timeout: { hard: `${HARD_MS}ms` },
        factory: (ctx) => {
          signal = ctx.signal
          ctx.signal.addEventListener('abort', () => aborted.resolve(performance.now() - start))
          // An origin that never answers on its own.
          return new Promise<string>(() => {})
        },
      }),
    )
    expect(r.ok).toBe(false)
    expect(r.error).toBeInstanceOf(FactoryHardTimeoutError)
    expect((r.error as StrataError).code).toBe('E_FACTORY_HARD_TIMEOUT')
    expect(r.ms).toBeGreaterThanOrEqual(HARD_MS - 1)
    expect(r.ms).toBeLessThan(HARD_MS + MARGIN_MS)
    expect(signal?.aborted).toBe(true)
    expect(signal?.reason).toBe(r.error)
    const abortedAfter = await aborted.promise
    expect(abortedAfter).toBeLessThan(HARD_MS + MARGIN_MS)
    expect(timeouts).toEqual(['hard'])
    expect(cache.peek('slow')).toBeUndefined()
    expect(await server().command('EXISTS', `${namespace}:v1:slow`)).toBe(0)
    // Another process need not wait for the 5 s lock TTL: the lock was released.
    expect(
      await pollUntil(
        async () => (await server().command('EXISTS', `!lock:${namespace}:v1:slow`)) === 0,
        1000,
      ),
    ).toBe(true)
    console.log(
      `[hard timeout] rejected after ${r.ms.toFixed(0)} ms (hard ${HARD_MS}), signal aborted after ${abortedAfter.toFixed(0)} ms`,
    )
    expect(faults()).toEqual([])
  })

  it('a soft timeout with a stale value returns the stale value after ~soft; the factory finishes in the background and the cache (both tiers) then holds its value', async () => {
    const TTL_MS = 200
    const SOFT_MS = 100
    const FACTORY_MS = 400
    const namespace = uniqueNamespace('soft')
    const cache = open(namespace, { grace: '1h', timeout: { soft: `${SOFT_MS}ms` } })
    const events: string[] = []
    cache.on('factory-timeout', (e) => events.push(`timeout:${e.kind}`))
    cache.on('stale-served', (e) => events.push(`stale:${e.reason}`))
    expect(await cache.getOrSet({ key: 'k', factory: () => 'v1', ttl: TTL_MS })).toBe('v1')
    // Wait for the value to go stale: peek answers only fresh values.
    expect(await pollUntil(() => cache.peek('k') === undefined, TTL_MS + MARGIN_MS)).toBe(true)

    const finished = deferred<number>()
    const start = performance.now()
    let calls = 0
    const r = await timed(() =>
      cache.getOrSet({
        key: 'k',
        ttl: TTL_MS * 10,
        factory: async () => {
          calls++
          await delay(FACTORY_MS)
          finished.resolve(performance.now() - start)
          return 'v2'
        },
      }),
    )
    expect(r.value).toBe('v1')
    expect(r.ms).toBeGreaterThanOrEqual(SOFT_MS - 1)
    expect(r.ms).toBeLessThan(SOFT_MS + MARGIN_MS)
    expect(events).toEqual(['timeout:soft', 'stale:soft-timeout'])

    const factoryMs = await finished.promise
    expect(await pollUntil(() => cache.peek('k') === 'v2', MARGIN_MS)).toBe(true)
    expect(calls).toBe(1)
    // Written through to Redis: another instance reads the new value from the L2.
    const other: Cache = open(namespace)
    expect(await other.get('k')).toBe('v2')
    expect(other.stats().l2Hits).toBe(1)
    console.log(
      `[soft timeout] stale returned after ${r.ms.toFixed(0)} ms (soft ${SOFT_MS}); factory finished after ${factoryMs.toFixed(0)} ms and its value was stored`,
    )
    expect(faults()).toEqual([])
  })
})
