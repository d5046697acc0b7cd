import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache, MemoryRemoteTier } from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'
import { deferred } from '../helpers/deferred.js'

const TTL = 1000

/** A runtime's waitUntil that records what it was handed. */
function recorder() {
  const handed: Promise<unknown>[] = []
  const waitUntil = (promise: Promise<unknown>) => {
    handed.push(promise)
  }
  return { handed, waitUntil }
}

/** Without the distributed lock unless asked: its release is background work of its own (tested apart). */
function setup(extra: CacheOptions = {}) {
  const clock = manualClock()
  const tier = new MemoryRemoteTier({ clock })
  const options: CacheOptions = { namespace: 'w', jitter: 0, clock, ttl: TTL, lock: false, l2: { tier } }
  const cache = createCache({ ...options, ...extra })
  return { clock, tier, cache }
}

describe('waitUntil: background work is handed to the runtime', () => {
  it('stale-while-revalidate: the refresh that goes on after the stale answer is handed, and settles once the new value is stored', async () => {
    const runtime = recorder()
    const { clock, cache } = setup({ grace: '1h', waitUntil: runtime.waitUntil })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    expect(runtime.handed).toHaveLength(0)
    clock.advance(TTL + 1)
    const origin = deferred<string>()
    expect(await cache.getOrSet({ key: 'k', factory: () => origin.promise })).toBe('old')
    expect(runtime.handed).toHaveLength(1)
    origin.resolve('new')
    await runtime.handed[0]
    expect(cache.peek('k')).toBe('new')
  })

  it('early refresh (eagerRefresh): the refresh started by a fresh read is handed', async () => {
    const runtime = recorder()
    const { clock, cache } = setup({ eagerRefresh: 0.5, waitUntil: runtime.waitUntil })
    await cache.getOrSet({ key: 'k', factory: () => 'v1' })
    clock.advance(TTL * 0.6)
    expect(await cache.getOrSet({ key: 'k', factory: () => 'v2' })).toBe('v1')
    expect(cache.stats().earlyRefreshes).toBe(1)
    expect(runtime.handed).toHaveLength(1)
    await runtime.handed[0]
    expect(cache.peek('k')).toBe('v2')
  })

  it('a background refresh that fails is handed as a promise that resolves: the runtime never sees a rejection', async () => {
    const runtime = recorder()
    const { clock, cache } = setup({ grace: '1h', waitUntil: runtime.waitUntil })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    const answer = await cache.getOrSet({
      key: 'k',
      factory: () => Promise.reject(new Error('origin down')),
    })
    expect(answer).toBe('old')
    expect(runtime.handed.length).toBeGreaterThan(0)
    for (const promise of runtime.handed) await expect(promise).resolves.toBeUndefined()
    expect(cache.stats().factoryErrors).toBe(1)
  })

  it('work the caller awaits is not handed: a miss, a hit and a set on a tier without a bus hand nothing', async () => {
    const runtime = recorder()
    const { cache } = setup({ waitUntil: runtime.waitUntil })
    await cache.getOrSet({ key: 'k', factory: () => 'v' })
    await cache.getOrSet({ key: 'k', factory: () => 'unused' })
    await cache.set('s', 1)
    expect(runtime.handed).toHaveLength(0)
  })

  it('the distributed lock’s release, sent after the caller has the loaded value, is handed', async () => {
    const runtime = recorder()
    const { tier, cache } = setup({ lock: {}, waitUntil: runtime.waitUntil })
    expect(await cache.getOrSet({ key: 'k', factory: () => 'v' })).toBe('v')
    expect(runtime.handed).toHaveLength(1)
    await runtime.handed[0]
    // Released: another process takes the key's lock at once.
    const lock = await tier.locks?.acquire('!lock:w:v1:k', 'other', 1000)
    expect(lock).toBe(true)
  })

  it('per call: the call’s waitUntil gets its background work instead of the cache’s', async () => {
    const cacheLevel = recorder()
    const perCall = recorder()
    const { clock, cache } = setup({ grace: '1h', waitUntil: cacheLevel.waitUntil })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    const options = { key: 'k', factory: () => 'new', waitUntil: perCall.waitUntil }
    expect(await cache.getOrSet(options)).toBe('old')
    expect(perCall.handed).toHaveLength(1)
    expect(cacheLevel.handed).toHaveLength(0)
    await perCall.handed[0]
    expect(cache.peek('k')).toBe('new')
  })

  it('getOrSetMany: the L2 write that follows the answer is handed; once it settles another instance reads the values', async () => {
    const runtime = recorder()
    const { clock, tier, cache } = setup()
    const other = createCache({ namespace: 'w', jitter: 0, clock, ttl: TTL, l1: false, l2: { tier } })
    const found = await cache.getOrSetMany({
      keys: ['a', 'b'],
      factory: (keys) => new Map(keys.map((k) => [k, k.toUpperCase()])),
      waitUntil: runtime.waitUntil,
    })
    expect([...found]).toEqual([
      ['a', 'A'],
      ['b', 'B'],
    ])
    expect(runtime.handed).toHaveLength(1)
    await runtime.handed[0]
    expect(await other.getMany(['a', 'b'])).toEqual(['A', 'B'])
  })

  it('a waitUntil that throws (called after the runtime ended the request) fails no call, and the refresh still runs', async () => {
    const { clock, cache } = setup({
      grace: '1h',
      waitUntil: () => {
        throw new Error('waitUntil called outside a request')
      },
    })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    const origin = deferred<string>()
    expect(await cache.getOrSet({ key: 'k', factory: () => origin.promise })).toBe('old')
    origin.resolve('new')
    // The refresh's own flight: the next caller joins it and gets the new value.
    expect(await cache.getOrSet({ key: 'k', factory: () => 'unused', timeout: { soft: '1h' } })).toBe('new')
  })
})

describe('without waitUntil', () => {
  it('a failing early refresh still rejects nowhere: no unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const record = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', record)
    try {
      const { clock, cache } = setup({ eagerRefresh: 0.5 })
      await cache.getOrSet({ key: 'k', factory: () => 'v1' })
      clock.advance(TTL * 0.6)
      const failed = new Promise((resolve) => cache.on('factory-error', resolve))
      expect(
        await cache.getOrSet({ key: 'k', factory: () => Promise.reject(new Error('origin down')) }),
      ).toBe('v1')
      await failed
      // Node reports an unhandled rejection once the microtasks of the turn ran: let one turn pass.
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', record)
    }
  })
})

describe('waitUntil is validated', () => {
  it.each([['later'], [42], [{ waitUntil: () => {} }]])(
    'createCache({ waitUntil: %j }) is refused with E_INVALID_OPTION naming waitUntil',
    (value) => {
      const create = () => createCache({ waitUntil: value } as unknown as CacheOptions)
      expect(create).toThrow(/waitUntil must be a function/)
      expect(create).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
    },
  )

  it('per call: getOrSet({ waitUntil: "x" }) rejects with E_INVALID_OPTION', async () => {
    const { cache } = setup()
    await expect(
      cache.getOrSet({ key: 'k', factory: () => 1, waitUntil: 'x' as unknown as () => void }),
    ).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/waitUntil/) })
  })
})
