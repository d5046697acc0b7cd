/**
 * Faults and bad input at the cache core's entry points (docs/architecture.md, "The parts of the
 * core"): each test pins a defect found by a fault hunt — a wrong value served, a refused call
 * that had already changed something, a valid caller failed by another's bad input.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Cache, type CacheOptions, createCache, MemoryRemoteTier } from '../../dist/index.js'
import { deferred } from '../helpers/deferred.js'

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

describe('a set refused for bad input changes nothing', () => {
  const refusals: [string, unknown, Record<string, unknown>, string][] = [
    ['a value over maxValueBytes', 'x'.repeat(1000), {}, 'E_VALUE_TOO_LARGE'],
    ['a value that cannot be encoded', { f: () => 1 }, {}, 'E_SERIALIZATION'],
    ['a NaN ttl', 'v', { ttl: Number.NaN }, 'E_INVALID_OPTION'],
    ['a negative negativeTtl', null, { negativeTtl: -1 }, 'E_INVALID_OPTION'],
    ['tags that are not an array', 'v', { tags: 'product' }, 'E_INVALID_OPTION'],
    ['sliding without maxTtl', 'v', { sliding: true }, 'E_INVALID_OPTION'],
    ['a maxTtl that is not a duration', 'v', { sliding: true, maxTtl: 'soon' }, 'E_INVALID_OPTION'],
  ]
  for (const [what, value, options, code] of refusals) {
    it(`${what}: ${code}, and the entries that depend on the key and its load in flight stay`, async () => {
      const cache = open({ namespace: 'n', maxValueBytes: 100, l2: { tier: new MemoryRemoteTier() } })
      await cache.set('a', 'old')
      await cache.set('b', 'derived from a', { dependsOn: ['a'] })
      const gate = deferred<string>()
      const loading = cache.getOrSet({ key: 'c', factory: () => gate.promise })
      await expect(cache.set('a', value, options as never)).rejects.toMatchObject({ code })
      expect(cache.peek('a')).toBe('old')
      expect(cache.peek('b')).toBe('derived from a')
      await expect(cache.set('c', value, options as never)).rejects.toMatchObject({ code })
      gate.resolve('loaded')
      expect(await loading).toBe('loaded')
      // The refused set did not overtake the load: its value was kept.
      expect(cache.peek('c')).toBe('loaded')
    })
  }
})

describe('getOrSet refuses its own bad options before joining or starting a load', () => {
  it('a caller with a bad ttl gets E_INVALID_OPTION; a valid caller of the same key is not failed by it', async () => {
    const cache = open({ namespace: 'n', l2: { tier: new MemoryRemoteTier() } })
    const gate = deferred<string>()
    let calls = 0
    const factory = () => {
      calls++
      return gate.promise
    }
    const bad = cache.getOrSet({ key: 'k', factory, ttl: -1 as never })
    const good = cache.getOrSet({ key: 'k', factory })
    // Joining a load in flight with bad options is refused too, and the load goes on.
    const joined = cache.getOrSet({ key: 'k', factory, tags: 'k' as never })
    await expect(bad).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    await expect(joined).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    gate.resolve('v')
    expect(await good).toBe('v')
    expect(calls).toBe(1)
  })

  it('a bad ttl is refused before the L2 is read (typed error before any I/O), even when the L2 holds the key', async () => {
    const tier = new MemoryRemoteTier()
    await open({ namespace: 'n', l2: { tier } }).set('k', 'in the L2')
    const reader = open({ namespace: 'n', l2: { tier } })
    await expect(reader.getOrSet({ key: 'k', factory: () => 'v', ttl: Number.NaN })).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
    expect(reader.stats().l2Hits + reader.stats().l2Misses).toBe(0)
  })
})

describe('getOrSetMany and warm refuse bad input before they load anything', () => {
  it('getOrSetMany with a bad ttl is refused before its factory runs; a valid getOrSet of one of its keys is not failed by it', async () => {
    const cache = open({ namespace: 'n', l2: { tier: new MemoryRemoteTier() } })
    const gate = deferred<string>()
    let manyCalls = 0
    const bad = cache.getOrSetMany({
      keys: ['a', 'b'],
      ttl: -1 as never,
      factory: (keys) => {
        manyCalls++
        return new Map(keys.map((k) => [k, k]))
      },
    })
    const good = cache.getOrSet({ key: 'a', factory: () => gate.promise })
    await expect(bad).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    gate.resolve('a from its own load')
    expect(await good).toBe('a from its own load')
    expect(manyCalls).toBe(0)
    expect(cache.stats().l2Hits + cache.stats().l2Misses).toBe(1) // good's read only
  })

  it('warm with a bad key in a later batch loads no batch at all', async () => {
    const cache = open({ namespace: 'n', l2: { tier: new MemoryRemoteTier() } })
    const loaded: string[] = []
    const loader = (keys: string[]) => {
      loaded.push(...keys)
      return new Map(keys.map((k) => [k, k]))
    }
    await expect(cache.warm(['a', 'b', 'c', ''], loader, { batchSize: 2 })).rejects.toMatchObject({
      code: 'E_INVALID_KEY',
    })
    await expect(
      cache.warm(['a', 'b', 'c'], loader, { batchSize: 2, ttl: 'soon' as never }),
    ).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
    await expect(cache.warm(['a'], 'not a function' as never)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
    expect(loaded).toEqual([])
    expect(cache.stats().l1Entries).toBe(0)
  })
})

describe('options', () => {
  it('refuse a lock that never expires (lock.ttl Infinity): it would outlive a holder that crashed', () => {
    expect(() => createCache({ lock: { ttl: Number.POSITIVE_INFINITY } })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTION',
        message: expect.stringContaining('lock.ttl must be finite'),
      }),
    )
  })
})

describe('invalidateTags', () => {
  it('refuses a tag over the length limit that set() refuses (no entry can carry it), before it writes anything; any number of tags is fine', async () => {
    const tier = new MemoryRemoteTier()
    const cache = open({ namespace: 'n', l2: { tier } })
    const before = tier.keys().length
    await expect(cache.invalidateTags(['ok', 'x'.repeat(1025)])).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
    expect(tier.keys().length).toBe(before)
    await cache.invalidateTags(Array.from({ length: 500 }, (_, i) => `t${i}`))
  })
})

describe('writeThrough refuses what it could not cache before it writes the source of truth', () => {
  const refusals: [string, Record<string, unknown>, string][] = [
    ['undefined as the value', { value: undefined }, 'E_INVALID_OPTION'],
    ['a value over maxValueBytes', { value: 'x'.repeat(1000) }, 'E_VALUE_TOO_LARGE'],
    ['a value that cannot be encoded', { value: { f: () => 1 } }, 'E_SERIALIZATION'],
    ['a negative ttl', { ttl: -5 }, 'E_INVALID_OPTION'],
    ['tags that are not an array', { tags: 'user' }, 'E_INVALID_OPTION'],
    ['a startedAt that is not a stamp', { startedAt: 'now' }, 'E_INVALID_OPTION'],
    ['sliding without maxTtl', { sliding: true }, 'E_INVALID_OPTION'],
  ]
  for (const [what, options, code] of refusals) {
    it(`${what}: ${code}, and write() was not called`, async () => {
      const cache = open({ namespace: 'n', maxValueBytes: 100, l2: { tier: new MemoryRemoteTier() } })
      const written: unknown[] = []
      const call = cache.writeThrough({
        key: 'user:1',
        value: 'v',
        write: async (value: unknown) => {
          written.push(value)
        },
        ...options,
      } as never)
      await expect(call).rejects.toMatchObject({ code })
      expect(written).toEqual([])
      expect(cache.peek('user:1')).toBeUndefined()
    })
  }

  it('a closed cache refuses it before write() too', async () => {
    const cache = open({ namespace: 'n', l2: false })
    await cache.close()
    let calls = 0
    const write = async () => {
      calls++
    }
    await expect(cache.writeThrough({ key: 'k', value: 1, write })).rejects.toMatchObject({
      code: 'E_CLOSED',
    })
    expect(calls).toBe(0)
  })
})

/** A memory L2 whose tag-marker bumps fail while `down` (counting those that reach it). */
class MarkersDown extends MemoryRemoteTier {
  down = true
  bumps = 0
  constructor() {
    super()
    const store = this.invalidation
    const bumpMarkers = store.bumpMarkers.bind(store)
    store.bumpMarkers = async (...args) => {
      if (this.down) throw new Error('connection refused')
      this.bumps++
      return bumpMarkers(...args)
    }
  }
}

