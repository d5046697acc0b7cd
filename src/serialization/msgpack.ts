import { createRequire } from 'node:module'
import { InvalidOptionError } from '../errors.js'
import { assertBytes, assertMsgpackShape, DecodeError } from './limits.js'
import type { Serializer } from './serializer.js'

interface ExtensionCodecLike {
  decode(data: Uint8Array, type: number, context: unknown): unknown
  register(extension: {
    type: number
    encode: (input: unknown, context: unknown) => Uint8Array | null
    decode: (data: Uint8Array, type: number, context: unknown) => unknown
  }): void
}

interface MsgpackModule {
  Encoder: new (options?: {
    useBigInt64?: boolean
    ignoreUndefined?: boolean
    extensionCodec?: ExtensionCodecLike
  }) => { encode(value: unknown): Uint8Array }
  Decoder: new (options?: {
    useBigInt64?: boolean
    extensionCodec?: ExtensionCodecLike
  }) => { decode(bytes: Uint8Array): unknown }
  ExtensionCodec: new () => ExtensionCodecLike
  encodeTimestampExtension(input: unknown): Uint8Array | null
  decodeTimestampExtension(data: Uint8Array): Date
}

/** The only extension type read back: the timestamp (-1) that Dates are written as. */
const EXT_TIMESTAMP = -1

/**
 * MessagePack via the optional peer `@msgpack/msgpack` (chosen over msgpackr because it rejects
 * `__proto__` map keys instead of renaming them, and bounds allocations on truncated input).
 * Smaller than JSON for numeric data; Date and BigInt round-trip, Map and Set do not (use 'json').
 *
 * Decoding is bounded: the bytes are walked first (depth ≤ 512, every declared length within the
 * buffer, nothing allocated from a declared length), extension types other than the timestamp are
 * refused instead of surfacing as opaque `ExtData`, and every failure is a {@link DecodeError}.
 */
export class MsgpackSerializer implements Serializer {
  readonly name = 'msgpack'
  readonly #encoder: { encode(value: unknown): Uint8Array }
  readonly #decoder: { decode(bytes: Uint8Array): unknown }

  constructor() {
    let lib: MsgpackModule
    try {
      lib = createRequire(import.meta.url)('@msgpack/msgpack') as MsgpackModule
    } catch (cause) {
      throw new InvalidOptionError(
        "serializer 'msgpack' needs the optional package: run `npm install @msgpack/msgpack`.",
        {
          cause,
        },
      )
    }
    const extensions = new lib.ExtensionCodec()
    // The timestamp as the library writes it, except for an Invalid Date, which it would write as
    // the epoch (a timestamp cannot carry NaN): refused at the call rather than changed silently.
    extensions.register({
      type: EXT_TIMESTAMP,
      encode: (input) => {
        if (input instanceof Date && Number.isNaN(input.getTime()))
          throw new TypeError(
            "an Invalid Date cannot be written as a MessagePack timestamp: use serializer 'json'",
          )
        return lib.encodeTimestampExtension(input)
      },
      decode: (data) => lib.decodeTimestampExtension(data),
    })
    const decodeExtension = extensions.decode.bind(extensions)
    extensions.decode = (data, type, context) => {
      if (type !== EXT_TIMESTAMP) throw new DecodeError(`MessagePack extension type ${type} is not allowed`)
      return decodeExtension(data, type, context)
    }
    this.#encoder = new lib.Encoder({ useBigInt64: true, extensionCodec: extensions })
    this.#decoder = new lib.Decoder({ useBigInt64: true, extensionCodec: extensions })
  }

  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined cannot be serialized')
    return this.#encoder.encode(value)
  }

  decode(bytes: Uint8Array): unknown {
    assertBytes(bytes)
    assertMsgpackShape(bytes)
    try {
      return this.#decoder.decode(bytes)
    } catch (cause) {
      if (cause instanceof DecodeError) throw cause
      throw new DecodeError(
        `MessagePack refused: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          cause,
        },
      )
    }
  }
}
