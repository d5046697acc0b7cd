import { assertBytes, assertJsonDepth, DecodeError, MAX_DEPTH, tooDeep, WIRE_DEPTH } from './limits.js'
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
 * cached JSON cannot pollute prototypes. A value nested deeper than {@link MAX_DEPTH} (counted on
 * the value, whatever brackets its tags add) is refused both ways; a BigInt of more than 10,000
 * digits (parsing one costs quadratic time) or a malformed tag is refused too, with a
 * {@link DecodeError}, the only error `decode` throws.
 */
export class TaggedJsonSerializer implements Serializer {
  readonly name = 'json'

  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined is not a cacheable value')
    // Both walks refuse a value deeper than MAX_DEPTH (tooDeep), so neither recursion runs away;
    // what they let through is within the wire bounds decode checks (WIRE_DEPTH).
    const plain = isPlain(value, 0)
    const json = plain ? JSON.stringify(value) : JSON.stringify(tag(value, new Set(), 0))
    if (json === undefined) throw new TypeError(`a ${typeof value} cannot be serialized`)
    // One UTF-8 pass into Node's buffer pool: faster than byteLength + allocUnsafe + write.
    return Buffer.from((plain ? 'p' : 't') + json, 'utf8')
  }

  decode(bytes: Uint8Array): unknown {
    assertBytes(bytes)
    const buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const mode = buffer[0]
    if (mode !== PLAIN && mode !== TAGGED) throw new DecodeError(`unknown tagged-json mode byte ${mode}`)
    assertJsonDepth(buffer, 1, mode === PLAIN ? WIRE_DEPTH.json : WIRE_DEPTH.taggedJson)
    try {
      const parsed: unknown = JSON.parse(buffer.toString('utf8', 1))
      return mode === PLAIN ? parsed : revive(parsed, 0)
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

/**
 * True when JSON.stringify round-trips `value` exactly (and it has no `$t` key we would misread).
 * `depth`: the containers around `value`.
 */
function isPlain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object': {
      if (value === null) return true
      // Past the limit tag() decides: it refuses the value as too deep, or as circular (a cycle
      // nests without end: refusing it as too deep would misname it).
      if (depth >= MAX_DEPTH) return false
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

/**
 * `value` as JSON can carry it; `depth`: the containers around it. A container past MAX_DEPTH
 * throws {@link tooDeep}, which also bounds this recursion.
 */
function tag(value: unknown, seen: Set<object>, depth: number): unknown {
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
        return tagObject(value, seen, depth)
      } finally {
        seen.delete(value)
      }
    }
    default:
      return value
  }
}

function tagObject(value: object, seen: Set<object>, depth: number): unknown {
  const inner = depth + 1
  const container = Array.isArray(value) || value instanceof Map || value instanceof Set || isRecord(value)
  if (container && inner > MAX_DEPTH) throw tooDeep('json')
  if (Array.isArray(value)) return value.map((item) => tag(item, seen, inner))
  // An Invalid Date's time is NaN, which JSON writes as null: tagged 'NaN' so it reads back invalid.
  if (value instanceof Date) {
    const time = value.getTime()
    return { [TAG]: 'date', v: Number.isNaN(time) ? 'NaN' : time }
  }
  if (value instanceof Map)
    return { [TAG]: 'map', v: [...value].map(([k, v]) => [tag(k, seen, inner), tag(v, seen, inner)]) }
  if (value instanceof Set) return { [TAG]: 'set', v: [...value].map((item) => tag(item, seen, inner)) }
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
    define(out, k, tag(v, seen, inner))
  }
  // A user object that has its own `$t` key is wrapped so it is never mistaken for a tag.
  return Object.hasOwn(value, TAG) ? { [TAG]: 'obj', v: out } : out
}

/**
 * The value of parsed tagged JSON; `depth`: the value's containers around it. A container past
 * MAX_DEPTH is refused, as the encoder refuses it (the wire bound alone allows 3 × as many brackets).
 */
function revive(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value
  const inner = depth + 1
  if (Array.isArray(value)) {
    if (inner > MAX_DEPTH) throw deeperThanMax()
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], inner)
    return value
  }
  const record = value as Record<string, unknown>
  const kind = record[TAG]
  if (typeof kind === 'string') return reviveTagged(kind, record.v, depth)
  if (inner > MAX_DEPTH) throw deeperThanMax()
  for (const k of Object.keys(record)) define(record, k, revive(record[k], inner))
  return record
}

function deeperThanMax(): DecodeError {
  return new DecodeError(`tagged JSON nests a value deeper than ${MAX_DEPTH} levels`)
}

/** A tagged value; `depth`: the containers around it (a Map, a Set or an object adds one). */
function reviveTagged(kind: string, v: unknown, depth: number): unknown {
  const inner = depth + 1
  if ((kind === 'map' || kind === 'set' || kind === 'obj') && inner > MAX_DEPTH) throw deeperThanMax()
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
      return new Map((v as [unknown, unknown][]).map(([k, item]) => [revive(k, inner), revive(item, inner)]))
    case 'set':
      if (!Array.isArray(v)) throw new DecodeError('malformed Set tag')
      return new Set(v.map((item) => revive(item, inner)))
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
      for (const k of Object.keys(record)) define(record, k, revive(record[k], inner))
      return record
    }
    default:
      throw new DecodeError(`unknown tagged-json type '${kind}'`)
  }
}

/** A plain object (the only other kind tagObject writes as a container). */
function isRecord(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Sets an own data property without ever invoking the `__proto__` setter. */
function define(target: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true })
  else target[k] = v
}