describe('invalidations the L2 missed, queued for replay', () => {
  it('a change queued again supersedes the queued one: one replay per distinct change', async () => {
    const tier = new MarkersDown()
    const cache = open({ namespace: 'n', l2: { tier, breaker: false } })
    for (let i = 0; i < 1000; i++) await cache.invalidateTags(['products'])
    tier.down = false
    // A write that reaches the L2 runs the pending repairs.
    await cache.set('k', 'v')
    await vi.waitFor(() => expect(cache.stats().l2Repairs).toBeGreaterThan(0))
    expect(tier.bumps).toBe(1)
    const other = open({ namespace: 'n', l2: { tier } })
    await other.set('tagged', 'old', { tags: ['products'], startedAt: 0 })
    expect(await other.get('tagged', { skipL1: true })).toBeUndefined()
  })

  it('stays bounded through a long outage: past its bound it is one clear of the namespace, never a silent drop', async () => {
    const tier = new MarkersDown()
    const cache = open({ namespace: 'n', l2: { tier, breaker: false } })
    const before = open({ namespace: 'n', l2: { tier } })
    await before.set('tagged', 'old', { tags: ['t0'] })
    for (let i = 0; i < 12_000; i++) await cache.invalidateTags([`t${i}`])
    tier.down = false
    await cache.set('k', 'v')
    await vi.waitFor(() => expect(cache.stats().l2Repairs).toBeGreaterThan(0))
    // Far fewer replays than invalidations, and the entry they covered is gone from the L2.
    expect(tier.bumps).toBeLessThanOrEqual(10_000)
    expect(cache.stats().l2RepairsDropped).toBeGreaterThan(0)
    expect(await open({ namespace: 'n', l2: { tier } }).get('tagged')).toBeUndefined()
  })
})

