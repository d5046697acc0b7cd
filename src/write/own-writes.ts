import { compareIds, type WriteLog } from './log.js'

/** Ids asked about per `remaining` call: a settled() poll stops at the first batch that has one left. */
const REMAINING_BATCH = 256
/** A partition's ids are pruned once this many are remembered, then each time their number doubled. */
const PRUNE_FIRST_AT = 4096

/**
 * The entries this instance appended that may still be in the log, per partition: what
 * `settled()` and `close()` wait for. Only this instance's: another process's older write (a
 * poison one being retried, a key waiting on its backoff) is none of its business, and waiting for
 * "nothing older than my last append" waited for those too.
 *
 * An id is forgotten once the log shows it gone: older than the partition's oldest entry (ids only
 * grow, and an entry leaves the stream only once acknowledged or dead-lettered), or, with a log
 * that answers `remaining`, not among those left. A writer that never calls `settled()` still
 * forgets: every time a partition's count doubles (from {@link PRUNE_FIRST_AT}) it is pruned in
 * the background, so memory follows this instance's writes still in the log, not all it made.
 */
export class OwnWrites {
  readonly #log: WriteLog
  readonly #ids = new Map<number, Set<string>>()
  readonly #pruneAt = new Map<number, number>()
  readonly #pruning = new Set<number>()

  constructor(log: WriteLog) {
    this.#log = log
  }

  /** The log took these entries (a batch's, in `partition`). */
  add(partition: number, entryIds: readonly string[]): void {
    let ids = this.#ids.get(partition)
    if (ids === undefined) {
      ids = new Set()
      this.#ids.set(partition, ids)
    }
    for (const id of entryIds) ids.add(id)
    if (ids.size >= (this.#pruneAt.get(partition) ?? PRUNE_FIRST_AT) && !this.#pruning.has(partition)) {
      this.#pruning.add(partition)
      // In the background: a failure leaves the ids for the next prune (or settled()).
      this.#left(partition, false)
        .catch(() => false)
        .finally(() => {
          this.#pruning.delete(partition)
          this.#pruneAt.set(partition, Math.max(PRUNE_FIRST_AT, (this.#ids.get(partition)?.size ?? 0) * 2))
        })
    }
  }

  /** True once the log shows none of them left; false while one is (or when the log fails). */
  async flushed(): Promise<boolean> {
    try {
      const partitions = [...this.#ids.keys()]
      const left = await Promise.all(partitions.map((p) => this.#left(p, true)))
      return !left.some(Boolean)
    } catch {
      return false
    }
  }

  /**
   * Forgets the ids of `partition` the log shows gone; true if one is left. With `stopAtFirst`
   * (settled()), stops asking at the first batch that has one left.
   */
  async #left(partition: number, stopAtFirst: boolean): Promise<boolean> {
    const ids = this.#ids.get(partition)
    if (ids === undefined || ids.size === 0) return false
    // Ids added while the log answers were appended after this snapshot: they are not judged here.
    const known = [...ids]
    const oldest = await this.#log.oldest(partition)
    const candidates: string[] = []
    for (const id of known) {
      if (oldest === undefined || compareIds(id, oldest.entryId) < 0) ids.delete(id)
      else candidates.push(id)
    }
    if (candidates.length === 0) return false
    // A log that cannot tell which are left: one at or after the oldest entry may be.
    if (this.#log.remaining === undefined) return true
    let anyLeft = false
    for (let i = 0; i < candidates.length; i += REMAINING_BATCH) {
      const batch = candidates.slice(i, i + REMAINING_BATCH)
      const left = new Set(await this.#log.remaining(partition, batch))
      for (const id of batch) if (!left.has(id)) ids.delete(id)
      if (left.size > 0) {
        anyLeft = true
        if (stopAtFirst) break
      }
    }
    return anyLeft
  }
}
