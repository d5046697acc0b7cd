/**
 * The write-behind's cache entries, written by the log's append script (RedisStreamLog), take
 * their PX from pxOf as every other Redis write does. Its own copy of the rule sent a TTL of
 * 1e19 ms or more as written (past Redis's limit, or as '1e+22'): Redis refused the SET inside the
 * append script, so the write-behind set failed. Real redis-server, both clients.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/index.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const redis = useRedisServer()

describe.each(['ioredis', 'redis'] as const)('write-behind cache entries and their TTL (%s)', (client) => {
  const caches: Cache[] = []
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.close()))
  })
  const open = (namespace: string, ttl: number): Cache => {
    const cache = createCache({ namespace, ttl, jitter: 0, l2: { redis: redis().url, client } })
    caches.push(cache)
    return cache
  }

  it.each([
    ['1e300 ms', 1e300],
    ['1e22 ms', 1e22],
    ['1e19 ms (past Redis’s limit of 2^63 - 1 - now)', 1e19],
  ])(
    'a cache TTL of %s: the set is appended and its entry is in Redis, read by another instance',
    async (_name, ttl) => {
      const namespace = uniqueNamespace('wbttl')
      const writer = open(namespace, ttl)
      const reader = open(namespace, ttl)
      const wb = writer.writeBehind<{ v: number }>({ name: 'carts', maxDelay: 5, flush: async () => {} })
      await wb.set('cart:1', { v: 1 })
      expect(await reader.get('cart:1')).toEqual({ v: 1 })
      const [key] = (await redis().command('KEYS', `${namespace}:*cart:1`)) as string[]
      expect(Number(await redis().command('PTTL', key as string))).toBeGreaterThan(1e15)
      await wb.settled(10_000)
    },
  )
})
