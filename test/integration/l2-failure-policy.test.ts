import { afterEach, describe, expect, it } from 'vitest'
import { type CacheOptions, createCache, L2Error, StrataError } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const TIMEOUT_MS = 1000

/**
 * One L2-failure policy for every change (src/core/remote-tier.ts, L2_FAILURE_POLICY): during a
 * Redis outage, invalidateTags, deleteMatching and clear follow `l2.writeErrors` like delete.
 */
describe.each(CLIENTS)('the L2 failure policy during an outage (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (
    writeErrors: 'suppress' | 'throw',
    l2: Partial<Exclude<CacheOptions['l2'], false | undefined>> = {},
  ) =>
    track(
      createCache({
        namespace: uniqueNamespace(`policy-${writeErrors}`),
        jitter: 0,
        l2: { redis: server().url, client, timeout: `${TIMEOUT_MS}ms`, breaker: false, writeErrors, ...l2 },
      }),
    )
  afterEach(async () => {
    if (server().spawned && server().pid === undefined) await server().restart()
  })

  it('an l2.timeout longer than a Node timer can hold (30 days) waits for a slow Redis instead of expiring after 1 ms', async () => {
    const cache = open('throw', { timeout: '30d' })
    await cache.ready()
    const reader = track(
      createCache({
        namespace: cache.name,
        jitter: 0,
        l1: false,
        l2: { redis: server().url, client, timeout: '30d' },
      }),
    )
    await reader.ready()
    await cache.set('k', 'v')
    server().pause()
    const read = reader.get('k')
    const write = cache.set('k2', 'w')
    // Slower than 1 ms: the reply comes once Redis runs again.
    await new Promise((resolve) => setTimeout(resolve, 50))
    server().resume()
    await expect(read).resolves.toBe('v')
    await expect(write).resolves.toBeUndefined()
    expect(reader.stats().l2Errors + cache.stats().l2Errors).toBe(0)
  })

  it("with writeErrors 'suppress', invalidateTags, deleteMatching and clear resolve; the L1 is updated and a repair is queued", async () => {
    const cache = open('suppress')
    await cache.ready()
    await cache.set('user:1', 'a', { tags: ['users'] })
    await cache.set('post:1', 'b')
    await cache.set('other', 'c')
    await server().kill()
    const queued = cache.stats().l2RepairsQueued

    await expect(cache.invalidateTags(['users'])).resolves.toBeUndefined()
    expect(cache.peek('user:1')).toBeUndefined()
    await expect(cache.deleteMatching('post:*')).resolves.toBe(1)
    expect(cache.peek('post:1')).toBeUndefined()
    await expect(cache.clear()).resolves.toBeUndefined()
    expect(cache.peek('other')).toBeUndefined()
    expect(cache.stats().l2RepairsQueued - queued).toBe(3)
  })

  it("with writeErrors 'suppress', what an invalidation could not record is applied once Redis answers", async () => {
    const cache = open('suppress')
    await cache.ready()
    await cache.set('user:1', 'a', { tags: ['users'] })
    server().pause()
    await cache.invalidateTags(['users'])
    expect(cache.stats().l2RepairsQueued).toBe(1)
    server().resume()
    // The next write that reaches Redis replays the queued invalidation.
    await cache.set('ping', 1)
    await expect.poll(() => cache.stats().l2Repairs, { timeout: 5000 }).toBe(1)
    const reader = track(
      createCache({ namespace: cache.name, jitter: 0, l2: { redis: server().url, client, timeout: '1s' } }),
    )
    await expect(reader.get('user:1')).resolves.toBeUndefined()
    await expect(reader.get('ping')).resolves.toBe(1)
  })

  it.each(['invalidateTags', 'deleteMatching', 'clear'] as const)(
    "with writeErrors 'throw', %s rejects with an L2 error code within the deadline; the L1 is updated regardless",
    async (operation) => {
      const cache = open('throw')
      await cache.ready()
      await cache.set('user:1', 'a', { tags: ['users'] })
      await server().kill()
      const started = performance.now()
      const call =
        operation === 'invalidateTags'
          ? cache.invalidateTags(['users'])
          : operation === 'deleteMatching'
            ? cache.deleteMatching('user:*')
            : cache.clear()
      const error = await call.then(
        () => undefined,
        (thrown: unknown) => thrown,
      )
      expect(error).toBeInstanceOf(StrataError)
      expect(['E_L2', 'E_L2_TIMEOUT', 'E_L2_UNAVAILABLE']).toContain((error as StrataError).code)
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 1000)
      expect(cache.peek('user:1')).toBeUndefined()
    },
  )

  it("with writeErrors 'throw', a set and a delete Redis missed reject and are still repaired once it answers: no instance reads the value they replaced", async () => {
    const cache = open('throw')
    await cache.ready()
    await cache.set('user:1', 'old')
    await cache.set('user:2', 'old')
    server().pause()
    await expect(cache.set('user:1', 'new')).rejects.toBeInstanceOf(StrataError)
    await expect(cache.delete('user:2')).rejects.toBeInstanceOf(StrataError)
    server().resume()
    // The next write that reaches Redis runs the queued repairs (the caller need not retry).
    await cache.set('ping', 1)
    await expect.poll(() => cache.stats().l2Repairs, { timeout: 5000 }).toBe(2)
    const reader = track(
      createCache({ namespace: cache.name, jitter: 0, l2: { redis: server().url, client, timeout: '1s' } }),
    )
    await expect(reader.get('user:1')).resolves.toBeUndefined()
    await expect(reader.get('user:2')).resolves.toBeUndefined()
    // A retry after the failure is newer than the repair: it stands.
    await cache.set('user:1', 'retried')
    await expect(reader.get('user:1', { skipL1: true })).resolves.toBe('retried')
  })

  it("an L2 error's message is stratacache's own and the client's error is its cause", async () => {
    const cache = open('throw')
    await cache.ready()
    await cache.set('k', 1)
    await server().kill()
    const error = await cache.set('k', 2).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(StrataError)
    const failure = error as StrataError
    if (failure instanceof L2Error && failure.code === 'E_L2') {
      expect(failure.message).toMatch(/^The L2 set failed/)
      expect(failure.cause).toBeInstanceOf(Error)
      // The client's words stay in the cause, not in our message.
      expect(failure.message).not.toContain((failure.cause as Error).message)
    } else {
      // A deadline or an open breaker: ours from the start, naming what to do.
      expect(failure.message).toMatch(/l2\.timeout|Redis/)
    }
  })
})

