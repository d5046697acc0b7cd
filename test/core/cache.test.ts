import { describe, expect, it } from 'vitest'
import {
  type CacheOptions,
  createCache,
  InvalidOptionError,
  MemoryRemoteTier,
  type StandardSchemaV1,
  ttl,
} from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'
import { deferred } from '../helpers/deferred.js'

const twoTier = (shared = new MemoryRemoteTier(), extra: Parameters<typeof createCache>[0] = {}) =>
  createCache({ namespace: 'shop', jitter: 0, l2: { tier: shared }, ...extra })

describe('getOrSet', () => {
  it('runs the factory once for 1,000 concurrent callers of a cold key, and all get its value', async () => {
    const cache = twoTier()
    const gate = deferred<{ id: number }>()
    let calls = 0
    const results = Array.from({ length: 1000 }, () =>
      cache.getOrSet({
        key: 'product:1',
        factory: () => {
          calls++
          return gate.promise
        },
      }),
    )
    gate.resolve({ id: 1 })
    const values = await Promise.all(results)
    expect(calls).toBe(1)
    expect(new Set(values).size).toBe(1)
    expect(values[0]).toEqual({ id: 1 })
    expect(cache.stats().inFlight).toBe(0)
  })

  it('gives every waiter the same error when the factory rejects, and retries on the next call', async () => {
    const cache = twoTier()
    const boom = new Error('db down')
    let calls = 0
    const settled = await Promise.allSettled(
      Array.from({ length: 1000 }, () =>
        cache.getOrSet({
          key: 'k',
          factory: async () => {
            calls++
            throw boom
          },
        }),
      ),
    )
    expect(calls).toBe(1)
    const reasons = new Set(settled.map((s) => (s.status === 'rejected' ? s.reason : 'fulfilled')))
    expect(reasons.size).toBe(1)
    const [reason] = reasons
    expect(reason).toMatchObject({ code: 'E_FACTORY', cause: boom })
    expect(await cache.getOrSet({ key: 'k', factory: () => 'ok' })).toBe('ok')
    expect(calls).toBe(1)
    expect(cache.stats().factoryErrors).toBe(1)
  })

  it('treats a factory that throws synchronously like one that rejects', async () => {
    const cache = twoTier()
    const failing = cache.getOrSet({
      key: 'k',
      factory: () => {
        throw new TypeError('sync')
      },
    })
    await expect(failing).rejects.toMatchObject({ code: 'E_FACTORY', cause: expect.any(TypeError) })
    expect(cache.stats().inFlight).toBe(0)
  })

  it('reads L1, then L2 (backfilling L1), then the factory', async () => {
    const shared = new MemoryRemoteTier()
    const a = twoTier(shared)
    const b = twoTier(shared)
    await a.getOrSet({ key: 'k', factory: () => 'v' })
    let calls = 0
    const factory = () => {
      calls++
      return 'other'
    }
    expect(await b.getOrSet({ key: 'k', factory })).toBe('v')
    expect(b.stats()).toMatchObject({ l2Hits: 1, l1Hits: 0, factoryCalls: 0 })
    expect(await b.getOrSet({ key: 'k', factory })).toBe('v')
    expect(b.stats()).toMatchObject({ l2Hits: 1, l1Hits: 1 })
    expect(calls).toBe(0)
  })

  it('never caches undefined, and caches null (negative caching) with negativeTtl', async () => {
    const clock = manualClock()
    const cache = twoTier(new MemoryRemoteTier({ clock }), { clock, negativeTtl: '10s', ttl: '1h' })
    let calls = 0
    const missing = () => {
      calls++
      return undefined
    }
    expect(await cache.getOrSet({ key: 'u', factory: missing })).toBeUndefined()
    expect(await cache.getOrSet({ key: 'u', factory: missing })).toBeUndefined()
    expect(calls).toBe(2)
    let nulls = 0
    const notFound = () => {
      nulls++
      return null
    }
    expect(await cache.getOrSet({ key: 'n', factory: notFound })).toBeNull()
    expect(await cache.getOrSet({ key: 'n', factory: notFound })).toBeNull()
    expect(nulls).toBe(1)
    clock.advance(10_001)
    await cache.getOrSet({ key: 'n', factory: notFound })
    expect(nulls).toBe(2)
  })

  it('lets the factory choose the TTL and tags, or skip caching, from what it loaded', async () => {
    const clock = manualClock()
    const shared = new MemoryRemoteTier({ clock })
    const cache = twoTier(shared, { clock, ttl: '1h' })
    await cache.getOrSet({
      key: 'short',
      factory: (ctx) => {
        ctx.ttl = 1000
        return 'x'
      },
    })
    clock.advance(1001)
    expect(cache.peek('short')).toBeUndefined()
    await cache.getOrSet({
      key: 'skipped',
      factory: (ctx) => {
        ctx.skipCache()
        return 'y'
      },
    })
    expect(await cache.get('skipped')).toBeUndefined()
  })

  it('bypasses reads with forceFresh and stores the new value', async () => {
    const cache = twoTier()
    await cache.set('k', 1)
    expect(await cache.getOrSet({ key: 'k', factory: () => 2, forceFresh: true })).toBe(2)
    expect(await cache.get('k')).toBe(2)
  })

  it('does not store a load that a delete overtook, but still answers its callers', async () => {
    const cache = twoTier()
    const gate = deferred<string>()
    const pending = cache.getOrSet({ key: 'k', factory: () => gate.promise })
    await cache.delete('k')
    gate.resolve('old')
    expect(await pending).toBe('old')
    expect(await cache.get('k')).toBeUndefined()
  })

  it('treats an L2 value that fails the schema as a miss and counts it', async () => {
    const shared = new MemoryRemoteTier()
    await twoTier(shared).set('p', { id: 'not-a-number' })
    const schema: StandardSchemaV1<unknown, { id: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (v) =>
          typeof (v as { id?: unknown })?.id === 'number'
            ? { value: v as { id: number } }
            : { issues: [{ message: 'id must be a number' }] },
      },
    }
    const reader = twoTier(shared)
    expect(await reader.getOrSet({ key: 'p', schema, factory: () => ({ id: 7 }) })).toEqual({ id: 7 })
    expect(reader.stats()).toMatchObject({ schemaFailures: 1, factoryCalls: 1 })
  })
})

