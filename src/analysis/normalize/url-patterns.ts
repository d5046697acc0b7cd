import type { Access } from './access.js'
import { placeholderFor } from './placeholders.js'
import { decodeSegment, isRoutePrefix, isStaticPath, normalizeUrl, splitUrl } from './url.js'
import { VALUE_WORDS, ValuePositions } from './value-positions.js'

/**
 * {@link KeyPatterns} for URL paths: a path position (the route before it, ids as placeholders)
 * with more than {@link VALUE_WORDS} distinct words holds values — user names, product slugs —
 * and its segments become `:v` (`/api/users/:v`), the entity. normalizeUrl alone kept each slug
 * as a route of its own, with the slug as its resource: one data type per user or product. The
 * first segment of a path is never a value (it names the resource tree), nor are static files'.
 */
export class UrlPatterns {
  readonly #positions = new ValuePositions()

  /** Bumped whenever a position is found to hold values: routes computed before may have changed. */
  get version(): number {
    return this.#positions.version
  }

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
        this.#positions.count(`${context}\u0000${i}`, decoded)
      context += `/${placeholder ?? decoded}`
    }
  }

  /** normalizeUrl with what was learned so far (it learns from `url` first). */
  normalize(url: string, method: string): Access {
    this.learn(url)
    if (this.#positions.size === 0) return normalizeUrl(url, method)
    return normalizeUrl(url, method, (position, segments) => this.#isValue(position, segments))
  }

  #isValue(position: number, segments: readonly string[]): boolean {
    if (position < 2) return false
    let context = ''
    for (let i = 1; i < position; i++) {
      const decoded = decodeSegment(segments[i] as string)
      context += `/${(decoded === '' ? undefined : placeholderFor(decoded)) ?? decoded}`
    }
    return this.#positions.has(`${context}\u0000${position}`)
  }
}
