import { describe, expect, it } from 'vitest'
import { ttl } from '../../dist/index.js'

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
})
