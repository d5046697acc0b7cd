/**
 * The tags invalidated recently (by this instance or heard from others), with when, in the
 * cache's clock (Cache.stamp). A response the route was producing while
 * one of its tags was invalidated may predate the change: it is served but not stored. Entries
 * older than `memoryMs` are forgotten once there are many (a response takes far less to produce).
 */
export class RecentInvalidations {
  readonly #at = new Map<string, number>()
  readonly #memoryMs: number
  /** When the namespace was last cleared: everything produced before is outdated. */
  #clearedAt = Number.NEGATIVE_INFINITY

  constructor(memoryMs: number) {
    this.#memoryMs = memoryMs
  }

  note(tags: readonly string[], at: number): void {
    for (const tag of tags) this.#at.set(tag, at)
    if (this.#at.size < 1000) return
    for (const [tag, when] of this.#at) if (at - when > this.#memoryMs) this.#at.delete(tag)
  }

  cleared(at: number): void {
    this.#clearedAt = Math.max(this.#clearedAt, at)
  }

  /** Whether one of `tags` was invalidated (or the namespace cleared) at or after `since`. */
  any(tags: readonly string[], since: number): boolean {
    return (
      this.#clearedAt >= since || tags.some((t) => (this.#at.get(t) ?? Number.NEGATIVE_INFINITY) >= since)
    )
  }
}
