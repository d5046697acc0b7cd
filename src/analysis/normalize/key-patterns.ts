import { detach } from '../detach.js'
import type { Access } from './access.js'
import { keySegments, keySeparator, normalizeKey, segmentPattern } from './key.js'

/**
 * A segment position (within the keys of one prefix) with more distinct words than this holds
 * values, not names: `session:{v}:cart` for one session per user, where the words of a real
 * pattern (`profile`, `cart`, `views`) are a handful.
 */
export const VALUE_WORDS = 20

/** Positions whose words are counted at most (bounded memory); later ones keep their words. */
const MAX_CONTEXTS = 10_000

/**
 * Learns, from the keys it sees, which segment positions hold values although they have no digits
 * (user names, emails, slugs): `normalizeKey` alone kept `alice.smith` in `session:alice.smith:cart`,
 * so that the report named every user and made one key group per user. A position is its key's
 * prefix (the first segment's pattern: the first segment itself is the group's name, never a value,
 * when there are more) and its index; once more than {@link VALUE_WORDS} distinct words were seen
 * there, its segments are `{v}`.
 */
export class KeyPatterns {
  /** The distinct words seen per position, until it has too many. */
  readonly #words = new Map<string, Set<string>>()
  /** Positions found to hold values. */
  readonly #values = new Set<string>()
  /** Bumped whenever a position is found to hold values: patterns computed before may have changed. */
  version = 0

  /** Counts the words of `key`'s segments by position. */
  learn(key: string): void {
    const { separator, parts } = keySegments(key)
    const prefix = parts.length > 1 ? (segmentPattern(parts[0] as string) ?? (parts[0] as string)) : ''
    for (let i = parts.length > 1 ? 1 : 0; i < parts.length; i++) {
      const part = parts[i] as string
      if (part === '' || segmentPattern(part) !== undefined) continue
      const context = contextOf(prefix, separator, i)
      if (this.#values.has(context)) continue
      let words = this.#words.get(context)
      if (words === undefined) {
        if (this.#words.size >= MAX_CONTEXTS) continue
        words = new Set()
        this.#words.set(detach(context), words)
      }
      if (words.has(part)) continue
      words.add(detach(part))
      if (words.size > VALUE_WORDS) {
        this.#words.delete(context)
        this.#values.add(detach(context))
        this.version++
      }
    }
  }

  /** `key`'s pattern with what was learned so far (it learns from `key` first). */
  normalize(key: string, op: 'read' | 'write' | 'other', verb = ''): Access {
    this.learn(key)
    if (this.#values.size === 0) return normalizeKey(key, op, verb)
    const separator = keySeparator(key)
    let prefix: string | undefined
    return normalizeKey(key, op, verb, (i, _part, parts) => {
      if (parts.length > 1 && i === 0) return false
      const first = parts[0] as string
      prefix ??= parts.length > 1 ? (segmentPattern(first) ?? first) : ''
      return this.#values.has(contextOf(prefix, separator, i))
    })
  }
}

function contextOf(prefix: string, separator: string, position: number): string {
  return `${prefix}\u0000${separator}\u0000${position}`
}
