import { createRequire } from 'node:module'
import { InvalidOptionError } from '../errors.js'
import { assertBytes, assertMsgpackShape, DecodeError, MAX_DEPTH, tooDeep } from './limits.js'
import { checkMsgpack } from './msgpack-check.js'
import type { Serializer } from './serializer.js'

interface ExtensionCodecLike {
  decode(data: Uint8Array, type: number, context: unknown): unknown
  register(extension: {
    type: number
    encode: (input: unknown, context: unknown) => Uint8Array | null
    decode: (data: Uint8Array, type: number, context: unknown) => unknown
  }): void
}

interface Encoder {
  encode(value: unknown): Uint8Array
}

interface MsgpackModule {
  Encoder: new (options?: {
    useBigInt64?: boolean
    ignoreUndefined?: boolean
    forceIntegerToFloat?: boolean
    maxDepth?: number
    extensionCodec?: ExtensionCodecLike
  }) => Encoder
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
 * Smaller than JSON for numeric data; Date, BigInt (64-bit), Uint8Array and -0 round-trip. What it
 * would write but not read back the same (a Map, a Set, a class instance, another typed array…) is
 * refused with a SerializationError naming where it is, before anything is written
 * (`msgpack-check.ts`); `undefined` follows JSON: left out of objects, null in arrays.
 *
 * Nesting is bounded both ways by {@link MAX_DEPTH}: a deeper value is refused when written, and
 * decoding walks the bytes first (depth, every declared length within the buffer, nothing
 * allocated from a declared length). Extension types other than the timestamp are refused instead
 * of surfacing as opaque `ExtData`, and every decoding failure is a {@link DecodeError}.
 */
export class MsgpackSerializer implements Serializer {
  readonly name = 'msgpack'
  /** By what the value holds: [plain, an undefined property, a -0, both] (see the constructor). */
  readonly #encoders: readonly Encoder[]
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
    // The library counts the top value as depth 1 and refuses an item deeper than maxDepth: one
    // more than MAX_DEPTH lets through a scalar inside MAX_DEPTH containers. checkMsgpack has
    // already refused anything deeper, so the library's limit is never what refuses a value.
    const options = { useBigInt64: true, extensionCodec: extensions, maxDepth: MAX_DEPTH + 1 }
    this.#encoders = [
      new lib.Encoder(options),
      // Each option below costs every value written with it (ignoreUndefined a second pass over
      // each object's keys, floats 9 bytes a number), so only values that need one pay for it.
      // ignoreUndefined: an object property holding undefined is left out, as JSON does (written
      // as nil, it read back as a null the caller never stored).
      new lib.Encoder({ ...options, ignoreUndefined: true }),
      // MessagePack's integers have no -0 (written as 0); its floats do, and a float64 reads back
      // as the same number, so a value holding a -0 has every number written as one.
      new lib.Encoder({ ...options, forceIntegerToFloat: true }),
      new lib.Encoder({ ...options, ignoreUndefined: true, forceIntegerToFloat: true }),
    ]
    this.#decoder = new lib.Decoder({ useBigInt64: true, extensionCodec: extensions })
  }

  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined cannot be serialized')
    // Refuses, before anything is written, what would read back different (see msgpack-check.ts).
    const scan = checkMsgpack(value, this.name)
    const encoder = this.#encoders[(scan.undefinedProperty ? 1 : 0) + (scan.negativeZero ? 2 : 0)] as Encoder
    try {
      return encoder.encode(value)
    } catch (cause) {
      throw isTooDeep(cause) ? tooDeep(this.name, cause) : cause
    }
  }

  decode(bytes: Uint8Array): unknown {
    assertBytes(bytes)
    const binary = assertMsgpackShape(bytes)
    try {
      // The library reads a bin item as a view of the bytes it decodes: of a Buffer (what the L2
      // answers), a Uint8Array read back as a Buffer, and it shared memory with the entry read
      // (a caller changing it changed the stored entry). Bytes with a bin item are decoded from a
      // plain copy: they read back as Uint8Arrays that share nothing with the entry.
      return this.#decoder.decode(binary ? new Uint8Array(bytes) : bytes)
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
