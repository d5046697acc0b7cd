import { createRequire } from 'node:module'
import { InvalidOptionError } from '../errors.js'
import type { Serializer } from './serializer.js'

interface MsgpackModule {
  Encoder: new (options?: {
    useBigInt64?: boolean
    ignoreUndefined?: boolean
  }) => { encode(value: unknown): Uint8Array }
  Decoder: new (options?: { useBigInt64?: boolean }) => { decode(bytes: Uint8Array): unknown }
}

/**
 * MessagePack via the optional peer `@msgpack/msgpack` (chosen over msgpackr because it rejects
 * `__proto__` map keys instead of renaming them, and bounds allocations on truncated input).
 * Smaller than JSON for numeric data; Date and BigInt round-trip, Map and Set do not (use 'json').
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
    this.#encoder = new lib.Encoder({ useBigInt64: true })
    this.#decoder = new lib.Decoder({ useBigInt64: true })
  }

  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined cannot be serialized')
    return this.#encoder.encode(value)
  }

  decode(bytes: Uint8Array): unknown {
    return this.#decoder.decode(bytes)
  }
}
