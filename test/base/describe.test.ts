/** describeValue: what an error message shows of a value it was given, whatever that value is. */
import { describe, expect, it } from 'vitest'
import { describeValue } from '../../dist/base/describe.js'

describe('describeValue', () => {
  it('shows strings quoted, numbers, booleans, undefined and null as written', () => {
    expect(describeValue('lru')).toBe('"lru"')
    expect(describeValue(1.5)).toBe('1.5')
    expect(describeValue(Number.NaN)).toBe('NaN')
    expect(describeValue(false)).toBe('false')
    expect(describeValue(undefined)).toBe('undefined')
    expect(describeValue(null)).toBe('null')
  })

  it('describes what String() or JSON.stringify() would throw on: a BigInt, a Symbol, objects whose toString or toJSON throws, objects without a prototype', () => {
    const throwing = {
      toString() {
        throw new Error('toString ran')
      },
      toJSON() {
        throw new Error('toJSON ran')
      },
    }
    expect(describeValue(10n)).toBe('10n')
    expect(describeValue(Symbol('tag'))).toBe('a Symbol (tag)')
    expect(describeValue(throwing)).toBe('an object with keys toString, toJSON')
    expect(describeValue(Object.create(null))).toBe('an object without a prototype')
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    expect(describeValue(revoked.proxy)).toBe('an object')
  })

  it('names arrays, functions, class instances and empty objects without running their code', () => {
    class Price {
      get value(): number {
        throw new Error('getter ran')
      }
    }
    expect(describeValue([1, 2, 3])).toBe('an array of 3')
    expect(describeValue(() => 1)).toBe('a function')
    expect(describeValue(new Price())).toBe('an instance of Price')
    expect(describeValue(new Date(0))).toBe('an instance of Date')
    expect(describeValue({})).toBe('an empty object')
  })

  it('stays short: a long string is cut and its length given, a long key list ends in …', () => {
    const long = describeValue('x'.repeat(100_000))
    expect(long.length).toBeLessThan(100)
    expect(long).toContain('(100000 characters)')
    expect(describeValue({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 })).toBe('an object with keys a, b, c, d, e, …')
  })
})
