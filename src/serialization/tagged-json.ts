import { assertBytes, assertJsonDepth, DecodeError, MAX_DEPTH } from './limits.js'
import type { Serializer } from './serializer.js'

/**
 * JSON that round-trips what plain JSON loses: Date, BigInt, Map, Set, Buffer / Uint8Array,
 * `undefined` in arrays, NaN, ±Infinity and -0.
 *
 * Speed: plain JSON.stringify/parse are native and fastest without a replacer or reviver, so a
 * value is first scanned for anything JSON cannot carry. Plain values (the common case) are
 * written as `p` + JSON and read with a bare JSON.parse; only values that need it pay for
 * tagging (`t` + JSON with `{"$t": type, "v": …}` objects, revived by one walk).
 *
 * Safety: decoding never assigns through `__proto__`: revived properties are defined, not set, so
 * cached JSON cannot pollute prototypes. Input nested deeper than 512 levels, a BigInt of more than
 * 10,000 digits (parsing one costs quadratic time) or a malformed tag is refused with a
 * {@link DecodeError}, the only error `decode` throws.
 */
export class TaggedJsonSerializer implements Serializer {
  readonly name = 'json'

  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined is not a cacheable value')
    const plain = isPlain(value, 0)
    const json = plain ? JSON.stringify(value) : JSON.stringify(tag(value, new Set()))
    if (json === undefined) throw new TypeError(`a ${typeof value} cannot be serialized`)
    // One UTF-8 pass into Node's buffer pool: faster than byteLength + allocUnsafe + write.
    const bytes = Buffer.from((plain ? 'p' : 't') + json, 'utf8')
    // Never write what decode would refuse (tags add nesting of their own).
    try {
      assertJsonDepth(bytes, 1)
    } catch {
      throw new TypeError(`a value nested deeper than ${MAX_DEPTH} levels cannot be cached`)
    }
    return bytes
  }

  decode(bytes: Uint8Array): unknown {
    assertBytes(bytes)
    const buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const mode = buffer[0]
    if (mode !== PLAIN && mode !== TAGGED) throw new DecodeError(`unknown tagged-json mode byte ${mode}`)
    assertJsonDepth(buffer, 1)
    try {
      const parsed: unknown = JSON.parse(buffer.toString('utf8', 1))
      return mode === PLAIN ? parsed : revive(parsed)
    } catch (cause) {
      if (cause instanceof DecodeError) throw cause
      throw new DecodeError(
        `tagged-json refused: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          cause,
        },
      )
    }
  }
}

const PLAIN = 0x70 // 'p', the marker of bare JSON
const TAGGED = 0x74 // 't', the marker of tagged JSON
const TAG = '$t'
/** Longest BigInt written or read, in characters: parsing is quadratic, so forged giants would stall the reader. */
const MAX_BIGINT_CHARS = 10_000

/** True when JSON.stringify round-trips `value` exactly (and it has no `$t` key we would misread). */
function isPlain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object': {
      if (value === null) return true
      if (depth > MAX_DEPTH) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlain(value[i], depth + 1)) return false
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const k in value) {
        if (k === TAG || !isPlain((value as Record<string, unknown>)[k], depth + 1)) return false
      }
      return true
    }
    default:
      return false // undefined, bigint, function, symbol
  }
}

function tag(value: unknown, seen: Set<object>): unknown {
  switch (typeof value) {
    case 'number':
      if (Number.isNaN(value)) return { [TAG]: 'num', v: 'NaN' }
      if (value === Number.POSITIVE_INFINITY) return { [TAG]: 'num', v: 'Infinity' }
      if (value === Number.NEGATIVE_INFINITY) return { [TAG]: 'num', v: '-Infinity' }
      if (Object.is(value, -0)) return { [TAG]: 'num', v: '-0' }
      return value
    case 'bigint': {
      const text = value.toString()
      if (text.length > MAX_BIGINT_CHARS) throw new TypeError(`a BigInt over ${MAX_BIGINT_CHARS} digits`)
      return { [TAG]: 'big', v: text }
    }
    case 'undefined':
      return { [TAG]: 'undef' }
    case 'function':
    case 'symbol':
      throw new TypeError(`a ${typeof value} cannot be serialized`)
    case 'object': {
      if (value === null) return null
      if (seen.has(value)) throw new TypeError('a circular structure cannot be serialized')
      seen.add(value)
      try {
        return tagObject(value, seen)
      } finally {
        seen.delete(value)
      }
    }
    default:
      return value
  }
}

function tagObject(value: object, seen: Set<object>): unknown {
  if (Array.isArray(value)) return value.map((item) => tag(item, seen))
  // An Invalid Date's time is NaN, which JSON writes as null: tagged 'NaN' so it reads back invalid.
  if (value instanceof Date) {
    const time = value.getTime()
    return { [TAG]: 'date', v: Number.isNaN(time) ? 'NaN' : time }
  }
  if (value instanceof Map)
    return { [TAG]: 'map', v: [...value].map(([k, v]) => [tag(k, seen), tag(v, seen)]) }
  if (value instanceof Set) return { [TAG]: 'set', v: [...value].map((item) => tag(item, seen)) }
  if (value instanceof Uint8Array) {
    const kind = Buffer.isBuffer(value) ? 'buf' : 'u8'
    return {
      [TAG]: kind,
      v: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
    }
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(
      `instances of ${proto?.constructor?.name ?? 'a class'} cannot be serialized: cache plain data (or use a custom serializer)`,
    )
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue // as JSON does for object properties
    define(out, k, tag(v, seen))
  }
  // A user object that has its own `$t` key is wrapped so it is never mistaken for a tag.
  return Object.hasOwn(value, TAG) ? { [TAG]: 'obj', v: out } : out
}

function revive(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i])
    return value
  }
  const record = value as Record<string, unknown>
  const kind = record[TAG]
  if (typeof kind === 'string') return reviveTagged(kind, record.v)
  for (const k of Object.keys(record)) define(record, k, revive(record[k]))
  return record
}

function reviveTagged(kind: string, v: unknown): unknown {
  switch (kind) {
    case 'num':
      return Number(v)
    case 'big':
      if (typeof v !== 'string' || v.length > MAX_BIGINT_CHARS) throw new DecodeError('malformed BigInt tag')
      return BigInt(v)
    case 'undef':
      return undefined
    case 'date':
      // null: an Invalid Date written before it was tagged 'NaN' (JSON's NaN), never a real time.
      if (typeof v === 'number') return new Date(v)
      if (v === 'NaN' || v === null) return new Date(Number.NaN)
      throw new DecodeError('malformed Date tag')
    case 'map':
      if (!Array.isArray(v) || !v.every((pair) => Array.isArray(pair) && pair.length === 2))
        throw new DecodeError('malformed Map tag')
      return new Map((v as [unknown, unknown][]).map(([k, item]) => [revive(k), revive(item)]))
    case 'set':
      if (!Array.isArray(v)) throw new DecodeError('malformed Set tag')
      return new Set(v.map(revive))
    // Only text: given an object, Buffer.from allocates (and walks) as many bytes as its `length`
    // says — a 40-byte forged entry would cost hundreds of MB and a blocked event loop.
    case 'buf':
      if (typeof v !== 'string') throw new DecodeError('malformed Buffer tag')
      return Buffer.from(v, 'base64')
    case 'u8':
      if (typeof v !== 'string') throw new DecodeError('malformed Uint8Array tag')
      return new Uint8Array(Buffer.from(v, 'base64'))
    case 'obj': {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw new DecodeError('malformed object tag')
      const record = v as Record<string, unknown>
      for (const k of Object.keys(record)) define(record, k, revive(record[k]))
      return record
    }
    default:
      throw new DecodeError(`unknown tagged-json type '${kind}'`)
  }
}

/** Sets an own data property without ever invoking the `__proto__` setter. */
function define(target: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true })
  else target[k] = v
}
