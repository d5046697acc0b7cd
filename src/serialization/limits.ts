import { describeValue } from '../base/describe.js'
import { SerializationError } from '../errors.js'
/**
 * Bounds every decoder applies to bytes read from a shared store (anyone with write access to
 * Redis can put anything there). A decoder throws {@link DecodeError} — and only that — for input
 * it refuses; the cache turns it into a miss, never a crash.
 */

/**
 * The one nesting limit, for every built-in serializer, both ways: a value nests at most this many
 * containers deep — each array, plain object, Map or Set counts one, so a scalar is 0, `[]` is 1
 * and `[[1]]` is 2 (a Date, a BigInt or bytes count none). Encoders refuse a deeper value before
 * anything is written ({@link tooDeep}); decoders refuse deeper input (a {@link DecodeError}), so
 * whatever is accepted on set reads back. 512, not @msgpack/msgpack's default of 100: entries the
 * JSON serializer wrote up to 512 deep must stay readable, and 512 levels of recursion (in revivers,
 * freezing, structuredClone, user code) is far within Node's stack, while real data rarely passes
 * a few dozen: the bound is against forged or runaway input, not a budget for data.
 */
export const MAX_DEPTH = 512

/**
 * The same limit on the wire, where a format's brackets differ from the value's containers:
 * MessagePack and plain JSON have one per container; tagged JSON adds its own (a Map is
 * `{"$t":"map","v":[[k,v]…]}`: three brackets to its keys and values, a Set or an object with a
 * `$t` key two, a tagged leaf such as a Date one), so a value {@link MAX_DEPTH} deep is at most
 * 3 × 512 + 1 brackets deep. The tagged reader checks the value's own depth as it revives it.
 */
export const WIRE_DEPTH = {
  msgpack: MAX_DEPTH,
  json: MAX_DEPTH,
  taggedJson: 3 * MAX_DEPTH + 1,
} as const

/** The error an encoder throws for a value nested deeper than {@link MAX_DEPTH}. */
export function tooDeep(serializer: string, cause?: unknown): SerializationError {
  return new SerializationError(
    `The value nests deeper than ${MAX_DEPTH} levels (each array, object, Map or Set counts one), more than the ${serializer} serializer reads back, so it was not cached. Flatten it (for a tree, a list of nodes with parent ids) or cache a shallower projection.`,
    cause === undefined ? undefined : { cause },
  )
}

/** The one error a decoder throws for bytes it refuses: truncated, malformed, too deep, too large. */
export class DecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DecodeError'
  }
}

/** Throws a {@link DecodeError} for anything but bytes: the only error a decoder throws, whatever it is given. */
export function assertBytes(bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(`a decoder reads bytes (a Uint8Array or Buffer); got ${describeValue(bytes)}`)
  }
}

/**
 * Throws when the JSON text in `bytes` (from `start`) nests deeper than `maxDepth`. JSON.parse
 * itself copes with deep input, but what consumes its result (revivers, freezing, structuredClone,
 * user code) recurses and would overflow the stack. Cheap on the hit path: nesting deeper than
 * `maxDepth` needs more than `maxDepth` opening brackets, so short or bracket-poor payloads are
 * cleared by a few native `indexOf` calls before any byte-by-byte scan.
 */
export function assertJsonDepth(bytes: Uint8Array, start: number, maxDepth: number = WIRE_DEPTH.json): void {
  if (bytes.length - start <= maxDepth) return
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let opening = 0
  for (const bracket of [0x5b, 0x7b]) {
    let at = buffer.indexOf(bracket, start)
    while (at >= 0) {
      if (++opening > maxDepth) {
        scanJsonDepth(buffer, start, maxDepth)
        return
      }
      at = buffer.indexOf(bracket, at + 1)
    }
  }
}

