import { detach } from '../detach.js'

/**
 * A segment position (within the keys or paths of one prefix) with more distinct words than this
 * holds values, not names: `session:{v}:cart` for one session per user, where the words of a real
 * pattern (`profile`, `cart`, `views`) are a handful.
 */
export const VALUE_WORDS = 20

/** Positions whose words are counted at most (bounded memory); later ones keep their words. */
const MAX_CONTEXTS = 10_000

/**
 * The positions (a context string each: the prefix before the segment and its index) found to
 * hold values, from the distinct words counted at each: more than {@link VALUE_WORDS} makes one.
 * Shared by the key and URL patterns.
 */
export class ValuePositions {
  /** The distinct words seen per position, until it has too many. */
  readonly #words = new Map<string, Set<string>>()
  /** Positions found to hold values. */
  readonly #values = new Set<string>()
  /** Bumped whenever a position is found to hold values: patterns computed before may have changed. */
  version = 0

  get size(): number {
    return this.#values.size
  }

  has(context: string): boolean {
    return this.#values.has(context)
  }

  /** Counts `word` at `context`. */
  count(context: string, word: string): void {
    if (this.#values.has(context)) return
    let words = this.#words.get(context)
    if (words === undefined) {
      if (this.#words.size >= MAX_CONTEXTS) return
      words = new Set()
      this.#words.set(detach(context), words)
    }
    if (words.has(word)) return
    words.add(detach(word))
    if (words.size > VALUE_WORDS) {
      this.#words.delete(context)
      this.#values.add(detach(context))
      this.version++
    }
  }
}
