import { createHash } from 'node:crypto'
import { DEFAULTS } from '../base/defaults.js'
import { describeValue, expectKeyText, expectObject } from '../base/describe.js'
import { InvalidKeyError } from '../errors.js'

/** A value allowed as a key part: user input is escaped, so any string is safe here. */
export type KeyPart = string | number | bigint | boolean

/** The separator between key segments. Escaped inside parts, so segments can never be forged. */
export const SEPARATOR = ':'

/** Keys whose UTF-8 length exceeds this are hashed behind a readable prefix (memcached's limit; Redis allows more, but long keys cost memory and bandwidth). */
export const DEFAULT_MAX_KEY_BYTES: number = DEFAULTS.maxKeyBytes

const ENTITY = /^[a-z][a-z0-9_-]*$/
// Everything that could change a key's structure (separator, our escape char) or act as a Redis
// glob metacharacter (* ? [ ] \) is percent-encoded, so a part can neither forge another key nor
// widen a SCAN MATCH / PSUBSCRIBE pattern.
const NEEDS_ESCAPE = /[%:*?[\]\\]/
const ESCAPE_ALL = /[%:*?[\]\\]/g
const ESCAPES: Record<string, string> = {
  '%': '%25',
  ':': '%3A',
  '*': '%2A',
  '?': '%3F',
  '[': '%5B',
  ']': '%5D',
  '\\': '%5C',
}
// Never produced by escapePart (every '%' it emits is followed by two hex digits), so a hashed
// key can never collide with an unhashed one.
export const HASH_MARKER = '%#'

/** Escapes one key part so that it is a single, literal, glob-free segment. */
export function escapePart(part: KeyPart): string {
  let text: string
  switch (typeof part) {
    case 'string':
      text = part
      break
    case 'number':
      if (!Number.isFinite(part)) throw new InvalidKeyError(`Key part ${part} is not a finite number.`)
      text = String(part)
      break
    case 'bigint':
    case 'boolean':
      text = String(part)
      break
    default:
      throw new InvalidKeyError(
        `Key parts must be strings, numbers, bigints or booleans; got ${part === null ? 'null' : typeof part}. Pass an id, not an object.`,
      )
  }
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPE_ALL, (c) => ESCAPES[c] as string) : text
}

/** Escapes Redis glob metacharacters so that `text` matches only itself in SCAN MATCH / PSUBSCRIBE. */
export function escapeGlob(text: string): string {
  return expectKeyText(text, 'escapeGlob(text): the text').replace(/[*?[\]\\]/g, '\\$&')
}

/**
 * Builds `entity:part:part…`. The entity is a lowercase identifier; parts are escaped, so
 * `key('user', 'a:b') !== key('user', 'a', 'b')` and no part can inject glob characters.
 * Keys longer than {@link DEFAULT_MAX_KEY_BYTES} are hashed (see {@link shortenKey}).
 */
export function key(entity: string, ...parts: KeyPart[]): string {
  if (typeof entity !== 'string' || !ENTITY.test(entity)) {
    throw new InvalidKeyError(
      `Key entity ${describeValue(entity)} is invalid: use a lowercase name like 'product' or 'user_posts' (letters, digits, '_' or '-', no ':').`,
    )
  }
  let out = entity
  for (const part of parts) out += SEPARATOR + escapePart(part)
  return shortenKey(out)
}

/**
 * Returns `text` unchanged when it fits in `maxBytes` of UTF-8; otherwise a readable prefix, a
 * marker no escaped key contains, and 32 hex chars of its SHA-256 (128 bits: collisions are not a
 * practical concern).
 */
export function shortenKey(text: string, maxBytes = DEFAULT_MAX_KEY_BYTES): string {
  expectKeyText(text, 'shortenKey(text): the text')
  // A UTF-16 code unit is at most 3 UTF-8 bytes: skip the byte count for short keys.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 32)
  const room = Math.max(0, maxBytes - HASH_MARKER.length - digest.length)
  let prefix = text.slice(0, room)
  while (Buffer.byteLength(prefix) > room) prefix = prefix.slice(0, -1)
  return prefix + HASH_MARKER + digest
}

type KeyDefinition = (...args: never[]) => KeyPart | readonly KeyPart[]
type KeyBuilders<D extends Record<string, KeyDefinition>> = {
  readonly [K in keyof D]: (...args: Parameters<D[K]>) => string
}

/**
 * A typed key registry: each definition maps its arguments to key parts; the property name is
 * the entity (camelCase becomes snake_case).
 *
 * ```ts
 * const keys = defineKeys({
 *   user: (id: number) => id,
 *   productList: (category: string, page = 1) => [category, 'page', page],
 * })
 * keys.productList('books', 2) // 'product_list:books:page:2'
 * ```
 */
export function defineKeys<D extends Record<string, KeyDefinition>>(definitions: D): KeyBuilders<D> {
  const builders: Record<string, (...args: never[]) => string> = {}
  for (const [name, define] of Object.entries(expectObject(definitions, 'defineKeys(definitions)'))) {
    if (typeof define !== 'function') {
      throw new InvalidKeyError(`defineKeys: '${name}' must be a function returning the key parts.`)
    }
    const entity = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    key(entity) // validates the entity once, at definition time
    builders[name] = (...args: never[]) => {
      const parts = define(...args)
      return Array.isArray(parts) ? key(entity, ...(parts as KeyPart[])) : key(entity, parts as KeyPart)
    }
  }
  return builders as KeyBuilders<D>
}