describe('deletes the L2 missed, repaired later', () => {
  it('tell the other instances once repaired, however long the keys: no message over the size a receiver accepts', async () => {
    // 500 keys of 4,000 characters (within maxKeyLength): one repair chunk, ~2 MB as one message.
    const keys = Array.from({ length: 500 }, (_, i) => `${String(i).padStart(4, '0')}:${'k'.repeat(3995)}`)
    const tier = new MemoryRemoteTier()
    let down = false
    const tombstone = tier.invalidation.tombstone.bind(tier.invalidation)
    tier.invalidation.tombstone = async (...args) => {
      if (down) throw new Error('connection refused')
      return tombstone(...args)
    }
    const writer = open({ namespace: 'n', l2: { tier, breaker: false } })
    for (const key of keys) await writer.set(key, 'old')
    await writer.set('untouched', 'kept')
    down = true
    await writer.deleteMany(keys).catch(() => {})
    // An instance that started after the deletes (it never heard them) reads the old values the
    // L2 still holds: only the repair's announcement can tell it otherwise.
    const reader = open({ namespace: 'n', l2: { tier } })
    expect(await reader.getMany([...keys, 'untouched'])).toEqual([...keys.map(() => 'old'), 'kept'])
    down = false
    // A write that reaches the L2 runs the pending repairs, which announce the keys they deleted.
    await writer.set('other', 'v')
    await vi.waitFor(() => expect(keys.filter((key) => reader.peek(key) !== undefined)).toEqual([]))
    // Dropped by the announcement of those keys, not by a flush of the whole L1 after a message
    // it had to drop.
    expect(reader.peek('untouched')).toBe('kept')
    expect(reader.stats().busMessagesDropped).toBe(0)
  })
})

