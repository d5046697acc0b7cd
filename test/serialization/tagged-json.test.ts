import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TaggedJsonSerializer } from '../../dist/serialization/index.js'

const json = new TaggedJsonSerializer()
const roundTrip = (value: unknown) => json.decode(json.encode(value))

describe('tagged JSON serializer', () => {
  it('round-trips what plain JSON loses', () => {
    const value = {
      at: new Date(1_700_000_000_000),
      big: 12345678901234567890n,
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Date(0)],
      ]),
      set: new Set(['x', 'y']),
      buf: Buffer.from([0, 1, 255]),
      u8: new Uint8Array([7, 8]),
      holes: [1, undefined, 3],
      special: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0],
      nested: { deep: [{ when: new Date(5) }] },
    }
    const back = roundTrip(value) as typeof value
    expect(back).toEqual(value)
    expect(back.buf).toBeInstanceOf(Buffer)
    expect(back.u8).toBeInstanceOf(Uint8Array)
    expect(Object.is(back.special[3], -0)).toBe(true)
  })

  it('round-trips an Invalid Date as an Invalid Date (JSON writes its NaN time as null, which reads as 1970)', () => {
    const back = roundTrip({ at: new Date(Number.NaN), list: [new Date(Number.NaN)] }) as {
      at: Date
      list: Date[]
    }
    expect(back.at).toBeInstanceOf(Date)
    expect(back.at.getTime()).toBeNaN()
    expect(back.list[0]?.getTime()).toBeNaN()
    // Written before the 'NaN' tag: null was only ever an Invalid Date.
    expect((json.decode(Buffer.from('t{"$t":"date","v":null}')) as Date).getTime()).toBeNaN()
    expect(() => json.decode(Buffer.from('t{"$t":"date","v":"soon"}'))).toThrow(/malformed Date tag/)
  })

  it('keeps user objects that have a "$t" key as data', () => {
    const value = { $t: 'date', v: 5, inner: { $t: 'big', v: '1' } }
    expect(roundTrip(value)).toEqual(value)
  })

  it('writes plain values as bare JSON behind a one-byte marker', () => {
    const bytes = json.encode({ a: 1 })
    expect(Buffer.from(bytes).toString()).toBe('p{"a":1}')
  })

  it('refuses functions, symbols, class instances and circular structures', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    class Thing {}
    for (const bad of [() => 1, Symbol('s'), new Thing(), circular, { f: () => 1 }, undefined]) {
      expect(() => json.encode(bad)).toThrow(TypeError)
    }
  })

  it('never pollutes prototypes when decoding "__proto__" keys', () => {
    const decoded = json.decode(Buffer.from('p{"__proto__":{"isAdmin":true}}')) as Record<string, unknown>
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    const tagged = json.decode(
      Buffer.from('t{"__proto__":{"isAdmin":true},"d":{"$t":"date","v":0}}'),
    ) as Record<string, unknown>
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(Object.getPrototypeOf(tagged)).toBe(Object.prototype)
    expect(Object.hasOwn(tagged, '__proto__')).toBe(true)
  })

  it('round-trips arbitrary JSON-like values (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(roundTrip(value)).toEqual(value)
      }),
      { numRuns: 500 },
    )
  })

  it('throws (never hangs or crashes) on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          json.decode(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(Error)
        }
      }),
      { numRuns: 500 },
    )
  })
})
