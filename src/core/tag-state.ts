import { InvalidOptionError } from '../errors.js'
import type { InvalidationMode, TagMarker } from '../invalidation/store.js'
import { assertTags } from '../keys/limits.js'

/** Tag markers this instance remembers (what it invalidated or heard on the bus, or read). */
const MAX_KNOWN_MARKERS = 100_000
/** Tags that stand for "depends on key K" (reserved: user tags may not start with it). */
const DEPENDENCY_TAG = '@key:'

/** What an entry's tags say about it: served, served as stale only, or gone. */
export type Judgement = 'fresh' | 'stale' | 'gone'

/** Reads the markers of `tags` from the L2 (undefined where a marker is missing); rejects when the L2 fails. */
export type MarkerReader = (tags: readonly string[]) => Promise<readonly (TagMarker | undefined)[]>

/**
 * What this instance knows about invalidations: the markers of the tags (and the dependency tags
 * `@key:K`) it invalidated, heard of on the bus or read, and when the namespace was last cleared.
 * While the bus delivers, remembered markers are trusted without a read.
 */
export class TagState {
  readonly #markers = new Map<string, TagMarker>()
  /** When this namespace was last cleared, as far as this instance knows. */
  #clearedAt = 0
  /** Whether the bus is delivering: only then are remembered tag markers trusted without a read. */
  #busUp = false
  readonly #maxTags: number

  constructor(maxTags: number) {
    this.#maxTags = maxTags
  }

  get size(): number {
    return this.#markers.size
  }

  /** The bus went down (nothing remembered is trusted: markers are read) or came back. */
  busState(up: boolean): void {
    this.#markers.clear()
    this.#busUp = up
  }

  /** The bus delivers from now on (its subscription is in place). */
  hearing(): void {
    this.#busUp = true
  }

  cleared(at: number): void {
    this.#clearedAt = Math.max(this.#clearedAt, at)
  }

  /** Records an invalidation of `tag` this instance knows of (markers only ever move forward). */
  learn(tag: string, mode: InvalidationMode, at: number): void {
    const known = this.#markers.get(tag) ?? { deletedAt: 0, expiredAt: 0 }
    this.#remember(
      tag,
      mode === 'delete'
        ? { deletedAt: Math.max(known.deletedAt, at), expiredAt: known.expiredAt }
        : { deletedAt: known.deletedAt, expiredAt: Math.max(known.expiredAt, at) },
    )
  }

  /** `marker` (read from the L2), or later where this instance knows of a later invalidation of `tag`. */
  #newest(tag: string, marker: TagMarker): TagMarker {
    const known = this.#markers.get(tag)
    if (known === undefined) return marker
    return {
      deletedAt: Math.max(known.deletedAt, marker.deletedAt),
      expiredAt: Math.max(known.expiredAt, marker.expiredAt),
    }
  }

  #remember(tag: string, marker: TagMarker): void {
    this.#markers.delete(tag)
    this.#markers.set(tag, marker)
    if (this.#markers.size > MAX_KNOWN_MARKERS)
      this.#markers.delete(this.#markers.keys().next().value as string)
  }

  /**
   * Whether this instance knows of a delete (or clear) of `key` after `createdAt`: a value read
   * from the L2, or loaded, that is older than a change already announced. (Strictly after: a
   * write in the same instant as a delete — a manual clock — is the newer one.)
   */
  deletedSince(key: string, createdAt: number): boolean {
    if (this.#clearedAt > createdAt) return true
    if (this.#markers.size === 0) return false
    const marker = this.#markers.get(dependencyTag(key))
    return marker !== undefined && marker.deletedAt > createdAt
  }

  /** What this instance already knows about an entry created at `createdAt` with `tags`. */
  known(tags: readonly string[], createdAt: number): Judgement {
    let state: Judgement = 'fresh'
    for (const tag of tags) {
      const marker = this.#markers.get(tag)
      if (marker === undefined) continue
      const judged = judge(marker, createdAt)
      if (judged === 'gone') return 'gone'
      if (judged === 'stale') state = 'stale'
    }
    return state
  }

  /**
   * An L2 entry's state by its tags' markers: remembered ones while the bus is up (it would have
   * told us of a change), read from the L2 otherwise. A missing marker (evicted, flushed) or a
   * failed read means "unknown", and unknown is a miss: never serve what may have been invalidated.
   */
  judge(tags: readonly string[], createdAt: number, read: MarkerReader): Judgement | Promise<Judgement> {
    let state: Judgement = 'fresh'
    let unknown: string[] | undefined
    for (const tag of tags) {
      const marker = this.#busUp ? this.#markers.get(tag) : undefined
      if (marker === undefined) {
        unknown ??= []
        unknown.push(tag)
        continue
      }
      const judged = judge(marker, createdAt)
      if (judged === 'gone') return 'gone'
      if (judged === 'stale') state = 'stale'
    }
    if (unknown === undefined) return state
    const asked = unknown
    return read(asked).then(
      (found): Judgement => {
        for (let i = 0; i < asked.length; i++) {
          const read = found[i]
          if (read === undefined) return 'gone'
          // The read may answer after the bus told of a newer invalidation of the tag (they
          // travel on different connections): what Redis held before it does not replace it.
          const marker = this.#newest(asked[i] as string, read)
          if (this.#busUp) this.#remember(asked[i] as string, marker)
          const judged = judge(marker, createdAt)
          if (judged === 'gone') return 'gone'
          if (judged === 'stale') state = 'stale'
        }
        return state
      },
      (): Judgement => 'gone',
    )
  }

  /**
   * The entry's tags: its own, plus one per key it depends on and, transitively, the dependency
   * tags of those keys' cached entries (so deleting a key reaches dependents of dependents).
   */
  tagsOf(
    options: { tags?: readonly string[]; dependsOn?: readonly string[] },
    cachedTags: (key: string) => readonly string[],
  ): readonly string[] {
    const tags = options.tags
    const dependsOn = options.dependsOn
    if (tags === undefined && dependsOn === undefined) return []
    if (tags !== undefined) {
      if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.length === 0)) {
        throw new InvalidOptionError('tags must be an array of non-empty strings.')
      }
      if (tags.some((t) => t.startsWith(DEPENDENCY_TAG))) {
        throw new InvalidOptionError(
          `Tags starting with '${DEPENDENCY_TAG}' are reserved: use dependsOn: [key].`,
        )
      }
      if (dependsOn === undefined) {
        assertTags(tags, this.#maxTags)
        return tags
      }
    }
    if (!Array.isArray(dependsOn) || dependsOn.some((k) => typeof k !== 'string' || k.length === 0)) {
      throw new InvalidOptionError('dependsOn must be an array of cache keys.')
    }
    const all = new Set(tags)
    for (const key of dependsOn) {
      all.add(dependencyTag(key))
      for (const tag of cachedTags(key)) if (tag.startsWith(DEPENDENCY_TAG)) all.add(tag)
    }
    const result = [...all]
    assertTags(result, this.#maxTags)
    return result
  }
}

export function dependencyTag(key: string): string {
  return `${DEPENDENCY_TAG}${key}`
}

function judge(marker: TagMarker, createdAt: number): Judgement {
  if (marker.deletedAt >= createdAt) return 'gone'
  if (marker.expiredAt >= createdAt) return 'stale'
  return 'fresh'
}