describe('expiry', () => {
  it('expires entries in L1 and L2 by the injected clock', async () => {
    const clock = manualClock()
    const shared = new MemoryRemoteTier({ clock })
    const cache = twoTier(shared, { clock })
    await cache.set('k', 'v', { ttl: '30s' })
    clock.advance(29_999)
    expect(await cache.get('k')).toBe('v')
    clock.advance(2)
    expect(cache.peek('k')).toBeUndefined()
    expect(await cache.get('k')).toBeUndefined()
    expect(shared.keys()).toEqual([])
  })

  it('backfills L1 with the remaining TTL, never outliving the L2 entry', async () => {
    const clock = manualClock()
    const shared = new MemoryRemoteTier({ clock })
    await twoTier(shared, { clock }).set('k', 'v', { ttl: '10s' })
    clock.advance(6000)
    const reader = twoTier(shared, { clock })
    expect(await reader.get('k')).toBe('v')
    clock.advance(3999)
    expect(reader.peek('k')).toBe('v')
    clock.advance(2)
    expect(reader.peek('k')).toBeUndefined()
  })

  it('caps L1 life with l1.ttl whatever the entry TTL', async () => {
    const clock = manualClock()
    const cache = twoTier(new MemoryRemoteTier({ clock }), { clock, l1: { maxEntries: 10, ttl: '1m' } })
    await cache.set('k', 'v', { ttl: '1h' })
    clock.advance(60_001)
    expect(cache.peek('k')).toBeUndefined()
    expect(await cache.get('k')).toBe('v') // still in L2
  })

  it('spreads TTLs within ±jitter', async () => {
    const clock = manualClock()
    const shared = new MemoryRemoteTier({ clock })
    const cache = createCache({ jitter: 0.2, clock, l2: { tier: shared }, l1: false })
    const writes = Array.from({ length: 200 }, (_, i) => cache.set(`k${i}`, i, { ttl: '100s' }))
    await Promise.all(writes)
    clock.advance(80_000 - 1)
    expect(shared.keys().length).toBe(200)
    clock.advance(40_002)
    expect(shared.keys().length).toBe(0)
    // Not all at once: some expire in the first half of the window.
    const again = createCache({ jitter: 0.2, clock, l2: { tier: shared }, l1: false })
    await Promise.all(Array.from({ length: 200 }, (_, i) => again.set(`j${i}`, i, { ttl: '100s' })))
    clock.advance(100_000)
    const left = shared.keys().length
    expect(left).toBeGreaterThan(20)
    expect(left).toBeLessThan(180)
  })

  it('slides expiry on each hit up to maxTtl', async () => {
    const clock = manualClock()
    const cache = createCache({ clock, jitter: 0 })
    await cache.set('s', 'v', { ttl: '10s', sliding: true, maxTtl: '25s' })
    for (let i = 0; i < 2; i++) {
      clock.advance(9000)
      expect(cache.peek('s')).toBe('v')
    }
    clock.advance(7001) // 25.001 s after creation: past the hard cap
    expect(cache.peek('s')).toBeUndefined()
  })

  it('gives frequently read keys longer adaptive TTLs', async () => {
    const clock = manualClock()
    const adaptive = ttl.adaptive({ min: '5m', max: '1h', hotReads: 10 })
    const cache = createCache({ clock, jitter: 0, ttl: adaptive })
    for (let i = 0; i < 20; i++) await cache.getOrSet({ key: 'hot', factory: () => 1, forceFresh: i === 19 })
    await cache.getOrSet({ key: 'cold', factory: () => 1 })
    clock.advance(5 * 60_000 + 1)
    expect(cache.peek('cold')).toBeUndefined()
    expect(cache.peek('hot')).toBe(1)
  })
})

