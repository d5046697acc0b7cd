import { InvalidOptionError, messageOf, SerializationError, ValueTooLargeError } from '../errors.js'
import type { EntryCrypto } from '../security/entries.js'
import { decodeEnvelope, encodeEnvelope } from '../serialization/envelope.js'
import { MsgpackSerializer } from '../serialization/msgpack.js'
import type { EncodedValue, Serializer } from '../serialization/serializer.js'
import { TaggedJsonSerializer } from '../serialization/tagged-json.js'

/** An L2 entry, decoded. */
export interface Decoded {
  value: unknown
  createdAt: number
  /** End of freshness. */
  expiresAt: number
  loadMs: number
  tags: readonly string[]
  size: number
  /** False for a value past its fresh time but within the reader's grace. */
  fresh: boolean
}

/** What an L2 entry carries: the value's payload, its times and tags. */
export interface EnvelopeFields {
  payload: Uint8Array
  createdAt: number
  expiresAt: number
  loadMs: number
  tags: readonly string[]
}

/** The serializer the `serializer` option names, or the one it gives. */
export function serializerOf(option: 'json' | 'msgpack' | Serializer): Serializer {
  if (option === 'json') return new TaggedJsonSerializer()
  return option === 'msgpack' ? new MsgpackSerializer() : option
}

/** The built-in tagged JSON itself (a subclass may encode differently). */
function isTaggedJson(serializer: Serializer): boolean {
  return Object.getPrototypeOf(serializer) === TaggedJsonSerializer.prototype
}

/**
 * Values to bytes and back: the serializer, the size limit, the envelope (times and tags) and,
 * when configured, the seal (encryption bound to the entry's storage key).
 */
export class EntryCodec {
  readonly #serializer: Serializer
  readonly #crypto: EntryCrypto | undefined
  readonly #maxValueBytes: number
  readonly #compressAbove: number | undefined
  readonly #onDecodeError: () => void

  constructor(options: {
    serializer: Serializer
    crypto: EntryCrypto | undefined
    maxValueBytes: number
    compressAbove: number | undefined
    onDecodeError: () => void
  }) {
    this.#serializer = options.serializer
    this.#crypto = options.crypto
    this.#maxValueBytes = options.maxValueBytes
    this.#compressAbove = options.compressAbove
    this.#onDecodeError = options.onDecodeError
  }

  /**
   * Refuses (before anything is written) `encrypt: true` without a key ring, and `encrypt: false`
   * where every read requires encryption (`all: true`): that entry would be stored in plaintext,
   * which every instance then refuses — a miss on each read, counted as a security event.
   */
  assertEncryptable(encrypt: boolean | undefined): void {
    if (encrypt === true && this.#crypto === undefined) {
      throw new InvalidOptionError('encrypt: true needs the cache option `encryption: { keys, current }`.')
    }
    if (encrypt === false && this.#crypto?.all === true) {
      throw new InvalidOptionError(
        'encrypt: false on a cache with `encryption.all: true` (the default) stores an entry every read refuses as plaintext: drop `encrypt: false`, or set `encryption.all: false` on every instance of the namespace.',
      )
    }
  }

  /**
   * The value's payload; a value that cannot be encoded or is too large fails here, at the call.
   * `encoded` (the value's bytes, as another serializer wrote them) is the payload when that
   * serializer writes what this one does: the same one, or both the built-in tagged JSON (which
   * has no state: its bytes depend on the value alone).
   */
  encode(value: unknown, encoded?: EncodedValue): Uint8Array {
    let payload: Uint8Array
    try {
      payload =
        encoded !== undefined && this.#writesLike(encoded.serializer)
          ? encoded.bytes
          : this.#serializer.encode(value)
    } catch (cause) {
      // A serializer that refuses with its own SerializationError (a value nested too deep, say)
      // already says what is wrong and what to do; the generic advice below would contradict it.
      if (cause instanceof SerializationError) throw cause
      throw new SerializationError(
        `The ${this.#serializer.name} serializer cannot encode this value (${messageOf(cause)}). Cache plain data: no functions, symbols, class instances or circular references.`,
        { cause },
      )
    }
    if (payload.byteLength > this.#maxValueBytes) {
      throw new ValueTooLargeError(
        `The value encodes to ${payload.byteLength} bytes, over maxValueBytes (${this.#maxValueBytes}). Cache a smaller projection, or raise maxValueBytes.`,
      )
    }
    return payload
  }

  #writesLike(serializer: Serializer): boolean {
    return serializer === this.#serializer || (isTaggedJson(serializer) && isTaggedJson(this.#serializer))
  }

  /** The bytes stored in the L2: the envelope, sealed under its own storage key (they cannot be moved to another key). */
  seal(fields: EnvelopeFields, storageKey: string, encrypt: boolean | undefined): Uint8Array {
    const envelope = encodeEnvelope(fields, this.#compressAbove)
    return this.#crypto === undefined ? envelope : this.#crypto.seal(envelope, storageKey, encrypt)
  }

  /**
   * The entry, or undefined: a sealed entry that does not open (moved, tampered, unknown key) or
   * plaintext where encryption is required is a miss, counted as a security event, never the value.
   */
  decode(bytes: Uint8Array, storageKey: string): Decoded | undefined {
    const plain = this.#crypto === undefined ? bytes : this.#crypto.open(bytes, storageKey, undefined)
    if (plain === undefined) return undefined
    try {
      const envelope = decodeEnvelope(plain, this.#maxValueBytes)
      return {
        value: this.#serializer.decode(envelope.payload),
        createdAt: envelope.createdAt,
        expiresAt: envelope.expiresAt,
        loadMs: envelope.loadMs,
        tags: envelope.tags,
        size: bytes.byteLength,
        fresh: true,
      }
    } catch {
      this.#onDecodeError()
      return undefined
    }
  }
}