describe('stats() on a real Redis: exact hits, misses and l2Misses for a scripted sequence', () => {
  const track = closeAfterEach()

  it('a cold getOrSet counts one L2 miss (the lock re-read is not a second); hits = l1Hits + l2Hits', async () => {
    const namespace = uniqueNamespace('exact-stats')
    const l2 = { redis: server().url, timeout: '1s' as const }
    const writer = track(createCache({ namespace, jitter: 0, l2 }))
    const reader = track(createCache({ namespace, jitter: 0, l2 }))
    await Promise.all([writer.ready(), reader.ready()])
    await writer.getOrSet({ key: 'a', factory: () => 'A' }) // cold: L1 miss, one L2 miss, factory
    await writer.getOrSet({ key: 'a', factory: () => 'A' }) // L1 hit
    await reader.getOrSet({ key: 'a', factory: () => 'never' }) // L1 miss, L2 hit
    await reader.getOrSet({ key: 'a', factory: () => 'never' }) // L1 hit
    await writer.get('nothing') // L1 miss, L2 miss, miss

    const w = writer.stats()
    expect({
      hits: w.hits,
      l1Hits: w.l1Hits,
      l2Hits: w.l2Hits,
      l2Misses: w.l2Misses,
      misses: w.misses,
    }).toEqual({
      hits: 1,
      l1Hits: 1,
      l2Hits: 0,
      l2Misses: 2,
      misses: 2,
    })
    const r = reader.stats()
    expect({
      hits: r.hits,
      l1Hits: r.l1Hits,
      l2Hits: r.l2Hits,
      l2Misses: r.l2Misses,
      misses: r.misses,
    }).toEqual({
      hits: 2,
      l1Hits: 1,
      l2Hits: 1,
      l2Misses: 0,
      misses: 0,
    })
  })
})