describe('isolation of L1 values', () => {
  it('freezes values by default so a caller cannot change what the next caller gets', async () => {
    const cache = createCache()
    await cache.set('k', { list: [1, 2], nested: { a: 1 } })
    const first = (await cache.get('k')) as { list: number[]; nested: { a: number } }
    expect(() => {
      first.list.push(3)
    }).toThrow(TypeError)
    expect(() => {
      first.nested.a = 2
    }).toThrow(TypeError)
    expect(await cache.get('k')).toEqual({ list: [1, 2], nested: { a: 1 } })
  })

  it('clones on read what freezing cannot protect (Map, Date)', async () => {
    const cache = createCache()
    await cache.set('k', { at: new Date(0), m: new Map([['a', 1]]) })
    const first = (await cache.get('k')) as { at: Date; m: Map<string, number> }
    first.at.setTime(5)
    first.m.set('b', 2)
    expect(await cache.get('k')).toEqual({ at: new Date(0), m: new Map([['a', 1]]) })
  })

  it("returns a fresh copy on every read with isolation: 'clone'", async () => {
    const cache = createCache({ l1: { maxEntries: 10, isolation: 'clone' } })
    const original = { n: 1 }
    await cache.set('k', original)
    original.n = 2
    const read = (await cache.get('k')) as { n: number }
    read.n = 3
    expect(await cache.get('k')).toEqual({ n: 1 })
  })
})

