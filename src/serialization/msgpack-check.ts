import { SerializationError } from '../errors.js'
import { MAX_DEPTH, tooDeep } from './limits.js'

/**
 * The one walk the MessagePack serializer makes over a value before writing it: @msgpack/msgpack
 * writes some values it cannot read back, silently (a Map or a Set as an empty map, a class
 * instance as a plain object, a Float64Array as a Uint8Array of its bytes, a BigInt past 64 bits
 * wrapped, a long string with a lone surrogate mangled), so the cache would answer a different
 * value from the L2 than it was given. Such a value is refused at the call instead, with where it
 * is. The walk also counts the depth (so the encoder never meets a value too deep) and notes a -0,
 * which only the encoder's float form keeps.
 *
 * What it accepts reads back equal, with JSON's two rules for `undefined`: an object property
 * holding it is left out, an array item (or hole) reads back null.
 */

/** What the walk learnt besides refusals, which the encoder is chosen by. */
export interface MsgpackScan {
  /** A -0 somewhere, which MessagePack's integers would turn into 0. */
  negativeZero: boolean
  /** An object property holding undefined, which is left out (as JSON does) rather than written as nil. */
  undefinedProperty: boolean
}

/** Why a value is refused; `path` and `containers` are filled in innermost first as the walk unwinds. */
interface Problem {
  /** The thing refused, as the message names it: "a Map". */
  readonly what: string
  /** What MessagePack would make of it. */
  readonly why: string
  /** What to do instead. */
  readonly instead: string
  readonly path: (string | number)[]
  /** Only for a value too deep: the containers on its path, to tell a cycle from real depth. */
  readonly containers?: object[]
}

const TO_JSON =
  "use serializer: 'json' (the default), which carries Map, Set, Buffer, Date, BigInt of any size, -0 and every string"
const PLAIN_DATA =
  'cache plain data (objects, arrays, strings, numbers, booleans, null, Date, BigInt, Uint8Array) and rebuild the rest when read, or pass a custom serializer'
const AS_BYTES =
  'cache it as a Uint8Array (new Uint8Array(x.buffer, x.byteOffset, x.byteLength)) and rebuild it when read'

/** The BigInts MessagePack's 64-bit integers carry (int64 below 0, uint64 from 0): others are wrapped. */
const MIN_BIGINT = -(2n ** 63n)
const MAX_BIGINT = 2n ** 64n - 1n

// String.prototype.isWellFormed is ES2024 (Node ≥ 20), past the project's ES2023 lib.
const isWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed

/**
 * Throws a {@link SerializationError} naming what in `value` MessagePack cannot round-trip and
 * where; answers what the encoder needs to know otherwise.
 */
export function checkMsgpack(value: unknown, serializer: string): MsgpackScan {
  const scan: MsgpackScan = { negativeZero: false, undefinedProperty: false }
  const problem = visit(value, 0, scan)
  if (problem !== undefined) throw refusal(problem, serializer)
  return scan
}

/** `depth`: the containers around `value`. Bounded by MAX_DEPTH, so a runaway value cannot overflow the stack. */
function visit(value: unknown, depth: number, scan: MsgpackScan): Problem | undefined {
  switch (typeof value) {
    case 'number':
      if (value === 0 && 1 / value < 0) scan.negativeZero = true
      return undefined
    case 'string':
      return isWellFormed.call(value) ? undefined : loneSurrogate('a string')
    case 'boolean':
    case 'undefined':
      return undefined
    case 'bigint':
      return value >= MIN_BIGINT && value <= MAX_BIGINT ? undefined : bigBigInt()
    case 'object':
      return value === null ? undefined : visitObject(value, depth, scan)
    default:
      return problem(
        `a ${typeof value}`,
        'the built-in serializers cannot store it',
        'cache plain data: drop it or store what it computes',
      )
  }
}

function visitObject(value: object, depth: number, scan: MsgpackScan): Problem | undefined {
  // Arrays whatever their prototype, as the tagged JSON serializer does (both read back an Array).
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH) return tooDeepAt(value)
    for (let i = 0; i < value.length; i++) {
      const found = visit(value[i], depth + 1, scan)
      if (found !== undefined) return within(found, i, value)
    }
    return undefined
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    if (depth >= MAX_DEPTH) return tooDeepAt(value)
    // for…in, not the encoder's Object.keys: a third faster, and on a plain or null-prototype
    // object it visits the same keys (unless Object.prototype itself has enumerable ones).
    for (const key in value) {
      if (key === '__proto__')
        return within(
          problem(
            'an own property named __proto__',
            'the MessagePack reader refuses such a key (it could pollute prototypes), so every read of the entry would miss',
            `rename the property, or ${TO_JSON}`,
          ),
          key,
          value,
        )
      if (!isWellFormed.call(key)) return within(loneSurrogate('a property name'), key, value)
      const item = (value as Record<string, unknown>)[key]
      if (item === undefined) scan.undefinedProperty = true
      const found = visit(item, depth + 1, scan)
      if (found !== undefined) return within(found, key, value)
    }
    return undefined
  }
  if (proto === Date.prototype) {
    return Number.isNaN((value as Date).getTime())
      ? problem(
          'an Invalid Date',
          "a MessagePack timestamp cannot carry it (it would read back as the epoch), serializer 'json' can",
          TO_JSON,
        )
      : undefined
  }
  if (proto === Uint8Array.prototype) return undefined
  return refusedObject(value, proto)
}

