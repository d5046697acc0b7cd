/**
 * The msgpack serializer writes only what reads back the same. @msgpack/msgpack itself writes a
 * Map or a Set as an empty map, a class instance as a plain object, a Float64Array as a Uint8Array
 * of its bytes, a BigInt past 64 bits wrapped, -0 as 0, and long strings with a lone surrogate
 * mangled: each is now refused on set with E_SERIALIZATION, naming what and where, before anything
 * reaches the L1 or the L2. What is accepted reads back equal, `undefined` following JSON (left out
 * of objects, null in arrays).
 */
import { describe, expect, it } from 'vitest'
import { SerializationError } from '../../src/errors.js'
import { createCache } from '../../src/index.js'
import { MsgpackSerializer } from '../../src/serialization/msgpack.js'
import { MemoryRemoteTier } from '../../src/tiers/memory/memory-remote-tier.js'

const msgpack = new MsgpackSerializer()
const roundTrip = (value: unknown): unknown => msgpack.decode(msgpack.encode(value))

function refusal(value: unknown): SerializationError {
  let error: unknown
  try {
    msgpack.encode(value)
  } catch (caught) {
    error = caught
  }
  expect(error).toBeInstanceOf(SerializationError)
  expect((error as SerializationError).code).toBe('E_SERIALIZATION')
  return error as SerializationError
}

class User {
  constructor(readonly name: string) {}
  greet(): string {
    return `hello ${this.name}`
  }
}

const TO_JSON = "serializer: 'json'"
/** A string the library writes through TextEncoder (over 50 characters): its lone surrogate became U+FFFD. */
const longLoneSurrogate = `${'x'.repeat(60)}\uD800`
/** An own `__proto__` property, as JSON.parse makes one. */
const protoKey = JSON.parse('{"ok": 1, "__proto__": {"admin": true}}') as unknown