describe('writes', () => {
  it('writeThrough updates the cache only after the source of truth accepted the value', async () => {
    const cache = twoTier()
    const db = new Map<string, number>()
    await cache.writeThrough({ key: 'k', value: 1, write: async (v) => db.set('k', v) })
    expect(db.get('k')).toBe(1)
    expect(await cache.get('k')).toBe(1)
    const failure = new Error('constraint violated')
    await expect(
      cache.writeThrough({
        key: 'k',
        value: 2,
        write: async () => {
          throw failure
        },
      }),
    ).rejects.toBe(failure)
    expect(await cache.get('k')).toBe(1)
  })

  it('skipL1 and skipL2 keep a write out of that tier', async () => {
    const shared = new MemoryRemoteTier()
    const cache = twoTier(shared)
    await cache.set('only-l2', 1, { skipL1: true })
    expect(cache.peek('only-l2')).toBeUndefined()
    await cache.set('only-l1', 2, { skipL2: true })
    expect(cache.peek('only-l1')).toBe(2)
    expect(shared.keys()).toEqual(['shop:v1:only-l2'])
  })

  it('wrap caches a function by the key its arguments build', async () => {
    const cache = createCache()
    let calls = 0
    const getProduct = cache.wrap(
      async (id: number) => {
        calls++
        return { id }
      },
      { key: (id) => `product:${id}`, ttl: '4h' },
    )
    expect(await getProduct(1)).toEqual({ id: 1 })
    expect(await getProduct(1)).toEqual({ id: 1 })
    expect(await getProduct(2)).toEqual({ id: 2 })
    expect(calls).toBe(2)
  })

  it('clear removes only this namespace', async () => {
    const shared = new MemoryRemoteTier()
    const shop = twoTier(shared)
    const other = createCache({ namespace: 'other', l2: { tier: shared } })
    await shop.set('a', 1)
    await other.set('a', 2)
    await shop.clear()
    expect(await shop.get('a')).toBeUndefined()
    expect(await other.get('a', { skipL1: true })).toBe(2)
  })

  it('a version bump makes old entries unreachable', async () => {
    const shared = new MemoryRemoteTier()
    await createCache({ namespace: 'n', version: 'v1', l2: { tier: shared } }).set('k', 'old')
    const v2 = createCache({ namespace: 'n', version: 'v2', l2: { tier: shared } })
    expect(await v2.get('k')).toBeUndefined()
  })
})

describe('getOrSetMany and warm', () => {
  it('reads L1, then L2 in one round trip, then calls the factory once with only the missing keys', async () => {
    const shared = new MemoryRemoteTier()
    const cache = twoTier(shared)
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
    for (const k of keys.slice(0, 30)) await cache.set(k, k, { skipL2: true })
    for (const k of keys.slice(30, 60)) await cache.set(k, k, { skipL1: true })
    const before = shared.roundTrips
    const asked: string[][] = []
    const result = await cache.getOrSetMany({
      keys,
      factory: async (missing) => {
        asked.push(missing)
        return new Map(missing.map((k) => [k, k]))
      },
    })
    expect(asked).toEqual([keys.slice(60)])
    expect([...result.keys()].sort()).toEqual([...keys].sort())
    // one MGET for the 70 keys L1 lacked, one pipelined write of the 40 loaded entries
    expect(shared.roundTrips - before).toBe(2)
  })

  it('shares in-flight loads between bulk and single calls', async () => {
    const cache = twoTier()
    const gate = deferred<string>()
    let singleCalls = 0
    const single = cache.getOrSet({
      key: 'a',
      factory: () => {
        singleCalls++
        return gate.promise
      },
    })
    const asked: string[][] = []
    const bulk = cache.getOrSetMany({
      keys: ['a', 'b'],
      factory: async (missing) => {
        asked.push(missing)
        return new Map(missing.map((k) => [k, k.toUpperCase()]))
      },
    })
    const again = cache.getOrSet({ key: 'b', factory: () => 'never' })
    gate.resolve('A1')
    expect(await bulk).toEqual(
      new Map([
        ['a', 'A1'],
        ['b', 'B'],
      ]),
    )
    expect(await single).toBe('A1')
    expect(await again).toBe('B')
    expect(asked).toEqual([['b']])
    expect(singleCalls).toBe(1)
  })

  it('warm pre-loads keys in batches', async () => {
    const cache = createCache()
    const batches: number[] = []
    const count = await cache.warm(
      Array.from({ length: 250 }, (_, i) => `p${i}`),
      async (keys) => {
        batches.push(keys.length)
        return new Map(keys.map((k) => [k, k]))
      },
      { batchSize: 100 },
    )
    expect(count).toBe(250)
    expect(batches).toEqual([100, 100, 50])
    expect(cache.peek('p249')).toBe('p249')
  })
})

