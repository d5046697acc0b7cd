import { describe, expect, it } from 'vitest'
import { createCache, ttl } from '../../dist/index.js'

describe('adaptive TTL', () => {
  it('grows with reads from min to max', () => {
    const adaptive = ttl.adaptive({ min: '5m', max: '1h', hotReads: 100 })
    expect(adaptive.ttlFor('never-read')).toBe(300_000)
    for (let i = 0; i < 10; i++) adaptive.record('warm')
    const warm = adaptive.ttlFor('warm')
    expect(warm).toBeGreaterThan(300_000)
    expect(warm).toBeLessThan(3_600_000)
    for (let i = 0; i < 200; i++) adaptive.record('hot')
    expect(adaptive.ttlFor('hot')).toBe(3_600_000)
  })

  it('counts in fixed memory and lets popularity decay', () => {
    const adaptive = ttl.adaptive({ min: '1m', max: '1h', hotReads: 50, width: 64 })
    for (let i = 0; i < 60; i++) adaptive.record('hot')
    expect(adaptive.ttlFor('hot')).toBe(3_600_000)
    for (let i = 0; i < 64 * 10 * 3; i++) adaptive.record(`other${i}`)
    expect(adaptive.frequency('hot')).toBeLessThan(50)
  })

  it('refuses min above max', () => {
    expect(() => ttl.adaptive({ min: '1h', max: '5m' })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
  })

  it('gives a key read a few times a number when min and max are both Infinity (not NaN, which cached nothing)', () => {
    const adaptive = ttl.adaptive({ min: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY })
    for (let i = 0; i < 10; i++) adaptive.record('warm')
    expect(adaptive.ttlFor('warm')).toBe(Number.POSITIVE_INFINITY)
    expect(adaptive.ttlFor('never-read')).toBe(Number.POSITIVE_INFINITY)
  })

  it('keeps a warm key cached when min and max are both Infinity', async () => {
    const adaptive = ttl.adaptive({ min: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY })
    const cache = createCache({ ttl: adaptive })
    try {
      // getOrSet counts reads: after three, a write of the key takes the TTL of a warm key.
      for (let i = 0; i < 3; i++) expect(await cache.getOrSet({ key: 'k', factory: () => 1 })).toBe(1)
      await cache.set('k', 2)
      expect(await cache.get('k')).toBe(2)
    } finally {
      await cache.close()
    }
  })

  it.each([2 ** 25, 2 ** 32, 2 ** 40])(
    'refuses a width of %s with E_INVALID_OPTION instead of allocating gigabytes or a RangeError',
    (width) => {
      expect(() => ttl.adaptive({ min: '1m', max: '1h', width })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/width/) }),
      )
    },
  )
})
