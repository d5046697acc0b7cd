import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DecodeError,
  decodeEnvelope,
  encodeEnvelope,
  MAX_DEPTH,
  MsgpackSerializer,
  TaggedJsonSerializer,
} from '../../dist/serialization/index.js'

const json = new TaggedJsonSerializer()
const msgpack = new MsgpackSerializer()

/** What a decoder may do with any input: return, or throw a DecodeError — nothing else, and fast. */
function onlyDecodeErrors(decode: () => unknown): void {
  const started = performance.now()
  try {
    decode()
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error
  }
  // A hang, not a speed check: generous for a loaded machine.
  expect(performance.now() - started).toBeLessThan(1000)
}

function plain(text: string): Uint8Array {
  return Buffer.from(`p${text}`)
}

afterEach(() => {
  // S6: no test may leave a polluted prototype behind.
  expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  expect(({} as Record<string, unknown>).x).toBeUndefined()
})

describe('JSON decoding cannot pollute prototypes (S6)', () => {
  it.each([
    ['plain', '{"__proto__":{"isAdmin":true}}'],
    ['nested', '{"a":{"__proto__":{"isAdmin":true}}}'],
    ['constructor.prototype', '{"constructor":{"prototype":{"x":1}}}'],
  ])('%s __proto__ keys stay own data properties', (_name, text) => {
    const value = json.decode(plain(text)) as Record<string, unknown>
    // Spread and Object.assign of the result do not reach Object.prototype either.
    const copy = Object.assign({}, value, { ...value })
    expect(copy).toBeTypeOf('object')
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })

  it('revives tagged values without assigning through __proto__', () => {
    const bytes = Buffer.from('t{"__proto__":{"isAdmin":true},"d":{"$t":"date","v":0}}')
    const value = json.decode(bytes) as Record<string, unknown>
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(Object.hasOwn(value, '__proto__')).toBe(true)
    expect((value as { isAdmin?: unknown }).isAdmin).toBeUndefined()
    expect(value.d).toEqual(new Date(0))
  })

  it('msgpack refuses a __proto__ map key with a DecodeError (S7)', () => {
    // {"__proto__": {"isAdmin": true}}
    const bytes = Buffer.from([
      0x81,
      0xa9,
      ...Buffer.from('__proto__'),
      0x81,
      0xa7,
      ...Buffer.from('isAdmin'),
      0xc3,
    ])
    expect(() => msgpack.decode(bytes)).toThrow(DecodeError)
  })
})