describe('bad input', () => {
  it('refuses empty and non-string keys with E_INVALID_KEY', async () => {
    const cache = createCache()
    for (const bad of ['', 1, null, undefined, {}]) {
      await expect(cache.get(bad as string)).rejects.toMatchObject({ code: 'E_INVALID_KEY' })
      await expect(cache.set(bad as string, 1)).rejects.toMatchObject({ code: 'E_INVALID_KEY' })
      await expect(cache.getOrSet({ key: bad as string, factory: () => 1 })).rejects.toMatchObject({
        code: 'E_INVALID_KEY',
      })
    }
    await expect(cache.getMany(['a', ''])).rejects.toMatchObject({ code: 'E_INVALID_KEY' })
  })

  it('refuses negative and NaN TTLs with E_INVALID_OPTION', async () => {
    const cache = createCache()
    await expect(cache.set('k', 1, { ttl: -1 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    await expect(cache.set('k', 1, { ttl: Number.NaN })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    expect(() => createCache({ ttl: -5 })).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
  })

  it('refuses values the serializer cannot encode with E_SERIALIZATION, storing nothing', async () => {
    const cache = twoTier()
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const bad of [() => 1, Symbol('s'), circular, { when: () => 0 }]) {
      await expect(cache.set('k', bad)).rejects.toMatchObject({ code: 'E_SERIALIZATION' })
    }
    await expect(cache.getOrSet({ key: 'k', factory: () => circular })).rejects.toMatchObject({
      code: 'E_SERIALIZATION',
    })
    expect(await cache.get('k')).toBeUndefined()
  })

  it('refuses values over maxValueBytes with E_VALUE_TOO_LARGE', async () => {
    const cache = createCache({ maxValueBytes: 1024 })
    await expect(cache.set('k', 'x'.repeat(2000))).rejects.toMatchObject({ code: 'E_VALUE_TOO_LARGE' })
    expect(cache.peek('k')).toBeUndefined()
  })

  it('refuses set(undefined) and a missing factory', async () => {
    const cache = createCache()
    await expect(cache.set('k', undefined)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    await expect(cache.getOrSet({ key: 'k' } as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
  })

  it('validates options at construction, naming the option', () => {
    const cases: [Parameters<typeof createCache>[0], RegExp][] = [
      [{ namespace: 'a:b' }, /namespace/],
      [{ version: 'v*' }, /version/],
      [{ jitter: 2 }, /jitter/],
      [{ l1: { maxEntries: 0 } }, /l1.maxEntries/],
      [{ l1: { isolation: 'deep' as never } }, /l1.isolation/],
      [{ l2: { redis: 'http://x' } }, /l2.redis/],
      [{ l2: {} }, /exactly one/],
      [{ serializer: 'xml' as never }, /serializer/],
      [{ maxValueBytes: -1 }, /maxValueBytes/],
    ]
    for (const [options, message] of cases) {
      expect(() => createCache(options)).toThrow(message)
      expect(() => createCache(options)).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
    }
  })

  it('turns corrupt L2 bytes into a counted miss', async () => {
    const shared = new MemoryRemoteTier()
    const cache = twoTier(shared)
    shared.writeRaw('shop:v1:k', Buffer.from('not an envelope'))
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getOrSet({ key: 'k', factory: () => 'fresh' })).toBe('fresh')
    expect(cache.stats().decodeErrors).toBe(2)
  })

  it('rejects every call after close() with E_CLOSED', async () => {
    const cache = createCache()
    await cache.close()
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' })
    await expect(cache.getOrSet({ key: 'k', factory: () => 1 })).rejects.toMatchObject({ code: 'E_CLOSED' })
  })
})

describe('options: an unknown name is refused with the nearest valid one', () => {
  it.each([
    [{ tll: '1m' }, '`tll`: did you mean `ttl`?'],
    [{ l1: { maxEntrys: 10 } }, '`l1.maxEntrys`: did you mean `l1.maxEntries`?'],
    [
      { l2: { tier: new MemoryRemoteTier(), writeError: 'throw' } },
      '`l2.writeError`: did you mean `l2.writeErrors`?',
    ],
    [{ namespase: 'x' }, '`namespase`: did you mean `namespace`?'],
  ])('createCache(%j) throws E_INVALID_OPTION naming the option it meant', (options, message) => {
    const attempt = () => createCache(options as CacheOptions)
    expect(attempt).toThrow(InvalidOptionError)
    expect(attempt).toThrow(message)
  })

  it('a name nothing resembles is refused with the list of valid names', () => {
    expect(() => createCache({ zzzzzzzz: 1 } as CacheOptions)).toThrow(
      /`zzzzzzzz` is not an option of createCache/,
    )
  })
})
