import { describeValue } from '../base/describe.js'
/**
 * Bounds every decoder applies to bytes read from a shared store (anyone with write access to
 * Redis can put anything there). A decoder throws {@link DecodeError} — and only that — for input
 * it refuses; the cache turns it into a miss, never a crash.
 */

/** Deepest nesting of arrays/objects/maps a decoder accepts (the encoders' own limit is the same). */
export const MAX_DEPTH = 512

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
export function assertJsonDepth(bytes: Uint8Array, start: number, maxDepth = MAX_DEPTH): void {
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
 * no allocation depends on a declared length.
 */
export function assertMsgpackShape(bytes: Uint8Array, maxDepth = MAX_DEPTH): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = bytes.byteLength
  // Items still to read in each open container, innermost last.
  const remaining: number[] = []
  let at = 0
  const need = (n: number) => {
    if (at + n > end) throw new DecodeError('MessagePack truncated: a length points past the end')
  }
  const open = (items: number) => {
    if (items === 0) return done()
    if (items > end - at) throw new DecodeError('MessagePack declares more items than there are bytes')
    if (remaining.length >= maxDepth)
      throw new DecodeError(`MessagePack nests deeper than ${maxDepth} levels`)
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
}
