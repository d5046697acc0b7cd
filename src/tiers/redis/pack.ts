/**
 * Arguments of a batch packed into one string argument: each field as its byte length (int32,
 * little-endian) and its bytes (strings as UTF-8, numbers as an 8-byte little-endian double), one
 * after the other — what a script reads back with `struct.unpack('<i4c0', blob, pos)` (a number:
 * `'<i4d'`). One argument instead of several per write: the client encodes (and Redis parses) a
 * few arguments per batch rather than hundreds (issue 17: encoding the arguments was the largest
 * single cost of a batched append in the client).
 */
export class Packer {
  readonly #fields: (string | Uint8Array | number)[] = []
  /** Bytes the fields may take: exact for bytes and numbers, 3 per UTF-16 unit for strings (UTF-8's worst case). */
  #bound = 0

  add(field: string | Uint8Array): void {
    this.#fields.push(field)
    this.#bound += 4 + (typeof field === 'string' ? field.length * 3 : field.byteLength)
  }

  /**
   * A number as a double: exact, and no number-to-text conversion, which for a fractional time
   * (the cache's stamps) was a visible cost per write.
   */
  addDouble(value: number): void {
    this.#fields.push(value)
    this.#bound += 12
  }

  /** The packed fields (a view of one allocation: the bound, cut to what was written). */
  finish(): Buffer {
    const packed = Buffer.allocUnsafe(this.#bound)
    let at = 0
    for (const field of this.#fields) {
      let length: number
      if (typeof field === 'string') length = packed.write(field, at + 4)
      else if (typeof field === 'number') {
        packed.writeDoubleLE(field, at + 4)
        length = 8
      } else {
        packed.set(field, at + 4)
        length = field.byteLength
      }
      packed.writeInt32LE(length, at)
      at += 4 + length
    }
    return packed.subarray(0, at)
  }
}