describe('msgpack abuse is refused before any allocation (S7)', () => {
  it.each([
    ['array32 claiming 2^31 items with no body', [0xdd, 0x7f, 0xff, 0xff, 0xff]],
    ['map32 claiming 2^32-1 entries', [0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['str32 claiming 4 GiB', [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]],
    ['bin32 claiming 2 GiB', [0xc6, 0x7f, 0xff, 0xff, 0xff]],
    ['ext32 claiming 4 GiB', [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['the never-used byte 0xc1', [0xc1]],
    ['an unknown extension type', [0xd4, 0x05, 0x01]],
    ['trailing bytes', [0xc0, 0xc0]],
    ['nothing', []],
  ])('%s', (_name, bytes) => {
    expect(() => msgpack.decode(Buffer.from(bytes))).toThrow(DecodeError)
  })

  it('still reads Dates (the timestamp extension is the one allowed)', () => {
    const date = new Date(1_700_000_000_123)
    expect(msgpack.decode(msgpack.encode({ at: date }))).toEqual({ at: date })
    const early = new Date(-1_000_000_000_001)
    expect(msgpack.decode(msgpack.encode([early]))).toEqual([early])
  })

  it('refuses to write an Invalid Date (a timestamp cannot carry it: it would read back as 1970)', () => {
    expect(() => msgpack.encode({ at: new Date(Number.NaN) })).toThrow(/Invalid Date.*serializer 'json'/)
  })
})

describe('depth and size are bounded (F16)', () => {
  const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

  it('a 100,000-deep JSON payload is a DecodeError, not a stack overflow', () => {
    expect(() => json.decode(plain(deep(100_000)))).toThrow(DecodeError)
    expect(() => json.decode(Buffer.from(`t${deep(100_000)}`))).toThrow(DecodeError)
  })

  it('a 100,000-deep msgpack payload is a DecodeError', () => {
    const bytes = Buffer.alloc(100_001, 0x91)
    bytes[100_000] = 0xc0
    expect(() => msgpack.decode(bytes)).toThrow(DecodeError)
  })

  it(`nesting up to ${MAX_DEPTH} levels round-trips; deeper values are refused when written`, () => {
    let value: unknown = 1
    for (let i = 0; i < MAX_DEPTH - 1; i++) value = [value]
    expect(json.decode(json.encode(value))).toEqual(value)
    expect(() => json.encode([[value]])).toThrow(/deeper than/)
    // Each side of the bound, for every serializer and shape, is in depth-limits.test.ts.
    let shallow: unknown = 1
    for (let i = 0; i < 99; i++) shallow = [shallow]
    expect(msgpack.decode(msgpack.encode(shallow))).toEqual(shallow)
  })

  it('brackets inside strings do not count as nesting', () => {
    const value = { text: '['.repeat(5000), more: '{'.repeat(5000) }
    expect(json.decode(json.encode(value))).toEqual(value)
  })

  it('a BigInt of more than 10,000 digits is refused both ways (parsing it is quadratic)', () => {
    expect(() => json.encode(10n ** 10_001n)).toThrow(/BigInt/)
    const forged = Buffer.from(`t{"$t":"big","v":"${'9'.repeat(10_001)}"}`)
    expect(() => json.decode(forged)).toThrow(DecodeError)
    expect(json.decode(json.encode(10n ** 9_000n))).toBe(10n ** 9_000n)
  })

  it('a forged byte tag whose value is not base64 text is refused, not allocated from its "length"', () => {
    // Buffer.from({ length: n }) allocates n bytes and walks them one by one: without the check,
    // these 40 bytes cost 20 MB and seconds of a blocked event loop (300 MB and ~50 s at 3e8).
    for (const kind of ['buf', 'u8']) {
      const forged = Buffer.from(`t{"$t":"${kind}","v":{"length":20000000}}`)
      const started = performance.now()
      expect(() => json.decode(forged), kind).toThrow(DecodeError)
      expect(performance.now() - started, kind).toBeLessThan(100)
    }
    for (const forged of [
      't{"$t":"buf","v":[1,2,3]}',
      't{"$t":"u8","v":null}',
      't{"$t":"obj","v":5}',
      't{"$t":"obj","v":[1,2]}',
      't{"$t":"map","v":{"length":3}}',
      't{"$t":"set","v":"abc"}',
    ]) {
      expect(() => json.decode(Buffer.from(forged)), forged).toThrow(DecodeError)
    }
  })

  it('an envelope payload larger than the limit, or a gzip bomb, is an EnvelopeError (a DecodeError)', () => {
    const big = encodeEnvelope({ createdAt: 1, expiresAt: 2, tags: [], payload: new Uint8Array(2000) })
    expect(() => decodeEnvelope(big, 1000)).toThrow(DecodeError)
    const bomb = encodeEnvelope(
      { createdAt: 1, expiresAt: 2, tags: [], payload: new Uint8Array(1_000_000) },
      1,
    )
    expect(bomb.byteLength).toBeLessThan(5000)
    expect(() => decodeEnvelope(bomb, 10_000)).toThrow(DecodeError)
  })

  it('a tag count the buffer cannot hold is refused without building anything', () => {
    const bytes = encodeEnvelope({ createdAt: 1, expiresAt: 2, tags: [], payload: new Uint8Array(0) })
    bytes.writeUInt16LE(0xffff, 23)
    expect(() => decodeEnvelope(bytes)).toThrow(/truncated in its tags/)
  })
})

describe('fuzzing the decoders (thousands of random inputs: typed errors only, no hang)', () => {
  const header = (version: number) =>
    fc.constantFrom(Buffer.from([0xc5, version, 0]), Buffer.from([0xc5, version, 1]))

  it('decodeEnvelope: random bytes and mutated valid envelopes', () => {
    const valid = encodeEnvelope(
      { createdAt: 1, expiresAt: 2, loadMs: 3, tags: ['a', 'bb'], payload: json.encode({ x: 1 }) },
      Number.POSITIVE_INFINITY,
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(header(2), fc.uint8Array({ maxLength: 120 })).map(([h, rest]) => Buffer.concat([h, rest])),
          fc.tuple(header(1), fc.uint8Array({ maxLength: 120 })).map(([h, rest]) => Buffer.concat([h, rest])),
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
            const copy = Buffer.from(valid)
            copy[at] = byte
            return copy
          }),
          fc.nat(valid.length).map((n) => valid.subarray(0, n)),
        ),
        (bytes) => onlyDecodeErrors(() => decodeEnvelope(bytes, 1 << 20)),
      ),
      { numRuns: 3000 },
    )
  })

  it('tagged-json decode: random bytes, random JSON and random tags', () => {
    const tagged = fc
      .record({
        $t: fc.constantFrom('num', 'big', 'undef', 'date', 'map', 'set', 'buf', 'u8', 'obj', 'zzz'),
        v: fc.jsonValue(),
      })
      .map((tag) => Buffer.from(`t${JSON.stringify({ a: [tag], b: tag })}`))
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.jsonValue().map((v) => Buffer.from(`p${JSON.stringify(v)}`)),
          fc.jsonValue().map((v) => Buffer.from(`t${JSON.stringify(v)}`)),
          tagged,
          fc.string({ maxLength: 200 }).map((s) => Buffer.from(`t${s}`)),
        ),
        (bytes) => onlyDecodeErrors(() => json.decode(bytes)),
      ),
      { numRuns: 3000 },
    )
  })

  it('msgpack decode: random bytes and mutated valid payloads', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(fc.jsonValue(), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([v, at, byte]) => {
            const bytes = Buffer.from(msgpack.encode(v))
            bytes[at % bytes.length] = byte
            return bytes
          }),
        ),
        (bytes) => onlyDecodeErrors(() => msgpack.decode(bytes)),
      ),
      { numRuns: 3000 },
    )
  })

  it('msgpack: whatever encodes decodes to the same value', () => {
    fc.assert(
      // An own `__proto__` key is written but refused when read (so such a value is a miss, never a pollution).
      fc.property(
        fc.jsonValue({ maxDepth: 6 }).filter((v) => !JSON.stringify(v).includes('"__proto__"')),
        (v) => {
          // -0 has no msgpack integer form: compare through JSON, as the values are JSON values.
          expect(JSON.stringify(msgpack.decode(msgpack.encode(v)))).toBe(JSON.stringify(v))
        },
      ),
      { numRuns: 1000 },
    )
  })
})