describe('wrap', () => {
  it('a key builder that throws rejects the promise the wrapped function returns; it never throws synchronously', async () => {
    const cache = open({ namespace: 'n', l2: false })
    const failure = new Error('no id on this request')
    const wrapped = cache.wrap(async (id: number) => id, {
      key: () => {
        throw failure
      },
    })
    let answer: Promise<unknown> | undefined
    expect(() => {
      answer = wrapped(1)
    }).not.toThrow()
    await expect(answer).rejects.toBe(failure)
  })
})

describe('a change too large for one bus message', () => {
  // 60,000 keys of ~40 characters: about 3 MB of JSON, over the 1 MiB a receiver accepts.
  const filler = Array.from(
    { length: 60_000 },
    (_, i) => `order:2026-12-08:customer-${String(i).padStart(12, '0')}`,
  )

  it('deleteMany of many keys still reaches every instance: none keeps serving its copy', async () => {
    const tier = new MemoryRemoteTier()
    const a = open({ namespace: 'n', l2: { tier } })
    const b = open({ namespace: 'n', l2: { tier } })
    await b.set('k0', 'old')
    expect(b.peek('k0')).toBe('old')
    await a.deleteMany(['k0', ...filler])
    await vi.waitFor(() => expect(b.peek('k0')).toBeUndefined())
    expect(b.stats().busMessagesDropped).toBe(0)
  })

  it('invalidateTags of many tags still reaches every instance', async () => {
    const tier = new MemoryRemoteTier()
    const a = open({ namespace: 'n', l2: { tier } })
    const b = open({ namespace: 'n', l2: { tier } })
    await b.set('x', 'old', { tags: ['t0'] })
    await a.invalidateTags(['t0', ...filler])
    await vi.waitFor(() => expect(b.peek('x')).toBeUndefined())
    expect(b.stats().busMessagesDropped).toBe(0)
  })
})

describe('getOrSetMany of many keys', () => {
  it('writes 150,000 loaded values to the L2 (spreading them as arguments overflowed the stack: none was written)', async () => {
    const tier = new MemoryRemoteTier()
    const cache = open({ namespace: 'n', l1: { maxEntries: 1000 }, l2: { tier } })
    const keys = Array.from({ length: 150_000 }, (_, i) => `k${i}`)
    const found = await cache.getOrSetMany({
      keys,
      tags: ['t'],
      factory: (missing) => new Map(missing.map((key) => [key, key.length])),
    })
    expect(found.size).toBe(keys.length)
    expect(cache.stats().l2Errors).toBe(0)
    const later = open({ namespace: 'n', l2: { tier } })
    expect(await later.get('k149999')).toBe(7)
  }, 60_000)
})

describe('an injected random', () => {
  it('that answers NaN or a number outside [0, 1) is refused at the write it would have spoiled, not cached as nothing', async () => {
    for (const bad of [Number.NaN, 1, -0.5, 7]) {
      const cache = open({
        namespace: 'n',
        jitter: 0.1,
        random: () => bad,
        l2: { tier: new MemoryRemoteTier() },
      })
      await expect(cache.set('k', 'v')).rejects.toMatchObject({
        code: 'E_INVALID_OPTION',
        message: expect.stringContaining('random() must return a number in [0, 1)'),
      })
    }
    const good = open({
      namespace: 'n',
      jitter: 0.1,
      random: () => 0.25,
      l2: { tier: new MemoryRemoteTier() },
    })
    await good.set('k', 'v')
    expect(good.peek('k')).toBe('v')
  })
})
