/**
 * The entry codec's payload: a value's bytes as another serializer already wrote them (a
 * write-behind's log entry) are taken as they are only when that serializer writes what the
 * cache's own would; otherwise the value is encoded again. The size limit holds either way.
 */
import { describe, expect, it } from 'vitest'
import { EntryCodec } from '../../src/core/entry-codec.js'
import { ValueTooLargeError } from '../../src/errors.js'
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