// [shape, value, what the message names, where, what it advises]
const refused: [string, unknown, string, string, RegExp][] = [
  [
    'a Map in an array',
    { items: [1, 2, 3, new Map([['a', 1]])] },
    'a Map',
    'at .items[3]',
    /serializer: 'json'/,
  ],
  ['a Set as the value', new Set([1, 2]), 'a Set', 'as the value itself', /serializer: 'json'/],
  ['a class instance', { owner: new User('ada') }, 'an instance of User', 'at .owner', /cache plain data/],
  ['an Error', [new Error('x')], 'an instance of Error', 'at [0]', /cache plain data/],
  ['a RegExp', { rule: /a+/ }, 'an instance of RegExp', 'at .rule', /cache plain data/],
  ['a boxed string', { s: new String('x') }, 'an instance of String', 'at .s', /cache plain data/],
  ['a Buffer', { file: { body: Buffer.from('ab') } }, 'a Buffer', 'at .file.body', /new Uint8Array\(/],
  ['a Float64Array', { v: new Float64Array([1.5]) }, 'a Float64Array', 'at .v', /as a Uint8Array/],
  ['an Int16Array', [[new Int16Array([-1])]], 'an Int16Array', 'at [0][0]', /as a Uint8Array/],
  ['a DataView', new DataView(new ArrayBuffer(2)), 'a DataView', 'as the value itself', /as a Uint8Array/],
  ['an ArrayBuffer', { raw: new ArrayBuffer(2) }, 'an ArrayBuffer', 'at .raw', /as a Uint8Array/],
  ['a BigInt of 2^64', { 'a b': 2n ** 64n }, 'a BigInt outside', 'at ["a b"]', /serializer: 'json'/],
  ['a BigInt under -(2^63)', [-(2n ** 63n) - 1n], 'a BigInt outside', 'at [0]', /serializer: 'json'/],
  ['a long lone surrogate', { text: longLoneSurrogate }, 'a string with a lone', 'at .text', /json/],
  ['a short lone surrogate', ['a\uDC00'], 'a string with a lone', 'at [0]', /serializer: 'json'/],
  ['a lone surrogate in a key', { 'k\uD800': 1 }, 'a property name', 'at ["k\\ud800"]', /json/],
  ['an own __proto__ key', protoKey, 'an own property named __proto__', 'at .__proto__', /rename/],
  ['an Invalid Date', { at: new Date(Number.NaN) }, 'an Invalid Date', 'at .at', /serializer: 'json'/],
  ['a function', { f: () => 1 }, 'a function', 'at .f', /cache plain data/],
  ['a symbol', { s: Symbol('s') }, 'a symbol', 'at .s', /cache plain data/],
]

describe('the msgpack serializer refuses what it would not read back the same', () => {
  it.each(refused)('%s: refused, naming what and where', (_shape, value, what, where, advice) => {
    const error = refusal(value)
    expect(error.message).toContain(`cannot store ${what}`)
    expect(error.message).toContain(where)
    expect(error.message).toMatch(advice)
    expect(error.message).toContain('Nothing was cached')
  })

  it("Map and Set point to serializer: 'json', which keeps them", () => {
    expect(refusal(new Map()).message).toContain(TO_JSON)
    expect(refusal({ s: new Set() }).message).toContain(TO_JSON)
  })

  it('a circular value is refused as circular, with where the cycle closes', () => {
    const root: Record<string, unknown> = { a: { list: [] as unknown[] } }
    ;((root.a as Record<string, unknown>).list as unknown[]).push(root.a)
    const error = refusal(root)
    expect(error.message).toContain('circular')
    expect(error.message).toContain('the object at .a.list[0] is the one at .a')
    const self: Record<string, unknown> = {}
    self.me = self
    expect(refusal(self).message).toContain('the object at .me is the one at the top')
  })
})

describe('the msgpack serializer reads back what it accepts', () => {
  const accepted: [string, unknown][] = [
    ['plain nested data', { id: 1, name: 'ada', tags: ['a', 'b'], nested: { ok: true, none: null } }],
    ['a Date', { at: new Date(1_700_000_000_000) }],
    ['BigInts at the 64-bit bounds', [2n ** 64n - 1n, -(2n ** 63n), 0n, 5n]],
    ['a Uint8Array', { bytes: new Uint8Array([0, 1, 255]) }],
    ['large and fractional numbers', [2 ** 40, -(2 ** 40), 2 ** 53 + 2, 0.1, Number.NaN, -Infinity]],
    ['paired surrogates (emoji) in values and keys, long and short', { '😀': '😀', long: '😀'.repeat(40) }],
  ]

  it.each(accepted)('%s', (_shape, value) => {
    expect(roundTrip(value)).toEqual(value)
  })

  it('-0 reads back as -0, nested or alone, and the numbers beside it unchanged', () => {
    const value = { zero: -0, list: [1, -0, 300, -70_000, 2 ** 40, 1.5], big: 3n }
    const back = roundTrip(value) as typeof value
    expect(Object.is(back.zero, -0)).toBe(true)
    expect(Object.is(back.list[1], -0)).toBe(true)
    expect(back).toEqual(value)
    expect(typeof back.big).toBe('bigint')
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
  })

  it('undefined follows JSON: an object property holding it is left out, an array item reads back null', () => {
    const back = roundTrip({ a: undefined, b: 1, list: [1, undefined, 3] }) as Record<string, unknown>
    expect(back).toStrictEqual({ b: 1, list: [1, null, 3] })
    expect(Object.hasOwn(back, 'a')).toBe(false)
    // The same bytes as without the property; and beside a -0 (both written another way) too.
    expect(Buffer.from(msgpack.encode({ a: undefined, b: 1 }))).toEqual(Buffer.from(msgpack.encode({ b: 1 })))
    const both = roundTrip({ gone: undefined, zero: -0, n: 300 }) as Record<string, unknown>
    expect(both).toStrictEqual({ zero: -0, n: 300 })
    expect(Object.is(both.zero, -0)).toBe(true)
    // A hole too, as JSON.stringify writes it.
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    expect(roundTrip([1, , 3])).toStrictEqual([1, null, 3])
  })

  it('a Uint8Array read from a Buffer (as the L2 answers) is a Uint8Array that shares no memory with it', () => {
    const bytes = Buffer.from(msgpack.encode({ bytes: new Uint8Array([7, 8]) }))
    const back = msgpack.decode(bytes) as { bytes: Uint8Array }
    expect(Object.getPrototypeOf(back.bytes)).toBe(Uint8Array.prototype)
    expect(Buffer.isBuffer(back.bytes)).toBe(false)
    back.bytes[0] = 99
    expect(msgpack.decode(bytes)).toStrictEqual({ bytes: new Uint8Array([7, 8]) })
    bytes.fill(0)
    expect([...back.bytes]).toEqual([99, 8])
  })

  it('a null-prototype object reads back as a plain object with the same properties', () => {
    const value = Object.assign(Object.create(null) as Record<string, unknown>, { x: 1 })
    expect(roundTrip(value)).toStrictEqual({ x: 1 })
  })
})

describe('a cache with serializer: msgpack', () => {
  it('refuses on set, before anything reaches the L1 or the L2, and keeps what the key held', async () => {
    const remote = new MemoryRemoteTier()
    const cache = createCache({ namespace: 'mp', serializer: 'msgpack', l2: { tier: remote } })
    try {
      await cache.set('before', { n: 1 })
      const stored = remote.keys()
      expect(stored).toHaveLength(1)
      const refusedSet = cache.set('k', { items: [1, 2, 3, new Map([['a', 1]])] })
      await expect(refusedSet).rejects.toBeInstanceOf(SerializationError)
      await expect(refusedSet).rejects.toMatchObject({
        code: 'E_SERIALIZATION',
        message: expect.stringContaining('a Map at .items[3]'),
      })
      await expect(refusedSet).rejects.toThrow(TO_JSON)
      expect(cache.peek('k')).toBeUndefined()
      expect(remote.keys()).toEqual(stored)
      // A refused write to a key that holds a value leaves that value, in both tiers.
      await expect(cache.set('before', { n: new Set([2]) })).rejects.toMatchObject({
        code: 'E_SERIALIZATION',
      })
      expect(cache.peek('before')).toEqual({ n: 1 })
      const other = createCache({ namespace: 'mp', serializer: 'msgpack', l2: { tier: remote } })
      try {
        expect(await other.get('before')).toEqual({ n: 1 })
      } finally {
        await other.close()
      }
    } finally {
      await cache.close()
    }
  })

  it('getOrSet refuses a loaded value it cannot round-trip, and caches nothing', async () => {
    const remote = new MemoryRemoteTier()
    const cache = createCache({ namespace: 'mp4', serializer: 'msgpack', l2: { tier: remote } })
    try {
      const loaded = cache.getOrSet({ key: 'k', factory: async () => ({ seen: new Set(['a']) }) })
      await expect(loaded).rejects.toMatchObject({
        code: 'E_SERIALIZATION',
        message: expect.stringContaining('a Set at .seen'),
      })
      expect(cache.peek('k')).toBeUndefined()
      expect(remote.keys()).toEqual([])
    } finally {
      await cache.close()
    }
  })

  it('what it accepts, another instance reads back from the L2 the same (-0 and undefined included)', async () => {
    const remote = new MemoryRemoteTier()
    const cache = createCache({ namespace: 'mp2', serializer: 'msgpack', l2: { tier: remote } })
    const other = createCache({ namespace: 'mp2', serializer: 'msgpack', l2: { tier: remote } })
    try {
      const value = { at: new Date(0), big: 2n ** 64n - 1n, zero: -0, gone: undefined }
      await cache.set('k', value)
      const back = (await other.get('k')) as Record<string, unknown>
      expect(back).toEqual({ at: new Date(0), big: 2n ** 64n - 1n, zero: -0 })
      expect(Object.is(back.zero, -0)).toBe(true)
      expect(Object.hasOwn(back, 'gone')).toBe(false)
    } finally {
      await other.close()
      await cache.close()
    }
  })

  it('a Uint8Array read from the L2 is a Uint8Array, and changing it does not change the stored entry', async () => {
    const remote = new MemoryRemoteTier()
    const open = () =>
      createCache({ namespace: 'mp3', serializer: 'msgpack', l1: false, l2: { tier: remote } })
    const [writer, reader, later] = [open(), open(), open()]
    try {
      await writer.set('k', { bytes: new Uint8Array([7, 8]) })
      const read = (await reader.get('k')) as { bytes: Uint8Array }
      expect(Object.getPrototypeOf(read.bytes)).toBe(Uint8Array.prototype)
      read.bytes[0] = 99
      expect(await later.get('k')).toStrictEqual({ bytes: new Uint8Array([7, 8]) })
    } finally {
      await Promise.all([writer.close(), reader.close(), later.close()])
    }
  })
})
