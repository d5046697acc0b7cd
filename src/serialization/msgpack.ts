import { createRequire } from 'node:module'
import { InvalidOptionError } from '../errors.js'
import { assertBytes, assertMsgpackShape, DecodeError, MAX_DEPTH, tooDeep } from './limits.js'
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
    maxDepth?: number
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
 * Nesting is bounded both ways by {@link MAX_DEPTH}: a deeper value is refused when written, and
 * decoding walks the bytes first (depth, every declared length within the buffer, nothing
 * allocated from a declared length). Extension types other than the timestamp are refused instead
 * of surfacing as opaque `ExtData`, and every decoding failure is a {@link DecodeError}.
 */
export class MsgpackSerializer implements Serializer {
  readonly name = 'msgpack'
  readonly #encoder: { encode(value: unknown): Uint8Array }
  readonly #nearLimit: { encode(value: unknown): Uint8Array }
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
    // The library counts the top value as depth 1 and refuses an item deeper than maxDepth. With
    // MAX_DEPTH, what it writes is never too deep, but it also refuses a value exactly at the limit
    // with something in its deepest container (its default of 100 refused values the reader
    // accepts). Such a value, and only such, is written again by #nearLimit (see encode).
    const options = { useBigInt64: true, extensionCodec: extensions }
    this.#encoder = new lib.Encoder({ ...options, maxDepth: MAX_DEPTH })
    this.#nearLimit = new lib.Encoder({ ...options, maxDepth: MAX_DEPTH + 1 })
    this.#decoder = new lib.Decoder({ useBigInt64: true, extensionCodec: extensions })
  }

  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined cannot be serialized')
    try {
      return this.#encoder.encode(value)
    } catch (cause) {
      if (!isTooDeep(cause)) throw cause
    }
    // At least MAX_DEPTH deep: written again one level deeper, which refuses more than one level
    // too many (bounding its recursion on runaway values), and lets through at most an empty
    // container one level too deep, which the reader's walk then finds. Only values this deep pay.
    let bytes: Uint8Array
    try {
      bytes = this.#nearLimit.encode(value)
    } catch (cause) {
      throw isTooDeep(cause) ? tooDeep(this.name, cause) : cause
    }
    try {
      assertMsgpackShape(bytes)
    } catch (cause) {
      throw tooDeep(this.name, cause)
    }
    return bytes
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

/** The library's refusal of a value nested deeper than its `maxDepth` (it has no error class or code). */
function isTooDeep(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('Too deep objects')
}
