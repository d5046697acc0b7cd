/**
 * The tags this instance invalidated recently, with when. A response the route was producing while
 * one of its tags was invalidated may predate the change: it is served but not stored. Entries
 * older than `memoryMs` are forgotten once there are many (a response takes far less to produce).
 */
export class RecentInvalidations {
  readonly #at = new Map<string, number>()
  readonly #memoryMs: number

  constructor(memoryMs: number) {
    this.#memoryMs = memoryMs
  }

  note(tags: readonly string[], at: number): void {
    for (const tag of tags) this.#at.set(tag, at)
    if (this.#at.size < 1000) return
    for (const [tag, when] of this.#at) if (at - when > this.#memoryMs) this.#at.delete(tag)
  }

  /** Whether one of `tags` was invalidated at or after `since`. */
  any(tags: readonly string[], since: number): boolean {
    return tags.some((t) => (this.#at.get(t) ?? Number.NEGATIVE_INFINITY) >= since)
  }
}
