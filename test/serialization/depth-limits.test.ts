/**
 * One nesting limit, MAX_DEPTH containers (arrays, objects, Maps, Sets), for every built-in
 * serializer and both ways: a value at the limit is written and reads back; one level more is
 * refused on set with E_SERIALIZATION, before anything is stored; bytes one level past what the
 * encoder writes are a DecodeError. Each side of the bound, for each serializer.
 */
import { describe, expect, it } from 'vitest'
import { SerializationError } from '../../src/errors.js'
import { createCache } from '../../src/index.js'
import { DecodeError, MAX_DEPTH } from '../../src/serialization/limits.js'
import { MsgpackSerializer } from '../../src/serialization/msgpack.js'
import type { Serializer } from '../../src/serialization/serializer.js'
import { TaggedJsonSerializer } from '../../src/serialization/tagged-json.js'
import { MemoryRemoteTier } from '../../src/tiers/memory/memory-remote-tier.js'

/** Tagged JSON's wire bound: a Map is three brackets per level, a tagged leaf one more. */
const TAGGED_WIRE_DEPTH = 3 * MAX_DEPTH + 1

/** `levels` containers, each made by `wrap` around the next, `leaf` innermost (built without recursion). */
function nest(levels: number, wrap: (inner: unknown) => unknown, leaf: unknown): unknown {
  let value = leaf
  for (let i = 0; i < levels; i++) value = wrap(value)
  return value
}

const inArray = (inner: unknown) => [inner]
const inObject = (inner: unknown) => ({ a: inner })

/** Shapes each serializer writes: `levels` containers deep, whatever the innermost holds. */
const common: Record<string, (levels: number) => unknown> = {
  'arrays holding a number': (levels) => nest(levels, inArray, 1),
  'arrays, the innermost empty': (levels) => nest(levels - 1, inArray, []),
  'objects holding a string': (levels) => nest(levels, inObject, 'x'),
  'objects, the innermost empty': (levels) => nest(levels - 1, inObject, {}),
  'objects and arrays in turn, a Date innermost': (levels) =>
    nest(levels, (inner) => (Array.isArray(inner) ? { a: inner } : [inner]), new Date(0)),
}

/** Shapes only tagged JSON round-trips; tags add brackets (a Map three per level) but no depth. */
const taggedOnly: Record<string, (levels: number) => unknown> = {
  'Maps holding a BigInt': (levels) => nest(levels, (inner) => new Map([['k', inner]]), 1n),
  'Sets holding undefined in an array': (levels) =>
    nest(levels - 1, (inner) => new Set([inner]), [undefined]),
  'objects with a $t key holding NaN': (levels) => nest(levels, (inner) => ({ $t: 1, v: inner }), Number.NaN),
  'Map keys that are Maps': (levels) => nest(levels, (inner) => new Map([[inner, 0]]), -0),
}

const serializers: [string, Serializer, Record<string, (levels: number) => unknown>][] = [
  ['json', new TaggedJsonSerializer(), { ...common, ...taggedOnly }],
  ['msgpack', new MsgpackSerializer(), common],
]

function refusal(encode: () => unknown): SerializationError {
  let error: unknown
  try {
    encode()
  } catch (caught) {
    error = caught
  }
  expect(error).toBeInstanceOf(SerializationError)
  const refused = error as SerializationError
  expect(refused.code).toBe('E_SERIALIZATION')
  expect(refused.message).toContain(`deeper than ${MAX_DEPTH} levels`)
  expect(refused.message).toMatch(/Flatten it/)
  return refused
}

