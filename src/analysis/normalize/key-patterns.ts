import type { Access } from './access.js'
import { keySegments, keySeparator, normalizeKey, segmentPattern } from './key.js'
import { type VALUE_WORDS, ValuePositions } from './value-positions.js'

/**
 * Learns, from the keys it sees, which segment positions hold values although they have no digits
 * (user names, emails, slugs): `normalizeKey` alone kept `alice.smith` in `session:alice.smith:cart`,
 * so that the report named every user and made one key group per user. A position is its key's
 * prefix (the first segment's pattern: the first segment itself is the group's name, never a value,
 * when there are more) and its index; once more than {@link VALUE_WORDS} distinct words were seen
 * there, its segments are `{v}`.
 */
export class KeyPatterns {
  readonly #positions = new ValuePositions()

  /** Bumped whenever a position is found to hold values: patterns computed before may have changed. */
  get version(): number {
    return this.#positions.version
  }

  /** Counts the words of `key`'s segments by position. */
  learn(key: string): void {
    const { separator, parts } = keySegments(key)
    const prefix = parts.length > 1 ? (segmentPattern(parts[0] as string) ?? (parts[0] as string)) : ''
    for (let i = parts.length > 1 ? 1 : 0; i < parts.length; i++) {
      const part = parts[i] as string
      if (part === '' || segmentPattern(part) !== undefined) continue
      this.#positions.count(contextOf(prefix, separator, i), part)
    }
  }

  /** `key`'s pattern with what was learned so far (it learns from `key` first). */
  normalize(key: string, op: 'read' | 'write' | 'other', verb = ''): Access {
    this.learn(key)
    if (this.#positions.size === 0) return normalizeKey(key, op, verb)
    const separator = keySeparator(key)
    let prefix: string | undefined
    return normalizeKey(key, op, verb, (i, _part, parts) => {
      if (parts.length > 1 && i === 0) return false
      const first = parts[0] as string
      prefix ??= parts.length > 1 ? (segmentPattern(first) ?? first) : ''
      return this.#positions.has(contextOf(prefix, separator, i))
    })
  }
}

function contextOf(prefix: string, separator: string, position: number): string {
  return `${prefix}\u0000${separator}\u0000${position}`
}
