/**
 * The entry codec's payload: a value's bytes as another serializer already wrote them (a
 * write-behind's log entry) are taken as they are only when that serializer writes what the
 * cache's own would; otherwise the value is encoded again. The size limit holds either way.
 */
import { describe, expect, it } from 'vitest'
import { EntryCodec } from '../../src/core/entry-codec.js'
import { SerializationError, ValueTooLargeError } from '../../src/errors.js'
import { MAX_DEPTH } from '../../src/serialization/limits.js'
import { MsgpackSerializer } from '../../src/serialization/msgpack.js'
import type { Serializer } from '../../src/serialization/serializer.js'
import { TaggedJsonSerializer } from '../../src/serialization/tagged-json.js'

function codec(serializer: Serializer, maxValueBytes = 1 << 20): EntryCodec {
  return new EntryCodec({
    serializer,
    crypto: undefined,
    maxValueBytes,
    compressAbove: undefined,
    onDecodeError: () => {},
  })
}

const value = { id: 7, name: 'lamp', tags: ['a', 'b'] }

describe('EntryCodec.encode with bytes already written', () => {
  it('takes the bytes of another built-in tagged JSON serializer as they are (no second encoding)', () => {
    const bytes = new TaggedJsonSerializer().encode(value)
    expect(
      codec(new TaggedJsonSerializer()).encode(value, { serializer: new TaggedJsonSerializer(), bytes }),
    ).toBe(bytes)
  })

  it('takes the bytes of its own serializer instance, whatever it is', () => {
    const own = new MsgpackSerializer()
    const bytes = own.encode(value)
    expect(codec(own).encode(value, { serializer: own, bytes })).toBe(bytes)
  })

  it('encodes again when the bytes come from a serializer that may write differently', () => {
    const json = new TaggedJsonSerializer()
    const jsonBytes = json.encode(value)
    const msgpack = new MsgpackSerializer()
    const fromJson = codec(msgpack).encode(value, { serializer: json, bytes: jsonBytes })
    expect(Buffer.from(fromJson)).toEqual(Buffer.from(msgpack.encode(value)))
    // A subclass of the tagged JSON serializer is not the built-in one: its bytes may differ.
    class Upper extends TaggedJsonSerializer {
      override encode(v: unknown): Uint8Array {
        return super.encode(JSON.parse(JSON.stringify(v).toUpperCase()))
      }
    }
    const upper = new Upper()
    const fromUpper = codec(new TaggedJsonSerializer()).encode(value, {
      serializer: upper,
      bytes: upper.encode(value),
    })
    expect(Buffer.from(fromUpper)).toEqual(Buffer.from(jsonBytes))
  })

  it('refuses bytes over maxValueBytes whoever wrote them', () => {
    const bytes = new TaggedJsonSerializer().encode({ text: 'x'.repeat(200) })
    expect(() =>
      codec(new TaggedJsonSerializer(), 100).encode({}, { serializer: new TaggedJsonSerializer(), bytes }),
    ).toThrow(ValueTooLargeError)
  })
})

function thrownBy(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

function nested(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

describe('EntryCodec.encode when the serializer refuses', () => {
  for (const make of [() => new TaggedJsonSerializer(), () => new MsgpackSerializer()]) {
    const name = make().name
    it(`passes the ${name} serializer's too-deep refusal through as is, with its advice to flatten`, () => {
      const serializer = make()
      const direct = thrownBy(() => serializer.encode(nested(MAX_DEPTH + 1))) as SerializationError
      const error = thrownBy(() => codec(serializer).encode(nested(MAX_DEPTH + 1)))
      expect(error).toBeInstanceOf(SerializationError)
      const refused = error as SerializationError
      expect(refused.code).toBe('E_SERIALIZATION')
      expect(refused.message).toBe(direct.message)
      expect(refused.message).toMatch(/Flatten it/)
      expect(refused.message).not.toMatch(/Cache plain data/)
      // msgpack's refusal carries the library's error as cause: it is still there, not replaced.
      expect(refused.cause === undefined).toBe(direct.cause === undefined)
      if (direct.cause instanceof Error) {
        expect(refused.cause).toBeInstanceOf(direct.cause.constructor)
        expect((refused.cause as Error).message).toBe(direct.cause.message)
      }
    })
  }

  it("keeps a custom serializer's SerializationError itself, cause included", () => {
    const root = new Error('schema says no')
    const own = new SerializationError('This value breaks the schema; drop its extra fields.', {
      cause: root,
    })
    const serializer: Serializer = {
      name: 'strict',
      encode: () => {
        throw own
      },
      decode: () => undefined,
    }
    const error = thrownBy(() => codec(serializer).encode({ a: 1 }))
    expect(error).toBe(own)
    expect((error as SerializationError).cause).toBe(root)
  })

  it('still wraps any other refusal with the plain-data advice, the refusal as cause', () => {
    const serializer = new TaggedJsonSerializer()
    const circular: Record<string, unknown> = {}
    circular.self = circular
    const error = thrownBy(() => codec(serializer).encode(circular))
    expect(error).toBeInstanceOf(SerializationError)
    const refused = error as SerializationError
    expect(refused.code).toBe('E_SERIALIZATION')
    expect(refused.message).toMatch(/json serializer cannot encode this value \(a circular structure/)
    expect(refused.message).toMatch(/Cache plain data/)
    expect(refused.cause).toBeInstanceOf(TypeError)
    expect((refused.cause as TypeError).message).toBe('a circular structure cannot be serialized')
  })
})
