import { describe, expect, it, vi } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'
import { encodeEnvelope, TaggedJsonSerializer } from '../../dist/serialization/index.js'
import { CLIENTS, closeAfterEach, deferred } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

// The invalidation scenarios shared by one Redis and a Redis Cluster (delete over the bus, tags,
// fail-closed and bounded markers, deleteMatching, clear, leases, a killed subscriber) live in
// cluster.test.ts, which runs them on both. This file keeps what only makes sense on one server:
// the flat cost at 1,000,000 keys, the naive cache-aside race beside ours, and a Redis restart.

describe.each(CLIENTS)('invalidation on a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = async (namespace: string, extra: CacheOptions = {}) => {
    const cache = track(createCache({ namespace, jitter: 0, l2: { redis: server().url, client }, ...extra }))
    await cache.ready()
    return cache
  }

  it('invalidating a tag costs the same for 1 tagged key as for 1,000,000', async () => {
    const namespace = uniqueNamespace('flat')
    const a = await open(namespace)
    await a.set('one', 1, { tags: ['single'] })
    // 1,000,000 entries tagged 'million', written straight into Redis in pipelined batches.
    await a.set('seed', 0, { tags: ['million'], ttl: '1h' }) // creates the tag's marker
    await new Promise((resolve) => setTimeout(resolve, 2)) // entries strictly younger than the marker
    const payload = new TaggedJsonSerializer().encode({ n: 1 })
    const now = Date.now()
    const bytes = encodeEnvelope({ createdAt: now, expiresAt: now + 3_600_000, tags: ['million'], payload })
    const batch = 10_000
    try {
      for (let i = 0; i < 1_000_000; i += batch) {
        const args: (string | Buffer)[] = []
        for (let j = i; j < i + batch; j++) args.push(`${namespace}:v1:m${j}`, bytes)
        await server().commandBuffer('MSET', ...args)
      }
      expect(await a.get('m999999')).toEqual({ n: 1 })
      const time = async (tag: string) => {
        const started = performance.now()
        await a.invalidateTags([tag])
        return performance.now() - started
      }
      const single = await time('single')
      const million = await time('million')
      console.log(
        `invalidateTags: 1 tagged key ${single.toFixed(2)} ms, 1,000,000 tagged keys ${million.toFixed(2)} ms`,
      )
      expect(million).toBeLessThan(Math.max(10 * single, 50))
      const b = await open(namespace)
      expect(await b.get('m999999')).toBeUndefined()
      expect(await b.get('m0')).toBeUndefined()
    } finally {
      await server().command('FLUSHDB')
    }
  }, 120_000)
})

describe('the read/invalidate race, on a real Redis', () => {
  const track = closeAfterEach()

  /**
   * The interleaving of "Scaling Memcache" §3.2.1, forced: a load reads the source (v1), the
   * source changes to v2 and the cache entry is deleted, then the load writes what it read.
   */
  async function race(
    getOrSet: (load: () => Promise<string>) => Promise<string>,
    invalidate: () => Promise<void>,
  ) {
    let source = 'v1'
    const readDone = deferred()
    const resume = deferred()
    const loading = getOrSet(async () => {
      const read = source
      readDone.resolve()
      await resume.promise
      return read
    })
    await readDone.promise
    source = 'v2'
    await invalidate()
    resume.resolve()
    await loading
    return source
  }

  it('naive cache-aside (GET, load, SET) leaves the old value in Redis: the race is real', async () => {
    const namespace = uniqueNamespace('naive')
    const k = `${namespace}:k`
    const naiveGetOrSet = async (load: () => Promise<string>) => {
      const hit = await server().command('GET', k)
      if (hit !== null) return String(hit)
      const value = await load()
      await server().command('SET', k, value)
      return value
    }
    const truth = await race(naiveGetOrSet, async () => {
      await server().command('DEL', k)
    })
    expect(truth).toBe('v2')
    expect(await server().command('GET', k)).toBe('v1') // stale, until its TTL
  })

  it.each(CLIENTS)(
    'stratacache (client %s): the load’s old result is not written back, and every reader misses',
    async (client) => {
      const namespace = uniqueNamespace('lease')
      const options = { namespace, l2: { redis: server().url, client } } as const
      // The loading instance does not hear the bus: the delete's message, when it arrives first,
      // overtakes the load (also correct, by the other mechanism); here the lease alone must refuse it.
      const a = track(createCache({ ...options, bus: false }))
      const b = track(createCache(options))
      await Promise.all([a.ready(), b.ready()])
      await race(
        (load) => a.getOrSet({ key: 'k', factory: load }),
        () => b.delete('k'),
      )
      expect(a.stats().writesRefused).toBe(1)
      const c = track(createCache(options))
      expect(await c.get('k')).toBeUndefined()
      expect(a.peek('k')).toBeUndefined()
      expect(await a.getOrSet({ key: 'k', factory: () => 'v2' })).toBe('v2')
    },
  )

  it.each(CLIENTS)(
    'stratacache (client %s): the same holds for a tag invalidated during the load',
    async (client) => {
      const namespace = uniqueNamespace('lease-tag')
      const options = { namespace, l2: { redis: server().url, client } } as const
      const a = track(createCache(options))
      const b = track(createCache(options))
      await Promise.all([a.ready(), b.ready()])
      await race(
        (load) => a.getOrSet({ key: 'k', tags: ['t'], factory: load }),
        () => b.invalidateTags(['t']),
      )
      const c = track(createCache(options))
      expect(await c.get('k')).toBeUndefined()
      expect(a.peek('k')).toBeUndefined()
    },
  )
})

describe.each(CLIENTS)('bus cut on a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = async (namespace: string) => {
    const cache = track(createCache({ namespace, l2: { redis: server().url, client } }))
    await cache.ready()
    return cache
  }

  it('Redis restarted (empty) while entries sit in the L1: after the reconnect the L1 is dropped', async () => {
    const namespace = uniqueNamespace('restart')
    const a = await open(namespace)
    await a.set('k', 'before the restart', { tags: ['t'] })
    expect(a.peek('k')).toBe('before the restart')
    await server().restart()
    await vi.waitFor(() => expect(a.stats().busResyncs).toBeGreaterThan(0), { timeout: 10_000 })
    expect(a.peek('k')).toBeUndefined()
    expect(await a.get('k')).toBeUndefined()
  })
})
