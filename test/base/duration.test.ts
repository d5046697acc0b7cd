import { describe, expect, it } from 'vitest'
import { parseDuration } from '../../dist/index.js'

describe('parseDuration()', () => {
  it('reads numbers as milliseconds and unit strings', () => {
    expect(parseDuration(250, 'ttl')).toBe(250)
    expect(parseDuration('500ms', 'ttl')).toBe(500)
    expect(parseDuration('30s', 'ttl')).toBe(30_000)
    expect(parseDuration('5m', 'ttl')).toBe(300_000)
    expect(parseDuration('1h', 'ttl')).toBe(3_600_000)
    expect(parseDuration('7d', 'ttl')).toBe(604_800_000)
    expect(parseDuration('1.5s', 'ttl')).toBe(1500)
    expect(parseDuration(Number.POSITIVE_INFINITY, 'ttl')).toBe(Number.POSITIVE_INFINITY)
  })

  it('refuses negative, NaN and malformed durations, naming the option', () => {
    for (const bad of [-1, Number.NaN, '5 minutes', '', 'ms', '-5s', null, {}]) {
      expect(() => parseDuration(bad, 'ttl')).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
    }
    expect(() => parseDuration(-1, 'negativeTtl')).toThrow(/negativeTtl/)
  })
})
