import { describe, expect, it } from 'vitest'
import { cacheClock, stampText } from '../../src/base/clock.js'

describe('stampText', () => {
  it('is String(stamp) for every stamp, repeated or not', () => {
    const clock = cacheClock(undefined)
    const first = clock.stamp()
    const stamps = [
      first,
      first,
      first + 0.001,
      first,
      0,
      -0,
      Number.NaN,
      Number.NaN,
      1.5e-7,
      1.5e-7,
      12,
      first,
    ]
    expect(stamps.map(stampText)).toEqual(stamps.map(String))
  })
})