function scanJsonDepth(bytes: Uint8Array, start: number, maxDepth: number): void {
  let depth = 0
  let inString = false
  for (let i = start; i < bytes.length; i++) {
    const c = bytes[i] as number
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new DecodeError(`JSON nests deeper than ${maxDepth} levels`)
    } else if (c === 0x5d || c === 0x7d) depth--
  }
}

/**
 * Walks MessagePack bytes without building anything and throws when they nest deeper than
 * `maxDepth` or declare a length beyond the end of the buffer. Only the header bytes are read:
 * no allocation depends on a declared length. Answers whether the bytes hold a bin (binary) item.
 */
export function assertMsgpackShape(bytes: Uint8Array, maxDepth: number = WIRE_DEPTH.msgpack): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = bytes.byteLength
  // Items still to read in each open container, innermost last.
  const remaining: number[] = []
  let at = 0
  let binary = false
  const need = (n: number) => {
    if (at + n > end) throw new DecodeError('MessagePack truncated: a length points past the end')
  }
  const open = (items: number) => {
    // Before the empty case: an empty container is a level too (as a JSON `[]` is), so a 513th
    // level of `[]` is refused here as the encoder refuses it.
    if (remaining.length >= maxDepth)
      throw new DecodeError(`MessagePack nests deeper than ${maxDepth} levels`)
    if (items === 0) return done()
    if (items > end - at) throw new DecodeError('MessagePack declares more items than there are bytes')
    remaining.push(items)
  }
  const skip = (n: number) => {
    need(n)
    at += n
    done()
  }
  const done = () => {
    while (remaining.length > 0) {
      const top = (remaining[remaining.length - 1] as number) - 1
      if (top > 0) {
        remaining[remaining.length - 1] = top
        return
      }
      remaining.pop()
    }
  }
  do {
    need(1)
    const b = bytes[at++] as number
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) done()
    else if (b <= 0x8f) open((b & 0x0f) * 2)
    else if (b <= 0x9f) open(b & 0x0f)
    else if (b <= 0xbf) skip(b & 0x1f)
    else {
      if (b === 0xc4 || b === 0xc5 || b === 0xc6) binary = true
      switch (b) {
        case 0xc4:
        case 0xd9:
          need(1)
          at += 1
          skip(view.getUint8(at - 1))
          break
        case 0xc5:
        case 0xda:
          need(2)
          at += 2
          skip(view.getUint16(at - 2))
          break
        case 0xc6:
        case 0xdb:
          need(4)
          at += 4
          skip(view.getUint32(at - 4))
          break
        case 0xc7:
          need(2)
          at += 2
          skip(view.getUint8(at - 2))
          break
        case 0xc8:
          need(3)
          at += 3
          skip(view.getUint16(at - 3))
          break
        case 0xc9:
          need(5)
          at += 5
          skip(view.getUint32(at - 5))
          break
        case 0xca:
        case 0xce:
        case 0xd2:
          skip(4)
          break
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip(8)
          break
        case 0xcc:
        case 0xd0:
          skip(1)
          break
        case 0xcd:
        case 0xd1:
          skip(2)
          break
        case 0xd4:
          skip(2)
          break
        case 0xd5:
          skip(3)
          break
        case 0xd6:
          skip(5)
          break
        case 0xd7:
          skip(9)
          break
        case 0xd8:
          skip(17)
          break
        case 0xdc:
          need(2)
          at += 2
          open(view.getUint16(at - 2))
          break
        case 0xdd:
          need(4)
          at += 4
          open(view.getUint32(at - 4))
          break
        case 0xde:
          need(2)
          at += 2
          open(view.getUint16(at - 2) * 2)
          break
        case 0xdf:
          need(4)
          at += 4
          open(view.getUint32(at - 4) * 2)
          break
        default:
          throw new DecodeError(`MessagePack byte 0x${b.toString(16)} is never used`)
      }
    }
  } while (remaining.length > 0)
  if (at !== end) throw new DecodeError('MessagePack has bytes after its value')
  return binary
}
