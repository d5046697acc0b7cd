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
// widen a SCAN MATCH / PSUBSCRIBE pattern. So is a lone surrogate (\p{Cs} in a /u regex matches
// only unpaired ones): UTF-8 has no bytes for it, so the Redis clients send U+FFFD instead and
// '\uD800', '\uDC00' and '\uFFFD' would all be one Redis key.
const NEEDS_ESCAPE = /[%:*?[\]\\]|\p{Cs}/u
const ESCAPE_ALL = /[%:*?[\]\\]|\p{Cs}/gu
const LONE_SURROGATE = /\p{Cs}/u
const ESCAPES: Record<string, string> = {
  '%': '%25',
  ':': '%3A',
  '*': '%2A',
  '?': '%3F',
  '[': '%5B',
  ']': '%5D',
  '\\': '%5C',
}
// Never produced by escapePart (every '%' it emits is followed by two hex digits); a raw key that
// contains it is hashed (see shortenKey), so a hashed key can never collide with an unhashed one.
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
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPE_ALL, escapeChar) : text
}

/** `%XX` for a listed character; a lone surrogate as the three bytes WTF-8 gives it (`%ED%A0%80`). */
function escapeChar(c: string): string {
  const listed = ESCAPES[c]
  if (listed !== undefined) return listed
  const unit = c.charCodeAt(0)
  return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
    .map((byte) => `%${byte.toString(16).toUpperCase()}`)
    .join('')
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
 * Returns `text` unchanged when it fits in `maxBytes` of UTF-8; otherwise a readable prefix, the
 * marker, and 32 hex chars of its SHA-256 (128 bits: collisions are not a practical concern).
 *
 * Distinct texts always give distinct Redis keys, raw keys included (they are not escaped):
 * - a text that contains the marker is hashed whatever its length, so a short raw key can never
 *   spell out the hashed form of a long one (anyone can compute a SHA-256);
 * - a text with a lone surrogate is hashed too, over its UTF-16 code units: sent as is, it would
 *   reach Redis as U+FFFD (UTF-8 has no bytes for it), the same key as every other such spelling.
 */
export function shortenKey(text: string, maxBytes = DEFAULT_MAX_KEY_BYTES): string {
  expectKeyText(text, 'shortenKey(text): the text')
  const wellFormed = !LONE_SURROGATE.test(text)
  // A UTF-16 code unit is at most 3 UTF-8 bytes: skip the byte count for short keys.
  if (
    wellFormed &&
    (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) &&
    !text.includes(HASH_MARKER)
  )
    return text
  const hash = createHash('sha256')
  // UTF-8 as ever for well-formed text (keys written by earlier releases keep their hash); UTF-16
  // behind a 0xFF byte, which no UTF-8 contains, for the rest: two inputs never share bytes.
  if (wellFormed) hash.update(text, 'utf8')
  else hash.update(ILL_FORMED_DOMAIN).update(text, 'utf16le')
  const digest = hash.digest('hex').slice(0, 32)
  const room = Math.max(0, maxBytes - HASH_MARKER.length - digest.length)
  // The readable prefix stops before a lone surrogate, so it is still a prefix of the text in Redis
  // (client tracking drops the L1 keys that start with it).
  const surrogateAt = wellFormed ? -1 : text.search(LONE_SURROGATE)
  let prefix = text.slice(0, surrogateAt >= 0 ? Math.min(room, surrogateAt) : room)
  while (Buffer.byteLength(prefix) > room) prefix = prefix.slice(0, -1)
  // Nor on half of a pair (a lone surrogate again). Not done for well-formed text, whose hashed
  // keys stay what earlier releases wrote.
  if (!wellFormed && /[\uD800-\uDBFF]$/.test(prefix)) prefix = prefix.slice(0, -1)
  return prefix + HASH_MARKER + digest
}

const ILL_FORMED_DOMAIN = Buffer.from([0xff])

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
