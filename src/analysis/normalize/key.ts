import type { Access } from './access.js'
import { placeholderFor, wordNumber } from './placeholders.js'

const COUNTER_COMMANDS = new Set([
  'INCR',
  'INCRBY',
  'INCRBYFLOAT',
  'DECR',
  'DECRBY',
  'HINCRBY',
  'HINCRBYFLOAT',
  'ZINCRBY',
  'PFADD',
])

/** The placeholder of a segment learned to be a value although it has no digits (a user name, an email). */
export const VALUE_PLACEHOLDER = '{v}'

/** A key's separator (`:`, else `/`, else `.` when it has neither, else none) and its segments. */
export function keySegments(key: string): { separator: string; parts: string[] } {
  const separator = keySeparator(key)
  return { separator, parts: separator === '' ? [key] : key.split(separator) }
}

export function keySeparator(key: string): string {
  return key.includes(':') ? ':' : key.includes('/') ? '/' : key.includes('.') ? '.' : ''
}

/** A segment's pattern when it is a value by its form (ids, uuids, hashes, `word123`), else undefined. */
export function segmentPattern(part: string): string | undefined {
  const placeholder = placeholderFor(part)
  if (placeholder !== undefined) return `{${placeholder.slice(1)}}`
  return wordNumber(part)
}

/**
 * A cache key → its pattern (`user:{id}:profile`): split on `:` (or `/`, or `.` when it has
 * neither), ids, uuids, hashes and `word123` segments become placeholders. The pattern is both the
 * signature and the data type: in a key-value store the key is the entity, so writes to a key are
 * attributed to the pattern it belongs to, and the entity is the key itself.
 * `isValue(i, part)` says whether a segment without a value's form is one all the same (what
 * {@link KeyPatterns} learns from the log: a position with many distinct words); such a segment
 * becomes `{v}`.
 */
export function normalizeKey(
  key: string,
  op: 'read' | 'write' | 'other',
  verb = '',
  isValue?: (position: number, part: string, parts: readonly string[]) => boolean,
): Access {
  const { separator, parts } = keySegments(key)
  const pattern = parts
    .map((part, i) => segmentPattern(part) ?? (isValue?.(i, part, parts) === true ? VALUE_PLACEHOLDER : part))
    .join(separator)
  return {
    op,
    signature: pattern,
    type: pattern,
    key,
    entity: key,
    shape: COUNTER_COMMANDS.has(verb) ? 'counter' : 'entity',
  }
}
