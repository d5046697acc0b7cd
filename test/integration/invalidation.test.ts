import { describe, expect, it, vi } from 'vitest'
import { type CacheOptions, createCache, key } from '../../dist/index.js'
import { encodeEnvelope, TaggedJsonSerializer } from '../../dist/serialization/index.js'
import { CLIENTS, closeAfterEach, deferred } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

describe.each(CLIENTS)('invalidation on a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = async (namespace: string, extra: CacheOptions = {}) => {
    const cache = track(createCache({ namespace, jitter: 0, l2: { redis: server().url, client }, ...extra }))
    await cache.ready()
    return cache
  }

  it('a delete in one instance reaches the L1 of another over pub/sub', async () => {
    const namespace = uniqueNamespace('bus')
    const a = await open(namespace)
    const b = await open(namespace)
    await a.set('k', 'v1')
    await vi.waitFor(() => expect(b.stats().busMessages).toBe(1)) // the set's own message
    expect(await b.get('k')).toBe('v1')
    await a.delete('k')
    await vi.waitFor(() => expect(b.peek('k')).toBeUndefined())
    expect(b.stats().busMessages).toBe(2)
  })

  it('invalidateTags reaches every instance and the L2; untagged and other-tag entries stay', async () => {
    const namespace = uniqueNamespace('tags')
    const a = await open(namespace)
    const b = await open(namespace)
    await a.set('p1', 1, { tags: ['products', 'tv'] })
    await a.set('p2', 2, { tags: ['products', 'audio'] })
    await a.set('u', 3)
    // Each set publishes: once b has heard them, only the invalidation can drop its copies.
    await vi.waitFor(() => expect(b.stats().busMessages).toBe(3))
    expect(await b.getMany(['p1', 'p2', 'u'])).toEqual([1, 2, 3])
    await a.invalidateTags(['tv'])
    await vi.waitFor(() => expect(b.peek('p1')).toBeUndefined())
    expect(b.peek('p2')).toBe(2)
    const c = await open(namespace)
    expect(await c.getMany(['p1', 'p2', 'u'])).toEqual([undefined, 2, 3])
  })

  it('tag markers deleted behind the cache’s back: the tagged entries read as misses, not stale hits', async () => {
    const namespace = uniqueNamespace('evicted')
    const a = await open(namespace)
    await a.set('p', 'value', { tags: ['t1', 't2'] })
    const markers = await server().scan(`!tag:${namespace}:*`)
    expect(markers.sort()).toEqual([`!tag:${namespace}:t1`, `!tag:${namespace}:t2`])
    await server().command('DEL', `!tag:${namespace}:t2`)
    const b = await open(namespace)
    expect(await b.get('p')).toBeUndefined()
    expect(b.stats().tagInvalidatedReads).toBe(1)
  })

  it('tag markers expire with the entries that use them (bounded metadata)', async () => {
    const namespace = uniqueNamespace('bounded')
    const a = await open(namespace)
    await a.set('p', 'v', { tags: ['t'], ttl: '10s' })
    const pttl = Number(await server().command('PTTL', `!tag:${namespace}:t`))
    expect(pttl).toBeGreaterThan(9_000)
    expect(pttl).toBeLessThanOrEqual(10_000)
    await a.set('q', 'v', { tags: ['t'], ttl: '1h' })
    expect(Number(await server().command('PTTL', `!tag:${namespace}:t`))).toBeGreaterThan(3_500_000)
  })

  it('deleteMatching deletes only what the literal pattern names, for user input with * ? [ ] \\', async () => {
    const namespace = uniqueNamespace('match')
    const a = await open(namespace)
    const inputs = ['u*', 'u?', 'u[1]', 'u[a-z]', 'u\\', 'u1', 'ua', 'u']
    for (const input of inputs) {
      await a.set(key('user', input, 'profile'), input)
      await a.set(key('user', input, 'orders'), input)
    }
    for (const hostile of ['u*', 'u?', 'u[1]', 'u\\']) {
      const b = await open(namespace)
      const before = (await server().scan(`${namespace}:*`)).length
      expect(await a.deleteMatching(`${key('user', hostile)}:*`)).toBe(2)
      expect((await server().scan(`${namespace}:*`)).length).toBe(before - 2)
      expect(await b.get(key('user', hostile, 'profile'))).toBeUndefined()
    }
    const c = await open(namespace)
    for (const input of ['u[a-z]', 'u1', 'ua', 'u']) {
      expect(await c.get(key('user', input, 'profile'))).toBe(input)
    }
  })

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
      const a = track(createCache(options))
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

  it('the subscriber connection killed while invalidations happen: after it resubscribes, nothing invalidated is served', async () => {
    const namespace = uniqueNamespace('cut')
    const a = await open(namespace)
    const b = await open(namespace)
    for (let i = 0; i < 20; i++) await a.set(`k${i}`, 'old', { tags: ['t'] })
    for (let i = 0; i < 20; i++) expect(await b.get(`k${i}`)).toBe('old')
    const resynced = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (b.stats().busResyncs > 0) {
          clearInterval(poll)
          resolve()
        }
      }, 5)
    })
    await server().command('CLIENT', 'KILL', 'TYPE', 'pubsub')
    // Invalidate while b's subscriber is (or may be) away.
    await a.invalidateTags(['t'])
    for (let i = 0; i < 20; i += 2) await a.set(`k${i}`, 'new', { tags: ['t'] })
    await resynced
    for (let i = 0; i < 20; i++) expect(await b.get(`k${i}`)).toBe(i % 2 === 0 ? 'new' : undefined)
  })

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