/** An object with a prototype MessagePack does not keep. */
function refusedObject(value: object, proto: unknown): Problem {
  if (value instanceof Map)
    return problem('a Map', 'MessagePack would write it as an empty map, losing its entries', TO_JSON)
  if (value instanceof Set)
    return problem('a Set', 'MessagePack would write it as an empty map, losing its items', TO_JSON)
  if (Buffer.isBuffer(value))
    return problem(
      'a Buffer',
      'it would read back as a plain Uint8Array, without the Buffer methods',
      `pass new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), or ${TO_JSON}`,
    )
  const name = className(proto)
  if (ArrayBuffer.isView(value))
    return problem(article(name), 'it would read back as a Uint8Array of its raw bytes', AS_BYTES)
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer)
    return problem(article(name), 'it would read back as an empty object', AS_BYTES)
  return problem(
    name === undefined ? 'an object with a custom prototype' : `an instance of ${name}`,
    'it would read back as a plain object of its own enumerable properties, without its class',
    PLAIN_DATA,
  )
}

/** "a Float64Array", "an Int8Array". */
function article(name: string | undefined): string {
  if (name === undefined) return 'a binary view'
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`
}

/** The constructor's name, read without calling anything the value defines (no getter runs). */
function className(proto: unknown): string | undefined {
  if (typeof proto !== 'object' || proto === null) return undefined
  const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value
  if (typeof ctor !== 'function') return undefined
  const name: unknown = Object.getOwnPropertyDescriptor(ctor, 'name')?.value
  return typeof name === 'string' && name !== '' ? name : undefined
}

/** Short ones happen to survive the library's own UTF-8 code, longer ones (its TextEncoder) do not: all are refused. */
function loneSurrogate(kind: string): Problem {
  return problem(
    `${kind} with a lone UTF-16 surrogate`,
    'MessagePack strings are UTF-8, which cannot carry it (a reader may replace it with U+FFFD)',
    `remove the broken character, or ${TO_JSON}`,
  )
}

function bigBigInt(): Problem {
  return problem(
    'a BigInt outside -(2^63) … 2^64 - 1',
    'MessagePack integers have 64 bits, so it would read back as a different number',
    TO_JSON,
  )
}

function problem(what: string, why: string, instead: string): Problem {
  return { what, why, instead, path: [] }
}

function tooDeepAt(container: object): Problem {
  return { what: '', why: '', instead: '', path: [], containers: [container] }
}

/** `found`, one level out: in `container` under `key`. */
function within(found: Problem, key: string | number, container: object): Problem {
  found.path.push(key)
  found.containers?.push(container)
  return found
}

function refusal(found: Problem, serializer: string): SerializationError {
  const path = found.path.reverse()
  if (found.containers !== undefined) {
    const cycle = circular(found.containers.reverse(), path)
    if (cycle !== undefined) return cycle
    return tooDeep(serializer)
  }
  const where = path.length === 0 ? 'as the value itself' : `at ${pathText(path)}`
  return new SerializationError(
    `The ${serializer} serializer cannot store ${found.what} ${where}: ${found.why}. Nothing was cached; ${found.instead}.`,
  )
}

/**
 * The refusal of a value that contains itself, which nests without end (so the walk finds it too
 * deep): refusing it as too deep would misname it. `containers[i]` holds `path[i]`.
 */
function circular(containers: object[], path: (string | number)[]): SerializationError | undefined {
  const first = new Map<object, number>()
  for (let i = 0; i < containers.length; i++) {
    const container = containers[i] as object
    const seen = first.get(container)
    if (seen !== undefined) {
      return new SerializationError(
        `The value is circular: the object at ${pathText(path.slice(0, i)) || 'the top'} is the one at ${pathText(path.slice(0, seen)) || 'the top'}, which no serializer can store. Nothing was cached; cache plain data without cycles (for a graph, a list of nodes with ids).`,
      )
    }
    first.set(container, i)
  }
  return undefined
}

/** `.items[3]["a b"]`: how the value's parts are written in JavaScript. */
function pathText(path: (string | number)[]): string {
  let text = ''
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) text += `.${key}`
    else text += `[${JSON.stringify(key)}]`
  }
  return text
}
