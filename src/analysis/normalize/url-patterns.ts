import { detach } from '../detach.js'
import type { Access } from './access.js'
import { VALUE_WORDS } from './key-patterns.js'
import { placeholderFor } from './placeholders.js'
import { decodeSegment, isRoutePrefix, isStaticPath, normalizeUrl, splitUrl } from './url.js'

/** Positions whose words are counted at most (bounded memory); later ones keep their words. */
const MAX_CONTEXTS = 10_000

/**
 * {@link KeyPatterns} for URL paths: a path position (the route before it, ids as placeholders)
 * with more than {@link VALUE_WORDS} distinct words holds values — user names, product slugs —
 * and its segments become `:v` (`/api/users/:v`), the entity. normalizeUrl alone kept each slug
 * as a route of its own, with the slug as its resource: one data type per user or product. The
 * first segment of a path is never a value (it names the resource tree), nor are static files'.
 */
export class UrlPatterns {
  readonly #words = new Map<string, Set<string>>()
  readonly #values = new Set<string>()
  /** Bumped whenever a position is found to hold values: routes computed before may have changed. */
  version = 0

  /** Counts the words of `url`'s path segments by position. */
  learn(url: string): void {
    const { path } = splitUrl(url)
    if (isStaticPath(path)) return
    const segments = path.split('/')
    let context = ''
    for (let i = 1; i < segments.length; i++) {
      const decoded = decodeSegment(segments[i] as string)
      const placeholder = decoded === '' ? undefined : placeholderFor(decoded)
      if (i >= 2 && decoded !== '' && placeholder === undefined && !isRoutePrefix(decoded))
        this.#count(`${context}\u0000${i}`, decoded)
      context += `/${placeholder ?? decoded}`
    }
  }

  /** normalizeUrl with what was learned so far (it learns from `url` first). */
  normalize(url: string, method: string): Access {
    this.learn(url)
    if (this.#values.size === 0) return normalizeUrl(url, method)
    return normalizeUrl(url, method, (position, segments) => this.#isValue(position, segments))
  }

  #isValue(position: number, segments: readonly string[]): boolean {
    if (position < 2) return false
    let context = ''
    for (let i = 1; i < position; i++) {
      const decoded = decodeSegment(segments[i] as string)
      context += `/${(decoded === '' ? undefined : placeholderFor(decoded)) ?? decoded}`
    }
    return this.#values.has(`${context}\u0000${position}`)
  }

  #count(context: string, word: string): void {
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
