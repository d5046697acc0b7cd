import { InvalidKeyError, InvalidOptionError } from '../errors.js'

/** Characters of a described value at most: an error message quotes what it was given, not all of it. */
const MAX_CHARS = 60

/**
 * A value a caller passed, as an error message shows it. Never throws, whatever the value: a
 * Symbol, a BigInt, an object without a prototype or whose `toString` or `toJSON` throws (where
 * `String(value)` or `JSON.stringify(value)` would throw a TypeError in place of the error being
 * built). Calls none of the value's methods, and stays short.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value.length > MAX_CHARS
        ? `${JSON.stringify(value.slice(0, MAX_CHARS))}… (${value.length} characters)`
        : JSON.stringify(value)
    case 'bigint':
      return `${value}n`
    case 'symbol':
      return `a Symbol${value.description === undefined ? '' : ` (${value.description.slice(0, MAX_CHARS)})`}`
    case 'function':
      return 'a function'
    case 'object':
      return value === null ? 'null' : describeObject(value)
    default:
      // number, boolean, undefined
      return String(value)
  }
}

function describeObject(value: object): string {
  try {
    if (Array.isArray(value)) return `an array of ${value.length}`
    const prototype: unknown = Object.getPrototypeOf(value)
    if (prototype === null) return 'an object without a prototype'
    if (prototype !== Object.prototype) {
      const name: unknown = (prototype as { constructor?: { name?: unknown } }).constructor?.name
      return typeof name === 'string' && name !== ''
        ? `an instance of ${name.slice(0, MAX_CHARS)}`
        : 'an object'
    }
    const keys = Object.keys(value)
    if (keys.length === 0) return 'an empty object'
    const shown = keys.slice(0, 5).map((key) => key.slice(0, 20))
    return `an object with keys ${shown.join(', ')}${keys.length > 5 ? ', …' : ''}`
  } catch {
    // A revoked Proxy, a Proxy whose trap throws, a prototype whose getter does.
    return 'an object'
  }
}

/**
 * `value` if it is an object (not null, not an array): an entry point's options or parts. Else an
 * {@link InvalidOptionError} that names `what` and says what it got.
 */
export function expectObject<T>(value: T, what: string): NonNullable<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(`${what} must be an object; got ${describeValue(value)}.`)
  }
  return value as NonNullable<T>
}

/** `value` if it is a string (key text, a pattern); else an {@link InvalidKeyError} that says what it got. */
export function expectKeyText(value: unknown, what: string): string {
  if (typeof value !== 'string')
    throw new InvalidKeyError(`${what} must be a string; got ${describeValue(value)}.`)
  return value
}
