/**
 * Every options object refuses a name nobody reads, naming the nearest valid one, and every
 * default comes from the one table (DEFAULTS, src/base/defaults.ts), the HTTP layer's included.
 */
import { describe, expect, it } from 'vitest'
import { HTTP_DEFAULTS, HttpCache, resolvePolicy } from '../../dist/http/index.js'
import {
  type CacheOptions,
  createCache,
  DEFAULT_THRESHOLDS,
  DEFAULTS,
  InvalidOptionError,
  LIMIT_DEFAULTS,
  MemoryRemoteTier,
} from '../../dist/index.js'

function refusal(attempt: () => unknown): InvalidOptionError {
  try {
    attempt()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError)
    expect((error as InvalidOptionError).code).toBe('E_INVALID_OPTION')
    return error as InvalidOptionError
  }
  throw new Error('expected the call to throw')
}

async function rejection(attempt: () => Promise<unknown>): Promise<InvalidOptionError> {
  const error = await attempt().then(
    () => {
      throw new Error('expected the call to reject')
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(InvalidOptionError)
  expect((error as InvalidOptionError).code).toBe('E_INVALID_OPTION')
  return error as InvalidOptionError
}

describe('createCache: nested option names', () => {
  const tier = () => new MemoryRemoteTier()
  it.each([
    [{ timeout: { sotf: '1s' } }, '`timeout.sotf`: did you mean `timeout.soft`?'],
    [{ lock: { tll: '1s' } }, '`lock.tll`: did you mean `lock.ttl`?'],
    [{ lock: { wiat: '1s' } }, '`lock.wiat`: did you mean `lock.wait`?'],
    [{ bus: { maxage: '1m' } }, '`bus.maxage`: did you mean `bus.maxAge`?'],
    [
      { observability: { hitSampleing: 8 } },
      '`observability.hitSampleing`: did you mean `observability.hitSampling`?',
    ],
    [
      { observability: { publish: { intervall: '1s' } } },
      '`observability.publish.intervall`: did you mean `observability.publish.interval`?',
    ],
    [
      { observability: { alerts: { minRead: 10 } } },
      '`observability.alerts.minRead`: did you mean `observability.alerts.minReads`?',
    ],
    [{ encryption: { keys: {}, curent: 'k1' } }, '`encryption.curent`: did you mean `encryption.current`?'],
    [{ l1: { polcy: 'lru' } }, '`l1.polcy`: did you mean `l1.policy`?'],
    [{ gracee: '1m' }, '`gracee`: did you mean `grace`?'],
  ])('createCache(%j) is refused naming the option it meant', (options, message) => {
    expect(refusal(() => createCache(options as CacheOptions)).message).toContain(message)
  })

  it('l2 and l2.breaker names are checked too', () => {
    expect(
      refusal(() => createCache({ l2: { tier: tier(), timout: '1s' } } as CacheOptions)).message,
    ).toContain('`l2.timout`: did you mean `l2.timeout`?')
    expect(
      refusal(() => createCache({ l2: { tier: tier(), breaker: { treshold: 3 } } } as CacheOptions)).message,
    ).toContain('`l2.breaker.treshold`: did you mean `l2.breaker.threshold`?')
  })

  it('a nested name nothing resembles lists the valid ones', () => {
    expect(refusal(() => createCache({ lock: { zzzzzzzz: 1 } } as CacheOptions)).message).toMatch(
      /`lock\.zzzzzzzz` is not an option of createCache; valid lock options: ttl, wait/,
    )
  })

  it('every valid name is accepted', () => {
    const cache = createCache({
      timeout: { soft: '10ms', hard: '1s' },
      lock: { ttl: '1s', wait: '2s' },
      bus: { maxAge: '1m' },
      observability: {
        latency: true,
        hitSampling: 8,
        recentReads: 10,
        window: '10s',
        alerts: { minReads: 5 },
      },
      l1: { maxEntries: 10, ttl: '1m', isolation: 'freeze', policy: 'lru' },
      l2: { tier: tier(), timeout: '1s', batchSize: 10, breaker: { threshold: 3, breakDuration: '1s' } },
    })
    expect(cache).toBeDefined()
    return cache.close()
  })
})

describe('per-call option names', () => {
  it('getOrSet refuses a misspelt option on a load', async () => {
    const cache = createCache()
    const error = await rejection(() => cache.getOrSet({ key: 'k', factory: () => 1, tll: '1m' } as never))
    expect(error.message).toContain('`tll`: did you mean `ttl`?')
    expect(error.message).toContain('getOrSet')
    expect(cache.peek('k')).toBeUndefined()
    await cache.close()
  })

  it('get refuses a misspelt option when it reads past the L1', async () => {
    const cache = createCache()
    const error = await rejection(() => cache.get('k', { skipl2: true } as never))
    expect(error.message).toContain('`skipl2`: did you mean `skipL2`?')
    await cache.close()
  })

  it('set, writeThrough, getOrSetMany, warm and wrap refuse misspelt entry options', async () => {
    const cache = createCache()
    expect((await rejection(() => cache.set('k', 1, { tgas: ['a'] } as never))).message).toContain(
      '`tgas`: did you mean `tags`?',
    )
    expect(cache.peek('k')).toBeUndefined()
    let written = 0
    const wt = await rejection(() =>
      cache.writeThrough({ key: 'k', value: 1, write: () => written++, ttll: '1m' } as never),
    )
    expect(wt.message).toContain('`ttll`: did you mean `ttl`?')
    expect(written).toBe(0)
    const many = await rejection(() =>
      cache.getOrSetMany({ keys: ['a'], factory: () => new Map(), skipL3: true } as never),
    )
    expect(many.message).toContain('`skipL3`: did you mean `skipL1`?')
    const warm = await rejection(() => cache.warm(['a'], () => new Map(), { batchsize: 2 } as never))
    expect(warm.message).toContain('`batchsize`: did you mean `batchSize`?')
    expect(
      refusal(() => cache.wrap((x: number) => x, { key: (x: number) => `k${x}`, slidng: true } as never))
        .message,
    ).toContain('`slidng`: did you mean `sliding`?')
    await cache.close()
  })

  it('writeThrough and warm still pass their own options through', async () => {
    const cache = createCache()
    let written = 0
    await cache.writeThrough({ key: 'w', value: 2, write: () => written++, ttl: '1m', tags: ['t'] })
    expect(written).toBe(1)
    expect(await cache.get('w')).toBe(2)
    expect(
      await cache.warm(['a', 'b', 'c'], (keys) => new Map(keys.map((k) => [k, k])), { batchSize: 2 }),
    ).toBe(3)
    await cache.close()
  })

  it('invalidateTags and ready refuse unknown names', async () => {
    const cache = createCache()
    expect(
      (await rejection(() => cache.invalidateTags(['t'], { mdoe: 'expire' } as never))).message,
    ).toContain('`mdoe`: did you mean `mode`?')
    expect((await rejection(() => cache.ready({ timout: '1s' } as never))).message).toContain(
      '`timout`: did you mean `timeout`?',
    )
    await cache.close()
  })
})

describe('HTTP option names', () => {
  it('HttpCache refuses `tll` naming `ttl`-like options and tagHeaders names', () => {
    const cache = createCache()
    expect(refusal(() => new HttpCache({ cache, prefx: 'web' } as never)).message).toContain(
      '`prefx`: did you mean `prefix`?',
    )
    expect(refusal(() => new HttpCache({ cache, maxBodyByte: 10 } as never)).message).toContain(
      '`maxBodyByte`: did you mean `maxBodyBytes`?',
    )
    expect(
      refusal(() => new HttpCache({ cache, tagHeaders: { surrogatekey: true } } as never)).message,
    ).toContain('`tagHeaders.surrogatekey`: did you mean `tagHeaders.surrogateKey`?')
    expect(refusal(() => new HttpCache({ cache, prefx: 'web' } as never)).message).toContain('docs/http.md')
    return cache.close()
  })

  it('a route policy refuses misspelt names (`tll`-style typos of maxAge, sMaxAge)', () => {
    expect(refusal(() => resolvePolicy({ maxage: '1m' } as never)).message).toContain(
      '`policy.maxage`: did you mean `policy.maxAge`?',
    )
    expect(refusal(() => resolvePolicy({ smaxAge: '1m' } as never, 'config.httpCache')).message).toContain(
      '`config.httpCache.smaxAge`: did you mean `config.httpCache.sMaxAge`?',
    )
  })
})

describe('one defaults table', () => {
  it('the HTTP layer, the limits and the alert thresholds read sections of DEFAULTS', () => {
    expect(HTTP_DEFAULTS).toBe(DEFAULTS.http)
    expect(LIMIT_DEFAULTS).toBe(DEFAULTS.limits)
    expect(DEFAULT_THRESHOLDS).toBe(DEFAULTS.alerts)
    expect(Object.isFrozen(DEFAULTS)).toBe(true)
    expect(Object.isFrozen(DEFAULTS.http)).toBe(true)
  })

  it("a cache created without options stores under the table's namespace and version, with its TTL", async () => {
    let now = 1_000_000
    const tier = new MemoryRemoteTier({ clock: () => now })
    const cache = createCache({ l2: { tier }, clock: () => now, jitter: 0 })
    await cache.set('k', 1)
    expect(tier.keys()).toContain(`${DEFAULTS.namespace}:${DEFAULTS.version}:k`)
    now += DEFAULTS.ttlMs - 1
    expect(await cache.get('k')).toBe(1)
    now += 2
    expect(await cache.get('k')).toBeUndefined()
    await cache.close()
  })
})
