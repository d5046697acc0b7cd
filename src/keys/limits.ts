import { DEFAULTS } from '../base/defaults.js'
import { expectKeyText } from '../base/describe.js'
import { InvalidKeyError, InvalidOptionError } from '../errors.js'
import { escapePart } from './key.js'

/**
 * Input limits, checked before any work or network I/O, so attacker-chosen keys, tags and
 * patterns cost bounded memory and CPU. Each refusal is a typed error (its `code` is the stable
 * `E_INVALID_KEY` / `E_INVALID_OPTION`, its class says which limit). The limits are in the one
 * defaults table (src/base/defaults.ts).
 */
export const LIMIT_DEFAULTS = DEFAULTS.limits

/** A key longer than `maxKeyLength`. */
export class KeyTooLongError extends InvalidKeyError {}

/** An entry with more tags than `maxTags`, or a tag longer than the tag limit. */
export class TooManyTagsError extends InvalidOptionError {}

export function assertKeyLength(key: string, maxKeyLength: number): void {
  if (key.length > maxKeyLength) throw keyTooLong(key.length, maxKeyLength)
}

/** The error for a key a call refused: too long, empty, or not a string. */
export function invalidKeyError(key: unknown, maxKeyLength: number): InvalidKeyError {
  if (typeof key === 'string' && key.length > maxKeyLength) return keyTooLong(key.length, maxKeyLength)
  return new InvalidKeyError(
    typeof key === 'string'
      ? 'Cache keys must not be empty: build them with key(entity, ...parts).'
      : `Cache keys must be strings; got ${key === null ? 'null' : typeof key}. Build them with key(entity, ...parts).`,
  )
}

export function keyTooLong(length: number, maxKeyLength: number): KeyTooLongError {
  return new KeyTooLongError(
    `A cache key of ${length} characters is over maxKeyLength (${maxKeyLength}): hash long inputs yourself (e.g. key('search', sha256(query))), or raise maxKeyLength.`,
  )
}

export function assertTags(
  tags: readonly string[],
  maxTags: number,
  maxTagLength = LIMIT_DEFAULTS.maxTagLength,
): void {
  if (tags.length > maxTags) {
    throw new TooManyTagsError(
      `An entry with ${tags.length} tags is over maxTags (${maxTags}): tag by a coarser group (e.g. 'category:1' rather than every product id), or raise maxTags.`,
    )
  }
  for (const tag of tags) {
    if (tag.length > maxTagLength) {
      throw new TooManyTagsError(
        `A tag of ${tag.length} characters is over the limit (${maxTagLength}): use an id, not the data.`,
      )
    }
  }
}

/** Refuses globs that could make Redis (or the L1's regex) burn CPU: too long, or too many `*`. */
export function assertPattern(pattern: string): void {
  expectKeyText(pattern, 'deleteMatching: the pattern')
  if (pattern.length > LIMIT_DEFAULTS.maxPatternLength) {
    throw new InvalidOptionError(
      `deleteMatching: the pattern is ${pattern.length} characters, over ${LIMIT_DEFAULTS.maxPatternLength}: build it from key() parts plus a trailing '*'.`,
    )
  }
  if (/\p{Cs}/u.test(pattern)) {
    throw new InvalidOptionError(
      'deleteMatching: the pattern holds a lone surrogate (ill-formed UTF-16), which Redis would read as U+FFFD and match other keys; a key with one is stored hashed and only delete(key) reaches it.',
    )
  }
  let stars = 0
  for (let at = 0; at < pattern.length; at++) {
    const c = pattern[at]
    // '\\' escapes the next character, a backslash included: in `\\*` the star is a wildcard.
    if (c === '\\') at++
    else if (c === '*' && ++stars > LIMIT_DEFAULTS.maxPatternWildcards) {
      throw new InvalidOptionError(
        `deleteMatching: more than ${LIMIT_DEFAULTS.maxPatternWildcards} '*' in one pattern; escape user input with key() or escapeGlob().`,
      )
    }
  }
}

/**
 * The namespace a tenant's entries live under: `<namespace>@<escaped tenant>`. A namespace can
 * never contain '@' and the escaped tenant never contains ':' or a glob character, so two
 * (namespace, tenant) pairs — or a tenant and no tenant — never share a key, a tag marker, a
 * lock, a bus channel or a `clear()` prefix.
 */
export function tenantScope(namespace: string, tenant: string | undefined): string {
  if (tenant === undefined) return namespace
  if (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > LIMIT_DEFAULTS.maxTenantLength) {
    throw new InvalidOptionError(
      `tenant must be a non-empty string of at most ${LIMIT_DEFAULTS.maxTenantLength} characters (an id such as an organisation slug).`,
    )
  }
  return `${namespace}@${escapePart(tenant)}`
}