describe.each(serializers)('the %s serializer and the nesting limit', (name, serializer, shapes) => {
  it.each(Object.entries(shapes))(
    `%s: ${MAX_DEPTH} levels are written and read back, ${MAX_DEPTH + 1} are refused when written`,
    (_shape, make) => {
      const deepest = make(MAX_DEPTH)
      expect(serializer.decode(serializer.encode(deepest))).toEqual(deepest)
      refusal(() => serializer.encode(make(MAX_DEPTH + 1)))
    },
  )

  it('a runaway value (100,000 levels) is refused as too deep, not by a stack overflow', () => {
    refusal(() => serializer.encode(nest(100_000, inArray, 1)))
    refusal(() => serializer.encode(nest(100_000, inObject, 1)))
  })

  it('a cache refuses a value one level too deep on set, before anything is stored, and keeps the one at the limit', async () => {
    const remote = new MemoryRemoteTier()
    const cache = createCache({
      namespace: 'depth',
      serializer: name as 'json' | 'msgpack',
      l2: { tier: remote },
    })
    try {
      const refused = cache.set('deep', nest(MAX_DEPTH + 1, inArray, 1))
      await expect(refused).rejects.toMatchObject({
        code: 'E_SERIALIZATION',
        message: expect.stringContaining(`deeper than ${MAX_DEPTH} levels`),
      })
      // The serializer's own advice (flatten it) reaches the caller, not the generic plain-data one.
      await expect(refused).rejects.toThrow(/Flatten it/)
      await expect(refused).rejects.not.toThrow(/Cache plain data/)
      expect(cache.peek('deep')).toBeUndefined()
      expect(remote.keys()).toEqual([])
      const deepest = nest(MAX_DEPTH, inArray, 1)
      await cache.set('ok', deepest)
      // Read from the L2 by a second cache: what was accepted is what another instance reads back.
      const other = createCache({
        namespace: 'depth',
        serializer: name as 'json' | 'msgpack',
        l2: { tier: remote },
      })
      try {
        expect(await other.get('ok')).toEqual(deepest)
      } finally {
        await other.close()
      }
    } finally {
      await cache.close()
    }
  })
})

describe('decoders refuse one level more than the encoders write', () => {
  const msgpack = new MsgpackSerializer()
  const json = new TaggedJsonSerializer()
  /** `levels` one-item MessagePack arrays around `innermost` (nil, or 0x90: an empty array). */
  const msgpackArrays = (levels: number, innermost: number) => {
    const bytes = Buffer.alloc(levels + 1, 0x91)
    bytes[levels] = innermost
    return bytes
  }

  it(`MessagePack: ${MAX_DEPTH} levels are read, ${MAX_DEPTH + 1} are a DecodeError, an empty innermost array counting as one`, () => {
    expect(msgpack.decode(msgpackArrays(MAX_DEPTH, 0xc0))).toEqual(nest(MAX_DEPTH, inArray, null))
    expect(() => msgpack.decode(msgpackArrays(MAX_DEPTH + 1, 0xc0))).toThrow(DecodeError)
    expect(msgpack.decode(msgpackArrays(MAX_DEPTH - 1, 0x90))).toEqual(nest(MAX_DEPTH - 1, inArray, []))
    // 512 arrays around an empty one: 513 levels, which the encoder refuses, so the reader does too.
    expect(() => msgpack.decode(msgpackArrays(MAX_DEPTH, 0x90))).toThrow(DecodeError)
    expect(() => msgpack.decode(msgpackArrays(MAX_DEPTH, 0x80))).toThrow(DecodeError)
  })

  it(`plain JSON: ${MAX_DEPTH} levels are read, ${MAX_DEPTH + 1} are a DecodeError`, () => {
    const brackets = (levels: number) => Buffer.from(`p${'['.repeat(levels)}${']'.repeat(levels)}`)
    expect(json.decode(brackets(MAX_DEPTH))).toEqual(nest(MAX_DEPTH - 1, inArray, []))
    expect(() => json.decode(brackets(MAX_DEPTH + 1))).toThrow(DecodeError)
  })

  it(`tagged JSON: the value's own depth is checked (${MAX_DEPTH + 1} plain arrays are refused though tags may take ${TAGGED_WIRE_DEPTH} brackets)`, () => {
    const tagged = (levels: number) =>
      Buffer.from(`t${'['.repeat(levels)}{"$t":"undef"}${']'.repeat(levels)}`)
    expect(json.decode(tagged(MAX_DEPTH))).toEqual(nest(MAX_DEPTH, inArray, undefined))
    expect(() => json.decode(tagged(MAX_DEPTH + 1))).toThrow(DecodeError)
    const maps = (levels: number) =>
      Buffer.from(`t${'{"$t":"map","v":[["k",'.repeat(levels)}{"$t":"date","v":0}${']]}'.repeat(levels)}`)
    expect(json.decode(maps(MAX_DEPTH))).toEqual(
      nest(MAX_DEPTH, (inner) => new Map([['k', inner]]), new Date(0)),
    )
    expect(() => json.decode(maps(MAX_DEPTH + 1))).toThrow(DecodeError)
    // Past the wire bound the bytes are refused before JSON.parse builds anything.
    expect(() => json.decode(Buffer.from(`t${'['.repeat(TAGGED_WIRE_DEPTH + 1)}`))).toThrow(
      `deeper than ${TAGGED_WIRE_DEPTH}`,
    )
  })

  it('a circular value is still refused as circular, not as too deep', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(() => json.encode(circular)).toThrow(/circular/)
  })
})
