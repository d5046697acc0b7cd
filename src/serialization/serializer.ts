/**
 * Turns values into bytes for the L2 and back. `encode` throws for values it cannot represent;
 * `decode` throws for bytes it cannot read (the cache turns that into a miss, never an error).
 */
export interface Serializer {
  /** A short name recorded in metrics and errors. */
  readonly name: string
  encode(value: unknown): Uint8Array
  decode(bytes: Uint8Array): unknown
}

/** A value's bytes, and the serializer that wrote them (so a second encoding can be skipped). */
export interface EncodedValue {
  readonly serializer: Serializer
  readonly bytes: Uint8Array
}
